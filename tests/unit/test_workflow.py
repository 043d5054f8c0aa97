"""The workflow-side helpers (``workflow``): activity timeouts and the default retry policy."""

from datetime import timedelta

from temporal_lambda.workflow import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    default_retry_policy,
    lambda_start_to_close_timeout,
)


def test_start_to_close_covers_fifteen_minutes_plus_margin() -> None:
    assert lambda_start_to_close_timeout() == timedelta(minutes=16)


def test_start_to_close_shortened_by_function_timeout() -> None:
    assert lambda_start_to_close_timeout(timedelta(seconds=30)) == timedelta(seconds=90)


def test_start_to_close_capped_at_lambda_maximum() -> None:
    assert lambda_start_to_close_timeout(timedelta(hours=1)) == timedelta(minutes=16)


def test_heartbeat_timeout_default() -> None:
    assert timedelta(seconds=30) == DEFAULT_HEARTBEAT_TIMEOUT


def test_default_retry_policy_does_not_retry_bad_requests() -> None:
    policy = default_retry_policy(["PaymentDeclined"])
    assert policy.initial_interval == timedelta(seconds=1)
    assert policy.backoff_coefficient == 2.0
    assert policy.maximum_interval == timedelta(seconds=60)
    assert policy.maximum_attempts == 0
    types = policy.non_retryable_error_types or []
    for expected in (
        "Lambda.ValidationError",
        "Lambda.InvalidParameterValueException",
        "Lambda.InvalidRequestContentException",
        "Lambda.ResourceNotFoundException",
        "Lambda.RequestTooLargeException",
        "Lambda.InvalidSignatureException",
        "Lambda.AccessDeniedException",
        "PaymentDeclined",
    ):
        assert expected in types
    for retryable in (
        "Lambda.TooManyRequestsException",
        "Lambda.ServiceException",
        "Lambda.ResourceConflictException",
        "Lambda.ResourceNotReadyException",
        "Lambda.SnapStartNotReadyException",
        "Lambda.EFSMountTimeoutException",
    ):
        assert retryable not in types
