"""The AWS facts in ``_spec`` and ``_codes``, checked against botocore's service model.

The model is read with botocore's own ``Loader`` (``botocore/data/lambda/2015-03-31/
service-2.json``); the 2014-11-13 ``InvokeAsync`` API lives in that same model, under its
own URI. Sizes the model states only in its documentation are checked in that text.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.loaders import Loader

from temporal_lambda import _spec
from temporal_lambda._codes import SERVICE_ERROR_STATUS, UNMODELLED_ERROR_STATUS
from temporal_lambda._types import InvocationType, LogType

MODEL: dict[str, Any] = Loader().load_service_model("lambda", "service-2", "2015-03-31")
SHAPES: dict[str, Any] = MODEL["shapes"]
INVOKE = MODEL["operations"]["Invoke"]
INVOKE_ASYNC = MODEL["operations"]["InvokeAsync"]


def _member(operation: dict[str, Any], side: str, name: str) -> dict[str, Any]:
    """The member ``name`` of the operation's input or output shape."""
    member: dict[str, Any] = SHAPES[operation[side]["shape"]]["members"][name]
    return member


def _shape(operation: dict[str, Any], side: str, name: str) -> dict[str, Any]:
    shape: dict[str, Any] = SHAPES[_member(operation, side, name)["shape"]]
    return shape


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_model_is_the_2015_api_with_invoke_async_on_its_2014_uri() -> None:
    assert MODEL["metadata"]["apiVersion"] == "2015-03-31"
    assert INVOKE["http"]["method"] == _spec.INVOKE_METHOD
    assert INVOKE_ASYNC["http"]["method"] == _spec.INVOKE_METHOD
    assert INVOKE["http"]["requestUri"] == _spec.INVOKE_PATH.format("{FunctionName}")
    assert INVOKE_ASYNC["http"]["requestUri"] == _spec.INVOKE_ASYNC_PATH.format("{FunctionName}")
    assert _spec.INVOKE_ASYNC_PATH.startswith("/2014-11-13/")
    assert INVOKE["http"]["responseCode"] == _spec.INVOKE_STATUS
    assert INVOKE_ASYNC["http"]["responseCode"] == _spec.INVOKE_ASYNC_STATUS
    for operation in (INVOKE, INVOKE_ASYNC):
        assert _member(operation, "input", "FunctionName")["location"] == "uri"
        assert _member(operation, "input", "FunctionName")["locationName"] == "FunctionName"


@pytest.mark.parametrize(
    ("member", "location", "name"),
    [
        ("InvocationType", "header", _spec.INVOCATION_TYPE_HEADER),
        ("LogType", "header", _spec.LOG_TYPE_HEADER),
        ("ClientContext", "header", _spec.CLIENT_CONTEXT_HEADER),
        ("TenantId", "header", _spec.TENANT_ID_HEADER),
        ("DurableExecutionName", "header", _spec.DURABLE_EXECUTION_NAME_HEADER),
        ("Qualifier", "querystring", _spec.QUALIFIER_QUERY),
    ],
)
def test_request_locations(member: str, location: str, name: str) -> None:
    modelled = _member(INVOKE, "input", member)
    assert (modelled["location"], modelled["locationName"]) == (location, name)


@pytest.mark.parametrize(
    ("member", "name"),
    [
        ("FunctionError", _spec.FUNCTION_ERROR_HEADER),
        ("LogResult", _spec.LOG_RESULT_HEADER),
        ("ExecutedVersion", _spec.EXECUTED_VERSION_HEADER),
        ("DurableExecutionArn", _spec.DURABLE_EXECUTION_ARN_HEADER),
    ],
)
def test_response_headers(member: str, name: str) -> None:
    modelled = _member(INVOKE, "output", member)
    assert (modelled["location"], modelled["locationName"]) == ("header", name)


def test_status_code_is_the_answer_status() -> None:
    assert _member(INVOKE, "output", "StatusCode")["location"] == "statusCode"


@pytest.mark.parametrize(
    ("member", "maximum"),
    [
        ("FunctionName", _spec.MAX_FUNCTION_NAME),
        ("Qualifier", _spec.MAX_QUALIFIER),
        ("TenantId", _spec.MAX_TENANT_ID),
        ("DurableExecutionName", _spec.MAX_DURABLE_EXECUTION_NAME),
    ],
)
def test_lengths(member: str, maximum: int) -> None:
    shape = _shape(INVOKE, "input", member)
    assert (shape["min"], shape["max"]) == (1, maximum)


def test_invoke_async_function_name_is_invokes() -> None:
    assert _shape(INVOKE_ASYNC, "input", "FunctionName") == _shape(INVOKE, "input", "FunctionName")


@pytest.mark.parametrize(
    ("member", "pattern"),
    [
        ("Qualifier", _spec.QUALIFIER_RE),
        ("TenantId", _spec.TENANT_ID_RE),
        ("DurableExecutionName", _spec.DURABLE_EXECUTION_NAME_RE),
    ],
)
def test_patterns(member: str, pattern: re.Pattern[str]) -> None:
    assert pattern.pattern == _shape(INVOKE, "input", member)["pattern"]
    assert pattern.flags & re.ASCII


