"""The whole exception tree of the package, and the one place an error becomes Temporal's.

The tree::

    LambdaError                          base of every error the package raises itself
    ├── LambdaValidationError            bad input, found before anything was sent
    ├── LambdaServiceError               the Invoke API answered with an error status
    ├── LambdaFunctionError              the function ran and failed (X-Amz-Function-Error)
    ├── LambdaTransportError             no complete HTTP answer (connect, read, reset, timeout)
    │   └── LambdaResponseTooLargeError  the answer's body is larger than the call can get
    ├── LambdaResultTooLargeError        the function's result is over Temporal's payload limit
    └── LambdaIdempotencyError           the idempotency store refused or could not answer
        ├── CallInProgress               an earlier attempt holds a live lease on the key
        ├── KeyReused                    the key was already used for a different request
        ├── RecordUnreadable             the call ran, but its stored result cannot be read
        ├── ResultTooLarge               the result is over the store's limit
        └── StoreUnavailable             the store is locked, full or unreachable

    temporalio.exceptions.ApplicationError
    └── StorageError                     an externally stored payload could not be stored or read

Their ``ApplicationError`` types, in the same order: ``Lambda.ValidationError``,
``Lambda.<Code>``, the function's own ``errorType``, ``Lambda.SdkClientException`` (or
``Lambda.ClientExecutionTimeoutException`` for a timeout), ``Lambda.ResponseTooLarge``,
``Lambda.ResultTooLargeForTemporal``, ``Lambda.IdempotencyInProgress``,
``Lambda.IdempotencyKeyReused``, ``Lambda.IdempotencyRecordUnreadable``,
``Lambda.IdempotencyResultTooLarge``, ``Lambda.IdempotencyStoreUnavailable`` and
``Lambda.ExternalStorage.*``: each is a constant of :mod:`temporal_lambda._codes`.

The idempotency errors are also importable from :mod:`temporal_lambda.idempotency` (a store
of your own raises ``StoreUnavailable`` and ``ResultTooLarge``). ``StorageError`` is raised by
Temporal's payload machinery, outside any activity, so it is an ``ApplicationError`` already
and is defined with the drivers, in ``temporal_lambda/storage/_errors.py``.

Each carries what :func:`to_application_error` needs: the ``ApplicationError`` type, whether
it is retryable, and the details a workflow may act on. Secrets (credentials, signatures,
the payload) are never put in a message or in details.

What reaches Temporal is bounded, whatever the function or a proxy sent: a message keeps at
most :data:`MAX_ERROR_MESSAGE` characters, an ``ApplicationError`` type at most
:data:`MAX_ERROR_TYPE`, a function's stack trace at most :data:`MAX_STACK_TRACE_LINES` lines
and :data:`MAX_STACK_TRACE` characters; whatever was cut ends with a marker naming the
original size, and ``details["truncated"]`` gives the original sizes. The message is carried
once: in ``ApplicationError.message``, not again in details nor in an encoded cause. Even in
the worst case (every character escaped by the JSON payload converter) a failure stays under
600 KB, far below Temporal's 2 MB limit, so an error document never makes a completion fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

from temporal_lambda._codes import (
    IN_PROGRESS_ERROR_TYPE,
    KEY_REUSED_ERROR_TYPE,
    RECORD_UNREADABLE_ERROR_TYPE,
    RESPONSE_TOO_LARGE_ERROR_TYPE,
    RESULT_TOO_LARGE_ERROR_TYPE,
    RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE,
    STORE_UNAVAILABLE_ERROR_TYPE,
    TIMEOUT_ERROR_TYPE,
    TRANSPORT_ERROR_TYPE,
    UNKNOWN_ERROR_TYPE,
    VALIDATION_ERROR_TYPE,
    service_error_type,
)

MAX_ERROR_MESSAGE = 32_768
"""Most characters of an error message sent to Temporal, truncation marker included."""
MAX_ERROR_TYPE = 256
"""Most characters of an ``ApplicationError`` type (and of a function's ``errorType``)."""
MAX_STACK_TRACE_LINES = 100
"""Most lines of a function's stack trace kept in details (half from each end)."""
MAX_STACK_TRACE = 32_768
"""Most characters of a function's stack trace kept in details (half from each end)."""


def bound_text(text: str, limit: int, original: int | None = None) -> tuple[str, int | None]:
    """Cut ``text`` to at most ``limit`` characters, marking the cut with the original size.

    Args:
        text: The text to bound.
        limit: Most characters of the result, marker included.
        original: The size to name when ``text`` is a changed copy of what was sent (a
            scrubbed message is longer or shorter than the function's); default its own.

    Returns:
        ``(text, None)`` when it fits; else its head followed by
        ``"… [truncated from N characters]"``, and ``N``.
    """
    if len(text) <= limit:
        return text, None
    size = len(text) if original is None else original
    marker = f"… [truncated from {size} characters]"
    return text[: max(0, limit - len(marker))] + marker, size


def bound_lines(
    lines: list[str], max_lines: int, max_chars: int
) -> tuple[list[str], tuple[int, int] | None]:
    """Keep the head and the tail of ``lines`` within ``max_lines`` and ``max_chars``.

    A stack trace matters at both ends (the handler's frame, and where it failed), so half
    of each budget goes to the first lines and half to the last; a line longer than what is
    left is cut. One marker line between them names the original size.

    Args:
        lines: The lines to bound.
        max_lines: Most lines kept (the marker line not counted).
        max_chars: Most characters kept (the marker line not counted).

    Returns:
        ``(lines, None)`` when they fit; else the kept lines with the marker, and the original
        ``(line count, character count)``.
    """
    total = sum(len(line) for line in lines)
    if len(lines) <= max_lines and total <= max_chars:
        return lines, None
    half_lines, half_chars = max(1, max_lines // 2), max(1, max_chars // 2)
    head: list[str] = []
    used, start = 0, 0
    while start < len(lines) and len(head) < half_lines and used < half_chars:
        line = lines[start][: half_chars - used]
        head.append(line)
        used += len(line)
        start += 1
    tail: list[str] = []
    used, end = 0, len(lines)
    while end > start and len(tail) < half_lines and used < half_chars:
        end -= 1
        line = lines[end][: half_chars - used]
        tail.append(line)
        used += len(line)
    tail.reverse()
    marker = f"… [stack trace truncated from {len(lines)} lines, {total} characters]"
    return [*head, marker, *tail], (len(lines), total)


class LambdaError(Exception):
    """Base class of every error this package raises."""

    error_type: str = UNKNOWN_ERROR_TYPE
    retryable: bool = True
    message_truncated_from: int | None = None
    """The message's original length when it was cut to :data:`MAX_ERROR_MESSAGE`."""

    def __init__(self, message: str = "") -> None:
        text, self.message_truncated_from = bound_text(message, MAX_ERROR_MESSAGE)
        super().__init__(text)

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
        self.error_type = service_error_type(code)

    def details(self) -> dict[str, Any]:
        """Return code, status, request id, throttle reason and ``Retry-After``."""
        return {
            "code": _clip(self.code),
            "status_code": self.status_code,
            "request_id": self.request_id,
            "reason": _clip(self.reason),
            "retry_after": self.retry_after,
            "kind": _clip(self.error_kind),
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
    message_size: int | None = None
    """The length of the message as the function sent it, when ``message`` is a scrubbed
    copy (what a truncation marker names); ``None``: ``len(message)``."""


class LambdaFunctionError(LambdaError):
    """The function ran and failed; ``error_type`` is its own ``errorType``.

    The message (``str()``), ``error_type`` and the stack trace in :meth:`details` are
    bounded (see the module docstring); ``info`` keeps the document as the function sent it.
    """

    def __init__(self, info: FunctionErrorInfo, *, retryable: bool = True) -> None:
        super().__init__()
        # Bounded here, naming the size the function sent (info.message may be scrubbed).
        text, self.message_truncated_from = bound_text(
            info.message, MAX_ERROR_MESSAGE, info.message_size
        )
        self.args = (text,)
        self.info = info
        self.error_type, type_truncated_from = bound_text(info.error_type, MAX_ERROR_TYPE)
        self.retryable = retryable
        self._stack_trace, stack_truncated_from = bound_lines(
            info.stack_trace, MAX_STACK_TRACE_LINES, MAX_STACK_TRACE
        )
        self.truncated: dict[str, int] = {}
        """Original sizes of what was cut: ``message``, ``error_type`` and ``stack_trace``
        in characters, ``stack_trace_lines`` in lines; empty when nothing was."""
        if self.message_truncated_from is not None:
            self.truncated["message"] = self.message_truncated_from
        if type_truncated_from is not None:
            self.truncated["error_type"] = type_truncated_from
        if stack_truncated_from is not None:
            lines, chars = stack_truncated_from
            self.truncated["stack_trace"] = chars
            self.truncated["stack_trace_lines"] = lines
        self.attempts: dict[str, int] | None = None
        """What :meth:`count_attempts` noted; ``None`` until it is called."""

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
            # The note goes after the bounded message, so a cut never drops it.
            note = f" (function failed on {failed} of {allowed} allowed attempts)"
            text, cut_from = bound_text(
                self.info.message, MAX_ERROR_MESSAGE - len(note), self.info.message_size
            )
            self.args = (text + note,)
            if cut_from is not None:
                self.message_truncated_from = cut_from
                self.truncated["message"] = cut_from

    def details(self) -> dict[str, Any]:
        """Return type, stack trace, ids, log tail, what was cut and the attempts counted.

        The message is not repeated here: it is the ``ApplicationError``'s own.
        """
        return {
            "error_type": self.error_type,
            "stack_trace": self._stack_trace,
            "function_error": self.info.function_error,
            "request_id": self.info.request_id,
            "executed_version": self.info.executed_version,
            "log_tail": self.info.log_tail,
            "truncated": dict(self.truncated),
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


class LambdaResultTooLargeError(LambdaError):
    """The function ran, but Temporal cannot carry its result; not retried."""

    error_type = RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE
    retryable = False

    def __init__(self, message: str, *, size: int, limit: int, request_id: str | None) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit
        self.request_id = request_id

    def details(self) -> dict[str, Any]:
        """Return the encoded size, the limit and the invocation's request id."""
        return {"size": self.size, "limit": self.limit, "request_id": self.request_id}


class LambdaResponseTooLargeError(LambdaTransportError):
    """A successful answer's body is larger than the call type allows; reading stopped."""

    error_type = RESPONSE_TOO_LARGE_ERROR_TYPE

    def __init__(self, message: str, *, status_code: int, bytes_read: int, limit: int) -> None:
        super().__init__(message, maybe_sent=True)
        self.error_type = RESPONSE_TOO_LARGE_ERROR_TYPE
        self.retryable = False
        self.status_code = status_code
        self.bytes_read = bytes_read
        self.limit = limit

    def details(self) -> dict[str, Any]:
        """Return the status, the bytes read before stopping, and the limit."""
        return {
            **super().details(),
            "status_code": self.status_code,
            "bytes_read": self.bytes_read,
            "limit": self.limit,
        }


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


class CallInProgress(LambdaIdempotencyError):
    """An earlier attempt of the call holds a live lease on its key; retried when it ends."""

    def __init__(self, key: str, wait: float) -> None:
        super().__init__(
            f"an earlier attempt of this call (key {key}) may still be waiting for Lambda; "
            f"not calling again until its lease ends in {wait:.1f} s",
            error_type=IN_PROGRESS_ERROR_TYPE,
            retryable=True,
            retry_after=wait,
        )


class KeyReused(LambdaIdempotencyError):
    """The idempotency key was already used for a different request; not retried."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key} was already used for a different request; "
            "give each logical call its own key",
            error_type=KEY_REUSED_ERROR_TYPE,
            retryable=False,
        )


class RecordUnreadable(LambdaIdempotencyError):
    """The call already ran, but its stored result cannot be read; not retried."""

    def __init__(self, function_name: str, key: str, reason: str) -> None:
        super().__init__(
            f"{function_name} already ran for idempotency key {key}, and its stored result "
            f"cannot be read ({reason}); not calling it again: repair or delete the record to "
            "call it anew",
            error_type=RECORD_UNREADABLE_ERROR_TYPE,
            retryable=False,
        )


class ResultTooLarge(LambdaIdempotencyError):
    """The result is larger than the store may hold; it was not stored (never truncated)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"result is {size} bytes; the idempotency store holds at most {limit}",
            error_type=RESULT_TOO_LARGE_ERROR_TYPE,
            retryable=False,
        )
        self.size = size
        self.limit = limit


class StoreUnavailable(LambdaIdempotencyError):
    """The store could not answer (locked, full, unreachable); nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_type=STORE_UNAVAILABLE_ERROR_TYPE, retryable=True)


def _clip(text: str | None) -> str | None:
    """Bound a short string taken from a response (a code, a reason) to :data:`MAX_ERROR_TYPE`."""
    return None if text is None else bound_text(text, MAX_ERROR_TYPE)[0]


def to_application_error(error: LambdaError) -> NoReturn:
    """Raise ``error`` as the ``ApplicationError`` a workflow sees.

    The message and type are bounded (:data:`MAX_ERROR_MESSAGE`, :data:`MAX_ERROR_TYPE`).
    The ``ApplicationError`` is raised ``from None``: Temporal's failure converter encodes a
    ``__cause__`` (or an unsuppressed ``__context__``) as a second failure carrying the same
    message again, so ``error`` is kept only as ``__context__``, with the context suppressed:
    local code and debuggers still reach it (with the unbounded ``info`` of a function error),
    Temporal does not.

    Args:
        error: Any error of this package.

    Raises:
        ApplicationError: always, with ``type``, ``non_retryable``, ``next_retry_delay``
            and details taken from ``error``; ``error`` is its (suppressed) ``__context__``.
    """
    from temporalio.exceptions import (
        ApplicationError,  # here, so _request/_response stay Temporal-free
    )

    retry_after = getattr(error, "retry_after", None)
    next_delay = timedelta(seconds=retry_after) if retry_after and error.retryable else None
    message, message_truncated_from = bound_text(
        str(error), MAX_ERROR_MESSAGE, error.message_truncated_from
    )
    details = error.details()
    truncated_from = message_truncated_from or error.message_truncated_from
    if truncated_from is not None and "truncated" not in details:
        details["truncated"] = {"message": truncated_from}
    application_error = ApplicationError(
        message,
        details,
        type=bound_text(error.error_type, MAX_ERROR_TYPE)[0],
        non_retryable=not error.retryable,
        next_retry_delay=next_delay,
    )
    application_error.__context__ = error
    raise application_error from None
