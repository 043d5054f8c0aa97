"""Answering InvokeWithResponseStream: a 200, then event-stream frames paced as Lambda does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._context import ClientContext
from ._eventstream import invoke_complete, payload_chunks
from ._records import InvocationRecord
from ._registry import FunctionConfig
from ._runtime import Runtime
from ._spec import (
    EXECUTED_VERSION,
    REQUEST_ID,
    STREAM_CONTENT_TYPE,
    STREAM_RATE,
    STREAM_UNTHROTTLED_BYTES,
    SYNC_STATUS,
)

__all__ = ["Pacer", "serve_stream"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Pacer:
    """Holds a stream to Lambda's bandwidth: the first 6 MB at once, then at most 2 MB/s.

    Args:
        enabled: ``False`` sends everything at full speed (for tests that stream a lot).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.sent = 0
        self._capped_since: float | None = None

    async def before(self, size: int) -> None:
        """Wait until ``size`` more bytes may go out."""
        self.sent += size
        over = self.sent - STREAM_UNTHROTTLED_BYTES
        if not self.enabled or over <= 0:
            return
        if self._capped_since is None:
            self._capped_since = time.monotonic()
        wait = self._capped_since + over / STREAM_RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)


async def serve_stream(
    runtime: Runtime,
    config: FunctionConfig,
    event: Any,
    record: InvocationRecord,
    *,
    client_context: ClientContext | None,
    send: Send,
    receive: Receive,
    throttle: bool,
    tail: bool,
    drop: bool,
) -> None:
    """Run the handler and stream its chunks, then ``InvokeComplete``.

    A function error (raised before or after the first chunk) or a timeout arrives in
    ``InvokeComplete`` as ``ErrorCode`` (its ``errorType``) and ``ErrorDetails`` (its
    message), after the 200; ``LogResult`` carries the log tail when asked. ``drop`` cuts the
    connection before ``InvokeComplete``.

    Args:
        runtime: Runs the handler.
        config: The function (version) that runs.
        event: The decoded payload.
        record: The invocation's record (status, error code and disconnects are noted).
        client_context: The decoded client context.
        send: The ASGI send channel.
        receive: The ASGI receive channel (a disconnect abandons the handler).
        throttle: Pace the stream past its first 6 MB.
        tail: Put the log tail in ``InvokeComplete``.
        drop: Cut the connection instead of sending ``InvokeComplete``.
    """
    pacer = Pacer(throttle)
    await send(
        {
            "type": "http.response.start",
            "status": SYNC_STATUS,
            "headers": [
                (b"content-type", STREAM_CONTENT_TYPE.encode()),
                (REQUEST_ID.lower().encode(), record.request_id.encode()),
                (EXECUTED_VERSION.lower().encode(), config.version.encode("latin-1")),
            ],
        }
    )
    record.status_code = SYNC_STATUS

    async def emit(data: bytes) -> None:
        for frame in payload_chunks(data):
            await pacer.before(len(frame))
            await send({"type": "http.response.body", "body": frame, "more_body": True})

    outcome = await runtime.invoke(
        config, event, record, client_context=client_context, receive=receive, emit=emit
    )
    record.error_code = outcome.error_type
    if outcome.disconnected:
        record.client_disconnected = True
        return
    if drop:
        return  # the server closes the connection: the stream ends without InvokeComplete
    details = None
    if outcome.error_type is not None:
        details = str(json.loads(outcome.payload).get("errorMessage", ""))
    complete = invoke_complete(outcome.error_type, details, outcome.tail() if tail else None)
    await send({"type": "http.response.body", "body": complete, "more_body": False})
