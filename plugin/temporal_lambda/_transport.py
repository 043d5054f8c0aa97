"""The only socket I/O of the package: an httpx transport over an aiohttp pool, and one exchange.

:class:`AiohttpTransport` is an ``httpx.AsyncBaseTransport`` over one aiohttp connection pool:
HTTP/1.1, keepalive, no retries, TCP keepalive options on every socket. :func:`exchange` sends
one ``httpx.Request`` over any httpx transport and reads its answer within a total deadline and
a body cap. Failures below HTTP are translated in exactly one place, :func:`translate`::

    httpx.ConnectError, ConnectTimeout  →  LambdaTransportError(maybe_sent=False)
    httpx.PoolTimeout                   →  LambdaTransportError(maybe_sent=False)
    httpx.ReadTimeout, WriteTimeout     →  LambdaTransportError(timeout=True, maybe_sent=True)
    any other httpx.RequestError        →  LambdaTransportError(maybe_sent=True)

Why not ``httpx-aiohttp``'s ``AiohttpTransport`` (issue 13 asked to build on it; its source,
0.1.x, was read for this): it cannot carry what this transport promises, and subclassing it
would replace every method it has.

- It sends ``str(request.url)``, which aiohttp parses again with ``yarl.URL(...)``: yarl
  decodes ``%3A`` to ``:`` and ``%24`` to ``$``, so an ARN or a ``$LATEST`` qualifier is sent
  as another URL than the one SigV4 signed, and Lambda refuses the signature. URLs must go
  as ``yarl.URL(..., encoded=True)``.
- Its ``socket_options`` are stored and never applied (no ``socket_factory``): no TCP
  keepalive, which a 15-minute silent invocation behind a NAT gateway needs.
- Its error map turns every ``aiohttp.ClientConnectionError`` into ``httpx.ConnectTimeout``,
  a server disconnect or a reset mid-answer included, so a request that reached Lambda
  would be reported as never sent (``maybe_sent=False``).
- It hands aiohttp the whole body at once (asyncio's socket transport then copies what the
  socket does not take, twice: up to 10 MB more for a 5 MB body), where
  :class:`_SlicedBody` writes zero-copy slices; it exposes no ``network_stream``; its
  ``connect`` timeout is the pool wait alone; and once closed, it keeps its closed session,
  so a client cannot open a new pool after :meth:`aclose` (the plugin closes and reopens its
  client as workers stop and start).

A call's read timeout is also a total deadline over the whole answer (headers and body): a
body that trickles in a byte at a time ends in ``LambdaTransportError(timeout=True)`` when it
passes, as a silent socket does. Reading stops past the largest body the call can get (the
caller's limit for a success, :data:`~temporal_lambda._spec.MAX_ERROR_RESPONSE` for an error
answer, whose rest is dropped): a success larger than that raises
:class:`~temporal_lambda._errors.LambdaResponseTooLargeError`, without reading at all when its
``Content-Length`` announces it. ``asyncio.CancelledError`` is never caught: cancelling
:func:`exchange` aborts the request and the transport closes its connection.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import aiohttp
import aiohttp.abc
import aiohttp.payload
import httpx
import yarl

from temporal_lambda._errors import LambdaResponseTooLargeError, LambdaTransportError
from temporal_lambda._redact import scrub
from temporal_lambda._spec import MAX_ERROR_RESPONSE

__all__ = [
    "AiohttpTransport",
    "BodyTooLarge",
    "HttpSettings",
    "RawResponse",
    "StreamedResponse",
    "exchange",
    "open_stream",
    "read_capped",
    "socket_options",
    "translate",
]


@dataclass
class HttpSettings:
    """HTTP settings of a ``LambdaClient`` (and of the S3 client): timeouts, pool, TCP keepalive."""

    connect_timeout: float = 5.0
    """Seconds to open a TCP (and TLS) connection."""
    pool_timeout: float = 30.0
    """Seconds to wait for a free connection from the pool."""
    default_read_timeout: float = 905.0
    """Read timeout when :meth:`LambdaClient.send` is given none: Lambda's 900 s maximum
    duration plus a margin (never botocore's 60 s, which cuts long invocations short)."""
    max_connections: int = 10_000
    """Most connections open at once, across all hosts (one per in-flight call: a held
    synchronous invocation occupies its connection for its whole duration)."""
    keepalive_expiry: float = 30.0
    """Seconds an idle connection is kept before it is closed."""
    tcp_keepalive_idle: int = 30
    """Seconds of silence before the first TCP keepalive probe; at most 60, because NAT
    gateways drop flows idle for about 350 s and a synchronous invoke can be silent for 15 min."""
    tcp_keepalive_interval: int = 10
    """Seconds between TCP keepalive probes."""
    tcp_keepalive_count: int = 5
    """Unanswered probes before the kernel drops the connection."""
    user_agent: str = "temporal-lambda/0.1"
    """``User-Agent`` header (not signed)."""
    max_retry_after: float = 900.0
    """Longest wait (seconds) a ``Retry-After`` answer may ask for before the next attempt;
    longer values, and HTTP-dates further ahead, are cut to this (default: Lambda's 15
    minutes, the longest a function runs)."""

    def __post_init__(self) -> None:
        if not 0 <= self.max_retry_after <= 86_400 * 365:
            raise ValueError(
                f"max_retry_after must be between 0 and one year in seconds, "
                f"got {self.max_retry_after}"
            )
        if not 1 <= self.tcp_keepalive_idle <= 60:
            raise ValueError(
                f"tcp_keepalive_idle must be between 1 and 60 seconds, "
                f"got {self.tcp_keepalive_idle}"
            )
        if self.tcp_keepalive_interval < 1 or self.tcp_keepalive_count < 1:
            raise ValueError("tcp_keepalive_interval and tcp_keepalive_count must be >= 1")


@dataclass(frozen=True)
class RawResponse:
    """A complete HTTP answer, body read in full."""

    status_code: int
    """HTTP status."""
    headers: Mapping[str, str]
    """Response headers, lower-case names."""
    body: bytes
    """The whole response body."""


def socket_options(http: HttpSettings) -> list[tuple[int, int, int]]:
    """Return the TCP keepalive socket options for ``http``, as far as the platform has them."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    if idle is not None:
        options.append((socket.IPPROTO_TCP, idle, http.tcp_keepalive_idle))
    if hasattr(socket, "TCP_KEEPINTVL"):
        options.append((socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, http.tcp_keepalive_interval))
    if hasattr(socket, "TCP_KEEPCNT"):
        options.append((socket.IPPROTO_TCP, socket.TCP_KEEPCNT, http.tcp_keepalive_count))
    return options


class _NetworkStream:
    """``response.extensions["network_stream"]``: the socket a response came over."""

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self._transport = transport

    def get_extra_info(self, name: str) -> Any:
        """Return the asyncio transport's extra info ``name`` (e.g. ``"socket"``)."""
        return None if self._transport is None else self._transport.get_extra_info(name)


def _map_aiohttp_error(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    """Translate an aiohttp failure into the httpx exception the default transport raises."""
    message = str(exc) or type(exc).__name__
    mapped: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        mapped = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.SocketTimeoutError | asyncio.TimeoutError):
        mapped = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        mapped = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        mapped = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.InvalidURL):
        mapped = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientOSError | OSError):
        mapped = httpx.ReadError
    else:
        mapped = httpx.TransportError
    return mapped(message, request=request)


