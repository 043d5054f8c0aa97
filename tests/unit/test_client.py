"""Tests of ``LambdaClient`` and what it is built on (``_sigv4``, ``_transport``): signing,
endpoints, config, errors, sockets."""

from __future__ import annotations

import asyncio
import datetime
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import aiohttp
import botocore.credentials
import botocore.handlers
import botocore.session
import httpx
import pytest

import temporal_lambda._client
from temporal_lambda._client import HttpSettings, LambdaClient, RawResponse
from temporal_lambda._codes import TIMEOUT_ERROR_TYPE, TRANSPORT_ERROR_TYPE
from temporal_lambda._errors import LambdaTransportError
from temporal_lambda._transport import AiohttpTransport, socket_options

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn:live"
T1 = datetime.datetime(2024, 1, 2, 3, 4, 5)
T2 = datetime.datetime(2024, 1, 2, 3, 4, 6)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    max_response_body: int = 6_291_456


def invoke_call(
    name: str,
    body: bytes = b"",
    *,
    qualifier: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Call:
    """Build the call botocore's ``invoke`` makes, the way ``_request`` will."""
    path = "/2015-03-31/functions/" + urllib.parse.quote(name, safe="-._~") + "/invocations"
    query = "Qualifier=" + urllib.parse.quote(qualifier, safe="-._~") if qualifier else ""
    return Call(
        "POST",
        path,
        query,
        dict(headers or {"X-Amz-Invocation-Type": "RequestResponse"}),
        body,
    )


@dataclass
class Recorder:
    """A ``MockTransport`` handler that keeps every request and answers 200."""

    requests: list[httpx.Request] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"ok":true}'

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return httpx.Response(
            self.status,
            headers={"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"},
            content=self.body,
        )

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


@pytest.fixture(autouse=True)
def isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No AWS config, credentials or metadata service from the machine running the tests."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_USE_DUALSTACK_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "nonexistent-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "nonexistent-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@contextmanager
def frozen_clock(when: datetime.datetime) -> Iterator[None]:
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        yield


def static_credentials(token: str | None = None) -> botocore.credentials.Credentials:
    return botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY, token)


def mock_client(recorder: Recorder, **kwargs: Any) -> LambdaClient:
    kwargs.setdefault("region", "us-east-1")
    kwargs.setdefault("credentials", static_credentials())
    return LambdaClient(transport=httpx.MockTransport(recorder), **kwargs)


class _Captured(Exception):
    """Raised from botocore's ``before-send`` to stop it once the request is signed."""

    def __init__(self, request: Any) -> None:
        super().__init__()
        self.request = request


def botocore_invoke(
    *, when: datetime.datetime, token: str | None = None, **invoke_kwargs: Any
) -> Any:
    """Return the final ``AWSPreparedRequest`` botocore's own client sends for ``invoke``."""
    client = botocore.session.get_session().create_client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=token,
    )
    # amz-sdk-invocation-id is a random UUID; drop the retry headers so the signature is stable.
    client.meta.events.unregister("request-created", botocore.handlers.add_retry_headers)

    def capture(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.lambda.Invoke", capture)
    with frozen_clock(when), pytest.raises(_Captured) as captured:
        client.invoke(**invoke_kwargs)
    return captured.value.request


# --- signing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("invoke_kwargs", "call"),
    [
        pytest.param(
            {"FunctionName": "my-fn", "InvocationType": "RequestResponse", "Payload": b'{"a":1}'},
            invoke_call("my-fn", b'{"a":1}'),
            id="bare-name",
        ),
        pytest.param(
            {"FunctionName": ARN, "InvocationType": "Event", "Payload": b"{}"},
            invoke_call(ARN, b"{}", headers={"X-Amz-Invocation-Type": "Event"}),
            id="arn-with-qualifier",
        ),
        pytest.param(
            {
                "FunctionName": "my-fn",
                "Qualifier": "$LATEST",
                "InvocationType": "RequestResponse",
                "LogType": "Tail",
                "Payload": b'"x"',
            },
            invoke_call(
                "my-fn",
                b'"x"',
                qualifier="$LATEST",
                headers={"X-Amz-Invocation-Type": "RequestResponse", "X-Amz-Log-Type": "Tail"},
            ),
            id="qualifier-latest",
        ),
    ],
)
@pytest.mark.parametrize("token", [None, "SESSION-TOKEN"], ids=["static", "session-token"])
async def test_signature_matches_botocore_byte_for_byte(
    invoke_kwargs: dict[str, Any], call: Call, token: str | None
) -> None:
    expected = botocore_invoke(when=T1, token=token, **invoke_kwargs)
    recorder = Recorder()
    async with mock_client(recorder, credentials=static_credentials(token)) as client:
        with frozen_clock(T1):
            await client.send(call)
    sent = recorder.last

    assert str(sent.url) == expected.url
    expected_split = urllib.parse.urlsplit(expected.url)
    expected_raw = expected_split.path + (
        "?" + expected_split.query if expected_split.query else ""
    )
    assert sent.url.raw_path == expected_raw.encode("ascii")
    assert sent.headers["Authorization"] == expected.headers["Authorization"].decode()
    assert (
        sent.headers["X-Amz-Date"] == expected.headers["X-Amz-Date"].decode() == "20240102T030405Z"
    )
    assert sent.content == (expected.body or b"")
    assert sent.method == expected.method == "POST"
    for name in ("X-Amz-Invocation-Type", "X-Amz-Log-Type"):
        assert sent.headers.get(name) == (
            expected.headers[name].decode() if name in expected.headers else None
        )
    if token is None:
        assert "X-Amz-Security-Token" not in sent.headers
    else:
        assert sent.headers["X-Amz-Security-Token"] == token
        assert "x-amz-security-token" in sent.headers["Authorization"]


