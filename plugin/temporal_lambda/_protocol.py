"""The Lambda Invoke wire format: build a request, read a response, classify an error.

Pure code: no I/O, and nothing from httpx, botocore or temporalio is imported here (the
client signs and sends what :func:`prepare_call` builds, then hands the answer to
:func:`parse_response`).

Requests are built byte for byte the way botocore's ``lambda`` client builds them (same
percent-encoding of the path and query, same ``X-Amz-*`` headers, no ``Content-Type``),
with two deliberate differences: ``Invoke`` always sends ``X-Amz-Invocation-Type`` (botocore
omits it unless the caller passes one; the default is the same), and an absent payload is an
empty body rather than no body (the same bytes on the wire).

Decisions worth knowing:

- The error code of a service error is taken exactly as botocore's ``RestJSONParser`` does:
  the ``x-amzn-ErrorType`` header cut at the first ``:``, else the body's ``code``/``Code``,
  else its ``__type`` (namespace before ``#`` dropped). When none of them is present the code
  is ``"Unknown"`` (so the ``ApplicationError`` type is ``"Lambda.Unknown"``), and the status
  code alone decides whether it is retryable; botocore would use the status as the code, which
  makes a poor ``ApplicationError`` type.
- The three spellings of "payload too large" (``RequestTooLargeException``,
  ``SerializedRequestEntityTooLargeException`` and the unmodelled
  ``RequestEntityTooLargeException`` AWS actually sends) all become
  ``RequestTooLargeException``.
- Retryable: 408, 429, every 5xx, and the codes in :data:`RETRYABLE_CODES` whatever their
  status. Every other status (4xx, and anything unexpected below 400) is not retryable.
- A function error document without ``errorType`` is reported as ``UnknownFunctionError``.
- The idempotency key is delivered to the function without ever replacing a value the caller
  put there: a ``custom`` entry already in the client context, or a field already in an
  ``Event`` payload, wins.
- ``InvokeAsync`` has no ``Qualifier``, log type, client context, tenant id or durable
  execution name; asking for any of them (or for ``DryRun``) is a validation error. Put the
  qualifier in the function name instead.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from temporal_lambda._errors import (
    VALIDATION_ERROR_TYPE,
    FunctionErrorInfo,
    LambdaFunctionError,
    LambdaServiceError,
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
    "DEFAULT_MAX_RETRY_AFTER",
    "MAX_CLIENT_CONTEXT",
    "MAX_EMPTY_RESPONSE",
    "MAX_ERROR_RESPONSE",
    "MAX_EVENT_PAYLOAD",
    "MAX_INVOKE_ASYNC_PAYLOAD",
    "MAX_SYNC_PAYLOAD",
    "MAX_SYNC_RESPONSE",
    "NON_RETRYABLE_ERROR_TYPES",
    "RETRYABLE_CODES",
    "PreparedCall",
    "classify_service_error",
    "parse_response",
    "prepare_call",
    "retry_after_seconds",
    "validate_idempotency_key",
]

MAX_SYNC_PAYLOAD = 6_291_456
"""Largest request body of a ``RequestResponse`` or ``DryRun`` invocation (6 MB)."""
MAX_EVENT_PAYLOAD = 1_048_576
"""Largest request body of an ``Event`` invocation (1 MB)."""
MAX_INVOKE_ASYNC_PAYLOAD = 262_144
"""Largest request body of the deprecated ``InvokeAsync`` API (256 KB)."""
MAX_CLIENT_CONTEXT = 3_583
"""Largest ``X-Amz-Client-Context`` header, in bytes after base64 encoding."""

# How much of an answer the client reads (see PreparedCall.max_response_body).
MAX_SYNC_RESPONSE = MAX_SYNC_PAYLOAD
"""Largest successful answer body of a ``RequestResponse`` invocation: Lambda's 6 MB response
limit (a function's result, or its error document). Reading stops past it."""
MAX_EMPTY_RESPONSE = 65_536
"""Largest successful answer body of an ``Event``, ``DryRun`` or ``InvokeAsync`` call, whose
answer is empty (64 KiB leaves room for a proxy's odd answer). Reading stops past it."""
MAX_ERROR_RESPONSE = 65_536
"""Most bytes read of an error answer (non-2xx) of any call; the rest is dropped and the
error classified from its status, headers and the bytes read (its message keeps 4,096
characters anyway)."""

MAX_FUNCTION_NAME = 256
MAX_BARE_FUNCTION_NAME = 64
MAX_QUALIFIER = 128
MAX_TENANT_ID = 256
MAX_DURABLE_EXECUTION_NAME = 64
MAX_IDEMPOTENCY_KEY = 64
DEFAULT_MAX_RETRY_AFTER = 900.0
"""Longest ``Retry-After`` wait honoured by default, in seconds (Lambda's 15 minutes)."""
_NUMBER_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)