_SEND_CHUNK = 256 * 1024
"""Bodies larger than this are written in slices of this size (see :class:`_SlicedBody`)."""


class _SlicedBody(aiohttp.payload.BytesPayload):
    """A large request body, written as zero-copy slices with a drain between them.

    Handed the whole body, asyncio's socket transport (before Python 3.12) copies what the
    socket does not take at once into its own buffer, twice (a ``bytes`` slice, then the
    buffer): for a 5 MB body that is up to 10 MB more. Slices of a ``memoryview`` cost
    nothing, and the writer waits for the buffer to drain between them.
    """

    async def write_with_length(
        self, writer: aiohttp.abc.AbstractStreamWriter, content_length: int | None
    ) -> None:
        view = memoryview(self._value)
        if content_length is not None:
            view = view[:content_length]
        for start in range(0, len(view), _SEND_CHUNK):
            await writer.write(view[start : start + _SEND_CHUNK])

    async def write(self, writer: aiohttp.abc.AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)


class _AiohttpBody(httpx.AsyncByteStream):
    """The body of an aiohttp response, handed on as it arrives.

    Whoever reads it decides how much to read (:func:`exchange` stops at the call's limit);
    closing it before the end closes the connection rather than returning it to the pool with
    unread bytes in it.
    """

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await self._response.content.readany():
                yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._response.close()
            raise _map_aiohttp_error(exc, self._request) from exc
        except BaseException:
            # Cancelled, or the reader stopped early: drop the connection, never reuse it.
            self._response.close()
            raise

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp connection pool: HTTP/1.1, keepalive, no retries.

    Sends the URL exactly as httpx holds it (``yarl.URL(..., encoded=True)``: what was signed
    is what is sent), honours httpx's per-request ``connect``/``pool``/``read`` timeouts (a
    write timeout has no aiohttp counterpart: a stalled write is caught by the read timeout),
    sets the TCP keepalive options on every socket, streams the body (:class:`_AiohttpBody`),
    and closes the connection when the request is cancelled or fails.
    """

    def __init__(self, http: HttpSettings) -> None:
        self._http = http
        self._options = socket_options(http)
        self._session: aiohttp.ClientSession | None = None

    def _socket(self, addr_info: Any) -> socket.socket:
        family, type_, proto = addr_info[0], addr_info[1], addr_info[2]
        sock = socket.socket(family=family, type=type_, proto=proto)
        for level, option, value in self._options:
            sock.setsockopt(level, option, value)
        return sock

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._http.max_connections,
                limit_per_host=0,
                keepalive_timeout=self._http.keepalive_expiry,
                socket_factory=self._socket,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                trust_env=False,
                skip_auto_headers=("Content-Type", "Accept", "Accept-Encoding", "User-Agent"),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return its response, the body still to be read."""
        session = self._get_session()
        timeout = request.extensions.get("timeout", {})
        connect, pool = timeout.get("connect"), timeout.get("pool")
        client_timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=timeout.get("read"),
        )
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        ]
        content = request.content
        response: aiohttp.ClientResponse | None = None
        try:
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=headers,
                data=(
                    None
                    if not content
                    else _SlicedBody(content)
                    if len(content) > _SEND_CHUNK
                    else content
                ),
                allow_redirects=False,
                compress=None,
                timeout=client_timeout,
            )
            # A short body may already have released the connection: ask the protocol.
            protocol = getattr(response, "_protocol", None)
            stream = _NetworkStream(getattr(protocol, "transport", None))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if response is not None:
                response.close()
            raise _map_aiohttp_error(exc, request) from exc
        except BaseException:
            # Cancelled (or anything else) mid-request: drop the connection, never reuse it.
            if response is not None:
                response.close()
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_AiohttpBody(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "network_stream": stream},
        )

    async def aclose(self) -> None:
        """Close the pool and its connections."""
        # Taken first: a request made while this waits opens (and keeps) a new session.
        session, self._session = self._session, None
        if session is not None:
            await session.close()