async def test_raw_path_keeps_percent_encoding() -> None:
    recorder = Recorder()
    async with mock_client(recorder) as client:
        await client.send(invoke_call(ARN, qualifier="$LATEST"))
    assert recorder.last.url.raw_path == (
        b"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction"
        b"%3Amy-fn%3Alive/invocations?Qualifier=%24LATEST"
    )
    assert recorder.last.url.host == "lambda.us-east-1.amazonaws.com"


async def test_each_distinct_url_parsed_once_and_the_cache_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(temporal_lambda._client, "_URL_CACHE_SIZE", 2)
    recorder = Recorder()
    async with mock_client(recorder) as client:
        await client.send(invoke_call("my-fn", qualifier="live"))
        (parsed,) = client._urls.values()
        await client.send(invoke_call("my-fn", qualifier="live"))
        (again,) = client._urls.values()
        assert again is parsed
        await client.send(invoke_call("my-fn"))
        assert len(client._urls) == 2
        await client.send(invoke_call("other-fn"))  # full: starts over
        assert len(client._urls) == 1
    assert [str(r.url).split("/functions/")[1] for r in recorder.requests] == [
        "my-fn/invocations?Qualifier=live",
        "my-fn/invocations?Qualifier=live",
        "my-fn/invocations",
        "other-fn/invocations",
    ]


async def test_sent_headers_no_content_type_and_user_agent_unsigned() -> None:
    recorder = Recorder()
    http = HttpSettings(user_agent="my-agent/9")
    async with mock_client(recorder, http=http) as client:
        await client.send(invoke_call("my-fn", b"{}"))
    sent = recorder.last
    assert "Content-Type" not in sent.headers
    assert sent.headers["User-Agent"] == "my-agent/9"
    assert "SignedHeaders=host;x-amz-date;x-amz-invocation-type," in sent.headers["Authorization"]


async def test_every_attempt_is_signed_again() -> None:
    recorder = Recorder()
    call = invoke_call("my-fn", b"{}")
    async with mock_client(recorder) as client:
        with frozen_clock(T1):
            await client.send(call)
        with frozen_clock(T2):
            await client.send(call)
    first, second = recorder.requests
    assert first.headers["X-Amz-Date"] == "20240102T030405Z"
    assert second.headers["X-Amz-Date"] == "20240102T030406Z"
    assert first.headers["Authorization"] != second.headers["Authorization"]
    assert second.headers["Authorization"] == (
        botocore_invoke(
            when=T2, FunctionName="my-fn", InvocationType="RequestResponse", Payload=b"{}"
        )
        .headers["Authorization"]
        .decode()
    )


