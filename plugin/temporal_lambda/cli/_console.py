"""``temporal-lambda console``: the test-request flow in a local web page.

The page (plain HTML, JS and CSS shipped as package data, no build step) lists the APIs,
shows a reference, prepares the request form, runs **Test request** through the same core as
``temporal-lambda invoke`` (:func:`temporal_lambda.cli._core.try_request`) and shows the
answer and the ``invoke_lambda(...)`` snippet.

The server holds the user's AWS credentials (through botocore's chain), so it defends itself:

- it listens on 127.0.0.1 only;
- every ``/api/`` request and the page itself must carry the random token made at start
  (``?token=`` for the page, the ``X-Console-Token`` header for the API), compared in
  constant time;
- a request whose ``Host`` is not ``127.0.0.1:PORT`` or ``localhost:PORT`` is refused
  (DNS rebinding), and so is one with an ``Origin`` other than the page's own (CSRF);
  ``POST`` must be ``application/json`` (no form posts);
- no CORS headers are ever sent, and preflight (``OPTIONS``) requests are refused;
- answers carry ``Content-Security-Policy`` (same-origin scripts only), ``no-store``,
  ``no-referrer`` (the token never leaves in a ``Referer``) and ``X-Frame-Options: DENY``;
- what it returns is the core's outcome, in which ``Authorization`` and
  ``X-Amz-Security-Token`` are already redacted; credentials are never read by this module.

Refusals are ``403`` with a one-line text body saying which check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import importlib.resources
import json
import secrets
import signal
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from temporal_lambda.cli import _core
from temporal_lambda.cli._apis import describe, search
from temporal_lambda.cli._render import snippet

__all__ = ["Console", "run_console"]

TOKEN_HEADER = "X-Console-Token"
"""The header every API request carries the token in."""
_STATIC = {
    "console.js": "application/javascript",
    "console.css": "text/css",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_MAX_BODY = 8 * 1024 * 1024
"""Largest request body accepted (a 6 MB payload as JSON text, and the other fields)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _static(name: str) -> bytes:
    return importlib.resources.files("temporal_lambda.cli").joinpath("static", name).read_bytes()


def _refuse(reason: str) -> web.Response:
    return web.Response(status=403, text=f"refused: {reason}\n", headers=_SECURITY_HEADERS)


class Console:
    """The console's web server, on 127.0.0.1.

    Args:
        port: The port, or 0 for any free one.
        region: AWS region for the test requests (default: profile / environment).
        profile: Shared-config profile for region and credentials.
        endpoint_url: Endpoint override, e.g. a LocalLambda URL.
        read_timeout: Seconds a test request waits for its answer.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        read_timeout: float = 905.0,
    ) -> None:
        self.token = secrets.token_urlsafe(32)
        self.port = port
        self._region = region
        self._profile = profile
        self._endpoint_url = endpoint_url
        self._read_timeout = read_timeout
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._guard], client_max_size=_MAX_BODY)
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/static/{name}", self._asset)
        self.app.router.add_get("/api/apis", self._apis)
        self.app.router.add_get("/api/describe/{name}", self._describe)
        self.app.router.add_post("/api/invoke", self._invoke)

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The page's URL, with the token."""
        return f"{self.origin}/?token={self.token}"

    async def start(self) -> None:
        """Listen on 127.0.0.1 (the port is known afterwards)."""
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- the guard ------------------------------------------------------------------------

    def _allowed_hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def _token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Host", "") not in self._allowed_hosts():
            return _refuse("Host is not this console's")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in self._allowed_hosts()}:
            return _refuse("Origin is not this console's")
        if request.method not in ("GET", "POST", "HEAD"):
            return _refuse(f"method {request.method} is not served (no CORS)")
        path = request.path
        if path == "/" and not self._token_ok(request.query.get("token")):
            return _refuse("the page needs the token printed at start (?token=)")
        if path.startswith("/api/"):
            if not self._token_ok(request.headers.get(TOKEN_HEADER)):
                return _refuse(f"missing or wrong {TOKEN_HEADER}")
            if request.method == "POST" and request.content_type != "application/json":
                return _refuse("API requests must be application/json")
        response = await handler(request)
        response.headers.update(_SECURITY_HEADERS)
        return response

    # -- handlers -------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("index.html"), content_type="text/html")

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=_static(name), content_type=_STATIC[name])

    async def _apis(self, request: web.Request) -> web.Response:
        found = search(request.query.get("q"))
        return web.json_response([{**asdict(api), "keywords": list(api.keywords)} for api in found])

    async def _describe(self, request: web.Request) -> web.Response:
        try:
            ref = describe(request.match_info["name"])
        except KeyError as exc:
            return web.json_response({"error": exc.args[0]}, status=404)
        return web.json_response(ref.to_json())

    async def _invoke(self, request: web.Request) -> web.Response:
        try:
            form = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(form, dict) or not isinstance(form.get("function_name"), str):
            return web.json_response({"error": "function_name is required"}, status=400)
        settings = _core.TrySettings(
            function_name=form["function_name"],
            qualifier=_text(form.get("qualifier")),
            invocation_type=_text(form.get("invocation_type")) or "RequestResponse",
            log_type=_text(form.get("log_type")),
            tenant_id=_text(form.get("tenant_id")),
            invoke_async=bool(form.get("invoke_async")),
            idempotency_key=_text(form.get("idempotency_key")),
        )
        try:
            payload_text = _text(form.get("payload"))
            if payload_text is not None:
                settings.payload = _core.parse_json_option(
                    payload_text, field_name="payload", label="the payload"
                )
            context_text = _text(form.get("client_context"))
            if context_text is not None:
                settings.client_context = _core.parse_json_option(
                    context_text, field_name="client_context", label="the client context"
                )
        except _core.LambdaValidationError as err:
            outcome = _core.refusal(settings, err)
            outcome.idempotency_key = None
        else:
            try:
                outcome = await _core.try_request(
                    settings,
                    region=self._region,
                    profile=self._profile,
                    endpoint_url=self._endpoint_url,
                    read_timeout=self._read_timeout,
                )
            except ValueError as exc:  # no region configured
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(
            {
                "outcome": outcome.to_json(),
                "snippet": snippet(
                    settings,
                    region=self._region,
                    profile=self._profile,
                    endpoint_url=self._endpoint_url,
                ),
            },
            dumps=lambda data: json.dumps(data, ensure_ascii=False),
        )


def _text(value: Any) -> str | None:
    """Return a form field as text, an empty field as ``None``."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


async def _serve(args: argparse.Namespace) -> None:
    console = Console(
        port=args.port, region=args.region, profile=args.profile, endpoint_url=args.endpoint_url
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await console.start()
    print(f"temporal-lambda console: open {console.url}", flush=True)
    print("(listening on 127.0.0.1 only; Ctrl-C stops it)", flush=True)
    try:
        await stop.wait()
    finally:
        await console.stop()


def run_console(args: argparse.Namespace) -> int:
    """Serve the console until SIGINT or SIGTERM; return 0."""
    asyncio.run(_serve(args))
    return 0
