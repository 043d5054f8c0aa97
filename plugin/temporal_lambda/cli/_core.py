"""The one "try one request" core that the command line and the console share.

This is the only module of :mod:`temporal_lambda.cli` that imports the package's internals
(validation, the signed client, classification, the error catalogue), so that a later
re-cut of those modules changes one import block. A try goes down the activity's own path,
:class:`~temporal_lambda._attempt.LambdaAttempt`, the one request path of the package:

1. the request is validated for the client's region and partition and its call built (a
   refusal is a ``Lambda.ValidationError`` and nothing is sent);
2. :class:`~temporal_lambda._client.LambdaClient` signs and sends it, once, over the
   activity's own transport (wrapped only to record what went on the wire, secrets redacted);
3. the answer is read as the activity reads it, and every failure is turned into the
   ``ApplicationError`` a workflow would get by
   :func:`~temporal_lambda._errors.to_application_error`, whose type, retryability, retry
   delay and details are reported as they are.

There is no retry: a try is one attempt. What Temporal would do next is reported instead
(``non_retryable`` and ``next_retry_delay``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from temporal_lambda._attempt import LambdaAttempt
from temporal_lambda._client import LambdaClient
from temporal_lambda._codes import (
    IN_PROGRESS_ERROR_TYPE,
    KEY_REUSED_ERROR_TYPE,
    NON_RETRYABLE_ERROR_TYPES,
    RESULT_TOO_LARGE_ERROR_TYPE,
    RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE,
    SERVICE_ERROR_STATUS,
    STORE_UNAVAILABLE_ERROR_TYPE,
    TIMEOUT_ERROR_TYPE,
    TRANSPORT_ERROR_TYPE,
    UNMODELLED_ERROR_STATUS,
    VALIDATION_ERROR_TYPE,
)
from temporal_lambda._errors import (
    LambdaError,
    LambdaFunctionError,
    LambdaServiceError,
    LambdaTransportError,
    LambdaValidationError,
    to_application_error,
)
from temporal_lambda._keys import derive_idempotency_key
from temporal_lambda._response import classify_service_error
from temporal_lambda._sizes import DEFAULT_PAYLOAD_LIMIT, payload_size, payloads_size
from temporal_lambda._spec import (
    MAX_CLIENT_CONTEXT,
    MAX_EVENT_PAYLOAD,
    MAX_INVOKE_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
)
from temporal_lambda._transport import AiohttpTransport, HttpSettings
from temporal_lambda._types import (
    DEFAULT_IDEMPOTENCY_FIELD,
    InvocationType,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LogType,
)

__all__ = [
    "DEFAULT_IDEMPOTENCY_FIELD",
    "EXIT_CODES",
    "IN_PROGRESS_ERROR_TYPE",
    "KEY_REUSED_ERROR_TYPE",
    "LIMITS",
    "NON_RETRYABLE_ERROR_TYPES",
    "RESULT_TOO_LARGE_ERROR_TYPE",
    "STORE_UNAVAILABLE_ERROR_TYPE",
    "TIMEOUT_ERROR_TYPE",
    "TRANSPORT_ERROR_TYPE",
    "VALIDATION_ERROR_TYPE",
    "CatalogueEntry",
    "InvocationType",
    "LambdaInvokeRequest",
    "LambdaInvokeResult",
    "LambdaValidationError",
    "LogType",
    "Outcome",
    "SentRequest",
    "TrySettings",
    "build_request",
    "classify",
    "error_catalogue",
    "parse_json_option",
    "refusal",
    "try_request",
]

EXIT_CODES: Mapping[str, int] = {
    "success": 0,
    "function_error": 1,
    "refused": 3,
    "service_error": 4,
    "transport_error": 5,
}
"""Exit code of ``temporal-lambda invoke`` per outcome (2 is argparse's usage error)."""

LIMITS: Mapping[str, int] = {
    "sync_payload": MAX_SYNC_PAYLOAD,
    "event_payload": MAX_EVENT_PAYLOAD,
    "invoke_async_payload": MAX_INVOKE_ASYNC_PAYLOAD,
    "client_context": MAX_CLIENT_CONTEXT,
}
"""The request limits the package enforces before sending (bytes)."""

REDACTED = "[REDACTED]"
"""What a secret-bearing header's value is shown as."""
_SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token"})
_KEY_NAMESPACE = "temporal-lambda-cli"
"""The namespace part of the idempotency key derived for a try (no workflow exists)."""


@dataclass
class TrySettings:
    """The settings of one test request, as the command line or the console form give them."""

    function_name: str
    """Name, partial ARN or ARN, optionally with ``:qualifier``."""
    payload: Any = None
    """The event (any JSON value), already parsed."""
    qualifier: str | None = None
    """Version or alias."""
    invocation_type: str = InvocationType.REQUEST_RESPONSE.value
    """``RequestResponse``, ``Event`` or ``DryRun``."""
    log_type: str | None = None
    """``Tail`` for the last 4 KB of the log."""
    client_context: dict[str, Any] | None = None
    """The client context object, already parsed."""
    tenant_id: str | None = None
    """``X-Amz-Tenant-Id``."""
    invoke_async: bool = False
    """Use the deprecated ``InvokeAsync`` API."""
    idempotency_key: str | None = None
    """The key to send; ``None`` derives a fresh one for this try."""


@dataclass(frozen=True)
class CatalogueEntry:
    """One service error of the package's catalogue, as a workflow receives it."""

    code: str
    """The Lambda error code."""
    status: int
    """The HTTP status it arrives with."""
    error_type: str
    """The ``ApplicationError.type`` (``Lambda.<code>``)."""
    retryable: bool
    """Whether Temporal retries it (decided by the package's one rule)."""
    modelled: bool
    """Whether botocore's service model lists it (else: seen on the wire, unmodelled)."""


def classify(code: str, status: int) -> tuple[str, bool]:
    """Return the ``ApplicationError.type`` and retryability of a service error code.

    Args:
        code: The Lambda error code (as in ``x-amzn-ErrorType``).
        status: The HTTP status it arrives with.

    Returns:
        What :func:`~temporal_lambda._response.classify_service_error` (the activity's
        classifier) makes of it.
    """
    err = classify_service_error(status, {"x-amzn-errortype": code}, b"")
    return err.error_type, err.retryable


def error_catalogue() -> list[CatalogueEntry]:
    """Return every service error the package knows, classified by the package itself.

    Each entry is run through :func:`~temporal_lambda._response.classify_service_error`
    (the function the activity uses), so the type and retryability shown are the ones a
    workflow gets, never a second copy of the rule.

    Returns:
        The entries, modelled ones first, each group sorted by status then code.
    """
    entries: list[CatalogueEntry] = []
    for modelled, table in ((True, SERVICE_ERROR_STATUS), (False, UNMODELLED_ERROR_STATUS)):
        for code, status in sorted(table.items(), key=lambda item: (item[1], item[0])):
            error_type, retryable = classify(code, status)
            entries.append(
                CatalogueEntry(
                    code=code,
                    status=status,
                    error_type=error_type,
                    retryable=retryable,
                    modelled=modelled,
                )
            )
    return entries


@dataclass
class SentRequest:
    """The request as it went on the wire: secrets redacted, body by size only."""

    method: str
    """HTTP method."""
    url: str
    """The full URL, as signed and sent."""
    headers: dict[str, str]
    """Every header sent, ``Authorization`` and ``X-Amz-Security-Token`` redacted."""
    body_bytes: int
    """Length of the body."""


@dataclass
class Outcome:
    """What one test request gave: the prepared request, the answer, the classified error."""

    kind: str
    """``success``, ``function_error``, ``service_error``, ``refused`` or ``transport_error``."""
    api: str
    """``Invoke`` or ``InvokeAsync``."""
    function_name: str
    """The function name as given."""
    idempotency_key: str | None
    """The key the request carried (``None`` when it was refused before one was checked)."""
    idempotency_key_source: str
    """``given`` or ``derived`` (how the key was chosen for this try)."""
    request: SentRequest | None = None
    """The request sent, if one was."""
    status_code: int | None = None
    """The HTTP status, if an answer came."""
    headers: dict[str, str] = field(default_factory=dict)
    """The answer's headers that matter (request id, executed version, function error...)."""
    elapsed_ms: float | None = None
    """Time from sending to the whole answer read, in milliseconds."""
    result: dict[str, Any] | None = None
    """The :class:`LambdaInvokeResult` fields on success."""
    error: dict[str, Any] | None = None
    """On failure: the ``ApplicationError``'s ``type``, ``message``, ``non_retryable``,
    ``next_retry_delay_seconds`` and ``details``."""
    notes: list[str] = field(default_factory=list)
    """What a workflow would see differently from this try (e.g. a result Temporal refuses)."""

    @property
    def exit_code(self) -> int:
        """The command line's exit code for this outcome."""
        return EXIT_CODES[self.kind]

    def to_json(self) -> dict[str, Any]:
        """Return the outcome as a JSON-safe dict (what ``--json`` prints)."""
        data = asdict(self)
        data["exit_code"] = self.exit_code
        return data


_SHOWN_HEADERS = (
    "x-amzn-requestid",
    "x-amz-executed-version",
    "x-amz-function-error",
    "x-amzn-errortype",
    "retry-after",
    "x-amz-durable-execution-arn",
    "content-type",
    "content-length",
)


class _Recording(httpx.AsyncBaseTransport):
    """The activity's own transport, noting what it was handed to send (secrets redacted)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.sent: SentRequest | None = None
        self.started: float | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent = SentRequest(
            method=request.method,
            url=str(request.url),
            headers={
                name: REDACTED if name.lower() in _SECRET_HEADERS else value
                for name, value in request.headers.items()
            },
            body_bytes=len(request.content),
        )
        self.started = time.perf_counter()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def parse_json_option(text: str, *, field_name: str, label: str) -> Any:
    """Parse a JSON option, refusing bad JSON the way the package refuses bad input.

    Args:
        text: The JSON text.
        field_name: The request field it fills (the error's ``field``).
        label: How to name it in the message.

    Returns:
        The parsed value.

    Raises:
        LambdaValidationError: ``text`` is not JSON.
    """
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LambdaValidationError(f"{label} is not valid JSON: {exc}", field=field_name) from None


def build_request(settings: TrySettings) -> LambdaInvokeRequest:
    """Return the request the activity would receive for these settings."""
    return LambdaInvokeRequest(
        function_name=settings.function_name,
        payload=settings.payload,
        invocation_type=settings.invocation_type,
        qualifier=settings.qualifier,
        log_type=settings.log_type,
        client_context=settings.client_context,
        tenant_id=settings.tenant_id,
        invoke_async=settings.invoke_async,
        idempotency_key=settings.idempotency_key,
    )


def _application_error(err: LambdaError) -> dict[str, Any]:
    """Raise ``err`` the way the activity does and describe the ``ApplicationError`` it is."""
    try:
        to_application_error(err)
    except ApplicationError as app:
        delay = app.next_retry_delay
        return {
            "type": app.type,
            "message": app.message,
            "non_retryable": app.non_retryable,
            "next_retry_delay_seconds": None if delay is None else delay.total_seconds(),
            "details": list(app.details),
        }
    raise AssertionError("to_application_error returned")  # pragma: no cover


def refusal(settings: TrySettings, err: LambdaValidationError) -> Outcome:
    """Return the outcome of input refused before anything was sent."""
    return Outcome(
        kind="refused",
        api="InvokeAsync" if settings.invoke_async else "Invoke",
        function_name=settings.function_name,
        idempotency_key=settings.idempotency_key,
        idempotency_key_source="given" if settings.idempotency_key else "derived",
        error=_application_error(err),
    )


def _temporal_notes(result: LambdaInvokeResult) -> list[str]:
    """Say what a workflow would get for a result Temporal would refuse.

    The result is measured as the activity measures it (encoded by the default payload
    converter, framed as the completion's ``Payloads``) against Temporal's default payload
    limit. The try itself stays a success: whether a workflow fails depends on the worker
    (its external storage, its namespace's limit, its codec), which a try does not know.
    """
    payloads = DataConverter.default.payload_converter.to_payloads([result])
    size = payloads_size(map(payload_size, payloads))
    if size <= DEFAULT_PAYLOAD_LIMIT:
        return []
    return [
        f"A workflow would get ApplicationError type={RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE} "
        f"(not retried): this result is {size} bytes once encoded for Temporal, over its "
        f"default payload limit of {DEFAULT_PAYLOAD_LIMIT} bytes, unless the worker's client "
        "has external storage (LambdaPlugin(external_storage=...)), which keeps it outside "
        "the workflow history"
    ]


def _key_for(settings: TrySettings) -> tuple[str, str]:
    if settings.idempotency_key is not None:
        return settings.idempotency_key, "given"
    key = derive_idempotency_key(_KEY_NAMESPACE, settings.function_name, uuid.uuid4().hex, "1")
    return key, "derived"


async def try_request(
    settings: TrySettings,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    read_timeout: float = 905.0,
) -> Outcome:
    """Send one test request down the activity's path and report what a workflow would see.

    Args:
        settings: What to invoke and how.
        region: AWS region (default: the profile's / environment's).
        profile: Shared-config profile for region and credentials.
        endpoint_url: Base URL overriding the resolved endpoint (e.g. LocalLambda).
        read_timeout: Seconds to wait for the answer.

    Returns:
        The outcome; a refused input, a function error, a service error and a transport
        failure are outcomes too, never exceptions.

    Raises:
        ValueError: no region given and none configured (the request is validated for the
            client's region, as the activity validates it).
    """
    key, source = _key_for(settings)
    request = build_request(settings)
    recording = _Recording(AiohttpTransport(HttpSettings()))
    client = LambdaClient(
        region=region, profile=profile, endpoint_url=endpoint_url, transport=recording
    )
    outcome = Outcome(
        kind="success",
        api="InvokeAsync" if settings.invoke_async else "Invoke",
        function_name=settings.function_name,
        idempotency_key=key,
        idempotency_key_source=source,
    )
    try:
        try:
            attempt = LambdaAttempt(client, request, key)
        except LambdaValidationError as err:
            refused = refusal(settings, err)
            refused.idempotency_key, refused.idempotency_key_source = key, source
            return refused
        try:
            result = await attempt.send(read_timeout=read_timeout)
        except LambdaTransportError as err:
            outcome.kind = "transport_error"
            outcome.error = _application_error(err)
        except LambdaFunctionError as err:
            outcome.kind = "function_error"
            outcome.error = _application_error(err)
        except LambdaServiceError as err:
            outcome.kind = "service_error"
            outcome.error = _application_error(err)
        else:
            outcome.result = dict(vars(result))
            outcome.notes.extend(_temporal_notes(result))
        finished = time.perf_counter()
    finally:
        await client.aclose()
    outcome.request = recording.sent
    if attempt.status_code is not None:
        if recording.started is not None:
            outcome.elapsed_ms = round((finished - recording.started) * 1000, 1)
        outcome.status_code = attempt.status_code
        outcome.headers = {
            name: attempt.headers[name] for name in _SHOWN_HEADERS if name in attempt.headers
        }
    return outcome
