"""The AWS facts of the Lambda Invoke API: paths, size limits, name patterns, header names.

Dependency-free (the workflow helper imports it, and so may the sandbox): the values here are
the service's, as botocore's service model (``lambda`` 2015-03-31, whose ``InvokeAsync``
operation keeps its 2014-11-13 URI) and the Lambda documentation state them, and
``tests/unit/test_spec.py`` checks each against the installed botocore's model. The response
caps at the end are ours: how much of an answer the client reads.
"""

from __future__ import annotations

import re

__all__ = [
    "CLIENT_CONTEXT_HEADER",
    "DURABLE_EXECUTION_ARN_HEADER",
    "DURABLE_EXECUTION_NAME_HEADER",
    "DURABLE_EXECUTION_NAME_RE",
    "ERROR_TYPE_HEADER",
    "EXECUTED_VERSION_HEADER",
    "FUNCTION_ERROR_HEADER",
    "FUNCTION_NAME_PATTERN",
    "FUNCTION_NAME_RE",
    "INVOCATION_TYPE_HEADER",
    "INVOKE_ASYNC_PATH",
    "INVOKE_ASYNC_STATUS",
    "INVOKE_COMPLETE_EVENT",
    "INVOKE_METHOD",
    "INVOKE_PATH",
    "INVOKE_STATUS",
    "INVOKE_STREAM_PATH",
    "INVOKE_STREAM_STATUS",
    "LOG_RESULT_HEADER",
    "LOG_TYPE_HEADER",
    "MAX_BARE_FUNCTION_NAME",
    "MAX_CLIENT_CONTEXT",
    "MAX_DURABLE_EXECUTION_NAME",
    "MAX_EMPTY_RESPONSE",
    "MAX_ERROR_RESPONSE",
    "MAX_EVENT_PAYLOAD",
    "MAX_FUNCTION_DURATION",
    "MAX_FUNCTION_NAME",
    "MAX_INVOKE_ASYNC_PAYLOAD",
    "MAX_QUALIFIER",
    "MAX_STREAM_BODY",
    "MAX_STREAM_RESPONSE",
    "MAX_SYNC_PAYLOAD",
    "MAX_SYNC_RESPONSE",
    "MAX_TENANT_ID",
    "PAYLOAD_CHUNK_EVENT",
    "QUALIFIER_QUERY",
    "QUALIFIER_RE",
    "REQUEST_ID_HEADER",
    "RETRY_AFTER_HEADER",
    "STREAM_CONTENT_TYPE",
    "STREAM_INVOCATION_TYPES",
    "TENANT_ID_HEADER",
    "TENANT_ID_RE",
]

# -- the operations -------------------------------------------------------------------------

INVOKE_METHOD = "POST"
"""The HTTP method of ``Invoke`` and ``InvokeAsync``."""
INVOKE_PATH = "/2015-03-31/functions/{}/invocations"
"""The ``Invoke`` path; ``{}`` is the percent-encoded function name."""
INVOKE_ASYNC_PATH = "/2014-11-13/functions/{}/invoke-async"
"""The (deprecated) ``InvokeAsync`` path; ``{}`` is the percent-encoded function name."""
INVOKE_STATUS = 200
"""The status botocore's model gives a successful ``Invoke`` (``Event`` answers 202,
``DryRun`` 204: any 2xx is a success)."""
INVOKE_ASYNC_STATUS = 202
"""The status of a successful ``InvokeAsync``."""
INVOKE_STREAM_PATH = "/2021-11-15/functions/{}/response-streaming-invocations"
"""The ``InvokeWithResponseStream`` path (the 2021-11-15 API, in the same model);
``{}`` is the percent-encoded function name."""
INVOKE_STREAM_STATUS = 200
"""The status of a streamed answer (``DryRun`` answers 204, with no stream)."""
STREAM_INVOCATION_TYPES = ("RequestResponse", "DryRun")
"""The invocation types ``InvokeWithResponseStream`` accepts (no ``Event``)."""
STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
"""The ``Content-Type`` of a streamed answer: AWS event-stream messages."""
PAYLOAD_CHUNK_EVENT = "PayloadChunk"
"""The event carrying a piece of the function's response (its ``Payload`` blob)."""
INVOKE_COMPLETE_EVENT = "InvokeComplete"
"""The last event of a stream: ``ErrorCode``, ``ErrorDetails``, ``LogResult``."""

# -- request limits -------------------------------------------------------------------------

