"""The console's web server over real sockets: the flow's API, and each refusal."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from temporal_lambda.cli._console import TOKEN_HEADER, Console
from temporal_lambda.testing import LambdaContext, LocalLambda

SECRET_KEY = "console-secret-" + secrets.token_hex(16)
SESSION_TOKEN = "console-session-" + secrets.token_hex(24)


def echo(event: Any, context: LambdaContext) -> Any:
    return {"got": event}


@pytest.fixture
async def console(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Console, LocalLambda]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    async with LocalLambda(credentials=("testing", SECRET_KEY)) as lam:
        lam.register("echo", echo)
        server = Console(region="us-east-1", endpoint_url=lam.endpoint_url)
        await server.start()
        try:
            yield server, lam
        finally:
            await server.stop()


async def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request as given (any Host), return status, headers, body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


async def test_flow_api_with_the_token(console: tuple[Console, LocalLambda]) -> None:
    server, lam = console
    headers = {TOKEN_HEADER: server.token}
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url) as page:
            assert page.status == 200
            html = await page.text()
            assert "<title>temporal-lambda console</title>" in html
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none';")
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert "Access-Control-Allow-Origin" not in page.headers
        async with http.get(f"{server.origin}/api/apis?q=deprecated", headers=headers) as r:
            assert [a["name"] for a in await r.json()] == ["InvokeAsync"]
        async with http.get(f"{server.origin}/api/describe/Invoke", headers=headers) as r:
            ref = await r.json()
            assert ref["path"] == "/2015-03-31/functions/{FunctionName}/invocations"
        body = {"function_name": "echo", "payload": '{"a": 1}', "log_type": "Tail"}
        async with http.post(f"{server.origin}/api/invoke", json=body, headers=headers) as r:
            assert r.status == 200
            text = await r.text()
    data = json.loads(text)
    assert data["outcome"]["kind"] == "success"
    assert data["outcome"]["result"]["payload"] == {"got": {"a": 1}}
    assert data["outcome"]["request"]["headers"]["x-amz-security-token"] == "[REDACTED]"
    assert "result = await invoke_lambda('echo', {'a': 1}, log_type='Tail')" in data["snippet"]
    assert SECRET_KEY not in text and SESSION_TOKEN not in text
    assert len(lam.records("echo")) == 1


async def test_refused_input_is_an_outcome(console: tuple[Console, LocalLambda]) -> None:
    server, lam = console
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.origin}/api/invoke",
            json={"function_name": "echo", "payload": "{oops"},
            headers={TOKEN_HEADER: server.token},
        ) as r,
    ):
        data = await r.json()
    error = data["outcome"]["error"]
    assert (data["outcome"]["kind"], error["type"], error["details"]) == (
        "refused",
        "Lambda.ValidationError",
        [{"field": "payload"}],
    )
    assert lam.records() == []


async def test_refusals(console: tuple[Console, LocalLambda]) -> None:
    server, lam = console
    port, token = server.port, server.token
    host = f"127.0.0.1:{port}"
    body = b'{"function_name": "echo"}'

    def post(extra: str, content_type: str = "application/json") -> bytes:
        return (
            f"POST /api/invoke HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
        ).encode() + body

    cases = {
        "no token": post(""),
        "wrong token": post(f"{TOKEN_HEADER}: {token[:-1]}x\r\n"),
        "foreign origin": post(f"{TOKEN_HEADER}: {token}\r\nOrigin: http://evil.example\r\n"),
        "form post": post(f"{TOKEN_HEADER}: {token}\r\n", "application/x-www-form-urlencoded"),
        "rebound host": (
            f"GET /?token={token} HTTP/1.1\r\nHost: evil.example:{port}\r\n"
            "Connection: close\r\n\r\n"
        ).encode(),
        "page without token": (
            f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ).encode(),
        "preflight": (
            f"OPTIONS /api/invoke HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
            "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
        ).encode(),
    }
    reasons = {
        "no token": b"refused: missing or wrong X-Console-Token\n",
        "wrong token": b"refused: missing or wrong X-Console-Token\n",
        "foreign origin": b"refused: Origin is not this console's\n",
        "form post": b"refused: API requests must be application/json\n",
        "rebound host": b"refused: Host is not this console's\n",
        "page without token": b"refused: the page needs the token printed at start (?token=)\n",
        "preflight": b"refused: method OPTIONS is not served (no CORS)\n",
    }
    for name, request in cases.items():
        status, headers, answer = await raw(port, request)
        assert (name, status, answer) == (name, 403, reasons[name])
        assert not any(h.startswith("access-control-") for h in headers), name
    assert lam.records() == []  # none of them reached Lambda
    status, _, answer = await raw(port, post(f"{TOKEN_HEADER}: {token}\r\n"))
    assert status == 200
    assert json.loads(answer)["outcome"]["kind"] == "success"
    assert SECRET_KEY.encode() not in answer and SESSION_TOKEN.encode() not in answer


async def test_listens_on_loopback_only(console: tuple[Console, LocalLambda]) -> None:
    server, _ = console
    assert server.url.startswith(f"http://127.0.0.1:{server.port}/?token=")
    assert server.app is not None and len(server.token) >= 40
    assert Console().token != server.token  # one per start
