"""One ``InvokeWithResponseStream`` attempt: send once, read the event stream into a spool file.

The answer is ``application/vnd.amazon.eventstream``: ``PayloadChunk`` events carrying the
function's bytes, then one ``InvokeComplete`` (``ErrorCode``, ``ErrorDetails``,
``LogResult``). It is parsed as it arrives by botocore's own ``EventStreamBuffer`` (frames,
CRCs, header types) and ``EventStreamJSONParser`` with the service model's
``InvokeWithResponseStreamResponseEvent`` shape: no frame parser of ours. Each chunk's bytes
go straight to a spool file (``tempfile``: ``0600``, unlinked from the start, gone when
closed), so memory stays flat whatever the size.

What an answer becomes:

- ``InvokeComplete`` without ``ErrorCode``: the stream as it was spooled (:class:`Received`);
- ``InvokeComplete`` with ``ErrorCode``: :class:`~temporal_lambda._errors.LambdaFunctionError`
  (type the ``ErrorCode``, message the ``ErrorDetails``, the decoded log tail in details),
  counted like any function error;
- the stream ends (or the connection drops) before ``InvokeComplete``, or a frame is
  malformed: :class:`~temporal_lambda._errors.LambdaTransportError`, retried;
- more than :data:`~temporal_lambda._spec.MAX_STREAM_RESPONSE` bytes streamed:
  :class:`~temporal_lambda._errors.LambdaResponseTooLargeError`, not retried (the function ran);
- an event-stream ``exception``/``error`` message: a
  :class:`~temporal_lambda._errors.LambdaServiceError` of its code, retried;
- a non-2xx answer: the service error it names, as for ``Invoke``.

Bytes are handed to botocore's buffer in batches of up to :data:`FEED_BYTES` (or every
:data:`FEED_SECONDS`): its buffer is a ``bytes`` it concatenates on every ``add_data``, so
feeding each socket read of a 1 MiB frame separately would copy the frame many times over.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import functools
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import IO, Any

import botocore.eventstream
import botocore.model
import botocore.parsers
import botocore.session

from temporal_lambda._attempt import _check_function_error_attempts
from temporal_lambda._client import LambdaClient
from temporal_lambda._errors import (
    FunctionErrorInfo,
    LambdaError,
    LambdaFunctionError,
    LambdaResponseTooLargeError,
    LambdaServiceError,
    LambdaTransportError,
)
from temporal_lambda._redact import scrub_error
from temporal_lambda._request import STREAM_API, PreparedCall, prepare_stream_call
from temporal_lambda._response import classify_service_error, decode_log_tail
from temporal_lambda._spec import (
    EXECUTED_VERSION_HEADER,
    INVOKE_COMPLETE_EVENT,
    MAX_STREAM_RESPONSE,
    PAYLOAD_CHUNK_EVENT,
    REQUEST_ID_HEADER,
)
from temporal_lambda._types import LambdaInvokeRequest

__all__ = [
    "FEED_BYTES",
    "FEED_SECONDS",
    "WRITE_AHEAD",
    "Received",
    "StreamAttempt",
    "event_shape",
]

FEED_BYTES = 1_048_576
"""Most bytes gathered from the socket before they are handed to botocore's buffer."""
WRITE_AHEAD = 8 * 1_048_576
"""Most streamed bytes held in memory while they wait to be written to the spool."""
FEED_SECONDS = 0.5
"""Gathered bytes are handed over at least this often (seconds), so progress of a slow
stream (a few bytes at a time) is seen without waiting for :data:`FEED_BYTES`."""
_REQUEST_ID = REQUEST_ID_HEADER.lower()
_EXECUTED_VERSION = EXECUTED_VERSION_HEADER.lower()

Progress = Callable[[int, int], None]
"""Called with the bytes and chunks received so far, after each batch."""


@functools.cache
def event_shape() -> botocore.model.Shape:
    """Return the model's ``InvokeWithResponseStreamResponseEvent`` shape (loaded once)."""
    model = botocore.session.get_session().get_service_model("lambda")
    stream = model.operation_model(STREAM_API).get_event_stream_output()
    assert stream is not None
    return stream


