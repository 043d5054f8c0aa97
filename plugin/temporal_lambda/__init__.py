"""Invoke AWS Lambda functions as durable Temporal activities.

Workers add :class:`LambdaPlugin`; workflows call
:func:`temporal_lambda.workflow.invoke_lambda`; tests use
:class:`temporal_lambda.testing.LocalLambda`.
"""

from temporal_lambda._activity import LambdaActivities
from temporal_lambda._client import HttpSettings, LambdaClient
from temporal_lambda._codes import (
    NON_RETRYABLE_ERROR_TYPES,
    RESPONSE_TOO_LARGE_ERROR_TYPE,
    RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE,
    TIMEOUT_ERROR_TYPE,
    TRANSPORT_ERROR_TYPE,
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
from temporal_lambda._plugin import LambdaPlugin
from temporal_lambda._sizes import DEFAULT_PAYLOAD_LIMIT, MAX_PAYLOAD_DEPTH
from temporal_lambda._types import (
    INVOKE_ACTIVITY_NAME,
    InvocationType,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LogType,
    PayloadEncoding,
)

__all__ = [
    "DEFAULT_PAYLOAD_LIMIT",
    "INVOKE_ACTIVITY_NAME",
    "MAX_ERROR_MESSAGE",
    "MAX_ERROR_TYPE",
    "MAX_PAYLOAD_DEPTH",
    "MAX_STACK_TRACE",
    "MAX_STACK_TRACE_LINES",
    "NON_RETRYABLE_ERROR_TYPES",
    "RESPONSE_TOO_LARGE_ERROR_TYPE",
    "RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE",
    "TIMEOUT_ERROR_TYPE",
    "TRANSPORT_ERROR_TYPE",
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
    "LambdaTransportError",
    "LambdaValidationError",
    "LogType",
    "PayloadEncoding",
    "derive_idempotency_key",
]
