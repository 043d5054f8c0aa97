"""Validate a request and build the HTTP call that carries it (pure: no I/O).

Requests are built byte for byte the way botocore's ``lambda`` client builds them (same
percent-encoding of the path and query, same ``X-Amz-*`` headers, no ``Content-Type``),
with two deliberate differences: ``Invoke`` always sends ``X-Amz-Invocation-Type`` (botocore
omits it unless the caller passes one; the default is the same), and an absent payload is an
empty body rather than no body (the same bytes on the wire).

Decisions worth knowing:

- The idempotency key is delivered to the function without ever replacing a value the caller
  put there: a ``custom`` entry already in the client context, or a field already in an
  ``Event`` payload, wins.
- ``InvokeAsync`` has no ``Qualifier``, log type, client context, tenant id or durable
  execution name; asking for any of them (or for ``DryRun``) is a validation error. Put the
  qualifier in the function name instead.
- A function name located in another region or partition than the client's is refused: it
  would be signed for and sent to an endpoint that does not serve it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import urllib.parse
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from temporal_lambda._errors import LambdaValidationError
from temporal_lambda._spec import (
    CLIENT_CONTEXT_HEADER,
    DURABLE_EXECUTION_NAME_HEADER,
    DURABLE_EXECUTION_NAME_RE,
    FUNCTION_NAME_RE,
    INVOCATION_TYPE_HEADER,
    INVOKE_ASYNC_PATH,
    INVOKE_METHOD,
    INVOKE_PATH,
    INVOKE_STREAM_PATH,
    LOG_TYPE_HEADER,
    MAX_BARE_FUNCTION_NAME,
    MAX_CLIENT_CONTEXT,
    MAX_DURABLE_EXECUTION_NAME,
    MAX_EMPTY_RESPONSE,
    MAX_EVENT_PAYLOAD,
    MAX_FUNCTION_NAME,
    MAX_INVOKE_ASYNC_PAYLOAD,
    MAX_QUALIFIER,
    MAX_STREAM_BODY,
    MAX_SYNC_PAYLOAD,
    MAX_SYNC_RESPONSE,
    MAX_TENANT_ID,
    QUALIFIER_QUERY,
    QUALIFIER_RE,
    STREAM_INVOCATION_TYPES,
    TENANT_ID_HEADER,
    TENANT_ID_RE,
)
from temporal_lambda._types import InvocationType, LambdaInvokeRequest, LogType

__all__ = [
    "IDEMPOTENCY_KEY_RE",
    "MAX_IDEMPOTENCY_KEY",
    "STREAM_API",
    "PreparedCall",
    "effective_qualifier",
    "function_scope",
    "prepare_call",
    "prepare_stream_call",
    "validate_idempotency_key",
]

STREAM_API = "InvokeWithResponseStream"
"""The API name of a streamed call (:func:`prepare_stream_call`)."""
MAX_IDEMPOTENCY_KEY = MAX_DURABLE_EXECUTION_NAME
"""Longest idempotency key: it may name a durable execution, so it obeys that name's rules."""
IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+", re.ASCII)
"""The characters of an idempotency key (a durable execution name's, a subset of a header's)."""


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
    """``"Invoke"``, ``"InvokeAsync"`` or ``"InvokeWithResponseStream"``."""
    function_name: str
    """The function name as the caller gave it (for logs and records)."""

    @property
    def max_response_body(self) -> int:
        """The largest successful answer body this call can get from Lambda, in bytes.

        :data:`MAX_SYNC_RESPONSE` for a ``RequestResponse`` invocation, else
        :data:`MAX_EMPTY_RESPONSE` (``Event``, ``DryRun`` and ``InvokeAsync`` answer with
        an empty body); for a streamed ``RequestResponse``, :data:`MAX_STREAM_BODY` (the
        wire bytes, framing included: the stream's reader bounds the response itself).
        """
        if self.headers.get(INVOCATION_TYPE_HEADER) == InvocationType.REQUEST_RESPONSE:
            if self.api == "Invoke":
                return MAX_SYNC_RESPONSE
            if self.api == STREAM_API:
                return MAX_STREAM_BODY
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
    if not IDEMPOTENCY_KEY_RE.fullmatch(key):
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
    match = FUNCTION_NAME_RE.fullmatch(name)
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
    if not QUALIFIER_RE.fullmatch(qualifier):
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
        if not TENANT_ID_RE.fullmatch(tenant_id):
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
        if not DURABLE_EXECUTION_NAME_RE.fullmatch(durable_name):
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

    headers = {INVOCATION_TYPE_HEADER: invocation_type.value}
    if log_type is not None:
        headers[LOG_TYPE_HEADER] = log_type.value
    if client_context is not None:
        headers[CLIENT_CONTEXT_HEADER] = client_context
    if request.tenant_id is not None:
        headers[TENANT_ID_HEADER] = request.tenant_id
    if request.durable_execution_name is not None:
        headers[DURABLE_EXECUTION_NAME_HEADER] = request.durable_execution_name

    return PreparedCall(
        method=INVOKE_METHOD,
        path=INVOKE_PATH.format(_quote(function_name)),
        query="" if qualifier is None else f"{QUALIFIER_QUERY}={_quote(qualifier)}",
        headers=headers,
        body=body,
        api="Invoke",
        function_name=function_name,
    )