async def exchange(
    transport: httpx.AsyncBaseTransport,
    request: httpx.Request,
    *,
    limit: int,
    deadline: float,
    target: str,
    secrets: tuple[str, ...] = (),
) -> RawResponse:
    """Send ``request`` over ``transport`` and read the whole answer within ``deadline``.

    Args:
        transport: Any httpx transport (this module's, or a test's ``httpx.MockTransport``).
        request: The signed request; its ``timeout`` extension gives the per-phase timeouts.
        limit: The largest successful body the call can get, in bytes.
        deadline: Seconds for the whole exchange, headers and body.
        target: ``"<METHOD> <endpoint><path>"``, for messages.
        secrets: Strings scrubbed from a transport error's message.

    Returns:
        Status, lower-cased headers and body, whatever the status (an error answer's body cut
        to :data:`~temporal_lambda._spec.MAX_ERROR_RESPONSE` bytes).

    Raises:
        LambdaResponseTooLargeError: a successful answer's body is larger than ``limit``.
        LambdaTransportError: no complete HTTP answer within ``deadline``.
    """
    # sock_read restarts on every chunk; this deadline does not (a trickling body).
    timer = asyncio.timeout(deadline)
    try:
        async with timer:
            response = await transport.handle_async_request(request)
            try:
                body = await _read_body(response, limit, target)
            finally:
                await response.aclose()
    except httpx.RequestError as exc:
        raise translate(exc, target, secrets) from exc
    except TimeoutError as exc:
        _raise_expired(timer, exc, deadline, request, target, secrets)
    return RawResponse(
        status_code=response.status_code,
        headers=_lowered(response),
        body=body,
    )


