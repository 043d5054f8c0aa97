"""Text for the terminal: the API list, a reference, an outcome, the ``invoke_lambda`` snippet.

The snippet is Python that a workflow author pastes: the ``invoke_lambda(...)`` call with
exactly the settings that differ from its defaults, and the client line that registers the
plugin with the same region, profile and endpoint.
"""

from __future__ import annotations

import json
import pprint
import textwrap
from typing import Any

from temporal_lambda.cli._apis import ApiEntry, Reference
from temporal_lambda.cli._core import Outcome, TrySettings

__all__ = ["render_apis", "render_outcome", "render_reference", "snippet"]


def render_apis(apis: list[ApiEntry]) -> str:
    """Return the API list, one API a line."""
    if not apis:
        return "no API matches"
    width = max(len(a.name) for a in apis)
    lines = [f"{a.name:<{width}}  {a.api_version}  {a.summary}" for a in apis]
    return "\n".join(lines)


def _wrap(text: str, indent: str) -> str:
    out: list[str] = []
    for para in text.split("\n"):
        if not para.strip():
            out.append("")
            continue
        out.append(textwrap.fill(para, width=96, initial_indent=indent, subsequent_indent=indent))
    return "\n".join(out)


def _constraint_text(constraints: dict[str, Any]) -> str:
    parts = []
    if "min" in constraints or "max" in constraints:
        parts.append(f"length {constraints.get('min', 0)}..{constraints.get('max', '')}")
    if "enum" in constraints:
        parts.append("one of " + ", ".join(constraints["enum"]))
    if "pattern" in constraints:
        parts.append(f"pattern {constraints['pattern']}")
    if constraints.get("sensitive"):
        parts.append("sensitive")
    if constraints.get("streaming"):
        parts.append("streaming")
    return "; ".join(parts)


def render_reference(ref: Reference) -> str:
    """Return an API's reference as text."""
    lines = [
        f"{ref.name} ({ref.api_version}){'  [deprecated]' if ref.deprecated else ''}",
        f"{ref.method} {ref.path}  -> {ref.success_status}",
        f"from botocore {ref.botocore_version}, lambda service model {ref.service_api_version}",
        f"in a workflow: {ref.workflow_call}",
        "",
        _wrap(ref.documentation, ""),
        "",
        "Request parameters:",
    ]
    for p in ref.parameters:
        where = p.location if p.wire_name == p.name else f"{p.location} {p.wire_name}"
        head = f"  {p.name}  ({where}, {p.type}, {'required' if p.required else 'optional'})"
        lines.append(head)
        constraint = _constraint_text(p.constraints)
        if constraint:
            lines.append(f"      constraints: {constraint}")
        if p.documentation:
            lines.append(_wrap(p.documentation, "      "))
    lines += ["", "Response fields:"]
    for r in ref.response:
        where = r.location if r.wire_name == r.name else f"{r.location} {r.wire_name}"
        lines.append(f"  {r.name}  ({where}, {r.type})")
        if r.documentation:
            lines.append(_wrap(r.documentation, "      "))
    lines += ["", "Limits checked before sending (bytes):"]
    lines += [f"  {name}: {value}" for name, value in ref.limits.items()]
    lines += [
        "",
        "Errors, as the workflow gets them (ActivityError cause: ApplicationError):",
    ]
    for e in ref.errors:
        status = "" if e.status is None else f"{e.status} "
        retry = "retried" if e.retryable else "not retried"
        source = {"model": "", "wire": "  [unmodelled]", "package": "  [plugin]"}[e.source]
        lines.append(f"  {status}{e.code}  ->  type={e.error_type}, {retry}{source}")
        if e.source != "model" and e.documentation:
            lines.append(_wrap(e.documentation, "      "))
    return "\n".join(lines)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def render_outcome(outcome: Outcome, *, show_request: bool) -> str:
    """Return what a test request gave, the way a workflow would see it."""
    lines: list[str] = []
    key_note = (
        "given with --idempotency-key"
        if outcome.idempotency_key_source == "given"
        else "derived for this try from a random run id; in a workflow it is derived from "
        "namespace, workflow id, run id and activity id"
    )
    if outcome.idempotency_key is not None:
        lines.append(f"idempotency key: {outcome.idempotency_key} ({key_note})")
    if show_request and outcome.request is not None:
        req = outcome.request
        lines += ["", "Request sent:", f"  {req.method} {req.url}"]
        lines += [f"  {name}: {value}" for name, value in req.headers.items()]
        lines.append(f"  body: {req.body_bytes} bytes")
    if outcome.kind == "refused":
        lines.append("refused before sending: nothing was sent")
    if outcome.status_code is not None:
        timing = "" if outcome.elapsed_ms is None else f" in {outcome.elapsed_ms:.1f} ms"
        lines += ["", f"{outcome.api} answered HTTP {outcome.status_code}{timing}"]
        lines += [f"  {name}: {value}" for name, value in outcome.headers.items()]
    if outcome.result is not None:
        result = outcome.result
        if result.get("log_tail"):
            lines += ["", "Log tail:", textwrap.indent(result["log_tail"].rstrip("\n"), "  ")]
        lines += ["", f"Payload ({result['payload_encoding']}):"]
        lines.append(textwrap.indent(_pretty(result["payload"]), "  "))
    for note in outcome.notes:
        lines += [
            "",
            textwrap.fill(
                note,
                width=100,
                subsequent_indent="  ",
                break_long_words=False,
                break_on_hyphens=False,
            ),
        ]
    if outcome.error is not None:
        error = outcome.error
        delay = error["next_retry_delay_seconds"]
        if error["non_retryable"]:
            retry = "not retried (non_retryable=True)"
        elif delay is not None:
            retry = f"retried after {delay:g} s (next_retry_delay from Retry-After)"
        else:
            retry = "retried, after the retry policy's backoff"
        details = error["details"][0] if error["details"] else {}
        log_tail = details.get("log_tail") if isinstance(details, dict) else None
        if log_tail:
            lines += ["", "Log tail:", textwrap.indent(log_tail.rstrip("\n"), "  ")]
        lines += [
            "",
            f"The workflow gets ApplicationError type={error['type']}",
            f"  message: {error['message']}",
            f"  {retry}",
            "  details:",
            textwrap.indent(_pretty(details), "    "),
        ]
    return "\n".join(lines).lstrip("\n")


