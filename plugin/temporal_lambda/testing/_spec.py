"""The emulator's own copy of the AWS facts it serves by: paths, limits, patterns, headers, errors.

The emulator is the oracle the client is tested against, so it shares no code with the client
side; ``tests/unit/test_emulator_spec.py`` checks every fact here against botocore's service models
(``lambda`` 2015-03-31, and 2014-11-11 for the deprecated InvokeAsync) so that the two copies
cannot drift apart silently.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_THROTTLE_REASON",
    "BARE_NAME_MAX",
    "CLIENT_CONTEXT",
    "DRY_RUN_STATUS",
    "DURABLE_EXECUTION_ARN",
    "DURABLE_EXECUTION_NAME",
    "ERROR_STATUS",
    "ERROR_TYPE",
    "EVENT_STATUS",
    "EXECUTED_VERSION",
    "FRONT_DOOR_ERRORS",
    "FUNCTION_ERROR",
    "FUNCTION_NAME_MAX",
    "FUNCTION_NAME_PATTERN",
    "INVOCATION_TYPE",
    "INVOCATION_TYPES",
    "INVOKE_ASYNC_PATH",
    "INVOKE_ASYNC_STATUS",
    "INVOKE_COMPLETE",
    "INVOKE_COMPLETE_FIELDS",
    "INVOKE_PATH",
    "INVOKE_STREAM_PATH",
    "LOG_RESULT",
    "LOG_TAIL_BYTES",
    "LOG_TYPE",
    "LOG_TYPES",
    "MAX_ASYNC_REQUEST",
    "MAX_CLIENT_CONTEXT",
    "MAX_INVOKE_ASYNC_REQUEST",
    "MAX_SYNC_REQUEST",
    "MAX_SYNC_RESPONSE",
    "PAYLOAD_CHUNK",
    "QUALIFIER",
    "REQUEST_ID",
    "RETRY_AFTER",
    "STREAM_CONTENT_TYPE",
    "STREAM_INVOCATION_TYPES",
    "STREAM_RATE",
    "STREAM_UNTHROTTLED_BYTES",
    "SYNC_STATUS",
    "TENANT_ID",
    "THROTTLE_REASON",
]

# -- operations ---------------------------------------------------------------------------------

INVOKE_PATH = "/2015-03-31/functions/{FunctionName}/invocations"
"""Invoke (``POST``)."""
INVOKE_STREAM_PATH = "/2021-11-15/functions/{FunctionName}/response-streaming-invocations"
"""InvokeWithResponseStream (``POST``)."""
INVOKE_ASYNC_PATH = "/2014-11-13/functions/{FunctionName}/invoke-async/"
"""The deprecated InvokeAsync (``POST``), from the 2014-11-11 API."""

INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")
"""``X-Amz-Invocation-Type`` values of Invoke."""
STREAM_INVOCATION_TYPES = ("RequestResponse", "DryRun")
"""``X-Amz-Invocation-Type`` values of InvokeWithResponseStream."""
LOG_TYPES = ("None", "Tail")
"""``X-Amz-Log-Type`` values."""

SYNC_STATUS = 200
"""Invoke's status for ``RequestResponse``."""
EVENT_STATUS = 202
"""Invoke's status for ``Event``."""
DRY_RUN_STATUS = 204
"""Invoke's status for ``DryRun``."""
INVOKE_ASYNC_STATUS = 202
"""InvokeAsync's status."""

# -- names --------------------------------------------------------------------------------------

FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
"""The model's pattern of a FunctionName in the path (quoted in the 400 Lambda answers)."""
FUNCTION_NAME_MAX = 256
"""Longest FunctionName, as a whole ARN."""
BARE_NAME_MAX = 64
"""Longest bare function name."""

# -- headers (request headers lower-case, as ASGI gives them) -----------------------------------

INVOCATION_TYPE = "x-amz-invocation-type"
LOG_TYPE = "x-amz-log-type"
CLIENT_CONTEXT = "x-amz-client-context"
TENANT_ID = "x-amz-tenant-id"
DURABLE_EXECUTION_NAME = "x-amz-durable-execution-name"
QUALIFIER = "Qualifier"
"""The query parameter naming a version or alias."""

FUNCTION_ERROR = "X-Amz-Function-Error"
LOG_RESULT = "X-Amz-Log-Result"
EXECUTED_VERSION = "X-Amz-Executed-Version"
DURABLE_EXECUTION_ARN = "X-Amz-Durable-Execution-Arn"
REQUEST_ID = "x-amzn-RequestId"
ERROR_TYPE = "x-amzn-ErrorType"
RETRY_AFTER = "Retry-After"
"""Seconds to wait after a throttle (the model's ``retryAfterSeconds``)."""

# -- limits ---------------------------------------------------------------------------------------

MAX_SYNC_REQUEST = 6_291_456
"""Largest ``RequestResponse`` payload, in bytes."""
MAX_ASYNC_REQUEST = 1_048_576
"""Largest ``Event`` payload, in bytes (1 MB since October 2025)."""
MAX_INVOKE_ASYNC_REQUEST = 262_144
"""Largest payload of the deprecated InvokeAsync API, in bytes."""
MAX_SYNC_RESPONSE = 6_291_556
"""Largest synchronous response, in bytes (AWS's figure, 100 bytes above the request limit)."""
MAX_CLIENT_CONTEXT = 3_583
"""Largest ``X-Amz-Client-Context`` header, in bytes after base64 encoding."""
LOG_TAIL_BYTES = 4_096
"""How much of the log ``X-Amz-Log-Result`` and ``LogResult`` carry (the last 4 KB)."""

# -- response streaming ---------------------------------------------------------------------------

STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
PAYLOAD_CHUNK = "PayloadChunk"
"""The event carrying a chunk of the function's bytes."""
INVOKE_COMPLETE = "InvokeComplete"
"""The last event of a stream."""
INVOKE_COMPLETE_FIELDS = ("ErrorCode", "ErrorDetails", "LogResult")
STREAM_UNTHROTTLED_BYTES = 6_291_456
"""A streamed response's first 6 MB go at full speed..."""
STREAM_RATE = 2_097_152
"""...the rest at most 2 MB per second."""

# -- service errors -------------------------------------------------------------------------------

ERROR_STATUS = {
    "InvalidParameterValueException": 400,
    "InvalidRequestContentException": 400,
    "ResourceNotFoundException": 404,
    "DurableExecutionAlreadyStartedException": 409,
    "TooManyRequestsException": 429,
    "ServiceException": 500,
}
"""The modelled error codes the emulator answers, with their HTTP status."""

FRONT_DOOR_ERRORS = {
    "ValidationException": 400,
    "UnknownOperationException": 404,
    "RequestEntityTooLargeException": 413,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
}
"""Codes AWS's front door answers that no Lambda model lists (request validation, routing,
size, SigV4), with their HTTP status."""

THROTTLE_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
"""The ``Reason`` of a throttle by reserved concurrency."""
ACCOUNT_THROTTLE_REASON = "ConcurrentInvocationLimitExceeded"
"""The ``Reason`` of a throttle by the account's concurrency."""