@dataclasses.dataclass
class Received:
    """A stream that ended with a successful ``InvokeComplete`` (or a ``DryRun``'s 204)."""

    status_code: int
    """HTTP status."""
    headers: Mapping[str, str]
    """Response headers, lower-case names."""
    spool: IO[bytes]
    """The streamed bytes, in order; the caller closes it (which deletes it)."""
    size: int = 0
    """Bytes streamed."""
    chunks: int = 0
    """``PayloadChunk`` events."""
    log_tail: str | None = None
    """The decoded ``LogResult``, if any."""

    @property
    def request_id(self) -> str | None:
        """``x-amzn-RequestId``."""
        return self.headers.get(_REQUEST_ID)

    @property
    def executed_version(self) -> str | None:
        """``X-Amz-Executed-Version``."""
        return self.headers.get(_EXECUTED_VERSION)


class StreamAttempt:
    """One validated streaming call, to be sent once with :meth:`receive`."""

    __slots__ = ("_call", "client", "key", "request")

    def __init__(self, client: LambdaClient, request: LambdaInvokeRequest, key: str) -> None:
        """Validate ``request`` for ``InvokeWithResponseStream`` and build its call.

        Raises:
            LambdaValidationError: anything Lambda would refuse (an ``Event`` invocation,
                ``invoke_async``, a durable execution name included); nothing was sent.
        """
        _check_function_error_attempts(request)
        self._call: PreparedCall | None = prepare_stream_call(
            request, key, region=client.region, partition=client.partition
        )
        self.client = client
        self.request = request
        self.key = key

    async def receive(
        self,
        *,
        read_timeout: float | None = None,
        waiting: AbstractContextManager[object] | None = None,
        progress: Progress | None = None,
        spool_dir: str | None = None,
    ) -> Received:
        """Send the call once and spool the stream until ``InvokeComplete``.

        Args:
            read_timeout: Seconds for the whole stream (default: the client's).
            waiting: Entered while the stream is read (the activity heartbeats in it).
            progress: Told the bytes and chunks received after each batch.
            spool_dir: Where the spool file is made (default: the system's temporary
                directory).

        Returns:
            The stream, spooled; the caller closes :attr:`Received.spool`.

        Raises:
            LambdaFunctionError: ``InvokeComplete`` named an ``ErrorCode``.
            LambdaServiceError: the API answered an error status, or the stream carried an
                exception message.
            LambdaResponseTooLargeError: more than 200 MB streamed.
            LambdaTransportError: no complete stream (or no credentials).
            RuntimeError: the call was already sent.
        """
        call, self._call = self._call, None
        if call is None:
            raise RuntimeError("the call of this attempt was already sent")
        target = f"{call.method} {self.client.endpoint}{call.path}"
        spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115  (returned open)
        received: Received | None = None
        try:
            with waiting if waiting is not None else nullcontext():
                async with self.client.stream(call, read_timeout=read_timeout) as response:
                    del call
                    if not 200 <= response.status_code < 300:
                        raise classify_service_error(
                            response.status_code,
                            response.headers,
                            response.body,
                            max_retry_after=self.client.max_retry_after,
                        )
                    received = Received(response.status_code, response.headers, spool)
                    if response.status_code != 204:
                        await _read_events(response.chunks, received, target, progress)
            return received
        except BaseException as err:
            spool.close()
            if type(err) is LambdaTransportError and received is not None and received.chunks:
                # A failure below HTTP mid-stream: say how far the stream got.
                err.args = (
                    f"{err} (the stream broke after {received.size} bytes in "
                    f"{received.chunks} chunks, before InvokeComplete)",
                )
            if isinstance(err, LambdaFunctionError):
                err.retryable = err.error_type not in self.request.non_retryable_function_errors
            if isinstance(err, LambdaError):
                scrub_error(err, self.client.secrets())
            raise