class ThreadRecordingCredentials:
    """Refreshable-like credentials that note which thread froze them."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def get_frozen_credentials(self) -> botocore.credentials.ReadOnlyCredentials:
        self.threads.append(threading.get_ident())
        return botocore.credentials.ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, None)


async def test_credentials_frozen_off_the_event_loop_on_every_attempt() -> None:
    recorder = Recorder()
    credentials = ThreadRecordingCredentials()
    async with mock_client(recorder, credentials=credentials) as client:
        await client.send(invoke_call("my-fn"))
        await client.send(invoke_call("my-fn"))
    assert len(credentials.threads) == 2
    assert threading.get_ident() not in credentials.threads


async def test_response_is_returned_raw() -> None:
    recorder = Recorder(status=429, body=b'{"message":"Rate exceeded"}')
    async with mock_client(recorder) as client:
        response = await client.send(invoke_call("my-fn"))
    assert response == RawResponse(
        status_code=429,
        headers={
            "x-amz-executed-version": "$LATEST",
            "content-type": "application/json",
            "content-length": "27",
        },
        body=b'{"message":"Rate exceeded"}',
    )


# --- region, credentials, endpoints ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"region": "us-east-1"}, "https://lambda.us-east-1.amazonaws.com"),
        ({"region": "eu-west-1"}, "https://lambda.eu-west-1.amazonaws.com"),
        ({"region": "cn-north-1"}, "https://lambda.cn-north-1.amazonaws.com.cn"),
        (
            {"region": "us-gov-west-1", "use_fips": True},
            "https://lambda-fips.us-gov-west-1.amazonaws.com",
        ),
        ({"region": "us-east-1", "use_dualstack": True}, "https://lambda.us-east-1.api.aws"),
        (
            {"region": "cn-north-1", "use_dualstack": True},
            "https://lambda.cn-north-1.api.amazonwebservices.com.cn",
        ),
        (
            {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9001"},
            "http://127.0.0.1:9001",
        ),
        (
            {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9001/"},
            "http://127.0.0.1:9001",
        ),
    ],
)
async def test_endpoint_resolution(kwargs: dict[str, Any], expected: str) -> None:
    async with LambdaClient(credentials=static_credentials(), **kwargs) as client:
        assert client.endpoint == expected
        assert client.region == kwargs["region"]


async def test_custom_endpoint_url_is_used_and_signed_with_port() -> None:
    recorder = Recorder()
    async with mock_client(recorder, endpoint_url="http://127.0.0.1:9001") as client:
        await client.send(invoke_call("my-fn"))
    assert str(recorder.last.url) == "http://127.0.0.1:9001/2015-03-31/functions/my-fn/invocations"
    assert recorder.last.headers["Host"] == "127.0.0.1:9001"
    assert "/us-east-1/lambda/aws4_request" in recorder.last.headers["Authorization"]


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
async def test_region_from_environment(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "ap-southeast-2")
    async with LambdaClient(credentials=static_credentials()) as client:
        assert client.region == "ap-southeast-2"
        assert client.endpoint == "https://lambda.ap-southeast-2.amazonaws.com"


async def test_region_from_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    config = tmp_path / "config"
    config.write_text("[profile other]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    async with LambdaClient(profile="other", credentials=static_credentials()) as client:
        assert client.region == "eu-central-1"


def test_missing_region_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no AWS region"):
        LambdaClient(credentials=static_credentials())


async def test_credentials_from_environment_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    recorder = Recorder()
    async with LambdaClient(region="us-east-1", transport=httpx.MockTransport(recorder)) as client:
        await client.send(invoke_call("my-fn"))
    assert recorder.last.headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDFROMENV/"
    )
    assert recorder.last.headers["X-Amz-Security-Token"] == "env-token"


async def test_no_credentials_is_a_transport_error_not_sent() -> None:
    recorder = Recorder()
    async with LambdaClient(region="us-east-1", transport=httpx.MockTransport(recorder)) as client:
        with pytest.raises(LambdaTransportError) as raised:
            await client.send(invoke_call("my-fn"))
    assert str(raised.value) == (
        "no AWS credentials found (standard chain: env, profile, SSO, container, instance metadata)"
    )
    assert raised.value.maybe_sent is False
    assert raised.value.timeout is False
    assert raised.value.error_type == TRANSPORT_ERROR_TYPE
    assert recorder.requests == []


# --- errors ---------------------------------------------------------------------------------


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
