"""Running one handler as Lambda's Python runtime does: context, timeout, logs, error document."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import math
import os
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from . import _logs
from ._context import ClientContext, LambdaContext
from ._records import InvocationRecord
from ._registry import FunctionConfig
from ._spec import LOG_TAIL_BYTES, MAX_SYNC_RESPONSE

__all__ = ["Outcome", "Runtime", "dumps", "error_document"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

_OWN_DIR = os.path.dirname(os.path.abspath(__file__))
_SKIPPED_DIRS = (
    _OWN_DIR,
    os.path.dirname(os.path.abspath(asyncio.__file__)),
    os.path.dirname(os.path.abspath(contextlib.__file__)) + os.sep + "concurrent",
)


@dataclass
class Outcome:
    """How one execution of a handler ended."""

    payload: bytes
    """The result, or the error document when ``error_type`` is set."""
    error_type: str | None
    """The function's ``errorType`` (or a platform one such as ``Sandbox.Timedout``)."""
    log: str
    """The whole log: START, the handler's output, END and REPORT lines."""
    disconnected: bool = False
    """The caller went away before the handler finished (it was abandoned)."""

    def tail(self) -> str:
        """The last 4 KB of the log, as ``X-Amz-Log-Result`` and ``LogResult`` carry it."""
        return base64.b64encode(self.log.encode("utf-8")[-LOG_TAIL_BYTES:]).decode("ascii")