MAX_SYNC_PAYLOAD = 6_291_456
"""Largest request body of a ``RequestResponse`` or ``DryRun`` invocation (6 MB)."""
MAX_EVENT_PAYLOAD = 1_048_576
"""Largest request body of an ``Event`` invocation (1 MB)."""
MAX_INVOKE_ASYNC_PAYLOAD = 262_144
"""Largest request body of the deprecated ``InvokeAsync`` API (256 KB)."""
MAX_CLIENT_CONTEXT = 3_583
"""Largest ``X-Amz-Client-Context`` header, in bytes after base64 encoding."""
MAX_FUNCTION_NAME = 256
"""Longest ``FunctionName`` (name, partial ARN or ARN, qualifier included)."""
MAX_BARE_FUNCTION_NAME = 64
"""Longest function name proper (the part after ``function:``)."""
MAX_QUALIFIER = 128
"""Longest ``Qualifier`` (version or alias)."""
MAX_TENANT_ID = 256
"""Longest ``X-Amz-Tenant-Id``."""
MAX_DURABLE_EXECUTION_NAME = 64
"""Longest ``X-Amz-Durable-Execution-Name``."""
MAX_FUNCTION_DURATION = 900
"""The longest a function may run, in seconds (15 minutes)."""

# -- patterns (the model's, applied with fullmatch) ----------------------------------------

FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
"""The model's ``FunctionName`` pattern, as it spells it."""
FUNCTION_NAME_RE = re.compile(
    r"(?P<arn>arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"((?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?"
    r"(?P<account>\d{12}:)?"
    r"(function:)?"
    r"(?P<name>[a-zA-Z0-9-_\.]+)"
    r"(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?",
    re.ASCII,
)
""":data:`FUNCTION_NAME_PATTERN` with named groups: ``arn``, ``partition``, ``region``,
``account``, ``name`` and ``qualifier`` (same strings accepted)."""
QUALIFIER_RE = re.compile(r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+", re.ASCII)
"""The model's ``Qualifier`` pattern."""
TENANT_ID_RE = re.compile(r"[a-zA-Z0-9\._:\/=+\-@ ]+", re.ASCII)
"""The model's ``TenantId`` pattern."""
DURABLE_EXECUTION_NAME_RE = re.compile(r"[a-zA-Z0-9-_]+", re.ASCII)
"""The model's ``DurableExecutionName`` pattern."""

# -- headers and query ----------------------------------------------------------------------

QUALIFIER_QUERY = "Qualifier"
"""The query parameter carrying the qualifier."""
INVOCATION_TYPE_HEADER = "X-Amz-Invocation-Type"
"""Request header: ``RequestResponse``, ``Event`` or ``DryRun``."""
LOG_TYPE_HEADER = "X-Amz-Log-Type"
"""Request header: ``None`` or ``Tail``."""
CLIENT_CONTEXT_HEADER = "X-Amz-Client-Context"
"""Request header: the base64 of the client context's JSON."""
TENANT_ID_HEADER = "X-Amz-Tenant-Id"
"""Request header: the tenant of a function in tenant-isolation mode."""
DURABLE_EXECUTION_NAME_HEADER = "X-Amz-Durable-Execution-Name"
"""Request header: the name of the durable execution to start."""
FUNCTION_ERROR_HEADER = "X-Amz-Function-Error"
"""Response header: the function failed (``Unhandled``, ``Handled``...)."""
LOG_RESULT_HEADER = "X-Amz-Log-Result"
"""Response header: the base64 of the log's last 4 KB."""
EXECUTED_VERSION_HEADER = "X-Amz-Executed-Version"
"""Response header: the version that ran."""
DURABLE_EXECUTION_ARN_HEADER = "X-Amz-Durable-Execution-Arn"
"""Response header: the durable execution started (or found)."""
REQUEST_ID_HEADER = "x-amzn-RequestId"
"""Response header of every AWS JSON answer: the request id (not in the model's shapes)."""
ERROR_TYPE_HEADER = "x-amzn-ErrorType"
"""Response header of a REST-JSON error: its code, optionally ``:``-suffixed."""
RETRY_AFTER_HEADER = "Retry-After"
"""Response header of a throttle: seconds (or an HTTP-date) to wait."""

# -- how much of an answer is read (ours) ---------------------------------------------------

MAX_SYNC_RESPONSE = MAX_SYNC_PAYLOAD
"""Largest successful answer body of a ``RequestResponse`` invocation: Lambda's 6 MB response
limit (a function's result, or its error document). Reading stops past it."""
MAX_EMPTY_RESPONSE = 65_536
"""Largest successful answer body of an ``Event``, ``DryRun`` or ``InvokeAsync`` call, whose
answer is empty (64 KiB leaves room for a proxy's odd answer). Reading stops past it."""
MAX_STREAM_RESPONSE = 209_715_200
"""Largest streamed response (the ``PayloadChunk`` bytes) of ``InvokeWithResponseStream``:
Lambda's 200 MB. Reading stops past it."""
MAX_STREAM_BODY = 2 * MAX_STREAM_RESPONSE
"""Most bytes of a streamed answer read off the wire, event-stream framing included
(about 100 bytes a message): twice :data:`MAX_STREAM_RESPONSE` leaves room for chunks of
100 bytes and more, and still bounds a server that sends frames without payload."""
MAX_ERROR_RESPONSE = 65_536
"""Most bytes read of an error answer (non-2xx) of any call; the rest is dropped and the
error classified from its status, headers and the bytes read."""
