"""The data that crosses the workflow/activity boundary.

Everything here is a plain dataclass or a string enum so that any JSON payload converter can
carry it (as the dict of its fields, see :mod:`temporal_lambda._converter`), and so that the
workflow sandbox can import it (no I/O).
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from temporal_lambda._converter import carried_as_fields

INVOKE_ACTIVITY_NAME = "temporal_lambda.invoke"
"""The name the invoke activity is registered under on the worker."""

INVOKE_STREAM_ACTIVITY_NAME = "temporal_lambda.invoke_stream"
"""The name the streaming invoke activity (``InvokeWithResponseStream``) is registered under."""

DEFAULT_FUNCTION_ERROR_ATTEMPTS = 3
"""Attempts of one call a function may fail on before the failure is final."""

DEFAULT_IDEMPOTENCY_FIELD = "idempotency_key"
"""Where the function finds the idempotency key (client context ``custom`` / payload field)."""


class InvocationType(StrEnum):
    """The ``X-Amz-Invocation-Type`` of an Invoke call."""

    REQUEST_RESPONSE = "RequestResponse"
    """Synchronous: wait for the function and return its result."""
    EVENT = "Event"
    """Asynchronous: Lambda queues the event and answers 202."""
    DRY_RUN = "DryRun"
    """Validate parameters and permissions only (204)."""


class LogType(StrEnum):
    """The ``X-Amz-Log-Type`` of a synchronous call."""

    NONE = "None"
    """No log in the response."""
    TAIL = "Tail"
    """Return the last 4 KB of the execution log."""


class PayloadEncoding(StrEnum):
    """How :attr:`LambdaInvokeResult.payload` holds the response body."""

    JSON = "json"
    """The body was JSON; ``payload`` is the parsed value."""
    TEXT = "text"
    """The body was UTF-8 text but not JSON; ``payload`` is the text."""
    BASE64 = "base64"
    """The body was binary; ``payload`` is its standard base64 encoding."""
    EMPTY = "empty"
    """There was no body (``Event``, ``DryRun``, ``InvokeAsync``); ``payload`` is ``None``."""


@carried_as_fields
@dataclass
class LambdaInvokeRequest:
    """The input of the invoke activity: one logical Lambda invocation.

    Build it with :func:`temporal_lambda.workflow.invoke_lambda` rather than by hand.
    """

    function_name: str
    """Name, partial ARN or full ARN (optionally with a ``:qualifier`` suffix)."""
    payload: Any = None
    """Any JSON-serialisable value; sent as the request body. ``None`` sends no body."""
    invocation_type: str = InvocationType.REQUEST_RESPONSE.value
    """``RequestResponse``, ``Event`` or ``DryRun`` (a plain string, checked by the activity)."""
    qualifier: str | None = None
    """Version or alias (``?Qualifier=``)."""
    log_type: str | None = None
    """``Tail`` to get the last 4 KB of the log (synchronous calls only)."""
    client_context: dict[str, Any] | None = None
    """Client context object (``custom``, ``env``, ``client``), synchronous calls only."""
    tenant_id: str | None = None
    """``X-Amz-Tenant-Id`` for functions in tenant-isolation mode."""
    durable_execution_name: str | None = None
    """``X-Amz-Durable-Execution-Name`` for durable functions."""
    durable_execution_name_from_key: bool = False
    """Use the idempotency key as ``X-Amz-Durable-Execution-Name`` (durable functions)."""
    invoke_async: bool = False
    """Use the deprecated ``InvokeAsync`` API (2014-11-13) instead of ``Invoke``."""
    idempotency_key: str | None = None
    """Override the derived idempotency key (≤ 64 chars of ``[A-Za-z0-9-_]``)."""
    idempotency_key_field: str | None = DEFAULT_IDEMPOTENCY_FIELD
    """Key under which the function sees the idempotency key; ``None`` switches delivery off."""
    non_retryable_function_errors: list[str] = field(default_factory=list)
    """Function ``errorType`` values that must not be retried."""
    function_error_attempts: int = DEFAULT_FUNCTION_ERROR_ATTEMPTS
    """Attempts the function may fail on (``X-Amz-Function-Error``) before the failure is
    final (non-retryable); throttles, 5xx and transport errors do not count. 0: no bound."""
    raise_on_function_error: bool = True
    """Raise on ``X-Amz-Function-Error``; when false, return the error document as the result."""


@carried_as_fields
@dataclass
class LambdaInvokeResult:
    """The output of the invoke activity."""

    status_code: int
    """HTTP status: 200 (``RequestResponse``), 202 (``Event``/``InvokeAsync``), 204 (``DryRun``)."""
    idempotency_key: str
    """The key this invocation carried (stable across retries)."""
    payload: Any = None
    """The function's result, decoded as :attr:`payload_encoding` says."""
    payload_encoding: str = PayloadEncoding.EMPTY.value
    """How :attr:`payload` holds the body."""
    executed_version: str | None = None
    """``X-Amz-Executed-Version``."""
    request_id: str | None = None
    """``x-amzn-RequestId``."""
    log_tail: str | None = None
    """Decoded ``X-Amz-Log-Result`` when ``log_type`` was ``Tail``."""
    function_error: str | None = None
    """``X-Amz-Function-Error`` when the function failed and ``raise_on_function_error`` was off."""
    durable_execution_arn: str | None = None
    """``X-Amz-Durable-Execution-Arn`` for durable functions."""
    already_started: bool = False
    """True when a durable execution with this name already existed for the same payload."""


@carried_as_fields
@dataclass
class LambdaStreamResult:
    """The output of the streaming invoke activity: a whole ``InvokeWithResponseStream`` answer.

    The streamed bytes are not parsed (a stream is often NDJSON, server-sent events or
    text, seldom one JSON document): :attr:`payload` is their text, or their base64 when
    they are not UTF-8. A large one crosses Temporal through the client's external
    storage (the history holds a reference); see
    :func:`~temporal_lambda.workflow.invoke_lambda_stream`.
    """

    status_code: int
    """HTTP status: 200 (a stream), 204 (``DryRun``)."""
    idempotency_key: str
    """The key this invocation carried (stable across retries)."""
    payload: str | None = None
    """The streamed bytes: their text (``payload_encoding`` ``text``), their standard base64
    (``base64``), or ``None`` when nothing was streamed (``empty``)."""
    payload_encoding: str = PayloadEncoding.EMPTY.value
    """``text``, ``base64`` or ``empty`` (a stream is never decoded as JSON)."""
    size: int = 0
    """Bytes streamed (the ``PayloadChunk`` payloads, before any encoding)."""
    chunks: int = 0
    """``PayloadChunk`` events received."""
    sha256: str | None = None
    """Hex SHA-256 of the streamed bytes (``None`` when nothing was streamed)."""
    executed_version: str | None = None
    """``X-Amz-Executed-Version``."""
    request_id: str | None = None
    """``x-amzn-RequestId``."""
    log_tail: str | None = None
    """Decoded ``LogResult`` of ``InvokeComplete`` when ``log_type`` was ``Tail``."""