def _kw(name: str, value: Any) -> str:
    return f"{name}={value!r}"


def snippet(
    settings: TrySettings,
    *,
    region: str | None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> str:
    """Return the ``invoke_lambda(...)`` call for these settings and the plugin line.

    Args:
        settings: The test request's settings.
        region: The region the plugin should use (``None``: from the environment).
        profile: The shared-config profile, if one was used.
        endpoint_url: The endpoint override, if one was used.

    Returns:
        Python source: imports, the client line and the call.
    """
    args = [repr(settings.function_name)]
    if settings.payload is not None:
        args.append(pprint.pformat(settings.payload, width=80, sort_dicts=False))
    if settings.invocation_type != "RequestResponse":
        args.append(_kw("invocation_type", settings.invocation_type))
    for name in ("qualifier", "log_type", "client_context", "tenant_id"):
        value = getattr(settings, name)
        if value is not None:
            args.append(_kw(name, value))
    if settings.invoke_async:
        args.append("invoke_async=True")
    call = "result = await invoke_lambda(" + ", ".join(args) + ")"
    if len(call) > 96:
        body = ",\n".join(textwrap.indent(a, "    ") for a in args)
        call = f"result = await invoke_lambda(\n{body},\n)"
    client_args = []
    if region is not None:
        client_args.append(_kw("region", region))
    if profile is not None:
        client_args.append(_kw("profile", profile))
    if endpoint_url is not None:
        client_args.append(_kw("endpoint_url", endpoint_url))
    if profile is None and endpoint_url is None:
        names, plugin = "LambdaPlugin", f"LambdaPlugin({', '.join(client_args)})"
    else:
        names = "LambdaClient, LambdaPlugin"
        plugin = f"LambdaPlugin(client=LambdaClient({', '.join(client_args)}))"
    return "\n".join(
        [
            "# worker / client: register the plugin once",
            "from temporalio.client import Client",
            f"from temporal_lambda import {names}",
            "",
            f'client = await Client.connect("localhost:7233", plugins=[{plugin}])',
            "",
            "# workflow definition",
            "from temporal_lambda.workflow import invoke_lambda",
            "",
            call,
        ]
    )