def dumps(value: Any) -> bytes:
    """Compact JSON, as Lambda writes its own documents."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def error_document(error_type: str, message: str, request_id: str | None = None) -> bytes:
    """A platform error document (no stack trace), e.g. ``Sandbox.Timedout``."""
    document: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if request_id is not None:
        document["requestId"] = request_id
        document["stackTrace"] = []
    return dumps(document)


class Runtime:
    """Runs handlers with a Lambda context, a timeout and captured logs; counts executions.

    Args:
        region: The region in ``invoked_function_arn``.
        account_id: The account in ``invoked_function_arn``.
    """

    def __init__(self, *, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self._in_flight: dict[str, int] = {}

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of a function in this emulator's region and account."""
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return arn if qualifier is None else f"{arn}:{qualifier}"

    # -- concurrency ---------------------------------------------------------------------------

    def throttled(self, config: FunctionConfig) -> bool:
        """Whether one more execution of the function would exceed its reserved concurrency."""
        limit = config.reserved_concurrency
        return limit is not None and self._in_flight.get(config.name, 0) >= limit

    @contextlib.contextmanager
    def slot(self, config: FunctionConfig) -> Any:
        """Count one execution of the function while the block runs."""
        self._in_flight[config.name] = self._in_flight.get(config.name, 0) + 1
        try:
            yield
        finally:
            self._in_flight[config.name] -= 1

    # -- one execution -------------------------------------------------------------------------

    def context(
        self,
        config: FunctionConfig,
        *,
        request_id: str,
        qualifier: str | None,
        client_context: ClientContext | None,
        tenant_id: str | None,
        started: float,
    ) -> LambdaContext:
        """The handler's second argument for one execution."""
        return LambdaContext(
            function_name=config.name,
            function_version=config.version,
            invoked_function_arn=self.function_arn(config.name, qualifier),
            memory_limit_in_mb=config.memory_mb,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{config.name}",
            log_stream_name=time.strftime("%Y/%m/%d/") + f"[{config.version}]{uuid.uuid4().hex}",
            client_context=client_context,
            tenant_id=tenant_id,
            deadline=started + config.timeout,
        )

    async def invoke(
        self,
        config: FunctionConfig,
        event: Any,
        record: InvocationRecord,
        *,
        client_context: ClientContext | None = None,
        receive: Receive | None = None,
        emit: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> Outcome:
        """:meth:`execute` for the invocation ``record``, counted as one running execution."""
        with self.slot(config):
            return await self.execute(
                config,
                event,
                request_id=record.request_id,
                qualifier=record.qualifier,
                client_context=client_context,
                tenant_id=record.tenant_id,
                receive=receive,
                emit=emit,
            )

    async def execute(
        self,
        config: FunctionConfig,
        event: Any,
        *,
        request_id: str,
        qualifier: str | None,
        client_context: ClientContext | None,
        tenant_id: str | None,
        receive: Receive | None = None,
        emit: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Run the handler once to its result, its error, its timeout or the caller's leaving.

        With ``emit`` (InvokeWithResponseStream), a handler that returns (or is) a generator
        or an async generator streams what it yields (``bytes`` as they are, ``str`` as
        UTF-8) to ``emit`` as it comes; any other result is the whole response, handed to
        ``emit`` as one chunk, as Lambda streams a buffered function's answer. Without
        ``emit`` (Invoke) a generator's chunks are joined into the result.

        Args:
            config: The function (version) that runs.
            event: The decoded payload.
            request_id: The invocation's request id.
            qualifier: The qualifier asked for (in ``invoked_function_arn``).
            client_context: The decoded client context (synchronous calls only).
            tenant_id: The ``X-Amz-Tenant-Id`` header.
            receive: The ASGI receive channel; when given, a disconnect abandons the handler.
            emit: Where a streamed response's chunks go.

        Returns:
            The outcome; when streaming, its ``payload`` is empty unless it is an error
            document (the chunks already went to ``emit``).
        """
        started = time.monotonic()
        context = self.context(
            config,
            request_id=request_id,
            qualifier=qualifier,
            client_context=client_context,
            tenant_id=tenant_id,
            started=started,
        )
        buffer = _logs.LogBuffer(request_id)
        task = asyncio.ensure_future(
            _run_handler(config.handler, event, context, buffer)
            if emit is None
            else _run_streaming(config.handler, event, context, buffer, emit)
        )
        ended = await _supervise(task, config.timeout, receive)
        payload, error_type = b"", None
        if ended == "done" and (task.exception() is not None or task.result() is not _STREAMED):
            payload, error_type = _result_payload(task, request_id, buffer)
            if emit is not None and error_type is None:
                await emit(payload)
                payload = b""
        elif ended == "timeout":
            error_type = "Sandbox.Timedout"
            message = timed_out(config, request_id, buffer)
            payload = error_document(error_type, f"RequestId: {request_id} Error: {message}")
        log = full_log(config, request_id, buffer, started)
        return Outcome(payload, error_type, log, ended == "disconnected")


# -- helpers ------------------------------------------------------------------------------------


def retrieve(task: asyncio.Future[Any]) -> None:
    """Fetch an abandoned task's exception so that asyncio does not log it."""
    if not task.cancelled():
        task.exception()


def timed_out(config: FunctionConfig, request_id: str, buffer: _logs.LogBuffer) -> str:
    """Log the runtime's timeout line and return its message."""
    message = f"Task timed out after {config.timeout:.2f} seconds"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    buffer.write(f"{stamp}Z {request_id} {message}\n\n")
    return message


def full_log(
    config: FunctionConfig, request_id: str, buffer: _logs.LogBuffer, started: float
) -> str:
    """The invocation's log framed by the START, END and REPORT lines Lambda writes."""
    duration = (time.monotonic() - started) * 1000
    return (
        f"START RequestId: {request_id} Version: {config.version}\n"
        + buffer.text()
        + f"END RequestId: {request_id}\n"
        + f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
        + f"Billed Duration: {max(1, math.ceil(duration))} ms\t"
        + f"Memory Size: {config.memory_mb} MB\tMax Memory Used: "
        + f"{min(config.memory_mb, 40)} MB\t\n"
    )


async def _supervise(task: asyncio.Future[Any], seconds: float, receive: Receive | None) -> str:
    """Wait for a handler's task: ``"done"``, ``"timeout"`` or ``"disconnected"``.

    On a timeout or a disconnect the task is cancelled (and its exception retrieved).
    """
    waiters: set[asyncio.Future[Any]] = {task}
    disconnect_task: asyncio.Future[None] | None = None
    if receive is not None:
        disconnect_task = asyncio.ensure_future(wait_for_disconnect(receive))
        waiters.add(disconnect_task)
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if disconnect_task is not None:
            disconnect_task.cancel()
    if task in done:
        return "done"
    task.cancel()
    task.add_done_callback(retrieve)
    return "disconnected" if disconnect_task is not None and disconnect_task in done else "timeout"


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the ASGI server reports that the client went away."""
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
        if inspect.isgenerator(result) or inspect.isasyncgen(result):
            # Invoke (not streaming) of a streaming handler: Lambda buffers the stream.
            parts: list[bytes] = []

            async def keep(chunk: bytes) -> None:
                parts.append(chunk)

            await _drain(result, keep)
            return b"".join(parts)
        return result
    finally:
        _logs.release(token)


_STREAMED = object()
"""What :func:`_run_streaming` returns once a generator's chunks all went out."""
_END = object()


async def _run_streaming(
    handler: Callable[[Any, LambdaContext], Any],
    event: Any,
    context: LambdaContext,
    buffer: _logs.LogBuffer,
    emit: Callable[[bytes], Awaitable[None]],
) -> Any:
    """Call the handler; stream a generator's chunks to ``emit``, else return its result."""
    token = _logs.capture(buffer)
    try:
        if inspect.iscoroutinefunction(handler):
            result = await handler(event, context)
        elif inspect.isasyncgenfunction(handler):
            result = handler(event, context)
        else:
            result = await asyncio.to_thread(handler, event, context)
        if inspect.isawaitable(result):
            result = await result
        if inspect.isgenerator(result) or inspect.isasyncgen(result):
            await _drain(result, emit)
            return _STREAMED
        return result
    finally:
        _logs.release(token)


async def _drain(chunks: Any, emit: Callable[[bytes], Awaitable[None]]) -> None:
    """Hand every chunk of a (sync or async) generator to ``emit``; close it if abandoned."""
    try:
        if inspect.isasyncgen(chunks):
            async for chunk in chunks:
                await emit(_chunk_bytes(chunk))
        else:
            while (chunk := await asyncio.to_thread(next, chunks, _END)) is not _END:
                await emit(_chunk_bytes(chunk))
    finally:
        with contextlib.suppress(Exception):
            if inspect.isasyncgen(chunks):
                await chunks.aclose()
            else:
                chunks.close()


def _chunk_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"a streamed chunk must be bytes or str, not {type(chunk).__name__}")


def stack_trace(exc: BaseException) -> list[str]:
    """The exception's traceback without the emulator's and asyncio's own frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(frame.filename).startswith(_SKIPPED_DIRS)
    ]
    return traceback.format_list(frames)


def log_exception(exc: BaseException, buffer: _logs.LogBuffer) -> list[str]:
    """Write the runtime's ``[ERROR]`` lines for an exception; return its stack trace."""
    trace = stack_trace(exc)
    buffer.write(
        f"[ERROR] {type(exc).__name__}: {exc}\nTraceback (most recent call last):\n{''.join(trace)}"
    )
    return trace


def _result_payload(
    task: asyncio.Future[Any], request_id: str, buffer: _logs.LogBuffer
) -> tuple[bytes, str | None]:
    exc = task.exception()
    if exc is not None:
        error_type = type(exc).__name__
        trace = log_exception(exc, buffer)
        document = {
            "errorMessage": str(exc),
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": trace,
        }
        return dumps(document), error_type
    result = task.result()
    if isinstance(result, (bytes, bytearray, memoryview)):
        payload = bytes(result)
    else:
        try:
            payload = json.dumps(result).encode("utf-8")
        except (TypeError, ValueError) as marshal:
            error_type = "Runtime.MarshalError"
            message = f"Unable to marshal response: {marshal}"
            return error_document(error_type, message, request_id), error_type
    if len(payload) > MAX_SYNC_RESPONSE:
        error_type = "Function.ResponseSizeTooLarge"
        message = (
            f"Response payload size ({len(payload)} bytes) exceeded maximum allowed payload "
            f"size ({MAX_SYNC_RESPONSE} bytes)."
        )
        return error_document(error_type, message), error_type
    return payload, None
