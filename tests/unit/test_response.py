"""Decoding an answer (``_response``): results, function-error documents, service errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from temporal_lambda._errors import LambdaFunctionError, LambdaServiceError
from temporal_lambda._response import classify_service_error, parse_response
from temporal_lambda._types import LambdaInvokeRequest, LambdaInvokeResult

KEY = "wf-1_act-2"


def req(**kwargs: Any) -> LambdaInvokeRequest:
    kwargs.setdefault("function_name", "my-fn")
    return LambdaInvokeRequest(**kwargs)


# --- parse_response ---------------------------------------------------------------------


def parse(status: int, headers: dict[str, str], body: bytes, **kwargs: Any) -> LambdaInvokeResult:
    return parse_response(req(**kwargs), KEY, status, headers, body)


def test_parse_200_json() -> None:
    result = parse(
        200,
        {
            "X-Amz-Executed-Version": "$LATEST",
            "x-amzn-RequestId": "rid-1",
            "Content-Type": "application/json",
        },
        b'{"ok": true, "n": [1, 2]}',
    )
    assert result == LambdaInvokeResult(
        status_code=200,
        idempotency_key=KEY,
        payload={"ok": True, "n": [1, 2]},
        payload_encoding="json",
        executed_version="$LATEST",
        request_id="rid-1",
    )


def test_parse_json_null() -> None:
    result = parse(200, {}, b"null")
    assert result.payload is None
    assert result.payload_encoding == "json"
    assert type(result.payload_encoding) is str


@pytest.mark.parametrize("body", [b"hello \xc3\xa9", b"NaN", b"{bad"])
def test_parse_text(body: bytes) -> None:
    result = parse(200, {}, body)
    assert result.payload == body.decode()
    assert result.payload_encoding == "text"


def test_parse_binary() -> None:
    result = parse(200, {}, b"\xff\x00\x01")
    assert result.payload == "/wAB"
    assert result.payload_encoding == "base64"


def test_parse_202_and_204() -> None:
    event = parse(202, {"X-AMZN-REQUESTID": "r2"}, b"", invocation_type="Event")
    assert event == LambdaInvokeResult(status_code=202, idempotency_key=KEY, request_id="r2")
    dry = parse(204, {}, b"", invocation_type="DryRun")
    assert dry.status_code == 204
    assert dry.payload is None
    assert dry.payload_encoding == "empty"


def test_parse_log_tail_and_durable_arn() -> None:
    log = base64.b64encode("START\nEND é\n".encode()).decode()
    bad_utf8 = base64.b64encode(b"ab\xff").decode()
    result = parse(
        200,
        {"x-amz-log-result": log, "X-Amz-Durable-Execution-Arn": "arn:durable"},
        b"1",
    )
    assert result.log_tail == "START\nEND é\n"
    assert result.durable_execution_arn == "arn:durable"
    assert parse(200, {"X-Amz-Log-Result": bad_utf8}, b"").log_tail == "ab\ufffd"


def _function_error(headers: dict[str, str], body: bytes, **kwargs: Any) -> LambdaFunctionError:
    with pytest.raises(LambdaFunctionError) as info:
        parse(200, headers, body, **kwargs)
    return info.value


def test_function_error_unhandled() -> None:
    doc = {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "doc-rid",
        "stackTrace": ['  File "/var/task/app.py", line 3, in handler\n'],
    }
    log = base64.b64encode(b"Traceback").decode()
    err = _function_error(
        {
            "X-Amz-Function-Error": "Unhandled",
            "x-amzn-RequestId": "hdr-rid",
            "X-Amz-Executed-Version": "3",
            "X-Amz-Log-Result": log,
        },
        json.dumps(doc).encode(),
    )
    assert err.error_type == "ValueError"
    assert err.retryable is True
    assert str(err) == "boom"
    assert err.info.stack_trace == ['  File "/var/task/app.py", line 3, in handler\n']
    assert err.info.function_error == "Unhandled"
    assert err.info.request_id == "hdr-rid"
    assert err.info.executed_version == "3"
    assert err.info.log_tail == "Traceback"


def test_function_error_handled_request_id_from_doc() -> None:
    body = b'{"errorMessage":"bad input","errorType":"InputError","requestId":"doc-rid"}'
    err = _function_error({"x-amz-function-error": "Handled"}, body)
    assert err.info.function_error == "Handled"
    assert err.info.request_id == "doc-rid"
    assert err.info.stack_trace == []
    assert err.error_type == "InputError"


def test_function_error_sandbox_timeout() -> None:
    body = b'{"errorMessage":"2024-01-01T00:00:00Z abc Task timed out after 3.00 seconds",'
    body += b'"errorType":"Sandbox.Timedout"}'
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, body)
    assert err.error_type == "Sandbox.Timedout"
    assert str(err) == "2024-01-01T00:00:00Z abc Task timed out after 3.00 seconds"
    assert err.info.stack_trace == []


def test_function_error_non_json_body() -> None:
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, b"Internal crash")
    assert err.error_type == "UnknownFunctionError"
    assert str(err) == "Internal crash"


def test_function_error_missing_fields() -> None:
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, b'{"foo": 1}')
    assert err.error_type == "UnknownFunctionError"
    assert str(err) == '{"foo": 1}'
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, b"")
    assert str(err) == "function failed (Unhandled) with an empty error document"


def test_function_error_odd_stack_trace() -> None:
    body = b'{"errorType":"E","errorMessage":"m","stackTrace":[["app.py",3,"h","x"],"s"]}'
    err = _function_error({"X-Amz-Function-Error": "Unhandled"}, body)
    assert err.info.stack_trace == ['["app.py", 3, "h", "x"]', "s"]


def test_function_error_non_retryable_type() -> None:
    body = b'{"errorType":"InputError","errorMessage":"m"}'
    err = _function_error(
        {"X-Amz-Function-Error": "Unhandled"},
        body,
        non_retryable_function_errors=["InputError"],
    )
    assert err.retryable is False
    err = _function_error(
        {"X-Amz-Function-Error": "Unhandled"},
        body,
        non_retryable_function_errors=["OtherError"],
    )
    assert err.retryable is True


def test_function_error_returned_when_not_raising() -> None:
    body = b'{"errorType":"ValueError","errorMessage":"m"}'
    result = parse(
        200,
        {"X-Amz-Function-Error": "Unhandled", "x-amzn-RequestId": "r"},
        body,
        raise_on_function_error=False,
    )
    assert result == LambdaInvokeResult(
        status_code=200,
        idempotency_key=KEY,
        payload={"errorType": "ValueError", "errorMessage": "m"},
        payload_encoding="json",
        request_id="r",
        function_error="Unhandled",
    )


def test_parse_non_2xx_raises_service_error() -> None:
    with pytest.raises(LambdaServiceError) as info:
        parse(404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, b'{"Message":"nope"}')
    assert info.value.error_type == "Lambda.ResourceNotFoundException"
    assert str(info.value) == "nope"


# --- classify_service_error -------------------------------------------------------------


def test_throttle_with_retry_after() -> None:
    body = b'{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User",'
    body += b'"message":"Rate Exceeded."}'
    err = classify_service_error(
        429,
        {"x-amzn-errortype": "TooManyRequestsException", "Retry-After": "3"},
        body,
    )
    assert err.retry_after == 3.0
    assert err.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err.error_kind == "User"
    assert err.retryable is True
    assert str(err) == "Rate Exceeded."
    assert err.details() == {
        "code": "TooManyRequestsException",
        "status_code": 429,
        "request_id": None,
        "reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
        "retry_after": 3.0,
        "kind": "User",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.5", 1.5), (" 10 ", 10.0), ("0", 0.0), ("soon", None), ("-1", None), ("inf", None)],
)
def test_retry_after_values(value: str, expected: float | None) -> None:
    assert classify_service_error(429, {"retry-after": value}, b"").retry_after == expected


def test_429_without_code() -> None:
    err = classify_service_error(429, {}, b"")
    assert err.code == "TooManyRequestsException"
    assert err.error_type == "Lambda.TooManyRequestsException"
    assert err.retryable is True
    assert str(err) == "HTTP 429"


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (418, "TeapotException", False),
        (599, "NewServerException", True),
        (503, None, True),
        (400, None, False),
        (408, None, True),
        (409, "NewConflictException", False),
        (502, "BrandNewVpcException", True),
        (302, None, False),
    ],
)
def test_unknown_codes_by_status(status: int, code: str | None, retryable: bool) -> None:
    headers = {"x-amzn-ErrorType": code} if code else {}
    err = classify_service_error(status, headers, b"")
    assert err.code == (code or "Unknown")
    assert err.retryable is retryable
    assert err.status_code == status


def test_code_from_header_with_colon() -> None:
    err = classify_service_error(
        404,
        {"X-Amzn-Errortype": "ResourceNotFoundException:http://internal.amazon.com/coral/"},
        b'{"Type":"User","Message":"Function not found: arn:x"}',
    )
    assert err.code == "ResourceNotFoundException"
    assert str(err) == "Function not found: arn:x"


def test_header_wins_over_body() -> None:
    err = classify_service_error(
        409, {"x-amzn-ErrorType": "ResourceConflictException"}, b'{"code":"Other"}'
    )
    assert err.code == "ResourceConflictException"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"code":"ResourceNotFoundException"}', "ResourceNotFoundException"),
        (b'{"Code":"InvalidParameterValueException"}', "InvalidParameterValueException"),
        (
            b'{"__type":"com.amazon.coral.service#UnrecognizedClientException"}',
            "UnrecognizedClientException",
        ),
        (b'{"__type":"ns#AccessDeniedException:extra"}', "AccessDeniedException"),
        (b'{"code":"A","__type":"B"}', "A"),
    ],
)
def test_code_from_body(body: bytes, code: str) -> None:
    assert classify_service_error(403, {}, body).code == code


def test_message_from_message_and_raw_body() -> None:
    assert str(classify_service_error(500, {}, b'{"Message":"Big M"}')) == "Big M"
    assert str(classify_service_error(500, {}, b'{"message":"m","Message":"M"}')) == "m"
    err = classify_service_error(502, {}, b"<html>Bad Gateway</html>")
    assert str(err) == "<html>Bad Gateway</html>"
    assert err.code == "Unknown"
    assert err.retryable is True
    assert str(classify_service_error(502, {}, b"")) == "HTTP 502"
    assert str(classify_service_error(500, {}, b"[1]")) == "[1]"


def test_413_real_wire_spelling() -> None:
    err = classify_service_error(
        413,
        {"x-amzn-ErrorType": "RequestEntityTooLargeException"},
        b'{"message":"Request must be smaller than 6291456 bytes for the InvokeFunction'
        b' operation"}',
    )
    assert err.code == "RequestTooLargeException"
    assert err.error_type == "Lambda.RequestTooLargeException"
    assert err.retryable is False
