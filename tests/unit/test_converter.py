"""The request and result cross Temporal as the dict of their fields (``_converter``)."""

import dataclasses
import json
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from temporal_lambda import LambdaInvokeRequest, LambdaInvokeResult
from temporal_lambda._converter import _check_for, _FieldsConverter

CONVERTER = DataConverter.default.payload_converter

REQUEST = LambdaInvokeRequest(
    "charge-card",
    {"amount": 12, "items": [{"sku": "a"}], "note": None},
    qualifier="live",
    client_context={"custom": {"tenant": "t1"}},
    non_retryable_function_errors=["PaymentDeclined"],
    raise_on_function_error=False,
)
RESULT = LambdaInvokeResult(
    200, "k" * 40, {"ok": True}, "json", "$LATEST", "req-1", "log", None, None, False
)


def _json_payload(data: Any) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(data).encode())


def _asdict_json(value: Any) -> bytes:
    """What Temporal's JSON converter wrote for these dataclasses before (``asdict``)."""
    return json.dumps(dataclasses.asdict(value), separators=(",", ":"), sort_keys=True).encode()


@pytest.mark.parametrize("value", [REQUEST, RESULT, LambdaInvokeRequest("f")])
def test_same_json_as_before_and_back(value: Any) -> None:
    (payload,) = CONVERTER.to_payloads([value])
    assert payload.metadata["encoding"] == b"json/plain"
    # Byte for byte what the default dataclass conversion wrote: old histories replay.
    assert payload.data == _asdict_json(value)
    assert CONVERTER.from_payloads([payload], [type(value)]) == [value]


def test_encoding_does_not_copy_the_payload() -> None:
    fields = _FieldsConverter().to_transfer_type(RESULT)
    assert fields["payload"] is RESULT.payload
    assert list(fields) == [f.name for f in dataclasses.fields(LambdaInvokeResult)]


def test_unknown_keys_ignored_missing_optional_defaulted() -> None:
    payload = _json_payload({"function_name": "f", "from_a_newer_version": 1})
    assert CONVERTER.from_payloads([payload], [LambdaInvokeRequest]) == [LambdaInvokeRequest("f")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"function_name": 7}, "LambdaInvokeRequest.function_name: expected str, got int"),
        (
            {"function_name": "f", "qualifier": 1},
            "LambdaInvokeRequest.qualifier: expected str or None, got int",
        ),
        (
            {"function_name": "f", "invoke_async": "yes"},
            "LambdaInvokeRequest.invoke_async: expected bool, got str",
        ),
        (
            {"function_name": "f", "non_retryable_function_errors": ["A", 2]},
            "LambdaInvokeRequest.non_retryable_function_errors: expected list of str, got list",
        ),
        (
            {"function_name": "f", "client_context": ["custom"]},
            "LambdaInvokeRequest.client_context: expected object of any value or None, got list",
        ),
        (["f"], "cannot read LambdaInvokeRequest from a JSON list"),
    ],
)
def test_wrong_types_refused_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        CONVERTER.from_payloads([_json_payload(data)], [LambdaInvokeRequest])
    assert str(info.value) == message


def test_missing_required_field_refused() -> None:
    with pytest.raises(TypeError, match="idempotency_key"):
        CONVERTER.from_payloads([_json_payload({"status_code": 200})], [LambdaInvokeResult])


def test_status_code_must_be_an_int_not_a_bool() -> None:
    with pytest.raises(TypeError, match="status_code: expected int, got bool"):
        CONVERTER.from_payloads(
            [_json_payload({"status_code": True, "idempotency_key": "k"})], [LambdaInvokeResult]
        )


def test_a_hint_without_a_check_fails_when_the_class_is_declared() -> None:
    with pytest.raises(TypeError, match="no wire check for <class 'float'>"):
        _check_for(float)
