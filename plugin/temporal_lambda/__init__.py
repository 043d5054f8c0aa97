"""The public face: invoke AWS Lambda functions as durable Temporal activities.

Workers add :class:`LambdaPlugin`; workflows call
:func:`temporal_lambda.workflow.invoke_lambda`; tests use
:class:`temporal_lambda.testing.LocalLambda`.

Importing the package is light: the names that need the I/O stack (aiohttp, httpx, botocore,
SQLite) are loaded on first use (``LambdaPlugin``, ``LambdaClient``, ``HttpSettings``,
``LambdaActivities``), so that the workflow sandbox, which re-imports a workflow's modules on
every run, never loads them for ``temporal_lambda.workflow``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from temporal_lambda._codes import (
    IN_PROGRESS_ERROR_TYPE,
    KEY_REUSED_ERROR_TYPE,
    NON_RETRYABLE_ERROR_TYPES,
    RECORD_UNREADABLE_ERROR_TYPE,
    RESPONSE_TOO_LARGE_ERROR_TYPE,
    RESULT_TOO_LARGE_ERROR_TYPE,
    RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE,
    STORE_UNAVAILABLE_ERROR_TYPE,
    TIMEOUT_ERROR_TYPE,
    TRANSPORT_ERROR_TYPE,
    UNKNOWN_FUNCTION_ERROR_TYPE,
    VALIDATION_ERROR_TYPE,
)
from temporal_lambda._errors import (
    MAX_ERROR_MESSAGE,
    MAX_ERROR_TYPE,
    MAX_STACK_TRACE,
    MAX_STACK_TRACE_LINES,
    LambdaError,
    LambdaFunctionError,
    LambdaIdempotencyError,
    LambdaResponseTooLargeError,
    LambdaResultTooLargeError,
    LambdaServiceError,
    LambdaTransportError,
    LambdaValidationError,
)
from temporal_lambda._keys import derive_idempotency_key
from temporal_lambda._sizes import DEFAULT_PAYLOAD_LIMIT, MAX_PAYLOAD_DEPTH, MAX_TASK_REQUESTS
from temporal_lambda._types import (
    INVOKE_ACTIVITY_NAME,
    INVOKE_STREAM_ACTIVITY_NAME,
    InvocationType,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LambdaStreamResult,
    LogType,
    PayloadEncoding,
)

if TYPE_CHECKING:
    from temporal_lambda._activity import LambdaActivities
    from temporal_lambda._client import LambdaClient
    from temporal_lambda._plugin import LambdaPlugin
    from temporal_lambda._transport import HttpSettings

__all__ = [
    "DEFAULT_PAYLOAD_LIMIT",
    "INVOKE_ACTIVITY_NAME",
    "INVOKE_STREAM_ACTIVITY_NAME",
    "IN_PROGRESS_ERROR_TYPE",
    "KEY_REUSED_ERROR_TYPE",
    "MAX_ERROR_MESSAGE",
    "MAX_ERROR_TYPE",
    "MAX_PAYLOAD_DEPTH",
    "MAX_STACK_TRACE",
    "MAX_STACK_TRACE_LINES",
    "MAX_TASK_REQUESTS",
    "NON_RETRYABLE_ERROR_TYPES",
    "RECORD_UNREADABLE_ERROR_TYPE",
    "RESPONSE_TOO_LARGE_ERROR_TYPE",
    "RESULT_TOO_LARGE_ERROR_TYPE",
    "RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE",
    "STORE_UNAVAILABLE_ERROR_TYPE",
    "TIMEOUT_ERROR_TYPE",
    "TRANSPORT_ERROR_TYPE",
    "UNKNOWN_FUNCTION_ERROR_TYPE",
    "VALIDATION_ERROR_TYPE",
    "HttpSettings",
    "InvocationType",
    "LambdaActivities",
    "LambdaClient",
    "LambdaError",
    "LambdaFunctionError",
    "LambdaIdempotencyError",
    "LambdaInvokeRequest",
    "LambdaInvokeResult",
    "LambdaPlugin",
    "LambdaResponseTooLargeError",
    "LambdaResultTooLargeError",
    "LambdaServiceError",
    "LambdaStreamResult",
    "LambdaTransportError",
    "LambdaValidationError",
    "LogType",
    "PayloadEncoding",
    "derive_idempotency_key",
]

_LAZY = {
    "HttpSettings": "temporal_lambda._transport",
    "LambdaActivities": "temporal_lambda._activity",
    "LambdaClient": "temporal_lambda._client",
    "LambdaPlugin": "temporal_lambda._plugin",
}
"""The public names whose modules load the I/O stack, and where each is defined."""


def __getattr__(name: str) -> Any:
    """Load a heavy public name on first use, and keep it."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the module's names, the not yet loaded public ones included."""
    return sorted({*globals(), *__all__})
