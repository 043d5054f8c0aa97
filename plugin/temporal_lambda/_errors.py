"""Our exceptions, and the one place they become Temporal ``ApplicationError``.

The tree::

    LambdaError
    ├── LambdaValidationError      bad input, found before anything was sent
    ├── LambdaServiceError         the Invoke API answered with an error status
    ├── LambdaFunctionError        the function ran and failed (X-Amz-Function-Error)
    ├── LambdaTransportError       no complete HTTP answer (connect, read, reset, timeout)
    └── LambdaIdempotencyError     the idempotency store refused or could not answer
        ├── ResultTooLarge         (temporal_lambda.idempotency) result over the store's limit
        └── StoreUnavailable       (temporal_lambda.idempotency) locked, full or unreachable

Each carries what :func:`to_application_error` needs: the ``ApplicationError`` type, whether
it is retryable, and the details a workflow may act on. Secrets (credentials, signatures,
the payload) are never put in a message or in details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

VALIDATION_ERROR_TYPE = "Lambda.ValidationError"
"""``ApplicationError.type`` for bad input rejected before sending."""
TRANSPORT_ERROR_TYPE = "Lambda.SdkClientException"
"""``ApplicationError.type`` for connection failures (the name Step Functions uses)."""
TIMEOUT_ERROR_TYPE = "Lambda.ClientExecutionTimeoutException"
"""``ApplicationError.type`` for a read that outlived the attempt's deadline."""
IN_PROGRESS_ERROR_TYPE = "Lambda.IdempotencyInProgress"
"""An earlier attempt holds a live lease on the key: retried when the lease ends."""
KEY_REUSED_ERROR_TYPE = "Lambda.IdempotencyKeyReused"
"""The key was used for a different request: not retried."""
RESULT_TOO_LARGE_ERROR_TYPE = "Lambda.IdempotencyResultTooLarge"
"""The result is larger than the idempotency store holds: not retried."""
STORE_UNAVAILABLE_ERROR_TYPE = "Lambda.IdempotencyStoreUnavailable"
"""The idempotency store could not answer (locked, full, unreachable): retried."""


class LambdaError(Exception):
    """Base class of every error this package raises."""

    error_type: str = "Lambda.Unknown"
    retryable: bool = True

    def details(self) -> dict[str, Any]:
        """Return the JSON-safe details that go with the ``ApplicationError``."""
        return {}


class LambdaValidationError(LambdaError):
    """The request is invalid; nothing was sent."""

    error_type = VALIDATION_ERROR_TYPE
    retryable = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def details(self) -> dict[str, Any]:
        """Return the name of the offending field."""
        return {"field": self.field}


class LambdaServiceError(LambdaError):
    """The Invoke API answered with an error (4xx/5xx)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int,
        retryable: bool,
        request_id: str | None = None,
        retry_after: float | None = None,
        reason: str | None = None,
        error_kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status_code
        self.retryable = retryable
        self.request_id = request_id
        self.retry_after = retry_after
        self.reason = reason
        self.error_kind = error_kind
        self.error_type = f"Lambda.{code}"

    def details(self) -> dict[str, Any]:
        """Return code, status, request id, throttle reason and ``Retry-After``."""
        return {
            "code": self.code,
            "status_code": self.status_code,
            "request_id": self.request_id,
            "reason": self.reason,
            "retry_after": self.retry_after,
            "kind": self.error_kind,
        }


@dataclass
class FunctionErrorInfo:
    """What a failed function reported, read from its error document and headers."""

    error_type: str
    message: str
    stack_trace: list[str] = field(default_factory=list)
    function_error: str = "Unhandled"
    request_id: str | None = None
    executed_version: str | None = None
    log_tail: str | None = None


class LambdaFunctionError(LambdaError):
    """The function ran and failed; ``error_type`` is its own ``errorType``."""

    def __init__(self, info: FunctionErrorInfo, *, retryable: bool = True) -> None:
        super().__init__(info.message)
        self.info = info
        self.error_type = info.error_type
        self.retryable = retryable
        self.attempts: dict[str, int] | None = None

    def count_attempts(self, failed: int, allowed: int, attempt: int) -> None:
        """Note how many attempts of this call the function failed on; stop at the bound.

        Args:
            failed: Attempts the function failed on, this one included.
            allowed: The call's ``function_error_attempts`` (0: no bound).
            attempt: Temporal's attempt number of this attempt (throttles and transport
                errors count there too).
        """
        self.attempts = {
            "function_error_attempts": failed,
            "function_error_attempts_allowed": allowed,
            "attempt": attempt,
        }
        if allowed and failed >= allowed:
            self.retryable = False
            self.args = (f"{self} (function failed on {failed} of {allowed} allowed attempts)",)

    def details(self) -> dict[str, Any]:
        """Return message, stack trace, request id, executed version, log tail and attempts."""
        return {
            "error_type": self.info.error_type,
            "error_message": self.info.message,
            "stack_trace": self.info.stack_trace,
            "function_error": self.info.function_error,
            "request_id": self.info.request_id,
            "executed_version": self.info.executed_version,
            "log_tail": self.info.log_tail,
            **(self.attempts or {}),
        }


class LambdaTransportError(LambdaError):
    """No complete HTTP answer arrived: connect error, reset, read timeout."""

    def __init__(self, message: str, *, timeout: bool = False, maybe_sent: bool = True) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.maybe_sent = maybe_sent
        self.error_type = TIMEOUT_ERROR_TYPE if timeout else TRANSPORT_ERROR_TYPE

    def details(self) -> dict[str, Any]:
        """Return whether the request may have reached Lambda."""
        return {"timeout": self.timeout, "maybe_sent": self.maybe_sent}


class LambdaIdempotencyError(LambdaError):
    """The idempotency store refused the call or could not answer."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after = retry_after

    def details(self) -> dict[str, Any]:
        """Return when to try again, if known."""
        return {"retry_after": self.retry_after}


def to_application_error(error: LambdaError) -> NoReturn:
    """Raise ``error`` as the ``ApplicationError`` a workflow sees.

    Args:
        error: Any error of this package.

    Raises:
        ApplicationError: always, with ``type``, ``non_retryable``, ``next_retry_delay``
            and details taken from ``error``; ``error`` is its ``__cause__``.
    """
    from temporalio.exceptions import ApplicationError  # here, so _protocol stays Temporal-free

    retry_after = getattr(error, "retry_after", None)
    next_delay = timedelta(seconds=retry_after) if retry_after and error.retryable else None
    raise ApplicationError(
        str(error),
        error.details(),
        type=error.error_type,
        non_retryable=not error.retryable,
        next_retry_delay=next_delay,
    ) from error