NAMES = [
    "my-function",
    "my-function:v1",
    "my-function:$LATEST",
    "my-function:$LATEST.PUBLISHED",
    "my-function:$LATEST.X",
    "123456789012:function:my-function",
    "123456789012:function:my-function:live",
    "arn:aws:lambda:us-west-2:123456789012:function:my-function",
    "arn:aws-cn:lambda:cn-north-1:123456789012:function:f:7",
    "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f",
    "arn:aws-iso-b:lambda:us-isob-east-1:123456789012:function:f",
    "arn:aws:lambda:eusc-de-east-1:123456789012:function:f",
    "us-east-1:123456789012:function:f",
    "arn:aws:lambda:::function:f",
    "arn::lambda:function:f",
    "a.b_c-d",
    "..",
    "f:",
    ":f",
    "f:a:b",
    "f name",
    "ƒ",
    "function:f",
    "arn:aws:s3:::bucket",
    "12345678901:function:f",
]


def test_function_name_pattern_is_the_models() -> None:
    modelled = _shape(INVOKE, "input", "FunctionName")["pattern"]
    assert modelled == _spec.FUNCTION_NAME_PATTERN
    model = re.compile(modelled, re.ASCII)
    accepted = {name: bool(model.fullmatch(name)) for name in NAMES}
    assert {name: bool(_spec.FUNCTION_NAME_RE.fullmatch(name)) for name in NAMES} == accepted
    assert sorted(accepted.values()) == [False] * 9 + [True] * 16  # the samples cut both ways
    assert set(_spec.FUNCTION_NAME_RE.groupindex) == {
        "arn",
        "partition",
        "region",
        "account",
        "name",
        "qualifier",
    }


def test_bare_name_length_is_documented() -> None:
    text = _text(_member(INVOKE, "input", "FunctionName")["documentation"])
    assert f"limited to {_spec.MAX_BARE_FUNCTION_NAME} characters" in text


def test_payload_limits_are_documented() -> None:
    invoke = _text(INVOKE["documentation"])
    assert f"the maximum payload size is {_spec.MAX_SYNC_PAYLOAD // 2**20} MB" in invoke
    assert f"the maximum payload size is {_spec.MAX_EVENT_PAYLOAD // 2**20} MB" in invoke
    assert _spec.MAX_SYNC_PAYLOAD % 2**20 == _spec.MAX_EVENT_PAYLOAD % 2**20 == 0
    invoke_async = _text(INVOKE_ASYNC["documentation"])
    assert f"The payload limit is {_spec.MAX_INVOKE_ASYNC_PAYLOAD // 1024}KB" in invoke_async
    assert _spec.MAX_INVOKE_ASYNC_PAYLOAD % 1024 == 0
    context = _text(_member(INVOKE, "input", "ClientContext")["documentation"])
    assert f"Up to {_spec.MAX_CLIENT_CONTEXT:,} bytes of base64-encoded data" in context


def test_response_caps() -> None:
    assert _spec.MAX_SYNC_RESPONSE == _spec.MAX_SYNC_PAYLOAD
    assert _spec.MAX_EMPTY_RESPONSE == _spec.MAX_ERROR_RESPONSE == 65_536


def test_enums() -> None:
    assert sorted(_shape(INVOKE, "input", "InvocationType")["enum"]) == sorted(InvocationType)
    assert sorted(_shape(INVOKE, "input", "LogType")["enum"]) == sorted(LogType)


def _errors(operation: dict[str, Any]) -> dict[str, int]:
    return {
        error["shape"]: SHAPES[error["shape"]]["error"]["httpStatusCode"]
        for error in operation["errors"]
    }


def test_modelled_error_codes_and_statuses() -> None:
    modelled = {**_errors(INVOKE), **_errors(INVOKE_ASYNC)}
    assert modelled == dict(SERVICE_ERROR_STATUS)
    for code in modelled:
        assert SHAPES[code]["exception"] is True
    # The unmodelled ones are really not in the model (botocore may add them one day).
    assert not set(UNMODELLED_ERROR_STATUS) & set(SHAPES)


def test_the_response_stream_facts_are_the_models() -> None:
    stream = MODEL["operations"]["InvokeWithResponseStream"]
    assert stream["http"]["method"] == _spec.INVOKE_METHOD
    assert stream["http"]["requestUri"] == _spec.INVOKE_STREAM_PATH.format("{FunctionName}")
    assert stream["http"]["responseCode"] == _spec.INVOKE_STREAM_STATUS
    locations = {
        "InvocationType": ("header", _spec.INVOCATION_TYPE_HEADER),
        "LogType": ("header", _spec.LOG_TYPE_HEADER),
        "ClientContext": ("header", _spec.CLIENT_CONTEXT_HEADER),
        "TenantId": ("header", _spec.TENANT_ID_HEADER),
        "Qualifier": ("querystring", _spec.QUALIFIER_QUERY),
    }
    for member, expected in locations.items():
        modelled = _member(stream, "input", member)
        assert (modelled["location"], modelled["locationName"]) == expected
    assert tuple(_shape(stream, "input", "InvocationType")["enum"]) == (
        _spec.STREAM_INVOCATION_TYPES
    )
    events = _shape(stream, "output", "EventStream")
    assert events["eventstream"] is True
    assert set(events["members"]) == {_spec.PAYLOAD_CHUNK_EVENT, _spec.INVOKE_COMPLETE_EVENT}
    chunk = SHAPES[events["members"][_spec.PAYLOAD_CHUNK_EVENT]["shape"]]
    assert chunk["members"]["Payload"]["eventpayload"] is True
    complete = SHAPES[events["members"][_spec.INVOKE_COMPLETE_EVENT]["shape"]]
    assert set(complete["members"]) == {"ErrorCode", "ErrorDetails", "LogResult"}
    assert _member(stream, "output", "ResponseStreamContentType")["locationName"] == (
        "Content-Type"
    )
    # Lambda's documentation: "maximum response payload size of 200 MB" for streams.
    assert _spec.MAX_STREAM_RESPONSE == 200 * 1024 * 1024
