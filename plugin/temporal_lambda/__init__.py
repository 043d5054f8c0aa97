"""Invoke AWS Lambda functions as durable Temporal activities."""

from temporal_lambda._errors import (
    LambdaError,
    LambdaFunctionError,
    LambdaIdempotencyError,
    LambdaServiceError,
    LambdaTransportError,
    LambdaValidationError,
)
from temporal_lambda._types import (
    InvocationType,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LogType,
    PayloadEncoding,
)

__all__ = [
    "InvocationType",
    "LambdaError",
    "LambdaFunctionError",
    "LambdaIdempotencyError",
    "LambdaInvokeRequest",
    "LambdaInvokeResult",
    "LambdaServiceError",
    "LambdaTransportError",
    "LambdaValidationError",
    "LogType",
    "PayloadEncoding",
]
