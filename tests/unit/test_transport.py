"""The aiohttp-backed transport (``_transport``): its error map, timeouts and real sockets."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import botocore.credentials
import botocore.handlers
import botocore.session
import httpx
import pytest

from temporal_lambda._client import HttpSettings, LambdaClient
from temporal_lambda._codes import TIMEOUT_ERROR_TYPE, TRANSPORT_ERROR_TYPE
from temporal_lambda._errors import LambdaTransportError
from temporal_lambda._transport import AiohttpTransport, socket_options
from tests.support.lambda_calls import (
    ACCESS_KEY,
    SECRET_KEY,
    Recorder,
    invoke_call,
    isolated_aws_env,  # noqa: F401  (autouse: no AWS settings from the machine)
    mock_client,
    static_credentials,
)


@pytest.mark.parametrize(
    ("exc_type", "is_timeout", "maybe_sent", "error_type"),
    [
        (httpx.ConnectError, False, False, TRANSPORT_ERROR_TYPE),
        (httpx.ConnectTimeout, False, False, TRANSPORT_ERROR_TYPE),
        (httpx.PoolTimeout, False, False, TRANSPORT_ERROR_TYPE),
        (httpx.ReadTimeout, True, True, TIMEOUT_ERROR_TYPE),
        (httpx.WriteTimeout, True, True, TIMEOUT_ERROR_TYPE),
        (httpx.RemoteProtocolError, False, True, TRANSPORT_ERROR_TYPE),
        (httpx.ReadError, False, True, TRANSPORT_ERROR_TYPE),
        (httpx.WriteError, False, True, TRANSPORT_ERROR_TYPE),
        (httpx.CloseError, False, True, TRANSPORT_ERROR_TYPE),
        (httpx.ProxyError, False, True, TRANSPORT_ERROR_TYPE),
    ],
)
async def test_transport_errors_are_translated(
    exc_type: type[httpx.TransportError], is_timeout: bool, maybe_sent: bool, error_type: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)

    credentials = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY, "SECRET-TOKEN")
    async with LambdaClient(
        region="us-east-1", credentials=credentials, transport=httpx.MockTransport(fail)
    ) as client:
        with pytest.raises(LambdaTransportError) as raised:
            await client.send(invoke_call("my-fn"))
    error = raised.value
    assert type(error) is LambdaTransportError
    assert error.timeout is is_timeout
    assert error.maybe_sent is maybe_sent
    assert error.error_type == error_type
    assert isinstance(error.__cause__, exc_type)
    message = str(error)
    assert message.startswith(
        "POST https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my-fn/invocations: "
    )
    assert f"({exc_type.__name__}: boom)" in message
    for secret in (SECRET_KEY, "SECRET-TOKEN", "Signature", "Authorization"):
        assert secret not in message


async def test_cancelled_error_is_not_translated() -> None:
    def cancel(request: httpx.Request) -> httpx.Response:
        raise asyncio.CancelledError

    async with LambdaClient(
        region="us-east-1", credentials=static_credentials(), transport=httpx.MockTransport(cancel)
    ) as client:
        with pytest.raises(asyncio.CancelledError):
            await client.send(invoke_call("my-fn"))


# --- timeouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("read_timeout", "expected_read"), [(12.5, 12.5), (None, 905.0)])
async def test_per_request_timeouts(read_timeout: float | None, expected_read: float) -> None:
    recorder = Recorder()
    async with mock_client(recorder) as client:
        await client.send(invoke_call("my-fn"), read_timeout=read_timeout)
    assert recorder.last.extensions["timeout"] == {
        "connect": 5.0,
        "read": expected_read,
        "pool": 30.0,
    }


# --- real sockets ---------------------------------------------------------------------------


async def test_socket_options_and_transport_settings() -> None:
    http = HttpSettings(tcp_keepalive_idle=42, tcp_keepalive_interval=7, tcp_keepalive_count=3)
    options = socket_options(http)
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
    transport = AiohttpTransport(http)
    session = transport._get_session()
    connector = session.connector
    assert isinstance(connector, aiohttp.TCPConnector)
    assert connector.limit == 10_000
    assert connector.limit_per_host == 0
    assert connector._keepalive_timeout == 30.0
    assert session.auto_decompress is False
    assert session.trust_env is False
    sock = transport._socket((socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.1", 0)))
    try:
        for level, option, value in options:
            assert sock.getsockopt(level, option) == value
    finally:
        sock.close()
    await transport.aclose()


@pytest.mark.parametrize("idle", [0, 61, 350])
def test_keepalive_idle_must_be_at_most_60(idle: int) -> None:
    with pytest.raises(ValueError, match="tcp_keepalive_idle"):
        HttpSettings(tcp_keepalive_idle=idle)


class SockoptCapture(httpx.AsyncBaseTransport):
    """Wrap the real transport and read the keepalive options of the socket it used."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.options: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        sock = response.extensions["network_stream"].get_extra_info("socket")
        self.options["SO_KEEPALIVE"] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        self.options["TCP_KEEPIDLE"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        self.options["TCP_KEEPINTVL"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
        self.options["TCP_KEEPCNT"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="needs Linux TCP keepalive opts")
async def test_real_socket_has_tcp_keepalive() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = HttpSettings()
    capture = SockoptCapture(AiohttpTransport(http))
    try:
        async with LambdaClient(
            region="us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            credentials=static_credentials(),
            http=http,
            transport=capture,
        ) as client:
            response = await client.send(invoke_call("my-fn"))
    finally:
        server.close()
        await server.wait_closed()
    assert response.status_code == 200
    assert response.body == b"{}"
    assert capture.options["SO_KEEPALIVE"] != 0
    assert capture.options == {
        "SO_KEEPALIVE": capture.options["SO_KEEPALIVE"],
        "TCP_KEEPIDLE": 30,
        "TCP_KEEPINTVL": 10,
        "TCP_KEEPCNT": 5,
    }
    assert capture.options["TCP_KEEPIDLE"] <= 60


async def test_connection_refused_is_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with LambdaClient(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        credentials=static_credentials(),
    ) as client:
        with pytest.raises(LambdaTransportError) as raised:
            await client.send(invoke_call("my-fn"))
    assert raised.value.maybe_sent is False
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


async def test_real_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with LambdaClient(
            region="us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            credentials=static_credentials(),
        ) as client:
            with pytest.raises(LambdaTransportError) as raised:
                await client.send(invoke_call("my-fn"), read_timeout=0.2)
    finally:
        server.close()
        await server.wait_closed()
    assert raised.value.timeout is True
    assert raised.value.maybe_sent is True
    assert isinstance(raised.value.__cause__, httpx.ReadTimeout)


async def test_cancelling_send_aborts_the_request_promptly() -> None:
    connected = asyncio.Event()
    closed = asyncio.Event()
    body_received = asyncio.Event()
    received = bytearray()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        while chunk := await reader.read(65536):
            received.extend(chunk)
            if b'{"slow":true}' in received:
                body_received.set()
        closed.set()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with LambdaClient(
            region="us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            credentials=static_credentials(),
        ) as client:
            task = asyncio.create_task(client.send(invoke_call("my-fn", b'{"slow":true}')))
            await asyncio.wait_for(connected.wait(), 5)
            await asyncio.wait_for(body_received.wait(), 5)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 1.0
            await asyncio.wait_for(closed.wait(), 1.0)
    finally:
        server.close()
        await server.wait_closed()


async def test_big_body_round_trip_over_a_real_socket_is_signed_and_intact() -> None:
    """A 5 MB body goes out in zero-copy slices; the emulator verifies its SigV4 hash."""
    from temporal_lambda import LambdaInvokeRequest
    from temporal_lambda._request import prepare_call
    from temporal_lambda._response import parse_response
    from temporal_lambda.testing import LocalLambda

    blob = "".join(chr(ord("a") + i % 26) for i in range(5 * 1024 * 1024 - 64))
    request = LambdaInvokeRequest("echo", {"blob": blob})
    async with LocalLambda(credentials=(ACCESS_KEY, SECRET_KEY)) as lam:
        lam.register("echo", lambda event, context: event)
        async with LambdaClient(
            region="us-east-1", endpoint_url=lam.endpoint_url, credentials=static_credentials()
        ) as client:
            raw = await client.send(prepare_call(request, "key-1"))
            result = parse_response(request, "key-1", raw.status_code, raw.headers, raw.body)
            again = await client.send(prepare_call(request, "key-2"))  # the pooled connection
    assert raw.status_code == 200, raw.body[:300]
    assert result.payload == {"blob": blob}
    assert again.status_code == 200
    assert [r.status_code for r in lam.records("echo")] == [200, 200]