@dataclass(frozen=True)
class StreamedResponse:
    """An HTTP answer whose successful body is handed over as it arrives (:func:`open_stream`)."""

    status_code: int
    """HTTP status."""
    headers: Mapping[str, str]
    """Response headers, lower-case names."""
    body: bytes
    """An error answer's body (non-2xx, cut to
    :data:`~temporal_lambda._spec.MAX_ERROR_RESPONSE` bytes); empty for a success."""
    chunks: AsyncIterator[bytes]
    """A success's body, chunk by chunk as the socket gives it, stopping past the limit;
    nothing for an error answer."""


@asynccontextmanager
async def open_stream(
    transport: httpx.AsyncBaseTransport,
    request: httpx.Request,
    *,
    limit: int,
    deadline: float,
    target: str,
    secrets: tuple[str, ...] = (),
) -> AsyncIterator[StreamedResponse]:
    """Send ``request`` and hand its answer over as a stream, within ``deadline`` and ``limit``.

    The rules of :func:`exchange`, for an answer read as it arrives: ``deadline`` covers the
    whole block (headers, every chunk, and what the caller does between them), reading stops
    past ``limit`` bytes of a successful body, and a failure below HTTP, raised while the
    caller reads the chunks, leaves the block translated. Leaving the block before the end
    (an error, a cancellation) closes the connection.

    Args:
        transport: Any httpx transport.
        request: The signed request; its ``timeout`` extension gives the per-phase timeouts
            (``read`` restarts on every chunk; ``deadline`` does not).
        limit: The most bytes of a successful body read off the wire.
        deadline: Seconds for the whole block.
        target: ``"<METHOD> <endpoint><path>"``, for messages.
        secrets: Strings scrubbed from a transport error's message.

    Yields:
        The status, lower-cased headers, and the body (an error answer's read in full, cut
        to :data:`~temporal_lambda._spec.MAX_ERROR_RESPONSE` bytes; a success's as chunks).

    Raises:
        LambdaResponseTooLargeError: a successful body is larger than ``limit``.
        LambdaTransportError: the connection failed, or ``deadline`` passed.
    """
    timer = asyncio.timeout(deadline)
    try:
        async with timer:
            response = await transport.handle_async_request(request)
            try:
                status = response.status_code
                if 200 <= status < 300:
                    chunks = _capped(response, limit, target)
                    yield StreamedResponse(status, _lowered(response), b"", chunks)
                else:
                    body = await _read_body(response, limit, target)
                    yield StreamedResponse(status, _lowered(response), body, _none())
            finally:
                await response.aclose()
    except httpx.RequestError as exc:
        raise translate(exc, target, secrets) from exc
    except TimeoutError as exc:
        _raise_expired(timer, exc, deadline, request, target, secrets)


