"""The only I/O in the package: sign a prepared call with botocore and send it with httpx.

:class:`LambdaClient` resolves region, credentials and endpoint the way botocore does, signs
every attempt with SigV4 (:class:`_SigV4Auth`), sends it over a pooled HTTP/1.1 connection with
TCP keepalive, and hands back the raw status, headers and body. Interpreting the answer is the
protocol layer's job.

The API is httpx's (``httpx.Request``/``httpx.Response``, ``httpx.Auth``, swappable ``httpx``
transports, which :meth:`LambdaClient.send` drives directly), but the default transport
underneath is :class:`_AiohttpTransport`, an httpx transport over an aiohttp connection pool.
httpcore's pool (httpx's default) does O(connections x waiting requests) work on
every request and closes idle connections whenever more than ``max_keepalive_connections`` are
open, so at 64 concurrent calls it spent ~14 ms of CPU per call (71 calls/s against 2,900 for
aiohttp on the same loopback server; see ``benchmarks/``).

Failures below HTTP are translated in exactly one place, :meth:`LambdaClient.send`::

    httpx.ConnectError, ConnectTimeout  →  LambdaTransportError(maybe_sent=False)
    httpx.PoolTimeout                   →  LambdaTransportError(maybe_sent=False)
    httpx.ReadTimeout, WriteTimeout     →  LambdaTransportError(timeout=True, maybe_sent=True)
    any other httpx.RequestError        →  LambdaTransportError(maybe_sent=True)

A call's ``read_timeout`` is also a total deadline over the whole answer (headers and body):
a body that trickles in a byte at a time ends in ``LambdaTransportError(timeout=True)`` when it
passes, as a silent socket does. Reading stops past the largest body the call can get
(``PreparedCall.max_response_body`` for a success, ``MAX_ERROR_RESPONSE`` for an error
answer, whose rest is dropped): a success larger than that raises
:class:`~temporal_lambda._errors.LambdaResponseTooLargeError`, without reading at all when its
``Content-Length`` announces it.

``asyncio.CancelledError`` is never caught: cancelling :meth:`LambdaClient.send` aborts the
request and the transport closes its connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import aiohttp.abc
import aiohttp.payload
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.endpoint_provider
import botocore.session
import httpx
import yarl

from temporal_lambda._closing import AsyncClosing
from temporal_lambda._errors import LambdaResponseTooLargeError, LambdaTransportError
from temporal_lambda._redact import call_quietly, quiet_signing, scrub
from temporal_lambda._spec import MAX_ERROR_RESPONSE

__all__ = ["HttpSettings", "LambdaClient", "RawResponse"]

_SERVICE = "lambda"
_NO_CREDENTIALS = (
    "no AWS credentials found (standard chain: env, profile, SSO, container, instance metadata)"
)
# Headers httpx adds on its own; they are sent but not signed (botocore signs none of them).
_UNSIGNED_HEADERS = frozenset(
    {"accept", "accept-encoding", "connection", "content-length", "host", "user-agent"}
)
_KEPT_SECRETS = 12
"""Most recent secret keys and tokens a signer remembers for scrubbing errors."""
_URL_CACHE_SIZE = 1024
"""Most parsed request URLs a client keeps (one per function and qualifier called)."""
# Headers SigV4 adds or replaces; copied from the signed botocore request onto the httpx one.
_SIGNATURE_HEADERS = (
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-SHA256",
)


@dataclass
class HttpSettings:
    """HTTP settings of a :class:`LambdaClient`."""

    connect_timeout: float = 5.0
    """Seconds to open a TCP (and TLS) connection."""
    pool_timeout: float = 30.0
    """Seconds to wait for a free connection from the pool."""
    write_timeout: float = 60.0
    """Seconds a single write of the request may block."""
    default_read_timeout: float = 905.0
    """Read timeout when :meth:`LambdaClient.send` is given none: Lambda's 900 s maximum
    duration plus a margin (never botocore's 60 s, which cuts long invocations short)."""
    max_connections: int = 10_000
    """Most connections open at once, across all hosts (one per in-flight call: a held
    synchronous invocation occupies its connection for its whole duration)."""
    max_keepalive_connections: int = 10_000
    """Most idle connections kept for reuse (used only by an ``httpx.AsyncHTTPTransport``
    passed as ``transport=``; the default transport keeps every idle connection until
    :attr:`keepalive_expiry`)."""
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


class _Call(Protocol):
    """What :meth:`LambdaClient.send` needs of a prepared call (``_request.PreparedCall``)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def max_response_body(self) -> int: ...


def _socket_options(http: HttpSettings) -> list[tuple[int, int, int]]:
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


def _make_transport(http: HttpSettings) -> _AiohttpTransport:
    """Build the pooled transport: no transport retries, TCP keepalive on every socket.

    No retries because a request that may have reached Lambda must not be sent again
    behind the caller's back; retrying is the caller's (Temporal's) decision.
    """
    return _AiohttpTransport(http)


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

    Whoever reads it decides how much to read (:meth:`LambdaClient.send` stops at the call's
    limit); closing it before the end closes the connection rather than returning it to the
    pool with unread bytes in it.
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


class _AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp connection pool: HTTP/1.1, keepalive, no retries.

    Sends the URL exactly as httpx holds it (``yarl.URL(..., encoded=True)``: what was signed
    is what is sent), honours httpx's per-request ``connect``/``pool``/``read`` timeouts (a
    write timeout has no aiohttp counterpart: a stalled write is caught by the read timeout),
    sets the TCP keepalive options on every socket, streams the body (:class:`_AiohttpBody`),
    and closes the connection when the request is cancelled or fails.
    """

    def __init__(self, http: HttpSettings) -> None:
        self._http = http
        self._options = _socket_options(http)
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


def _resolve_endpoint(
    session: botocore.session.Session,
    *,
    region: str,
    endpoint_url: str | None,
    use_fips: bool,
    use_dualstack: bool,
) -> str:
    """Resolve the Lambda base URL with botocore's endpoint rule set and partition data."""
    loader = session.get_component("data_loader")
    provider = botocore.endpoint_provider.EndpointProvider(
        ruleset_data=loader.load_service_model(_SERVICE, "endpoint-rule-set-1"),
        partition_data=loader.load_data("partitions"),
    )
    params: dict[str, Any] = {
        "Region": region,
        "UseFIPS": use_fips,
        "UseDualStack": use_dualstack,
    }
    if endpoint_url is not None:
        params["Endpoint"] = endpoint_url
    url: str = provider.resolve_endpoint(**params).url
    return url.rstrip("/")


def _check_endpoint_url(endpoint_url: str) -> None:
    """Refuse an endpoint URL carrying user information (``https://user:pass@host``).

    The transport cannot send such a URL (every call would fail), and Lambda takes no
    credentials in the URL. The message never repeats the URL, which holds a password.
    """
    try:
        parts = urllib.parse.urlsplit(endpoint_url)
    except ValueError:
        raise ValueError("endpoint_url is not a valid URL") from None
    if "@" in parts.netloc:
        raise ValueError(
            "endpoint_url must not contain user information (user:password@host); "
            "Lambda calls are signed with the AWS credentials (credentials= or the standard "
            "chain), not with URL credentials"
        )


def _partition_of(session: botocore.session.Session, region: str) -> str:
    """Return the AWS partition (``aws``, ``aws-cn``, ``aws-us-gov``...) of ``region``.

    Uses botocore's partition data and the same matching its endpoint rules use.
    """
    loader = session.get_component("data_loader")
    library = botocore.endpoint_provider.RuleSetStandardLibrary(loader.load_data("partitions"))
    partition: dict[str, Any] = library.aws_partition(region)
    name: str = partition["name"]
    return name


def _may_refresh(credentials: Any) -> bool:
    """Tell whether freezing ``credentials`` may do I/O (and so must leave the event loop).

    Static credentials never do; refreshable ones only when a refresh is due.
    """
    if type(credentials) is botocore.credentials.Credentials:
        return False
    refresh_needed = getattr(credentials, "refresh_needed", None)
    return refresh_needed is None or bool(refresh_needed())


class _SigV4Auth(httpx.Auth):
    """Sign each request with botocore's SigV4, just before it is sent.

    The auth flow runs once per request, so every attempt gets a fresh ``X-Amz-Date`` and
    signature. The URL and body signed are the request's own, so what is sent is what was
    signed.
    """

    def __init__(self, credentials: Any, region: str) -> None:
        self._credentials = credentials
        self._region = region
        self.secrets: tuple[str, ...] = ()
        """Access keys, secret keys and session tokens of the credentials signed with lately
        (the last few, so an error of a call signed just before a refresh is scrubbed too)."""

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Sign ``request`` (refreshing credentials off the event loop) and send it."""
        self.sign(request, await self.frozen())
        yield request

    async def frozen(self) -> Any:
        """Return frozen credentials, refreshing them off the event loop when due."""
        credentials = self._credentials
        if _may_refresh(credentials):
            return await asyncio.to_thread(call_quietly, credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        """Refuse: this signer is for async code only."""
        raise RuntimeError("_SigV4Auth is async only")

    def sign(self, request: httpx.Request, frozen: Any) -> None:
        """Sign ``request`` in place with frozen ``frozen`` credentials."""
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in _UNSIGNED_HEADERS
        }
        aws_request = botocore.awsrequest.AWSRequest(
            method=request.method,
            url=str(request.url),
            headers=headers,
            data=request.content,
        )
        self._remember(frozen)
        with quiet_signing():
            botocore.auth.SigV4Auth(frozen, _SERVICE, self._region).add_auth(aws_request)
        for name in _SIGNATURE_HEADERS:
            value = aws_request.headers.get(name)
            if value is None:
                request.headers.pop(name, None)
            else:
                request.headers[name] = value

    def _remember(self, frozen: Any) -> None:
        """Keep the secrets of ``frozen``, so errors can be scrubbed of them."""
        for value in (
            getattr(frozen, "access_key", None),
            getattr(frozen, "secret_key", None),
            getattr(frozen, "token", None),
        ):
            if isinstance(value, str) and value and value not in self.secrets:
                self.secrets = (value, *self.secrets)[:_KEPT_SECRETS]


class LambdaClient(AsyncClosing):
    """Send prepared Lambda calls, signed, over a shared connection pool.

    Region and endpoint are resolved when the client is built; credentials on the first
    :meth:`send`, off the event loop (the chain may reach SSO, a container endpoint or
    instance metadata).

    Args:
        region: AWS region; default: the botocore session's (``AWS_DEFAULT_REGION``, then
            the profile's ``region``), then ``AWS_REGION`` (which botocore itself ignores).
        endpoint_url: Base URL overriding the resolved endpoint, e.g. a local emulator.
        profile: Shared-config profile for region and credentials.
        credentials: ``botocore.credentials.Credentials``; default: the standard chain.
        use_fips: Use the FIPS endpoint.
        use_dualstack: Use the dual-stack (IPv6) endpoint.
        http: HTTP settings; default :class:`HttpSettings`.
        transport: Replaces the pooled transport (tests pass ``httpx.MockTransport``).

    Raises:
        ValueError: no region given and none configured, or ``endpoint_url`` carries
            user information (``user:password@``).
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        credentials: botocore.credentials.Credentials | None = None,
        use_fips: bool = False,
        use_dualstack: bool = False,
        http: HttpSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = http if http is not None else HttpSettings()
        self._session = botocore.session.Session(profile=profile)
        resolved_region = (
            region or self._session.get_config_variable("region") or os.environ.get("AWS_REGION")
        )
        if not resolved_region:
            raise ValueError(
                "no AWS region: pass region=, or set AWS_REGION / AWS_DEFAULT_REGION, "
                "or configure one in the profile"
            )
        if endpoint_url is not None:
            _check_endpoint_url(endpoint_url)
        self._region: str = resolved_region
        self._partition = _partition_of(self._session, self._region)
        self._endpoint = _resolve_endpoint(
            self._session,
            region=self._region,
            endpoint_url=endpoint_url,
            use_fips=use_fips,
            use_dualstack=use_dualstack,
        )
        self._credentials: Any = credentials
        self._auth: _SigV4Auth | None = None
        self._transport: httpx.AsyncBaseTransport = (
            transport if transport is not None else _make_transport(self._http)
        )
        self._closed = False
        self._urls: dict[str, httpx.URL] = {}
        self._default_headers = (
            ("Accept", "*/*"),
            ("Accept-Encoding", "identity"),
            ("Connection", "keep-alive"),
            ("User-Agent", self._http.user_agent),
        )

    @property
    def closed(self) -> bool:
        """True after :meth:`aclose`, until the next :meth:`send` opens a new pool."""
        return self._closed

    @property
    def region(self) -> str:
        """The region requests are signed for."""
        return self._region

    @property
    def partition(self) -> str:
        """The AWS partition of :attr:`region` (``aws``, ``aws-cn``, ``aws-us-gov``...)."""
        return self._partition

    @property
    def max_retry_after(self) -> float:
        """The longest ``Retry-After`` wait honoured (:attr:`HttpSettings.max_retry_after`)."""
        return self._http.max_retry_after

    def secrets(self) -> tuple[str, ...]:
        """Return the access keys, secret keys and session tokens recent signed calls used.

        Errors are scrubbed of them (:func:`temporal_lambda._redact.scrub_error`) before they
        leave the package: a server may echo a request's headers in its answer.
        """
        return () if self._auth is None else self._auth.secrets

    @property
    def endpoint(self) -> str:
        """The resolved base URL, e.g. ``https://lambda.us-east-1.amazonaws.com``."""
        return self._endpoint

    async def _get_auth(self) -> _SigV4Auth:
        """Return the signer, resolving credentials through the standard chain the first time."""
        if self._auth is None:
            credentials = self._credentials
            if credentials is None:
                credentials = await asyncio.to_thread(call_quietly, self._session.get_credentials)
            if credentials is None:
                raise LambdaTransportError(_NO_CREDENTIALS, maybe_sent=False)
            self._auth = _SigV4Auth(credentials, self._region)
        return self._auth

    def _url(self, call: _Call) -> httpx.URL:
        """Return the parsed URL of ``call``, parsing each distinct one once.

        ``httpx.URL`` is immutable, and parsing one (every character checked) was 30 µs of a
        call's CPU; a worker calls a handful of functions, so their URLs repeat.
        """
        text = self._endpoint + call.path + (f"?{call.query}" if call.query else "")
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[text] = httpx.URL(text)
        return url

    async def send(self, call: _Call, *, read_timeout: float | None = None) -> RawResponse:
        """Sign and send ``call``, and read the whole answer.

        Args:
            call: The prepared request (``_request.PreparedCall``); ``path`` and ``query``
                are already percent-encoded and are sent byte for byte; its
                ``max_response_body`` bounds a successful answer's body.
            read_timeout: Seconds to wait for the answer, and for the whole exchange
                (headers and body) to complete; default
                :attr:`HttpSettings.default_read_timeout`.

        Returns:
            Status, lower-cased headers and body, whatever the status (an error answer's
            body cut to ``MAX_ERROR_RESPONSE`` bytes).

        Raises:
            LambdaResponseTooLargeError: a successful answer's body is larger than
                ``call.max_response_body`` (not retryable: the function may have run).
            LambdaTransportError: no credentials, or no complete HTTP answer within
                ``read_timeout``.
        """
        auth = await self._get_auth()
        self._closed = False
        url = self._url(call)
        read = read_timeout if read_timeout is not None else self._http.default_read_timeout
        timeout = {
            "connect": self._http.connect_timeout,
            "read": read,
            "write": self._http.write_timeout,
            "pool": self._http.pool_timeout,
        }
        # Straight to the transport: an ``httpx.AsyncClient`` would add cookie handling,
        # redirect bookkeeping and URL merging, a third of the CPU of a call, for nothing.
        request = httpx.Request(
            call.method,
            url,
            headers=[*self._default_headers, *call.headers.items()],
            content=call.body,
            extensions={"timeout": timeout},
        )
        target = f"{call.method} {self._endpoint}{call.path}"
        auth.sign(request, await auth.frozen())
        # sock_read restarts on every chunk; this deadline does not (a trickling body).
        deadline = asyncio.timeout(read)
        try:
            async with deadline:
                response = await self._transport.handle_async_request(request)
                try:
                    body = await _read_body(response, call.max_response_body, target)
                finally:
                    await response.aclose()
        except httpx.RequestError as exc:
            raise _translate(exc, target, auth.secrets) from exc
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            # The deadline is the read timeout over the whole answer: report it as one.
            expired = httpx.ReadTimeout(
                f"the whole answer did not arrive within {read:g} s", request=request
            )
            expired.__cause__ = exc
            raise _translate(expired, target, auth.secrets) from expired
        return RawResponse(
            status_code=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=body,
        )

    async def aclose(self) -> None:
        """Close the pooled connections; a later :meth:`send` opens a new pool."""
        self._closed = True
        await self._transport.aclose()


async def _read_body(response: httpx.Response, limit: int, target: str) -> bytes:
    """Read ``response``'s body, stopping past ``limit`` bytes for a success.

    An error answer (non-2xx) is read up to :data:`MAX_ERROR_RESPONSE` bytes and the rest
    dropped: its status decides what it means. A success larger than ``limit`` is refused,
    before reading anything when its ``Content-Length`` says so.
    """
    status = response.status_code
    success = 200 <= status < 300
    cap = limit if success else min(limit, MAX_ERROR_RESPONSE)
    announced = response.headers.get("content-length", "")
    if success and announced.isdigit() and int(announced) > cap:
        raise _too_large(target, status, 0, cap, f"Content-Length {int(announced)}, none read")
    try:
        chunks = [response.content]  # already in memory (``httpx.MockTransport`` reads it)
    except httpx.ResponseNotRead:
        chunks = []
    stream: AsyncIterator[bytes] | httpx.AsyncByteStream
    if chunks:
        stream = _once(chunks.pop())
    elif isinstance(response.stream, httpx.AsyncByteStream):
        stream = response.stream  # raw bytes, without httpx's chunking and bookkeeping
    else:
        stream = response.aiter_raw()
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > cap:
            if success:
                raise _too_large(target, status, size, cap, f"reading stopped at {size} bytes")
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


def _translate(
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