async def _read_events(
    chunks: AsyncIterator[bytes], received: Received, target: str, progress: Progress | None
) -> None:
    """Parse the event stream into ``received`` until ``InvokeComplete``, then return."""
    buffer = botocore.eventstream.EventStreamBuffer()
    parser = botocore.parsers.EventStreamJSONParser()
    shape = event_shape()
    writer = _SpoolWriter(received.spool)
    pending: list[bytes] = []
    pending_size = 0
    fed_at = time.monotonic()
    completed = False

    def feed() -> tuple[bool, list[bytes]]:
        nonlocal pending_size
        buffer.add_data(pending[0] if len(pending) == 1 else b"".join(pending))
        pending.clear()
        pending_size = 0
        data: list[bytes] = []
        for message in buffer:
            if _handle(parser.parse(message.to_response_dict(), shape), received, target, data):
                return True, data
        return False, data

    try:
        async for chunk in chunks:
            pending.append(chunk)
            pending_size += len(chunk)
            now = time.monotonic()
            if pending_size >= FEED_BYTES or now - fed_at >= FEED_SECONDS:
                fed_at = now
                completed, data = feed()
                await writer.write(data)
                if progress is not None:
                    progress(received.size, received.chunks)
                if completed:
                    break
        if not completed and pending:
            completed, data = feed()
            await writer.write(data)
        await writer.finish()
    except botocore.eventstream.ParserError as exc:
        raise _Incomplete(
            f"{target}: the event stream is malformed after {received.size} bytes in "
            f"{received.chunks} chunks ({type(exc).__name__}: {exc})"
        ) from None
    finally:
        writer.abandon()
    if not completed:
        raise _Incomplete(
            f"{target}: the stream ended after {received.size} bytes in {received.chunks} "
            "chunks without InvokeComplete (the connection closed early); the function may "
            "have run"
        )


class _SpoolWriter:
    """Writes the spool from a thread of its own, so disk writes overlap the socket reads.

    At most :data:`WRITE_AHEAD` bytes wait to be written (the reader waits for the oldest
    write past that), so memory stays bounded however fast the stream comes.
    """

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: collections.deque[tuple[asyncio.Future[None], int]] = collections.deque()
        self._bytes = 0

    async def write(self, data: list[bytes]) -> None:
        """Queue ``data`` to be written, in order; wait while too much is queued."""
        if not data:
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="temporal-lambda-spool"
            )
        size = sum(map(len, data))
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._spool.writelines, data)
        self._pending.append((future, size))
        self._bytes += size
        while self._bytes > WRITE_AHEAD:
            await self._oldest()

    async def finish(self) -> None:
        """Wait until everything queued is written."""
        while self._pending:
            await self._oldest()

    async def _oldest(self) -> None:
        future, size = self._pending[0]
        await future
        self._pending.popleft()
        self._bytes -= size

    def abandon(self) -> None:
        """Stop the thread (after the write in progress, if any); drop what is queued."""
        for future, _size in self._pending:
            future.add_done_callback(_retrieve)
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _retrieve(future: asyncio.Future[None]) -> None:
    """Take an abandoned write's outcome, so asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()


class _Incomplete(LambdaTransportError):
    """The stream ended early or is malformed (said by the stream reader itself)."""


def _handle(event: dict[str, Any], received: Received, target: str, data: list[bytes]) -> bool:
    """Count one parsed event in ``received``; return whether it was ``InvokeComplete``.

    A chunk's bytes are appended to ``data``, for the spool writer.

    Raises:
        LambdaResponseTooLargeError: the stream passed 200 MB.
        LambdaFunctionError: ``InvokeComplete`` named an ``ErrorCode``.
        LambdaServiceError: an exception message.
    """
    chunk = event.get(PAYLOAD_CHUNK_EVENT)
    if chunk is not None:
        payload: bytes = chunk.get("Payload", b"")
        received.size += len(payload)
        received.chunks += 1
        if received.size > MAX_STREAM_RESPONSE:
            raise LambdaResponseTooLargeError(
                f"{target}: the streamed response is larger than Lambda's "
                f"{MAX_STREAM_RESPONSE} bytes (reading stopped at {received.size} bytes, "
                f"{received.chunks} chunks); the function ran, so this is not retried",
                status_code=received.status_code,
                bytes_read=received.size,
                limit=MAX_STREAM_RESPONSE,
            )
        data.append(payload)
        return False
    complete = event.get(INVOKE_COMPLETE_EVENT)
    if complete is not None:
        received.log_tail = decode_log_tail(complete.get("LogResult"))
        code = complete.get("ErrorCode")
        if code:
            details = complete.get("ErrorDetails")
            raise LambdaFunctionError(
                FunctionErrorInfo(
                    error_type=code,
                    message=details or f"the function failed ({code}) mid-stream, with no details",
                    request_id=received.request_id,
                    executed_version=received.executed_version,
                    log_tail=received.log_tail,
                )
            )
        return True
    error = event.get("Error")
    if error is not None:
        code = error.get("Code") or "Unknown"
        raise LambdaServiceError(
            f"{target}: the stream failed after {received.size} bytes: "
            f"{error.get('Message') or code}",
            code=code,
            status_code=received.status_code,
            retryable=True,
            request_id=received.request_id,
        )
    return False  # an event type this model does not know: skipped, as botocore does
