"""The emulator's own copy of the AWS facts (``testing._spec``) against botocore's models.

The emulator is the oracle and keeps its own copy of paths, limits, patterns, header names and
error statuses; these tests load botocore's ``lambda`` service models (2015-03-31, and
2014-11-11 for the deprecated InvokeAsync at ``/2014-11-13/...``) with
:class:`botocore.loaders.Loader` and fail when the copy and the model disagree.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.parsers import RestJSONParser

from temporal_lambda.testing import _spec
from temporal_lambda.testing._registry import InvalidFunctionName, parse_function_name

LOADER = Loader()
MODEL: dict[str, Any] = LOADER.load_service_model("lambda", "service-2", "2015-03-31")
OLD_MODEL: dict[str, Any] = LOADER.load_service_model("lambda", "service-2", "2014-11-11")
SHAPES: dict[str, Any] = MODEL["shapes"]


def operation(name: str, model: dict[str, Any] = MODEL) -> dict[str, Any]:
    return dict(model["operations"][name])


def members(shape: str) -> dict[str, Any]:
    return dict(SHAPES[shape]["members"])


def input_members(op: str) -> dict[str, Any]:
    return members(operation(op)["input"]["shape"])


def output_members(op: str) -> dict[str, Any]:
    return members(operation(op)["output"]["shape"])


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- operations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "op", "model", "status"),
    [
        (_spec.INVOKE_PATH, "Invoke", MODEL, _spec.SYNC_STATUS),
        (_spec.INVOKE_STREAM_PATH, "InvokeWithResponseStream", MODEL, _spec.SYNC_STATUS),
        (_spec.INVOKE_ASYNC_PATH, "InvokeAsync", OLD_MODEL, _spec.INVOKE_ASYNC_STATUS),
        (_spec.INVOKE_ASYNC_PATH.rstrip("/"), "InvokeAsync", MODEL, _spec.INVOKE_ASYNC_STATUS),
    ],
)
def test_paths_methods_and_statuses(path: str, op: str, model: dict[str, Any], status: int) -> None:
    http = operation(op, model)["http"]
    assert (http["requestUri"], http["method"], http["responseCode"]) == (path, "POST", status)


def test_invocation_and_log_types() -> None:
    invoke, stream = input_members("Invoke"), input_members("InvokeWithResponseStream")
    assert tuple(SHAPES[invoke["InvocationType"]["shape"]]["enum"]) == _spec.INVOCATION_TYPES
    assert tuple(SHAPES[stream["InvocationType"]["shape"]]["enum"]) == _spec.STREAM_INVOCATION_TYPES
    assert tuple(SHAPES[invoke["LogType"]["shape"]]["enum"]) == _spec.LOG_TYPES
    assert tuple(SHAPES[stream["LogType"]["shape"]]["enum"]) == _spec.LOG_TYPES


def test_status_per_invocation_type() -> None:
    doc = text(output_members("Invoke")["StatusCode"]["documentation"])
    assert (
        f"For the RequestResponse invocation type, this status code is {_spec.SYNC_STATUS}" in doc
    )
    assert f"For the Event invocation type, this status code is {_spec.EVENT_STATUS}" in doc
    assert f"For the DryRun invocation type, the status code is {_spec.DRY_RUN_STATUS}" in doc
    stream = text(output_members("InvokeWithResponseStream")["StatusCode"]["documentation"])
    assert f"For the DryRun invocation type, this status code is {_spec.DRY_RUN_STATUS}" in stream


# -- names --------------------------------------------------------------------------------------


def test_function_name_pattern_and_lengths() -> None:
    for op in ("Invoke", "InvokeWithResponseStream", "InvokeAsync"):
        shape = SHAPES[input_members(op)["FunctionName"]["shape"]]
        assert (shape["pattern"], shape["min"], shape["max"]) == (
            _spec.FUNCTION_NAME_PATTERN,
            1,
            _spec.FUNCTION_NAME_MAX,
        )
    doc = text(input_members("Invoke")["FunctionName"]["documentation"])
    assert f"it is limited to {_spec.BARE_NAME_MAX} characters in length" in doc


NAMES = [
    "my-fn",
    "my_fn.v2",
    "my-fn:live",
    "my-fn:$LATEST",
    "my-fn:$LATEST.PUBLISHED",
    "my-fn:7",
    "123456789012:function:my-fn",
    "us-east-1:123456789012:function:my-fn",
    "arn:aws:lambda:us-east-1:123456789012:function:my-fn",
    "arn:aws:lambda:us-east-1:123456789012:function:my-fn:live",
    "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-fn",
    "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:my-fn",
    "arn:aws-iso-b:lambda:us-isob-east-1:123456789012:function:my-fn",
    "arn:aws-eusc:lambda:eusc-de-east-1:123456789012:function:my-fn",
    "my fn",
    "my/fn",
    "my-fn:",
    "my-fn:$PROD",
    "my-fn:live:extra",
    "arn:aws:s3:us-east-1:123456789012:function:my-fn",
    "arn:aws:lambda:useast1:123456789012:function:my-fn",
    "12345678901:function:my-fn",
    "",
]


@pytest.mark.parametrize("name", NAMES)
def test_names_accepted_exactly_as_the_model_pattern_does(name: str) -> None:
    model = re.fullmatch(_spec.FUNCTION_NAME_PATTERN, name) is not None and 1 <= len(name) <= 256
    try:
        parse_function_name(name, None, region="us-east-1", account_id="123456789012")
    except InvalidFunctionName:
        emulator = False
    else:
        emulator = True
    assert emulator == model


# -- headers --------------------------------------------------------------------------------------


def test_request_headers_and_query() -> None:
    ours = {
        "InvocationType": _spec.INVOCATION_TYPE,
        "LogType": _spec.LOG_TYPE,
        "ClientContext": _spec.CLIENT_CONTEXT,
        "TenantId": _spec.TENANT_ID,
        "DurableExecutionName": _spec.DURABLE_EXECUTION_NAME,
    }
    invoke = input_members("Invoke")
    for member, header in ours.items():
        assert (invoke[member]["location"], invoke[member]["locationName"].lower()) == (
            "header",
            header,
        )
    stream = input_members("InvokeWithResponseStream")
    assert {m: v["locationName"].lower() for m, v in stream.items() if v.get("location")} == {
        "FunctionName": "functionname",
        "InvocationType": _spec.INVOCATION_TYPE,
        "LogType": _spec.LOG_TYPE,
        "ClientContext": _spec.CLIENT_CONTEXT,
        "TenantId": _spec.TENANT_ID,
        "Qualifier": _spec.QUALIFIER.lower(),
    }
    for op in ("Invoke", "InvokeWithResponseStream"):
        qualifier = input_members(op)["Qualifier"]
        assert (qualifier["location"], qualifier["locationName"]) == (
            "querystring",
            _spec.QUALIFIER,
        )


def test_response_headers() -> None:
    invoke = output_members("Invoke")
    assert {m: v["locationName"] for m, v in invoke.items() if v.get("location") == "header"} == {
        "FunctionError": _spec.FUNCTION_ERROR,
        "LogResult": _spec.LOG_RESULT,
        "ExecutedVersion": _spec.EXECUTED_VERSION,
        "DurableExecutionArn": _spec.DURABLE_EXECUTION_ARN,
    }
    stream = output_members("InvokeWithResponseStream")
    assert stream["ExecutedVersion"]["locationName"] == _spec.EXECUTED_VERSION
    assert stream["ResponseStreamContentType"]["locationName"] == "Content-Type"
    retry = members("TooManyRequestsException")["retryAfterSeconds"]
    assert (retry["location"], retry["locationName"]) == ("header", _spec.RETRY_AFTER)


def test_request_id_and_error_type_headers_are_the_ones_botocore_reads() -> None:
    service = ServiceModel(MODEL, "lambda")
    shape = service.operation_model("Invoke").output_shape
    parsed = RestJSONParser().parse(
        {
            "status_code": 404,
            # botocore hands its parser the headers as a case-insensitive mapping.
            "headers": HeadersDict(
                {
                    _spec.REQUEST_ID: "req-1",
                    _spec.ERROR_TYPE: "ResourceNotFoundException:http://internal.amazon.com/",
                }
            ),
            "body": b'{"Type":"User","Message":"Function not found"}',
        },
        shape,
    )
    assert parsed["Error"]["Code"] == "ResourceNotFoundException"
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


# -- limits ---------------------------------------------------------------------------------------


def test_payload_limits() -> None:
    doc = text(operation("Invoke")["documentation"])
    payload = text(input_members("Invoke")["Payload"]["documentation"])
    mb = 1024 * 1024
    assert 6 * mb == _spec.MAX_SYNC_REQUEST
    assert "For synchronous invocations, the maximum payload size is 6 MB." in doc
    assert 1 * mb == _spec.MAX_ASYNC_REQUEST
    assert "For asynchronous invocations, the maximum payload size is 1 MB." in doc
    assert "6 MB for synchronous invocations and 1 MB for asynchronous invocations" in payload
    assert _spec.MAX_INVOKE_ASYNC_REQUEST == 256 * 1024
    assert "The payload limit is 256KB." in text(operation("InvokeAsync")["documentation"])
    # Not in the model: AWS's recorded answer allows 100 bytes over the request limit.
    assert _spec.MAX_SYNC_RESPONSE == _spec.MAX_SYNC_REQUEST + 100


def test_client_context_and_log_tail_limits() -> None:
    for op in ("Invoke", "InvokeWithResponseStream"):
        doc = text(input_members(op)["ClientContext"]["documentation"])
        assert doc.startswith(f"Up to {_spec.MAX_CLIENT_CONTEXT:,} bytes of base64-encoded data")
    assert _spec.LOG_TAIL_BYTES == 4 * 1024
    assert text(output_members("Invoke")["LogResult"]["documentation"]).startswith(
        "The last 4 KB of the execution log"
    )
    complete = members("InvokeWithResponseStreamCompleteEvent")
    assert text(complete["LogResult"]["documentation"]).startswith("The last 4 KB")


# -- response streaming ---------------------------------------------------------------------------


def test_stream_events() -> None:
    output = operation("InvokeWithResponseStream")["output"]["shape"]
    assert SHAPES[output]["payload"] == "EventStream"
    event_shape = SHAPES[members(output)["EventStream"]["shape"]]
    assert event_shape["eventstream"] is True
    assert list(event_shape["members"]) == [_spec.PAYLOAD_CHUNK, _spec.INVOKE_COMPLETE]
    chunk = members(event_shape["members"][_spec.PAYLOAD_CHUNK]["shape"])
    assert {name: dict(m).get("eventpayload") for name, m in chunk.items()} == {"Payload": True}
    complete = members(event_shape["members"][_spec.INVOKE_COMPLETE]["shape"])
    assert tuple(complete) == _spec.INVOKE_COMPLETE_FIELDS


def test_stream_content_type_and_rates() -> None:
    # botocore names the event-stream media type where it writes one (input streams).
    import inspect

    import botocore.serialize

    assert f"'{_spec.STREAM_CONTENT_TYPE}'" in inspect.getsource(botocore.serialize)
    # AWS's documentation (not the model): the first 6 MB uncapped, then 2 MB/s.
    assert (_spec.STREAM_UNTHROTTLED_BYTES, _spec.STREAM_RATE) == (6 * 2**20, 2 * 2**20)


# -- service errors -------------------------------------------------------------------------------


def test_modelled_error_codes_and_statuses() -> None:
    invoke_errors = {e["shape"] for e in operation("Invoke")["errors"]}
    for code, status in _spec.ERROR_STATUS.items():
        assert code in invoke_errors
        assert SHAPES[code]["error"]["httpStatusCode"] == status
    stream_errors = {e["shape"] for e in operation("InvokeWithResponseStream")["errors"]}
    assert set(_spec.ERROR_STATUS) - {"DurableExecutionAlreadyStartedException"} <= stream_errors
    reasons = SHAPES[members("TooManyRequestsException")["Reason"]["shape"]]["enum"]
    assert _spec.THROTTLE_REASON in reasons
    assert _spec.ACCOUNT_THROTTLE_REASON in reasons


def test_front_door_errors_are_not_in_any_model() -> None:
    # If botocore starts modelling one of these, it belongs in ERROR_STATUS (and this fails).
    for code in _spec.FRONT_DOOR_ERRORS:
        assert code not in SHAPES
        assert code not in OLD_MODEL["shapes"]
    assert set(_spec.FRONT_DOOR_ERRORS).isdisjoint(_spec.ERROR_STATUS)
