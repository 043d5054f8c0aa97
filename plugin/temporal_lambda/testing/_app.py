"""The raw ASGI application that speaks Lambda's Invoke and InvokeAsync wire protocol."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import inspect
import json
import math
import os
import re
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from . import _logs
from ._context import ClientContext, LambdaContext
from ._faults import Faults
from ._records import InvocationRecord
from ._registry import (
    FunctionConfig,
    InvalidFunctionName,
    Registry,
    asked_function_arn,
    parse_function_name,
)
from ._sigv4 import SignatureError, verify

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
_LOG_TAIL = 4096
_INVOKE_RE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_INVOKE_ASYNC_RE = re.compile(r"^/2014-11-13/functions/(?P<name>[^/]+)/invoke-async/?$")
_INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
_OWN_DIR = os.path.dirname(os.path.abspath(__file__))
_SKIPPED_DIRS = (
    _OWN_DIR,
    os.path.dirname(os.path.abspath(asyncio.__file__)),
    os.path.dirname(os.path.abspath(contextlib.__file__)) + os.sep + "concurrent",
)


class _Reply(Exception):
    """Answer the request now with a service error (used to leave the checks early)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or []


@dataclass
class _Durable:
    """A started durable execution: its payload's digest, its ARN, and how it ended."""

    digest: str
    arn: str
    outcome: asyncio.Future[_Outcome]