def _lowered(response: httpx.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


def _raise_expired(
    timer: asyncio.Timeout,
    exc: TimeoutError,
    deadline: float,
    request: httpx.Request,
    target: str,
    secrets: tuple[str, ...],
) -> NoReturn:
    """Raise what a ``TimeoutError`` becomes: the deadline's, as a read timeout; else itself."""
    if not timer.expired():
        raise exc
    # The deadline is the read timeout over the whole answer: report it as one.
    expired = httpx.ReadTimeout(
        f"the whole answer did not arrive within {deadline:g} s", request=request
    )
    expired.__cause__ = exc
    raise translate(expired, target, secrets) from expired


def _raw_stream(response: httpx.Response) -> AsyncIterator[bytes] | httpx.AsyncByteStream:
    """The body's bytes as they come: already read (``httpx.MockTransport``), or the stream."""
    try:
        return _once(response.content)
    except httpx.ResponseNotRead:
        pass
    if isinstance(response.stream, httpx.AsyncByteStream):
        return response.stream  # raw bytes, without httpx's chunking and bookkeeping
    return response.aiter_raw()


async def _capped(response: httpx.Response, limit: int, target: str) -> AsyncIterator[bytes]:
    """Yield a successful body's chunks; raise past ``limit`` bytes.

    Nothing is read when its ``Content-Length`` already says it is too large.
    """
    status = response.status_code
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise _too_large(target, status, 0, limit, f"Content-Length {int(announced)}, none read")
    size = 0
    async for chunk in _raw_stream(response):
        size += len(chunk)
        if size > limit:
            raise _too_large(target, status, size, limit, f"reading stopped at {size} bytes")
        yield chunk


async def _none() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover  (makes this an async generator)


async def _read_body(response: httpx.Response, limit: int, target: str) -> bytes:
    """Read ``response``'s body, stopping past ``limit`` bytes for a success.

    An error answer (non-2xx) is read up to :data:`MAX_ERROR_RESPONSE` bytes and the rest
    dropped: its status decides what it means. A success larger than ``limit`` is refused,
    before reading anything when its ``Content-Length`` says so.
    """
    try:
        return await read_capped(response, limit, error_limit=MAX_ERROR_RESPONSE)
    except BodyTooLarge as exc:
        what = (
            f"Content-Length {exc.announced}, none read"
            if exc.announced is not None
            else f"reading stopped at {exc.size} bytes"
        )
        raise _too_large(target, response.status_code, exc.size, limit, what) from None


class BodyTooLarge(Exception):
    """A successful answer's body is over the reader's limit; reading stopped."""

    def __init__(self, size: int, announced: int | None) -> None:
        super().__init__(f"body over the limit ({announced or size} bytes)")
        self.size = size
        """Bytes read before stopping (0 when ``Content-Length`` said it all)."""
        self.announced = announced
        """The ``Content-Length`` that was over the limit, if it was."""


async def read_capped(response: httpx.Response, limit: int, *, error_limit: int) -> bytes:
    """Read ``response``'s body: at most ``limit`` bytes of a success, else fail.

    An error answer (non-2xx) is read up to ``min(limit, error_limit)`` bytes and the rest
    dropped. A success over ``limit`` stops the read (before reading anything, when its
    ``Content-Length`` says so), so a wrong or hostile server cannot fill the memory.

    Raises:
        BodyTooLarge: a successful answer's body is larger than ``limit``.
    """
    status = response.status_code
    success = 200 <= status < 300
    cap = limit if success else min(limit, error_limit)
    announced = response.headers.get("content-length", "")
    if success and announced.isdigit() and int(announced) > cap:
        raise BodyTooLarge(0, int(announced))
    chunks: list[bytes] = []
    size = 0
    async for chunk in _raw_stream(response):
        size += len(chunk)
        if size > cap:
            if success:
                raise BodyTooLarge(size, None)
            chunks.append(chunk[: len(chunk) - (size - cap)])
            break
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _too_large(
    target: str, status: int, size: int, cap: int, what: str
) -> LambdaResponseTooLargeError:
    return LambdaResponseTooLargeError(
        f"{target}: the HTTP {status} answer is larger than the {cap} bytes this call can "
        f"get from Lambda ({what}); the function may have run, so this is not retried",
        status_code=status,
        bytes_read=size,
        limit=cap,
    )


def translate(
    exc: httpx.RequestError, target: str, secrets: tuple[str, ...] = ()
) -> LambdaTransportError:
    """Map an httpx failure to :class:`LambdaTransportError` (no headers, no secrets)."""
    detail = scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, secrets)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return LambdaTransportError(f"{target}: could not connect ({detail})", maybe_sent=False)
    if isinstance(exc, httpx.PoolTimeout):
        return LambdaTransportError(
            f"{target}: no free connection in the pool ({detail})", maybe_sent=False
        )
    if isinstance(exc, httpx.ReadTimeout):
        return LambdaTransportError(
            f"{target}: no answer within the read timeout ({detail})", timeout=True
        )
    if isinstance(exc, httpx.WriteTimeout):
        return LambdaTransportError(
            f"{target}: sending the request timed out ({detail})", timeout=True
        )
    return LambdaTransportError(f"{target}: connection failed ({detail})", maybe_sent=True)
