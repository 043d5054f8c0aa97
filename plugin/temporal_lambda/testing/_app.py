"""Routing, auth, limits and faults: the ASGI application that answers Lambda's invoke APIs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ._context import ClientContext, decode_client_context
from ._events import EventQueue
from ._faults import Faults
from ._records import InvocationRecord, RequestRecord, redacted
from ._registry import (
    FunctionConfig,
    InvalidFunctionName,
    Registry,
    asked_function_arn,
    parse_function_name,
)
from ._runtime import Outcome, Runtime, dumps
from ._sigv4 import SignatureError, verify
from ._spec import (
    CLIENT_CONTEXT,
    DRY_RUN_STATUS,
    DURABLE_EXECUTION_ARN,
    DURABLE_EXECUTION_NAME,
    ERROR_STATUS,
    ERROR_TYPE,
    EVENT_STATUS,
    EXECUTED_VERSION,
    FRONT_DOOR_ERRORS,
    FUNCTION_ERROR,
    INVOCATION_TYPE,
    INVOCATION_TYPES,
    INVOKE_ASYNC_PATH,
    INVOKE_ASYNC_STATUS,
    INVOKE_PATH,
    INVOKE_STREAM_PATH,
    LOG_RESULT,
    LOG_TYPE,
    MAX_ASYNC_REQUEST,
    MAX_CLIENT_CONTEXT,
    MAX_INVOKE_ASYNC_REQUEST,
    MAX_SYNC_REQUEST,
    MAX_SYNC_RESPONSE,
    QUALIFIER,
    REQUEST_ID,
    RETRY_AFTER,
    STREAM_INVOCATION_TYPES,
    SYNC_STATUS,
    TENANT_ID,
    THROTTLE_REASON,
)
from ._streaming import serve_stream

__all__ = [
    "MAX_ASYNC_REQUEST",
    "MAX_CLIENT_CONTEXT",
    "MAX_INVOKE_ASYNC_REQUEST",
    "MAX_SYNC_REQUEST",
    "MAX_SYNC_RESPONSE",
    "EmulatorApp",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _route(template: str) -> re.Pattern[str]:
    """A path template of the model (``.../{FunctionName}/...``) as a regular expression."""
    prefix, _, suffix = template.rstrip("/").partition("{FunctionName}")
    return re.compile("^" + re.escape(prefix) + "(?P<name>[^/]+)" + re.escape(suffix) + "/?$")


_INVOKE_RE = _route(INVOKE_PATH)
_INVOKE_ASYNC_RE = _route(INVOKE_ASYNC_PATH)
_INVOKE_STREAM_RE = _route(INVOKE_STREAM_PATH)
_STATUS = {**ERROR_STATUS, **FRONT_DOOR_ERRORS}


class _Reply(Exception):
    """Answer the request now with a service error (used to leave the checks early)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status if status is not None else _STATUS[code]
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or []


@dataclass
class _Durable:
    """A started durable execution: its payload's digest, its ARN, and how it ended."""

    digest: str
    arn: str
    outcome: asyncio.Future[Outcome]