INVOKE_PATH = "/2015-03-31/functions/{}/invocations"
INVOKE_ASYNC_PATH = "/2014-11-13/functions/{}/invoke-async"

UNKNOWN_CODE = "Unknown"
"""The service error code used when the response names none."""
UNKNOWN_FUNCTION_ERROR_TYPE = "UnknownFunctionError"
"""The function ``errorType`` used when the error document names none."""
REQUEST_TOO_LARGE = "RequestTooLargeException"

# Patterns from botocore's service model (lambda 2015-03-31), applied with fullmatch.
_FUNCTION_NAME_RE = re.compile(
    r"(?P<arn>arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"((?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?"
    r"(?P<account>\d{12}:)?"
    r"(function:)?"
    r"(?P<name>[a-zA-Z0-9\-_\.]+)"
    r"(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9\-_]+))?",
    re.ASCII,
)
_QUALIFIER_RE = re.compile(r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9\-_$]+", re.ASCII)
_TENANT_ID_RE = re.compile(r"[a-zA-Z0-9\._:\/=+\-@ ]+", re.ASCII)
_DURABLE_NAME_RE = re.compile(r"[a-zA-Z0-9\-_]+", re.ASCII)
_IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+", re.ASCII)

_MAX_MESSAGE = 4096
"""Longest message taken from a raw (non-JSON) response body."""

# Service error codes and their statuses. The first group is modelled for Invoke and
# InvokeAsync in botocore's service model; the second is seen on the wire but unmodelled.
SERVICE_ERROR_STATUS: Mapping[str, int] = {
    "InvalidParameterValueException": 400,
    "InvalidRequestContentException": 400,
    "ModeNotSupportedException": 400,
    "NoPublishedVersionException": 400,
    "RecursiveInvocationException": 400,
    "SnapStartException": 400,
    "ServiceQuotaExceededException": 402,
    "EFSMountFailureException": 403,
    "S3FilesMountFailureException": 403,
    "ResourceNotFoundException": 404,
    "EFSMountConnectivityException": 408,
    "EFSMountTimeoutException": 408,
    "S3FilesMountConnectivityException": 408,
    "S3FilesMountTimeoutException": 408,
    "SnapStartTimeoutException": 408,
    "CodeArtifactUserDeletedException": 409,
    "CodeArtifactUserFailedException": 409,
    "CodeArtifactUserPendingException": 409,
    "DurableExecutionAlreadyStartedException": 409,
    "ResourceConflictException": 409,
    "SnapStartNotReadyException": 409,
    "SnapStartRegenerationFailureException": 409,
    "EFSIOException": 410,
    "RequestTooLargeException": 413,
    "SerializedRequestEntityTooLargeException": 413,
    "UnsupportedMediaTypeException": 415,
    "TooManyRequestsException": 429,
    "ServiceException": 500,
    "EC2AccessDeniedException": 502,
    "EC2ThrottledException": 502,
    "EC2UnexpectedException": 502,
    "ENILimitReachedException": 502,
    "ENINotReadyException": 502,
    "InvalidRuntimeException": 502,
    "InvalidSecurityGroupIDException": 502,
    "InvalidSubnetIDException": 502,
    "InvalidZipFileException": 502,
    "KMSAccessDeniedException": 502,
    "KMSDisabledException": 502,
    "KMSInvalidStateException": 502,
    "KMSNotFoundException": 502,
    "ResourceNotReadyException": 502,
    "SubnetIPAddressLimitReachedException": 502,
}
"""Every service error code modelled for ``Invoke``/``InvokeAsync``, with its HTTP status."""

UNMODELLED_ERROR_STATUS: Mapping[str, int] = {
    "AccessDeniedException": 403,
    "ExpiredTokenException": 403,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "RuntimeAliasDeletedException": 409,
    "RuntimeVersionDeletedException": 409,
    "RequestEntityTooLargeException": 413,
}
"""Codes AWS sends for Invoke that the service model does not list, with their status."""

_TOO_LARGE_SPELLINGS = frozenset(
    {
        "RequestTooLargeException",
        "SerializedRequestEntityTooLargeException",
        "RequestEntityTooLargeException",
    }
)

RETRYABLE_CODES: frozenset[str] = frozenset(
    {
        "EC2ThrottledException",
        "ResourceConflictException",
        "ResourceNotReadyException",
        "ServiceException",
        "SnapStartNotReadyException",
        "TooManyRequestsException",
    }
)
"""Service error codes that are retryable whatever status they arrive with."""

_RETRYABLE_STATUSES = frozenset({408, 429})


def _is_retryable(code: str, status_code: int) -> bool:
    return code in RETRYABLE_CODES or status_code in _RETRYABLE_STATUSES or status_code >= 500


NON_RETRYABLE_ERROR_TYPES: tuple[str, ...] = (
    *sorted(
        f"Lambda.{code}"
        for code, status in {**SERVICE_ERROR_STATUS, **UNMODELLED_ERROR_STATUS}.items()
        if code not in _TOO_LARGE_SPELLINGS - {REQUEST_TOO_LARGE}
        and 400 <= status < 500
        and not _is_retryable(code, status)
    ),
    VALIDATION_ERROR_TYPE,
)
"""``ApplicationError`` types that must never be retried (for ``RetryPolicy``).

The ``Lambda.<Code>`` names of every known non-retryable 4xx service error, plus
``Lambda.ValidationError``.
"""


@dataclass(frozen=True)
class PreparedCall:
    """One HTTP request to the Lambda API, ready to be signed and sent."""

    method: str
    """Always ``"POST"``."""
    path: str
    """The percent-encoded path, exactly as botocore encodes it."""
    query: str
    """``""`` or ``"Qualifier=<percent-encoded qualifier>"``."""
    headers: dict[str, str]
    """The ``X-Amz-*`` request headers (no auth, no ``Content-Type``)."""
    body: bytes
    """The request body (the JSON payload)."""
    api: str
    """``"Invoke"`` or ``"InvokeAsync"``."""
    function_name: str
    """The function name as the caller gave it (for logs and records)."""

    @property
    def max_response_body(self) -> int:
        """The largest successful answer body this call can get from Lambda, in bytes.

        :data:`MAX_SYNC_RESPONSE` for a ``RequestResponse`` invocation, else
        :data:`MAX_EMPTY_RESPONSE` (``Event``, ``DryRun`` and ``InvokeAsync`` answer with
        an empty body).
        """
        if (
            self.api == "Invoke"
            and self.headers.get("X-Amz-Invocation-Type") == InvocationType.REQUEST_RESPONSE
        ):
            return MAX_SYNC_RESPONSE
        return MAX_EMPTY_RESPONSE


def validate_idempotency_key(key: str) -> None:
    """Check that ``key`` can be used as an idempotency key.

    Args:
        key: The key to check.

    Raises:
        LambdaValidationError: unless ``key`` is 1 to 64 characters of ``[A-Za-z0-9_-]``
            (``field="idempotency_key"``).
    """
    if not isinstance(key, str):
        raise LambdaValidationError(
            f"idempotency key must be a string, got {type(key).__name__}",
            field="idempotency_key",
        )
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise LambdaValidationError(
            f"idempotency key is {len(key)} characters; it must be 1 to "
            f"{MAX_IDEMPOTENCY_KEY} characters",
            field="idempotency_key",
        )
    if not _IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise LambdaValidationError(
            "idempotency key may contain only the characters [A-Za-z0-9_-]",
            field="idempotency_key",
        )


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="-._~")


def _check_length(value: str, *, label: str, field: str, maximum: int) -> None:
    if not 1 <= len(value) <= maximum:
        raise LambdaValidationError(
            f"{label} is {len(value)} characters; it must be 1 to {maximum} characters",
            field=field,
        )


def _check_string(value: object, *, label: str, field: str) -> str:
    if not isinstance(value, str):
        raise LambdaValidationError(
            f"{label} must be a string, got {type(value).__name__}", field=field
        )
    return value


def _validate_function_name(
    name: object, region: str | None = None, partition: str | None = None
) -> str | None:
    """Validate the function name; return the qualifier it carries, if any.

    When ``region`` or ``partition`` is given, a name that names another region or
    partition (a full ARN, or ``region:account:function:name``) is refused: it would be
    signed for and sent to this client's regional endpoint, which does not serve it. A
    region-like prefix without an ARN or account (``my-fn-1:prod``) is a name and a
    qualifier, not a region, and is not checked.
    """
    name = _check_string(name, label="function name", field="function_name")
    _check_length(name, label="function name", field="function_name", maximum=MAX_FUNCTION_NAME)
    match = _FUNCTION_NAME_RE.fullmatch(name)
    if match is None:
        raise LambdaValidationError(
            "function name must be a function name, a name with a qualifier, a partial ARN "
            "(123456789012:function:name) or a full ARN "
            "(arn:aws:lambda:region:123456789012:function:name[:qualifier])",
            field="function_name",
        )
    bare = match.group("name")
    if bare.strip(".") == "":
        # "." and ".." match the model's pattern but are path segments: an HTTP client
        # would resolve them and send the call to another URL.
        raise LambdaValidationError(
            f"function name {bare!r} is not a function name", field="function_name"
        )
    if len(bare) > MAX_BARE_FUNCTION_NAME:
        raise LambdaValidationError(
            f"function name part is {len(bare)} characters; a function name is at most "
            f"{MAX_BARE_FUNCTION_NAME} characters",
            field="function_name",
        )
    _check_location(name, match, region, partition)
    qualifier: str | None = match.group("qualifier")
    if qualifier is not None and len(qualifier) > MAX_QUALIFIER:
        raise LambdaValidationError(
            f"qualifier in the function name is {len(qualifier)} characters; "
            f"a qualifier is at most {MAX_QUALIFIER} characters",
            field="function_name",
        )
    return qualifier


def _check_location(
    name: str, match: re.Match[str], region: str | None, partition: str | None
) -> None:
    """Refuse a function name located in another region or partition than the client's."""
    is_located = match.group("arn") is not None or match.group("account") is not None
    named_region: str | None = match.group("region") if is_located else None
    named_partition: str | None = match.group("partition")
    wrong_partition = partition is not None and named_partition not in (None, partition)
    wrong_region = region is not None and named_region not in (None, region)
    if not (wrong_partition or wrong_region):
        return
    if wrong_partition:
        where = f"partition {named_partition}" + (
            f", region {named_region}" if named_region else ""
        )
        ours = f"region {region} in partition {partition}" if region else f"partition {partition}"
    else:
        where = f"region {named_region}"
        ours = f"region {region}"
    raise LambdaValidationError(
        f"function {name} is in {where}, but this worker's Lambda client signs for and "
        f"calls {ours}; invoke it from a worker (task queue) configured for "
        f"{named_region or named_partition}",
        field="function_name",
    )


def _validate_qualifier(qualifier: object, name_qualifier: str | None) -> str:
    qualifier = _check_string(qualifier, label="qualifier", field="qualifier")
    _check_length(qualifier, label="qualifier", field="qualifier", maximum=MAX_QUALIFIER)
    if not _QUALIFIER_RE.fullmatch(qualifier):
        raise LambdaValidationError(
            "qualifier must be $LATEST, $LATEST.PUBLISHED, a version number or an alias "
            "of [a-zA-Z0-9-_$]",
            field="qualifier",
        )
    if name_qualifier is not None and name_qualifier != qualifier:
        raise LambdaValidationError(
            f"qualifier {qualifier!r} conflicts with the qualifier {name_qualifier!r} "
            "in the function name",
            field="qualifier",
        )
    return qualifier


_E = TypeVar("_E", bound=StrEnum)


def _coerce_enum(kind: type[_E], value: object, what: str, field: str) -> _E:
    """Return ``value`` as a member of ``kind``, accepting its wire string too."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in kind)
    raise LambdaValidationError(f"{what} must be one of {allowed}; got {value!r}", field=field)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _encode_client_context(context: object, key: str | None, key_field: str | None) -> str:
    if not isinstance(context, dict):
        raise LambdaValidationError(
            f"client context must be a JSON object, got {type(context).__name__}",
            field="client_context",
        )
    merged: dict[str, Any] = dict(context)
    if key is not None and key_field is not None:
        custom = merged.get("custom")
        if custom is None:
            custom = {}
        if not isinstance(custom, dict):
            raise LambdaValidationError(
                "client context 'custom' must be a JSON object to carry the idempotency key, "
                f"got {type(custom).__name__}",
                field="client_context",
            )
        if key_field not in custom:
            merged["custom"] = {**custom, key_field: key}
    try:
        raw = _dumps(merged)
    except (TypeError, ValueError, RecursionError) as exc:
        raise LambdaValidationError(
            f"client context is not JSON-serialisable: {type(exc).__name__}",
            field="client_context",
        ) from None
    encoded = base64.b64encode(raw).decode("ascii")
    if len(encoded) > MAX_CLIENT_CONTEXT:
        raise LambdaValidationError(
            f"client context is {len(encoded)} bytes after base64 encoding; "
            f"at most {MAX_CLIENT_CONTEXT} are allowed",
            field="client_context",
        )
    return encoded


def prepare_call(
    request: LambdaInvokeRequest,
    idempotency_key: str,
    *,
    region: str | None = None,
    partition: str | None = None,
) -> PreparedCall:
    """Validate ``request`` and build the HTTP request that carries it.

    The idempotency key is delivered to the function under
    ``request.idempotency_key_field`` (unless that is ``None``): in the client context's
    ``custom`` object for ``RequestResponse``, as a field of a JSON-object payload for
    ``Event`` and ``InvokeAsync``, and not at all for ``DryRun``.

    Args:
        request: The invocation to make.
        idempotency_key: The key this invocation carries across retries.
        region: The region the call will be signed for and sent to; a function name in
            another region is refused.
        partition: The AWS partition of ``region`` (``aws``, ``aws-cn``...); a function
            ARN in another partition is refused.

    Returns:
        The unsigned request: method, encoded path and query, headers and body.

    Raises:
        LambdaValidationError: if anything in ``request`` or the key would be rejected by
            Lambda, or cannot be encoded; ``field`` names the offending input.
    """
    validate_idempotency_key(idempotency_key)
    key_field = request.idempotency_key_field
    if key_field is not None and (not isinstance(key_field, str) or not key_field):
        raise LambdaValidationError(
            "idempotency key field must be a non-empty string or None",
            field="idempotency_key_field",
        )

    name_qualifier = _validate_function_name(request.function_name, region, partition)
    function_name: str = request.function_name
    qualifier = (
        _validate_qualifier(request.qualifier, name_qualifier)
        if request.qualifier is not None
        else None
    )
    invocation_type = _coerce_enum(
        InvocationType, request.invocation_type, "invocation type", "invocation_type"
    )
    log_type = (
        None
        if request.log_type is None
        else _coerce_enum(LogType, request.log_type, "log type", "log_type")
    )

    if request.tenant_id is not None:
        tenant_id = _check_string(request.tenant_id, label="tenant id", field="tenant_id")
        _check_length(tenant_id, label="tenant id", field="tenant_id", maximum=MAX_TENANT_ID)
        if not _TENANT_ID_RE.fullmatch(tenant_id):
            raise LambdaValidationError(
                "tenant id may contain only letters, digits, spaces and ._:/=+-@",
                field="tenant_id",
            )
        if tenant_id.strip(" ") != tenant_id:
            raise LambdaValidationError(
                f"tenant id {tenant_id!r} begins or ends with a space, which HTTP strips "
                "from a header value: the function would see another tenant id",
                field="tenant_id",
            )
    if request.durable_execution_name is not None:
        durable_name = _check_string(
            request.durable_execution_name,
            label="durable execution name",
            field="durable_execution_name",
        )
        _check_length(
            durable_name,
            label="durable execution name",
            field="durable_execution_name",
            maximum=MAX_DURABLE_EXECUTION_NAME,
        )
        if not _DURABLE_NAME_RE.fullmatch(durable_name):
            raise LambdaValidationError(
                "durable execution name may contain only the characters [a-zA-Z0-9-_]",
                field="durable_execution_name",
            )

    if request.invoke_async:
        return _prepare_invoke_async(request, idempotency_key, qualifier, invocation_type)

    if log_type is LogType.TAIL and invocation_type is InvocationType.EVENT:
        raise LambdaValidationError(
            "log type Tail is only available for synchronous invocations, not Event",
            field="log_type",
        )
    if request.client_context is not None and invocation_type is InvocationType.EVENT:
        raise LambdaValidationError(
            "client context is only passed to synchronous invocations, not Event",
            field="client_context",
        )

    payload = request.payload
    context = request.client_context
    if invocation_type is InvocationType.REQUEST_RESPONSE and key_field is not None:
        context = {} if context is None else context
        client_context = _encode_client_context(context, idempotency_key, key_field)
    elif context is not None:
        client_context = _encode_client_context(context, None, None)
    else:
        client_context = None
    if invocation_type is InvocationType.EVENT:
        payload = _inject_into_payload(payload, idempotency_key, key_field)

    body = _encode_payload(payload)
    limit, label = (
        (MAX_EVENT_PAYLOAD, "Event invocations")
        if invocation_type is InvocationType.EVENT
        else (MAX_SYNC_PAYLOAD, f"{invocation_type.value} invocations")
    )
    _check_size(body, limit, label)

    headers = {"X-Amz-Invocation-Type": invocation_type.value}
    if log_type is not None:
        headers["X-Amz-Log-Type"] = log_type.value
    if client_context is not None:
        headers["X-Amz-Client-Context"] = client_context
    if request.tenant_id is not None:
        headers["X-Amz-Tenant-Id"] = request.tenant_id
    if request.durable_execution_name is not None:
        headers["X-Amz-Durable-Execution-Name"] = request.durable_execution_name

    return PreparedCall(
        method="POST",
        path=INVOKE_PATH.format(_quote(function_name)),
        query="" if qualifier is None else f"Qualifier={_quote(qualifier)}",
        headers=headers,
        body=body,
        api="Invoke",
        function_name=function_name,
    )


def _prepare_invoke_async(
    request: LambdaInvokeRequest,
    idempotency_key: str,
    qualifier: str | None,
    invocation_type: InvocationType,
) -> PreparedCall:
    unsupported = (
        ("qualifier", qualifier, "a qualifier (put it in the function name instead)"),
        ("log_type", request.log_type, "a log type"),
        ("client_context", request.client_context, "a client context"),
        ("tenant_id", request.tenant_id, "a tenant id"),
        ("durable_execution_name", request.durable_execution_name, "a durable execution name"),
    )
    for field, value, what in unsupported:
        if value is not None:
            raise LambdaValidationError(f"InvokeAsync does not accept {what}", field=field)
    if invocation_type is InvocationType.DRY_RUN:
        raise LambdaValidationError(
            "InvokeAsync is always asynchronous; it cannot be a DryRun",
            field="invocation_type",
        )
    if request.payload is None:
        raise LambdaValidationError(
            "InvokeAsync requires a payload (InvokeArgs); got None", field="payload"
        )
    payload = _inject_into_payload(request.payload, idempotency_key, request.idempotency_key_field)
    body = _encode_payload(payload)
    _check_size(body, MAX_INVOKE_ASYNC_PAYLOAD, "InvokeAsync calls")
    return PreparedCall(
        method="POST",
        path=INVOKE_ASYNC_PATH.format(_quote(request.function_name)),
        query="",
        headers={},
        body=body,
        api="InvokeAsync",
        function_name=request.function_name,
    )


def _inject_into_payload(payload: Any, key: str, key_field: str | None) -> Any:
    if key_field is None or not isinstance(payload, dict) or key_field in payload:
        return payload
    return {**payload, key_field: key}


def _encode_payload(payload: Any) -> bytes:
    if payload is None:
        return b""
    try:
        return _dumps(payload)
    except (TypeError, ValueError, RecursionError) as exc:
        raise LambdaValidationError(
            f"payload is not JSON-serialisable: {type(exc).__name__}", field="payload"
        ) from None


def _check_size(body: bytes, limit: int, label: str) -> None:
    if len(body) > limit:
        raise LambdaValidationError(
            f"payload is {len(body)} bytes; {label} accept at most {limit}", field="payload"
        )


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_body(body: bytes) -> tuple[Any, PayloadEncoding]:
    """Decode a response body: empty, strict JSON, UTF-8 text, or base64 of the bytes."""
    if not body:
        return None, PayloadEncoding.EMPTY
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), PayloadEncoding.BASE64
    try:
        return json.loads(text, parse_constant=_reject_constant), PayloadEncoding.JSON
    except ValueError:
        return text, PayloadEncoding.TEXT


def _decode_log_tail(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return value


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def _function_error_info(
    function_error: str,
    headers: Mapping[str, str],
    payload: Any,
    encoding: PayloadEncoding,
    log_tail: str | None,
) -> FunctionErrorInfo:
    doc: Mapping[str, Any] = payload if isinstance(payload, dict) else {}
    error_type = doc.get("errorType")
    if not isinstance(error_type, str) or not error_type:
        error_type = UNKNOWN_FUNCTION_ERROR_TYPE
    message = doc.get("errorMessage")
    if message is None:
        if encoding is PayloadEncoding.EMPTY:
            message = f"function failed ({function_error}) with an empty error document"
        elif encoding is PayloadEncoding.JSON:
            message = _truncate(json.dumps(payload, ensure_ascii=False))
        else:
            message = _truncate(str(payload))
    elif not isinstance(message, str):
        message = _truncate(json.dumps(message, ensure_ascii=False))
    raw_trace = doc.get("stackTrace")
    stack_trace: list[str] = []
    if isinstance(raw_trace, list):
        stack_trace = [
            line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)
            for line in raw_trace
        ]
    elif isinstance(raw_trace, str):
        stack_trace = [raw_trace]
    doc_request_id = doc.get("requestId")
    request_id = headers.get("x-amzn-requestid") or (
        doc_request_id if isinstance(doc_request_id, str) else None
    )
    return FunctionErrorInfo(
        error_type=error_type,
        message=message,
        stack_trace=stack_trace,
        function_error=function_error,
        request_id=request_id,
        executed_version=headers.get("x-amz-executed-version"),
        log_tail=log_tail,
    )


def parse_response(
    request: LambdaInvokeRequest,
    idempotency_key: str,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
) -> LambdaInvokeResult:
    """Turn the Lambda API's answer into a result, or raise the error it reports.

    Args:
        request: The request that was sent.
        idempotency_key: The key the request carried.
        status_code: The HTTP status of the answer.
        headers: The response headers (looked up case-insensitively).
        body: The response body.
        max_retry_after: The longest ``Retry-After`` honoured, in seconds.

    Returns:
        The result, with the body decoded as JSON, text or base64. When the function failed
        and ``request.raise_on_function_error`` is false, ``function_error`` is set and
        ``payload`` is the error document.

    Raises:
        LambdaFunctionError: the function failed (``X-Amz-Function-Error``) and
            ``request.raise_on_function_error`` is true; retryable unless its ``errorType``
            is in ``request.non_retryable_function_errors``.
        LambdaServiceError: the status is not 2xx (see :func:`classify_service_error`).
    """
    if not 200 <= status_code < 300:
        raise classify_service_error(status_code, headers, body, max_retry_after=max_retry_after)
    lowered = _lower(headers)
    payload, encoding = _decode_body(body)
    log_tail = _decode_log_tail(lowered.get("x-amz-log-result"))
    function_error = lowered.get("x-amz-function-error")
    if function_error is not None and request.raise_on_function_error:
        info = _function_error_info(function_error, lowered, payload, encoding, log_tail)
        raise LambdaFunctionError(
            info, retryable=info.error_type not in request.non_retryable_function_errors
        )
    return LambdaInvokeResult(
        status_code=status_code,
        idempotency_key=idempotency_key,
        payload=payload,
        payload_encoding=encoding.value,
        executed_version=lowered.get("x-amz-executed-version"),
        request_id=lowered.get("x-amzn-requestid"),
        log_tail=log_tail,
        function_error=function_error,
        durable_execution_arn=lowered.get("x-amz-durable-execution-arn"),
    )


def _error_code(lowered: Mapping[str, str], doc: Mapping[str, Any]) -> str | None:
    code: object = lowered.get("x-amzn-errortype")
    if not code:
        code = doc.get("code", doc.get("Code"))
    if not code:
        code = doc.get("__type")
    if not isinstance(code, str) or not code:
        return None
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    return code or None


def retry_after_seconds(
    value: str | None,
    *,
    date: str | None = None,
    now: datetime.datetime | None = None,
    maximum: float = DEFAULT_MAX_RETRY_AFTER,
) -> float | None:
    """Read a ``Retry-After`` header as the seconds to wait, at most ``maximum``.

    Never raises: whatever a server sends, the answer is a number of seconds or ``None``.

    Args:
        value: The header: delay-seconds (Lambda sends whole seconds; a decimal is taken
            as is, and so is an exponent) or an HTTP-date.
        date: The response's ``Date`` header; an HTTP-date is measured from it (the
            server's own clock), else from ``now``.
        now: The current time (default: the system clock, UTC).
        maximum: The longest wait returned; a longer delay, an overflowing number or a
            date further ahead is cut to it.

    Returns:
        Seconds in ``[0, maximum]`` (``0`` for a date in the past), or ``None`` when the
        header is absent, negative, NaN or neither a number nor an HTTP-date.
    """
    if value is None:
        return None
    text = value.strip()
    if _NUMBER_RE.fullmatch(text):
        # Decimal notation only ("nan" and "inf" are not numbers here); an exponent or a
        # number too long for a float gives a huge value, or inf, which the maximum cuts.
        seconds = float(text)
        if seconds < 0:
            return None
        seconds = max(0.0, seconds)  # "-0" is no wait
    else:
        when = _http_date(text)
        if when is None:
            return None
        reference = _http_date(date) if date is not None else None
        if reference is None:
            reference = now if now is not None else datetime.datetime.now(datetime.UTC)
        seconds = max(0.0, (when - reference).total_seconds())
    return min(seconds, maximum)


def _http_date(text: str) -> datetime.datetime | None:
    """Parse an HTTP-date (RFC 9110: IMF-fixdate, RFC 850 or asctime) as an aware datetime."""
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" and asctime: UTC by definition for HTTP
        when = when.replace(tzinfo=datetime.UTC)
    return when


def classify_service_error(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
) -> LambdaServiceError:
    """Build the error for a non-2xx answer of the Lambda API.

    Args:
        status_code: The HTTP status.
        headers: The response headers (looked up case-insensitively).
        body: The response body (JSON error document, or anything a proxy sent).
        max_retry_after: The longest ``Retry-After`` honoured, in seconds (see
            :func:`retry_after_seconds`).

    Returns:
        The error, with code (``error_type`` is ``Lambda.<code>``), message, retryability,
        request id, ``Retry-After`` in seconds, throttle reason and error kind
        (``User``/``Service``).
    """
    lowered = _lower(headers)
    text = body.decode("utf-8", errors="replace")
    doc: Mapping[str, Any]
    if not text:
        doc = {}
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        doc = parsed if isinstance(parsed, dict) else {"message": text}
    code = _error_code(lowered, doc) or UNKNOWN_CODE
    if code in _TOO_LARGE_SPELLINGS:
        code = REQUEST_TOO_LARGE
    message = doc.get("message", doc.get("Message"))
    if not isinstance(message, str) or not message:
        message = f"HTTP {status_code}"
    kind = doc.get("Type")
    reason = doc.get("Reason")
    return LambdaServiceError(
        _truncate(message),
        code=code,
        status_code=status_code,
        retryable=_is_retryable(code, status_code),
        request_id=lowered.get("x-amzn-requestid"),
        retry_after=retry_after_seconds(
            lowered.get("retry-after"), date=lowered.get("date"), maximum=max_retry_after
        ),
        reason=reason if isinstance(reason, str) else None,
        error_kind=kind if isinstance(kind, str) else None,
    )
