"""The APIs this plugin integrates, and their reference, read from botocore's service model.

Nothing here is copied text: :func:`describe` loads the ``lambda`` service model that the
installed botocore ships, at run time, and reads the operation's method and path, each
parameter's location, type, constraints and documentation, the response fields and the
error shapes. The type and retryability a workflow gets for each error come from the
package's own error catalogue (:func:`temporal_lambda.cli._core.error_catalogue`).

Adding an API is one entry in :data:`APIS`.
"""

from __future__ import annotations

import html.parser
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from temporal_lambda._codes import (
    RESPONSE_TOO_LARGE_ERROR_TYPE,
    RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE,
)
from temporal_lambda.cli import _core

__all__ = ["APIS", "ApiEntry", "Reference", "describe", "find_api", "search"]


@dataclass(frozen=True)
class ApiEntry:
    """One API of the Lambda service that the plugin can call."""

    name: str
    """The operation name in the service model (and the ``PreparedCall.api``)."""
    api_version: str
    """The version in its path (``2015-03-31``)."""
    summary: str
    """One line: what the plugin uses it for."""
    invoke_lambda_options: str
    """How the workflow helper selects it."""
    helper: str = "invoke_lambda"
    """The workflow helper that calls it (``temporal_lambda.workflow``)."""
    keywords: tuple[str, ...] = ()
    """Extra words a search matches."""


APIS: tuple[ApiEntry, ...] = (
    ApiEntry(
        name="Invoke",
        api_version="2015-03-31",
        summary="Invoke a function synchronously (RequestResponse), as an event (Event), "
        "or check permissions (DryRun).",
        invoke_lambda_options='invocation_type="RequestResponse" | "Event" | "DryRun"',
        keywords=("sync", "synchronous", "event", "async", "dryrun", "call", "run"),
    ),
    ApiEntry(
        name="InvokeAsync",
        api_version="2014-11-13",
        summary="The deprecated asynchronous API: queue an event (202), no qualifier, no log tail.",
        invoke_lambda_options="invoke_async=True",
        keywords=("deprecated", "async", "event", "legacy"),
    ),
    ApiEntry(
        name="InvokeWithResponseStream",
        api_version="2021-11-15",
        summary="Invoke a function whose response streams (RequestResponse or DryRun), up to "
        "200 MB, spooled as it arrives; large results cross Temporal through external storage.",
        invoke_lambda_options='invocation_type="RequestResponse" | "DryRun"',
        helper="invoke_lambda_stream",
        keywords=("stream", "streaming", "response", "chunk", "eventstream", "large", "200"),
    ),
)
"""The catalogue: every API the package can call."""

# The errors a workflow may get that are not Lambda service codes.
_PACKAGE_ERRORS: tuple[tuple[str, bool, str], ...] = (
    (
        _core.VALIDATION_ERROR_TYPE,
        False,
        "the request is refused before anything is sent (bad name, qualifier, size...)",
    ),
    (_core.TRANSPORT_ERROR_TYPE, True, "no complete HTTP answer (connect error, reset)"),
    (_core.TIMEOUT_ERROR_TYPE, True, "no answer before the attempt's deadline"),
    (
        "<the function's errorType>",
        True,
        "the function ran and failed (X-Amz-Function-Error; a stream's InvokeComplete "
        "ErrorCode); not retried when the type is in non_retryable_function_errors",
    ),
)
_STREAM_ERRORS: tuple[tuple[str, bool, str], ...] = (
    (
        RESPONSE_TOO_LARGE_ERROR_TYPE,
        False,
        "the stream passed Lambda's 200 MB; reading stopped (the function ran)",
    ),
    (
        RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE,
        False,
        "the stream is over Temporal's payload limit and the client has no external storage",
    ),
)
"""Errors only a streamed call reports, besides the ones above."""