def prepare_stream_call(
    request: LambdaInvokeRequest,
    idempotency_key: str,
    *,
    region: str | None = None,
    partition: str | None = None,
) -> PreparedCall:
    """Validate ``request`` for ``InvokeWithResponseStream`` and build its HTTP request.

    The request is the one :func:`prepare_call` builds (same headers, body and key
    delivery), on the 2021-11-15 streaming path. Only ``RequestResponse`` and ``DryRun``
    stream; ``InvokeAsync`` and durable execution names have no streaming form.

    Args:
        request: The invocation to make.
        idempotency_key: The key this invocation carries across retries.
        region: As for :func:`prepare_call`.
        partition: As for :func:`prepare_call`.

    Returns:
        The unsigned request.

    Raises:
        LambdaValidationError: as for :func:`prepare_call`, and for an ``Event``
            invocation, ``invoke_async`` or a durable execution name.
    """
    if request.invocation_type not in STREAM_INVOCATION_TYPES:
        allowed = " or ".join(STREAM_INVOCATION_TYPES)
        raise LambdaValidationError(
            f"InvokeWithResponseStream takes invocation type {allowed}, "
            f"not {request.invocation_type!r}",
            field="invocation_type",
        )
    unsupported = (
        ("invoke_async", request.invoke_async, "InvokeAsync"),
        ("durable_execution_name", request.durable_execution_name, "a durable execution name"),
        (
            "durable_execution_name_from_key",
            request.durable_execution_name_from_key,
            "a durable execution name",
        ),
    )
    for field, value, what in unsupported:
        if value:
            raise LambdaValidationError(
                f"InvokeWithResponseStream does not take {what}", field=field
            )
    call = prepare_call(request, idempotency_key, region=region, partition=partition)
    return dataclasses.replace(
        call, path=INVOKE_STREAM_PATH.format(_quote(call.function_name)), api=STREAM_API
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
        method=INVOKE_METHOD,
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


def effective_qualifier(request: LambdaInvokeRequest) -> str | None:
    """Return the qualifier the call carries: the function name's, else the option's.

    :func:`prepare_call` refuses a request whose two qualifiers differ, so for a valid
    request this is the one qualifier on the wire, however it was given.
    """
    match = FUNCTION_NAME_RE.fullmatch(request.function_name)
    named: str | None = match.group("qualifier") if match is not None else None
    return named if named is not None else request.qualifier


def function_scope(function_name: str) -> str:
    """Return the function part of a record's scope: ``account:name``, or the bare name.

    Every spelling the Invoke API's ``FunctionName`` pattern allows that carries the account
    (``arn:aws:lambda:us-east-1:123456789012:function:charge``,
    ``us-east-1:123456789012:function:charge``, ``123456789012:function:charge``,
    ``123456789012:charge``) becomes ``123456789012:charge``; a name without an account
    (``charge``) stays ``charge``. The region and partition need not be kept: the region is
    a part of the scope of its own, and a name located in another region or partition than
    the client's is refused before anything is sent. A qualifier (``:live``) is dropped: it
    is a part of the request's fingerprint instead.

    A bare name and an ARN of the same function remain two scopes: which account a bare
    name means depends on the credentials, and finding out would cost an STS call.

    Args:
        function_name: The function name as the request gives it.

    Returns:
        The scope's function part (``function_name`` itself if it is not a function name).
    """
    match = FUNCTION_NAME_RE.fullmatch(function_name)
    if match is None:
        return function_name
    name: str = match.group("name")
    account: str | None = match.group("account")  # "123456789012:", colon included
    return f"{account}{name}" if account else name
