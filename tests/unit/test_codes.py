"""The service-error catalogue and the retry rule (``_codes``), as classified answers show them."""

from __future__ import annotations

import json

import botocore.session
import pytest

from temporal_lambda._codes import (
    NON_RETRYABLE_ERROR_TYPES,
    RETRYABLE_CODES,
    SERVICE_ERROR_STATUS,
    UNMODELLED_ERROR_STATUS,
)
from temporal_lambda._response import classify_service_error

_RETRYABLE_EXPECTED = {
    "TooManyRequestsException",
    "ServiceException",
    "ResourceConflictException",
    "SnapStartNotReadyException",
    "EFSMountConnectivityException",
    "EFSMountTimeoutException",
    "S3FilesMountConnectivityException",
    "S3FilesMountTimeoutException",
    "SnapStartTimeoutException",
}


@pytest.mark.parametrize(
    ("code", "status"), sorted({**SERVICE_ERROR_STATUS, **UNMODELLED_ERROR_STATUS}.items())
)
def test_every_known_code(code: str, status: int) -> None:
    body = json.dumps({"Type": "User", "message": f"{code} happened"}).encode()
    err = classify_service_error(status, {"X-Amzn-ErrorType": code, "x-amzn-RequestId": "r"}, body)
    expected_code = (
        "RequestTooLargeException"
        if code in {"SerializedRequestEntityTooLargeException", "RequestEntityTooLargeException"}
        else code
    )
    retryable = status >= 500 or code in _RETRYABLE_EXPECTED
    assert err.code == expected_code
    assert err.error_type == f"Lambda.{expected_code}"
    assert err.status_code == status
    assert err.retryable is retryable
    assert err.request_id == "r"
    assert err.error_kind == "User"
    assert str(err) == f"{code} happened"
    assert (f"Lambda.{expected_code}" in NON_RETRYABLE_ERROR_TYPES) is (not retryable)


def test_modelled_statuses_match_botocore() -> None:
    model = botocore.session.get_session().get_service_model("lambda")
    modelled: dict[str, int] = {}
    for op in ("Invoke", "InvokeAsync"):
        for shape in model.operation_model(op).error_shapes:
            modelled[shape.name] = shape.metadata["error"]["httpStatusCode"]
    known = {**UNMODELLED_ERROR_STATUS, **SERVICE_ERROR_STATUS}
    # Every code the installed model lists is one we know, with the same status (botocore
    # releases move codes from "seen on the wire" into the model, never the other way).
    assert {code: known.get(code) for code in modelled} == modelled
    assert set(SERVICE_ERROR_STATUS) <= set(modelled)


def test_non_retryable_types_constant() -> None:
    assert NON_RETRYABLE_ERROR_TYPES[-1] == "Lambda.ValidationError"
    assert "Lambda.ResourceNotFoundException" in NON_RETRYABLE_ERROR_TYPES
    assert "Lambda.TooManyRequestsException" not in NON_RETRYABLE_ERROR_TYPES
    assert "Lambda.SerializedRequestEntityTooLargeException" not in NON_RETRYABLE_ERROR_TYPES
    assert len(NON_RETRYABLE_ERROR_TYPES) == 25
    expected_retryable = {
        "EC2ThrottledException",
        "ResourceConflictException",
        "ResourceNotReadyException",
        "ServiceException",
        "SnapStartNotReadyException",
        "TooManyRequestsException",
    }
    assert expected_retryable == RETRYABLE_CODES