class _Text(html.parser.HTMLParser):
    """Turn the model's HTML documentation into plain text (paragraphs and list items)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("p", "ul", "ol", "br"):
            if not (self.parts and self.parts[-1] == "\n- "):
                self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "code" and self.parts and self.parts[-1][-1:].isalnum():
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("ul", "ol"):
            self.parts.append("\n")
        elif tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Return ``markup`` (the service model's documentation) as plain text."""
    parser = _Text()
    parser.feed(markup or "")
    parser.close()
    lines = [
        re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.parts).split("\n")
    ]
    text = "\n".join(lines)
    text = re.sub(r"(?m)^-\n+", "- ", text)
    text = re.sub(r"\n\n+(?=- )", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@dataclass
class Parameter:
    """One request parameter of an API."""

    name: str
    location: str
    """``path``, ``query``, ``header`` or ``body``."""
    wire_name: str
    """The path variable, query key or header name (the member name for the body)."""
    type: str
    required: bool
    constraints: dict[str, Any]
    """``min``/``max``/``pattern``/``enum``/``sensitive``/``streaming`` as the model has them."""
    documentation: str


@dataclass
class ResponseField:
    """One field of an API's response."""

    name: str
    location: str
    """``status``, ``header`` or ``body``."""
    wire_name: str
    type: str
    documentation: str


@dataclass
class ErrorInfo:
    """One error an API can return, as a workflow receives it."""

    code: str
    status: int | None
    error_type: str
    retryable: bool
    source: str
    """``model`` (botocore's error shapes), ``wire`` (sent by AWS, not modelled) or
    ``package`` (raised by the plugin itself)."""
    documentation: str


@dataclass
class Reference:
    """The reference of one API, generated from botocore's service model."""

    name: str
    api_version: str
    service_api_version: str
    """The service model's version (``2015-03-31`` for both APIs)."""
    botocore_version: str
    method: str
    path: str
    success_status: int
    deprecated: bool
    summary: str
    invoke_lambda_options: str
    documentation: str
    workflow_call: str = ""
    """How a workflow makes the call, e.g. ``invoke_lambda(..., invoke_async=True)``."""
    parameters: list[Parameter] = field(default_factory=list)
    response: list[ResponseField] = field(default_factory=list)
    errors: list[ErrorInfo] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the reference as a JSON-safe dict."""
        return asdict(self)


def search(word: str | None = None) -> list[ApiEntry]:
    """Return the catalogue's APIs whose name, summary or keywords contain ``word``."""
    if not word:
        return list(APIS)
    needle = word.lower()
    return [
        api
        for api in APIS
        if needle in " ".join((api.name, api.api_version, api.summary, *api.keywords)).lower()
    ]


def find_api(name: str) -> ApiEntry | None:
    """Return the catalogue entry called ``name`` (case-insensitive), if any."""
    for api in APIS:
        if api.name.lower() == name.lower():
            return api
    return None


_LOCATIONS = {"uri": "path", "querystring": "query", "header": "header", "statusCode": "status"}


def _constraints(shape: Any) -> dict[str, Any]:
    meta = shape.metadata
    found: dict[str, Any] = {k: meta[k] for k in ("min", "max", "pattern") if k in meta}
    if meta.get("enum"):
        found["enum"] = list(meta["enum"])
    if meta.get("sensitive"):
        found["sensitive"] = True
    if shape.serialization.get("streaming"):
        found["streaming"] = True
    return found


@cache
def _service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("lambda")


def describe(name: str) -> Reference:
    """Return the reference of the API ``name``, read from botocore's model now.

    Args:
        name: An API of the catalogue (case-insensitive).

    Returns:
        Method, path, parameters, response fields and errors (each with the
        ``ApplicationError.type`` and retryability a workflow gets).

    Raises:
        KeyError: ``name`` is not an API of the catalogue.
    """
    import botocore

    api = find_api(name)
    if api is None:
        known = ", ".join(a.name for a in APIS)
        raise KeyError(f"unknown API {name!r}; the APIs are: {known}")
    model = _service_model()
    op = model.operation_model(api.name)
    input_shape = op.input_shape
    required = set(input_shape.required_members)
    parameters = [
        Parameter(
            name=member,
            location=_LOCATIONS.get(shape.serialization.get("location", ""), "body"),
            wire_name=shape.serialization.get("name", member),
            type=shape.type_name,
            required=member in required,
            constraints=_constraints(shape),
            documentation=html_to_text(shape.documentation),
        )
        for member, shape in input_shape.members.items()
    ]
    response = [
        ResponseField(
            name=member,
            location=_LOCATIONS.get(shape.serialization.get("location", ""), "body"),
            wire_name=shape.serialization.get("name", member),
            type=shape.type_name,
            documentation=html_to_text(shape.documentation),
        )
        for member, shape in op.output_shape.members.items()
    ]
    catalogue = {entry.code: entry for entry in _core.error_catalogue()}
    errors: list[ErrorInfo] = []
    for shape in sorted(
        op.error_shapes, key=lambda s: (s.metadata["error"]["httpStatusCode"], s.name)
    ):
        entry = catalogue.get(shape.name)
        status = shape.metadata["error"]["httpStatusCode"]
        if entry is None:  # a code newer than the package's catalogue: the rule still applies
            error_type, retryable = _core.classify(shape.name, status)
        else:
            error_type, retryable = entry.error_type, entry.retryable
        errors.append(
            ErrorInfo(
                code=shape.name,
                status=status,
                error_type=error_type,
                retryable=retryable,
                source="model",
                documentation=html_to_text(shape.documentation),
            )
        )
    modelled = {e.code for e in errors}
    for entry in catalogue.values():
        if not entry.modelled and entry.code not in modelled:
            errors.append(
                ErrorInfo(
                    code=entry.code,
                    status=entry.status,
                    error_type=entry.error_type,
                    retryable=entry.retryable,
                    source="wire",
                    documentation="Sent by AWS for this API but not in the service model.",
                )
            )
    extra = _STREAM_ERRORS if api.name == "InvokeWithResponseStream" else ()
    for error_type, retryable, doc in (*_PACKAGE_ERRORS, *extra):
        errors.append(
            ErrorInfo(
                code=error_type,
                status=None,
                error_type=error_type,
                retryable=retryable,
                source="package",
                documentation=doc,
            )
        )
    limits = (
        {"payload": _core.LIMITS["invoke_async_payload"]}
        if api.name == "InvokeAsync"
        else {
            "payload_request_response": _core.LIMITS["sync_payload"],
            "payload_event": _core.LIMITS["event_payload"],
            "client_context_base64": _core.LIMITS["client_context"],
        }
    )
    if api.name == "InvokeWithResponseStream":
        del limits["payload_event"]  # no Event stream
    return Reference(
        name=api.name,
        api_version=api.api_version,
        service_api_version=model.api_version,
        botocore_version=botocore.__version__,
        method=op.http["method"],
        path=op.http["requestUri"],
        success_status=int(op.http.get("responseCode", 200)),
        deprecated=bool(op.deprecated),
        summary=api.summary,
        invoke_lambda_options=api.invoke_lambda_options,
        workflow_call=f"{api.helper}(..., {api.invoke_lambda_options})",
        documentation=html_to_text(op.documentation),
        parameters=parameters,
        response=response,
        errors=errors,
        limits=limits,
    )
