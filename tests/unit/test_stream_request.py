"""The InvokeWithResponseStream request, as built before sending (pure, no I/O)."""

from __future__ import annotations

import pytest

from temporal_lambda._errors import LambdaValidationError
from temporal_lambda._request import STREAM_API, prepare_call, prepare_stream_call
from temporal_lambda._spec import MAX_EMPTY_RESPONSE, MAX_STREAM_BODY
from temporal_lambda._stream_result import _varint
from temporal_lambda._types import LambdaInvokeRequest


def test_the_streaming_call_is_invokes_on_the_2021_path() -> None:
    request = LambdaInvokeRequest(
        "arn:aws:lambda:us-east-1:123456789012:function:gen",
        {"q": 1},
        qualifier="live",
        log_type="Tail",
        tenant_id="t-1",
        client_context={"custom": {"a": 1}},
    )
    plain = prepare_call(request, "key-1", region="us-east-1", partition="aws")
    call = prepare_stream_call(request, "key-1", region="us-east-1", partition="aws")
    assert call.path == (
        "/2021-11-15/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Agen"
        "/response-streaming-invocations"
    )
    assert (call.api, call.query, call.body) == (STREAM_API, "Qualifier=live", plain.body)
    assert call.headers == plain.headers
    assert call.max_response_body == MAX_STREAM_BODY
    dry = prepare_stream_call(LambdaInvokeRequest("gen", invocation_type="DryRun"), "key-1")
    assert dry.max_response_body == MAX_EMPTY_RESPONSE


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"invocation_type": "Event"},
            "invocation_type",
            "InvokeWithResponseStream takes invocation type RequestResponse or DryRun, not 'Event'",
        ),
        (
            {"invoke_async": True},
            "invoke_async",
            "InvokeWithResponseStream does not take InvokeAsync",
        ),
        (
            {"durable_execution_name": "run-1"},
            "durable_execution_name",
            "InvokeWithResponseStream does not take a durable execution name",
        ),
        (
            {"durable_execution_name_from_key": True},
            "durable_execution_name_from_key",
            "InvokeWithResponseStream does not take a durable execution name",
        ),
        (
            {"qualifier": "bad qualifier"},
            "qualifier",
            "qualifier must be $LATEST, $LATEST.PUBLISHED, a version number or an alias "
            "of [a-zA-Z0-9-_$]",
        ),
    ],
)
def test_what_has_no_streaming_form_is_refused(
    changes: dict[str, object], field: str, message: str
) -> None:
    request = LambdaInvokeRequest("gen", **changes)  # type: ignore[arg-type]
    with pytest.raises(LambdaValidationError) as info:
        prepare_stream_call(request, "key-1")
    assert (str(info.value), info.value.field) == (message, field)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16_383, 16_384, 2**28, 2**35 + 7])
def test_varint_is_protobufs(value: int) -> None:
    from temporalio.api.common.v1 import Payload

    # A bytes field of that length, parsed by protobuf itself.
    data = b"x" * value if 0 < value < 70_000 else None
    if data is not None:
        assert Payload(data=data).SerializeToString() == b"\x12" + _varint(value) + data
    decoded, shift = 0, 0
    for byte in _varint(value):
        decoded |= (byte & 0x7F) << shift
        shift += 7
    assert decoded == value


def test_the_workflow_helper_accepts_the_models_invocation_types() -> None:
    from temporal_lambda import workflow
    from temporal_lambda._spec import STREAM_INVOCATION_TYPES

    assert workflow.STREAM_INVOCATION_TYPES == STREAM_INVOCATION_TYPES