@dataclass
class _Outcome:
    """How one execution of a handler ended."""

    payload: bytes
    error_type: str | None
    log: str
    disconnected: bool = False


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
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.credentials = credentials
        self.async_retry_delays = async_retry_delays
        self.duplicate_event_deliveries = max(1, duplicate_event_deliveries)
        self.registry = Registry()
        self.faults = Faults()
        self.invocations: list[InvocationRecord] = []
        self._in_flight: dict[str, int] = {}
        self._event_tasks: set[asyncio.Task[None]] = set()
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
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return arn if qualifier is None else f"{arn}:{qualifier}"

    # -- background events -------------------------------------------------------------------

    async def wait_for_events(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until every queued event, with its retries and duplicates, is finished.

        Raises:
            TimeoutError: Events were still running after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._event_tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._event_tasks)} event(s) still running")
            await asyncio.wait(set(self._event_tasks), timeout=remaining)

    async def cancel_events(self) -> None:
        """Abandon every queued event."""
        tasks = set(self._event_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one HTTP request --------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        hmap = dict(headers)

        match_invoke = _INVOKE_RE.match(path)
        match_async = _INVOKE_ASYNC_RE.match(path)
        match = match_invoke or match_async
        if match is None or scope["method"] != "POST":
            await self._send_error(
                send, request_id, _Reply(404, "UnknownOperationException", "Unknown operation")
            )
            return
        api = "Invoke" if match_invoke else "InvokeAsync"
        raw_name = urllib.parse.unquote(match["name"])
        query_qualifier = urllib.parse.parse_qs(query).get("Qualifier", [None])[0]
        invocation_type = (
            "Event"
            if api == "InvokeAsync"
            else hmap.get("x-amz-invocation-type", "RequestResponse")
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
            idempotency_key=_peek_idempotency_key(invocation_type, hmap, bytes(body)),
            request_id=request_id,
            received_at=time.monotonic(),
            tenant_id=hmap.get("x-amz-tenant-id"),
            durable_execution_name=hmap.get("x-amz-durable-execution-name"),
        )
        self.invocations.append(record)
        try:
            await self._dispatch(
                scope,
                receive,
                send,
                record,
                body=bytes(body),
                path=path,
                query=query,
                headers=headers,
                name_error=name_error,
                ours=ours,
                asked_arn=asked_arn,
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
                raise _Reply(403, exc.code, exc.message) from None
        if name_error is not None:
            raise _Reply(400, name_error.code, str(name_error))

        delay = self.faults.take_delay(record.function)
        if delay is not None:
            await asyncio.sleep(delay.seconds)
        fail = self.faults.take_fail(record.function)
        if fail is not None:
            extra = {"Reason": fail.reason} if fail.reason is not None else {}
            retry = (
                [] if fail.retry_after is None else [("Retry-After", _seconds(fail.retry_after))]
            )
            raise _Reply(fail.status, fail.code, fail.message, extra=extra, headers=retry)

        if record.invocation_type not in _INVOCATION_TYPES:
            raise _Reply(
                400,
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
                413,
                "RequestEntityTooLargeException",
                f"Request must be smaller than {limit} bytes for the {operation} operation",
            )

        resolved = self.registry.resolve(record.function, record.qualifier) if ours else None
        if resolved is None:
            raise _Reply(404, "ResourceNotFoundException", f"Function not found: {asked_arn}")
        config = resolved.config
        sync = record.invocation_type == "RequestResponse"

        client_context = _client_context(hmap.get("x-amz-client-context")) if sync else None
        if record.invocation_type == "DryRun":
            await self._send(send, record, 204, b"", [("X-Amz-Executed-Version", config.version)])
            return
        event = _parse_payload(body)
        started = self._start_durable(record, config.version, body)
        durable, reattached = started if started is not None else (None, False)
        durable_headers = [] if durable is None else [("X-Amz-Durable-Execution-Arn", durable.arn)]
        if sync:
            custom = client_context.custom if client_context is not None else None
            key = custom.get("idempotency_key") if isinstance(custom, dict) else None
        else:
            key = event.get("idempotency_key") if isinstance(event, dict) else None
        record.idempotency_key = key if isinstance(key, str) else None

        if not sync:
            if record.api == "InvokeAsync":
                await self._send(send, record, 202, b'{"Status":202}', [])
            else:
                await self._send(send, record, 202, b"", durable_headers)
            if reattached:
                return
            task = asyncio.get_running_loop().create_task(
                self._deliver_event(config, event, record, durable)
            )
            self._event_tasks.add(task)
            task.add_done_callback(self._event_tasks.discard)
            return

        if durable is not None and reattached:
            # The same name and payload: re-attach to the execution and answer with its
            # result (waiting for it when it is still running).
            await asyncio.wait({durable.outcome})
            if durable.outcome.cancelled():
                raise _Reply(500, "ServiceException", "The durable execution was abandoned.")
            outcome = durable.outcome.result()
        else:
            if self._throttled(config):
                if durable is not None:
                    self._forget_durable(record, durable)
                raise _Reply(
                    429,
                    "TooManyRequestsException",
                    "Rate Exceeded.",
                    extra={"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
                    headers=[("Retry-After", str(config.throttle_retry_after))],
                )
            self._in_flight[config.name] = self._in_flight.get(config.name, 0) + 1
            try:
                outcome = await self._execute(
                    config,
                    event,
                    record,
                    client_context=client_context,
                    # A durable execution outlives its caller's connection: it runs to
                    # the end, for whoever re-attaches.
                    receive=None if durable is not None else receive,
                )
            except BaseException:
                if durable is not None:
                    self._forget_durable(record, durable)
                raise
            finally:
                self._in_flight[config.name] -= 1
            if durable is not None:
                durable.outcome.set_result(outcome)
        if outcome.disconnected:
            record.client_disconnected = True
            record.status_code = 499
            record.error_code = outcome.error_type
            return
        record.error_code = outcome.error_type
        response_headers = [("X-Amz-Executed-Version", config.version), *durable_headers]
        if outcome.error_type is not None:
            response_headers.append(("X-Amz-Function-Error", "Unhandled"))
        if hmap.get("x-amz-log-type") == "Tail":
            tail = outcome.log.encode("utf-8")[-_LOG_TAIL:]
            response_headers.append(("X-Amz-Log-Result", base64.b64encode(tail).decode("ascii")))
        drop = self.faults.take_drop(record.function) is not None
        await self._send(send, record, 200, outcome.payload, response_headers, drop=drop)

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
                409,
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

    # -- running handlers ---------------------------------------------------------------------

    def _throttled(self, config: FunctionConfig) -> bool:
        limit = config.reserved_concurrency
        return limit is not None and self._in_flight.get(config.name, 0) >= limit

    async def _deliver_event(
        self,
        config: FunctionConfig,
        event: Any,
        first: InvocationRecord,
        durable: _Durable | None = None,
    ) -> None:
        try:
            outcome = await self._deliver_event_copies(config, event, first)
        except BaseException:
            if durable is not None:
                self._forget_durable(first, durable)
            raise
        if durable is not None and outcome is not None:
            durable.outcome.set_result(outcome)

    async def _deliver_event_copies(
        self, config: FunctionConfig, event: Any, first: InvocationRecord
    ) -> _Outcome | None:
        """Deliver an event with Lambda's retries and duplicates; return the last outcome."""
        outcome: _Outcome | None = None
        delivery = 0
        for _copy in range(self.duplicate_event_deliveries):
            for attempt in range(len(self.async_retry_delays) + 1):
                delivery += 1
                record = first
                if delivery > 1:
                    record = replace(
                        first,
                        delivery=delivery,
                        received_at=time.monotonic(),
                        status_code=200,
                        error_code=None,
                        client_disconnected=False,
                    )
                    self.invocations.append(record)
                # Lambda's queue retries throttled events; poll for a free slot.
                while self._throttled(config):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                self._in_flight[config.name] = self._in_flight.get(config.name, 0) + 1
                try:
                    outcome = await self._execute(config, event, record, client_context=None)
                finally:
                    self._in_flight[config.name] -= 1
                record.error_code = outcome.error_type
                if outcome.error_type is None or attempt == len(self.async_retry_delays):
                    break
                await asyncio.sleep(self.async_retry_delays[attempt])
        return outcome

    async def _execute(
        self,
        config: FunctionConfig,
        event: Any,
        record: InvocationRecord,
        *,
        client_context: ClientContext | None,
        receive: Receive | None = None,
    ) -> _Outcome:
        request_id = record.request_id
        started = time.monotonic()
        context = LambdaContext(
            function_name=config.name,
            function_version=config.version,
            invoked_function_arn=self.function_arn(config.name, record.qualifier),
            memory_limit_in_mb=config.memory_mb,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{config.name}",
            log_stream_name=time.strftime("%Y/%m/%d/") + f"[{config.version}]{uuid.uuid4().hex}",
            client_context=client_context,
            tenant_id=record.tenant_id,
            deadline=started + config.timeout,
        )
        buffer = _logs.LogBuffer(request_id)
        handler_task = asyncio.ensure_future(_run_handler(config.handler, event, context, buffer))
        waiters: set[asyncio.Future[Any]] = {handler_task}
        disconnect_task: asyncio.Future[None] | None = None
        if receive is not None:
            disconnect_task = asyncio.ensure_future(_wait_for_disconnect(receive))
            waiters.add(disconnect_task)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=config.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if disconnect_task is not None:
                disconnect_task.cancel()
        duration = (time.monotonic() - started) * 1000
        error_type: str | None = None
        disconnected = False
        if handler_task in done:
            payload, error_type = _result_payload(handler_task, request_id, buffer)
        else:
            handler_task.cancel()
            handler_task.add_done_callback(_retrieve)
            if disconnect_task is not None and disconnect_task in done:
                disconnected = True
                payload, error_type = b"", None
            else:
                error_type = "Sandbox.Timedout"
                message = f"Task timed out after {config.timeout:.2f} seconds"
                payload = _json(
                    {
                        "errorMessage": f"RequestId: {request_id} Error: {message}",
                        "errorType": error_type,
                    }
                )
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                buffer.write(f"{stamp}Z {request_id} {message}\n\n")
        log = (
            f"START RequestId: {request_id} Version: {config.version}\n"
            + buffer.text()
            + f"END RequestId: {request_id}\n"
            + f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            + f"Billed Duration: {max(1, math.ceil(duration))} ms\t"
            + f"Memory Size: {config.memory_mb} MB\tMax Memory Used: "
            + f"{min(config.memory_mb, 40)} MB\t\n"
        )
        return _Outcome(payload, error_type, log, disconnected)

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
            (b"x-amzn-requestid", record.request_id.encode()),
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
        body = _json(document)
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
            (b"x-amzn-errortype", reply.code.encode("latin-1")),
        ] + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


# -- helpers ------------------------------------------------------------------------------------


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _client_context(header: str | None) -> ClientContext | None:
    if header is None:
        return None
    if len(header.encode("latin-1")) > MAX_CLIENT_CONTEXT:
        raise _Reply(
            400,
            "InvalidParameterValueException",
            f"Client context must be smaller than {MAX_CLIENT_CONTEXT + 1} bytes.",
        )
    try:
        data = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        data = None
    if not isinstance(data, dict):
        raise _Reply(
            400,
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
        )
    return ClientContext(data)


def _peek_idempotency_key(invocation_type: str, hmap: dict[str, str], body: bytes) -> str | None:
    """Find the caller's idempotency key, if any, so that every record carries it.

    It is read before signature checks and faults, so a request answered with an error is
    still attributed to its logical call; malformed input simply yields no key.
    """
    try:
        if invocation_type == "RequestResponse":
            context = _client_context(hmap.get("x-amz-client-context"))
            source = context.custom if context is not None else None
        else:
            source = json.loads(body) if body.strip() else None
    except (_Reply, ValueError):
        return None
    key = source.get("idempotency_key") if isinstance(source, dict) else None
    return key if isinstance(key, str) else None


def _parse_payload(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise _Reply(
            400,
            "InvalidRequestContentException",
            f"Could not parse request body into json: Could not parse payload into json: {exc}",
        ) from None


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _run_handler(
    handler: Callable[[Any, LambdaContext], Any],
    event: Any,
    context: LambdaContext,
    buffer: _logs.LogBuffer,
) -> Any:
    token = _logs.capture(buffer)
    try:
        if inspect.iscoroutinefunction(handler):
            result = await handler(event, context)
        else:
            result = await asyncio.to_thread(handler, event, context)
        if inspect.isawaitable(result):
            result = await result
        return result
    finally:
        _logs.release(token)


def _stack_trace(exc: BaseException) -> list[str]:
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(frame.filename).startswith(_SKIPPED_DIRS)
    ]
    return traceback.format_list(frames)


def _result_payload(
    task: asyncio.Future[Any], request_id: str, buffer: _logs.LogBuffer
) -> tuple[bytes, str | None]:
    exc = task.exception()
    if exc is not None:
        error_type = type(exc).__name__
        trace = _stack_trace(exc)
        buffer.write(
            f"[ERROR] {error_type}: {exc}\nTraceback (most recent call last):\n{''.join(trace)}"
        )
        document = {
            "errorMessage": str(exc),
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": trace,
        }
        return _json(document), error_type
    result = task.result()
    if isinstance(result, (bytes, bytearray, memoryview)):
        payload = bytes(result)
    else:
        try:
            payload = json.dumps(result).encode("utf-8")
        except (TypeError, ValueError) as marshal:
            error_type = "Runtime.MarshalError"
            document = {
                "errorMessage": f"Unable to marshal response: {marshal}",
                "errorType": error_type,
                "requestId": request_id,
                "stackTrace": [],
            }
            return _json(document), error_type
    if len(payload) > MAX_SYNC_RESPONSE:
        error_type = "Function.ResponseSizeTooLarge"
        message = (
            f"Response payload size ({len(payload)} bytes) exceeded maximum allowed payload "
            f"size ({MAX_SYNC_RESPONSE} bytes)."
        )
        return _json({"errorMessage": message, "errorType": error_type}), error_type
    return payload, None