class EmulatorApp:
    """An ASGI application emulating the Lambda Invoke API for registered Python handlers."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        credentials: tuple[str, str] | None,
        async_retry_delays: tuple[float, float],
        duplicate_event_deliveries: int,
        stream_throttle: bool = True,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.credentials = credentials
        self.stream_throttle = stream_throttle
        self.registry = Registry()
        self.faults = Faults()
        self.invocations: list[InvocationRecord] = []
        self.requests: list[RequestRecord] = []
        self.runtime = Runtime(region=region, account_id=account_id)
        self.events = EventQueue(
            self.runtime,
            self.invocations,
            retry_delays=async_retry_delays,
            duplicates=duplicate_event_deliveries,
        )
        self._durable: dict[tuple[str, str], _Durable] = {}

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "http":
            await self._http(scope, receive, send)

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of a function in this emulator's region and account."""
        return self.runtime.function_arn(name, qualifier)

    async def wait_for_events(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until every queued event, with its retries and duplicates, is finished.

        Raises:
            TimeoutError: Events were still running after ``timeout`` seconds.
        """
        await self.events.wait(timeout)

    async def cancel_events(self) -> None:
        """Abandon every queued event."""
        await self.events.cancel()

    # -- one HTTP request --------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        entry = RequestRecord(
            method=scope["method"],
            path=path,
            query=query,
            headers=redacted(headers),
            body_size=0,
            received_at=time.monotonic(),
            request_id=request_id,
        )
        self.requests.append(entry)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                entry.client_disconnected = True
                return
            body += message.get("body", b"")
            entry.body_size = len(body)
            if not message.get("more_body", False):
                break

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = int(message["status"])
                entry.answered_at = time.monotonic()
            await send(message)

        await self._route(scope, receive, send_logged, entry, headers=headers, body=bytes(body))

    async def _route(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        entry: RequestRecord,
        *,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        request_id, path, query = entry.request_id, entry.path, entry.query
        hmap = dict(headers)
        apis = (
            ("Invoke", _INVOKE_RE),
            ("InvokeAsync", _INVOKE_ASYNC_RE),
            ("InvokeWithResponseStream", _INVOKE_STREAM_RE),
        )
        api, match = next(
            ((api, m) for api, pattern in apis if (m := pattern.match(path))), ("", None)
        )
        if match is None or scope["method"] != "POST":
            await self._send_error(
                send, request_id, _Reply("UnknownOperationException", "Unknown operation")
            )
            return
        raw_name = urllib.parse.unquote(match["name"])
        query_qualifier = urllib.parse.parse_qs(query).get(QUALIFIER, [None])[0]
        invocation_type = (
            "Event" if api == "InvokeAsync" else hmap.get(INVOCATION_TYPE, "RequestResponse")
        )
        name_error: InvalidFunctionName | None = None
        name, qualifier, ours = raw_name, query_qualifier, True
        asked_arn = ""
        try:
            name, qualifier, ours = parse_function_name(
                raw_name, query_qualifier, region=self.region, account_id=self.account_id
            )
            asked_arn = asked_function_arn(
                raw_name, qualifier, region=self.region, account_id=self.account_id
            )
        except InvalidFunctionName as exc:
            name_error = exc
        record = InvocationRecord(
            api=api,
            function=name,
            qualifier=qualifier,
            invocation_type=invocation_type,
            request_id=request_id,
            received_at=time.monotonic(),
            tenant_id=hmap.get(TENANT_ID),
            durable_execution_name=hmap.get(DURABLE_EXECUTION_NAME),
            client_context=hmap.get(CLIENT_CONTEXT),
            payload=body,
        )
        self.invocations.append(record)
        try:
            await self._dispatch(
                scope,
                receive,
                send,
                record,
                body=body,
                path=path,
                query=query,
                headers=headers,
                name_error=name_error,
                ours=ours,
                asked_arn=asked_arn,
                entry=entry,
            )
        except _Reply as reply:
            record.status_code = reply.status
            record.error_code = reply.code
            await self._send_error(send, request_id, reply)

    async def _dispatch(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        record: InvocationRecord,
        *,
        body: bytes,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        name_error: InvalidFunctionName | None,
        ours: bool,
        asked_arn: str,
        entry: RequestRecord,
    ) -> None:
        hmap = dict(headers)
        if self.credentials is not None:
            host = hmap.get("host", "localhost")
            url = f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")
            try:
                verify(
                    method=scope["method"],
                    url=url,
                    headers=headers,
                    body=body,
                    access_key=self.credentials[0],
                    secret_key=self.credentials[1],
                    region=self.region,
                )
            except SignatureError as exc:
                raise _Reply(exc.code, exc.message) from None
        if name_error is not None:
            raise _Reply(name_error.code, str(name_error))

        delay = self.faults.take_delay(record.function)
        if delay is not None:
            await asyncio.sleep(delay.seconds)
        fail = self.faults.take_fail(record.function)
        if fail is not None:
            extra = {"Reason": fail.reason} if fail.reason is not None else {}
            retry = [] if fail.retry_after is None else [(RETRY_AFTER, _seconds(fail.retry_after))]
            raise _Reply(fail.code, fail.message, status=fail.status, extra=extra, headers=retry)

        if record.api == "InvokeWithResponseStream":
            if record.invocation_type not in STREAM_INVOCATION_TYPES:
                raise _Reply(
                    "ValidationException",
                    f"1 validation error detected: Value '{record.invocation_type}' at "
                    "'invocationType' failed to satisfy constraint: Member must satisfy enum "
                    f"value set: [{', '.join(STREAM_INVOCATION_TYPES)}]",
                )
        elif record.invocation_type not in INVOCATION_TYPES:
            raise _Reply(
                "InvalidParameterValueException",
                f"Unsupported invocation type: {record.invocation_type}",
            )
        if record.api == "InvokeAsync":
            limit, operation = MAX_INVOKE_ASYNC_REQUEST, "InvokeAsync"
        elif record.invocation_type == "Event":
            limit, operation = MAX_ASYNC_REQUEST, "InvokeFunction"
        else:
            limit, operation = MAX_SYNC_REQUEST, "InvokeFunction"
        if len(body) > limit:
            raise _Reply(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {limit} bytes for the {operation} operation",
            )

        resolved = self.registry.resolve(record.function, record.qualifier) if ours else None
        if resolved is None:
            raise _Reply("ResourceNotFoundException", f"Function not found: {asked_arn}")
        config = resolved.config
        sync = record.invocation_type == "RequestResponse"

        client_context = _client_context(hmap.get(CLIENT_CONTEXT)) if sync else None
        if record.invocation_type == "DryRun":
            await self._send(
                send, record, DRY_RUN_STATUS, b"", [(EXECUTED_VERSION, config.version)]
            )
            return
        event = _parse_payload(body)
        if record.api == "InvokeWithResponseStream":
            self._refuse_if_throttled(config)
            await serve_stream(
                self.runtime,
                config,
                event,
                record,
                client_context=client_context,
                send=send,
                receive=receive,
                throttle=self.stream_throttle,
                tail=hmap.get(LOG_TYPE) == "Tail",
                drop=self.faults.take_drop(record.function) is not None,
            )
            entry.client_disconnected = record.client_disconnected
            return
        started = self._start_durable(record, config.version, body)
        durable, reattached = started if started is not None else (None, False)
        durable_headers = [] if durable is None else [(DURABLE_EXECUTION_ARN, durable.arn)]
        if not sync:
            if record.api == "InvokeAsync":
                await self._send(send, record, INVOKE_ASYNC_STATUS, b'{"Status":202}', [])
            else:
                await self._send(send, record, EVENT_STATUS, b"", durable_headers)
            if reattached:
                return
            self.events.enqueue(config, event, record, self._settle(record, durable))
            return

        if durable is not None and reattached:
            # The same name and payload: re-attach to the execution and answer with its
            # result (waiting for it when it is still running).
            await asyncio.wait({durable.outcome})
            if durable.outcome.cancelled():
                raise _Reply("ServiceException", "The durable execution was abandoned.")
            outcome = durable.outcome.result()
        else:
            try:
                self._refuse_if_throttled(config)
            except _Reply:
                if durable is not None:
                    self._forget_durable(record, durable)
                raise
            try:
                outcome = await self.runtime.invoke(
                    config,
                    event,
                    record,
                    client_context=client_context,
                    # A durable execution outlives its caller's connection: it runs to the
                    # end, for whoever re-attaches.
                    receive=None if durable is not None else receive,
                )
            except BaseException:
                if durable is not None:
                    self._forget_durable(record, durable)
                raise
            if durable is not None:
                durable.outcome.set_result(outcome)
        if outcome.disconnected:
            record.client_disconnected = entry.client_disconnected = True
            record.status_code = 499
            record.error_code = outcome.error_type
            return
        record.error_code = outcome.error_type
        response_headers = [(EXECUTED_VERSION, config.version), *durable_headers]
        if outcome.error_type is not None:
            response_headers.append((FUNCTION_ERROR, "Unhandled"))
        if hmap.get(LOG_TYPE) == "Tail":
            response_headers.append((LOG_RESULT, outcome.tail()))
        drop = self.faults.take_drop(record.function) is not None
        await self._send(send, record, SYNC_STATUS, outcome.payload, response_headers, drop=drop)

    def _refuse_if_throttled(self, config: FunctionConfig) -> None:
        """Answer 429 when the function is at its reserved concurrency."""
        if self.runtime.throttled(config):
            raise _Reply(
                "TooManyRequestsException",
                "Rate Exceeded.",
                extra={"Reason": THROTTLE_REASON},
                headers=[(RETRY_AFTER, str(config.throttle_retry_after))],
            )

    def _start_durable(
        self, record: InvocationRecord, version: str, body: bytes
    ) -> tuple[_Durable, bool] | None:
        """Start the named durable execution, or find the one already started.

        A name is unique per function. The first start creates the execution (its ARN is
        answered in ``X-Amz-Durable-Execution-Arn``); a later start with the same payload
        is the same execution (returned with ``True``: a synchronous call re-attaches to it
        and gets its result, an ``Event`` gets 202 and its ARN, nothing runs again), as
        AWS documents; a different payload answers 409
        ``DurableExecutionAlreadyStartedException``.

        Returns:
            ``None`` when the request names no durable execution, else the execution and
            whether it existed already.
        """
        name = record.durable_execution_name
        if name is None:
            return None
        digest = hashlib.sha256(body).hexdigest()
        existing = self._durable.get((record.function, name))
        if existing is not None:
            if existing.digest == digest:
                return existing, True
            raise _Reply(
                "DurableExecutionAlreadyStartedException",
                f"Durable execution {name} has already been started with a different payload.",
            )
        arn = (
            f"{self.function_arn(record.function, version)}"
            f"/durable-execution/{name}/{uuid.uuid4().hex}"
        )
        started = _Durable(digest, arn, asyncio.get_running_loop().create_future())
        self._durable[(record.function, name)] = started
        return started, False

    def _forget_durable(self, record: InvocationRecord, durable: _Durable) -> None:
        """Drop an execution that never ran to its end (throttled, or the emulator stopped)."""
        name = record.durable_execution_name
        if name is not None and self._durable.get((record.function, name)) is durable:
            del self._durable[(record.function, name)]
        durable.outcome.cancel()

    def _settle(
        self, record: InvocationRecord, durable: _Durable | None
    ) -> Callable[[Outcome | None, BaseException | None], None] | None:
        """What an event's end does to its durable execution: settle it, or forget it."""
        if durable is None:
            return None

        def settle(outcome: Outcome | None, error: BaseException | None) -> None:
            if error is not None:
                self._forget_durable(record, durable)
            elif outcome is not None:
                durable.outcome.set_result(outcome)

        return settle

    # -- answering ------------------------------------------------------------------------------

    async def _send(
        self,
        send: Send,
        record: InvocationRecord,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]],
        *,
        drop: bool = False,
    ) -> None:
        record.status_code = status
        length = max(len(body), 1) if drop else len(body)
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(length).encode()),
            (REQUEST_ID.lower().encode(), record.request_id.encode()),
        ] + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        if drop:
            # Headers and part of the body, then return without finishing: the server closes
            # the connection and the client sees a truncated response.
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            return
        await send({"type": "http.response.body", "body": body})

    async def _send_error(self, send: Send, request_id: str, reply: _Reply) -> None:
        document: dict[str, Any] = dict(reply.extra)
        document["Type"] = "Service" if reply.status >= 500 else "User"
        document["message"] = reply.message
        body = dumps(document)
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (REQUEST_ID.lower().encode(), request_id.encode()),
            (ERROR_TYPE.lower().encode(), reply.code.encode("latin-1")),
        ] + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


# -- helpers ------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _client_context(header: str | None) -> ClientContext | None:
    if header is None:
        return None
    if len(header.encode("latin-1")) > MAX_CLIENT_CONTEXT:
        raise _Reply(
            "InvalidParameterValueException",
            f"Client context must be smaller than {MAX_CLIENT_CONTEXT + 1} bytes.",
        )
    data = decode_client_context(header)
    if data is None:
        raise _Reply(
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
        )
    return ClientContext(data)


def _parse_payload(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise _Reply(
            "InvalidRequestContentException",
            f"Could not parse request body into json: Could not parse payload into json: {exc}",
        ) from None
