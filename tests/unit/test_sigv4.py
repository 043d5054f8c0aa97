"""SigV4 signing and credentials (``_sigv4``): byte for byte what botocore sends, every attempt."""

from __future__ import annotations

import threading
import urllib.parse
from typing import Any

import botocore.credentials
import botocore.handlers
import botocore.session
import httpx
import pytest

from temporal_lambda._client import HttpSettings, LambdaClient
from temporal_lambda._codes import TRANSPORT_ERROR_TYPE
from temporal_lambda._errors import LambdaTransportError
from tests.support.lambda_calls import (
    ACCESS_KEY,
    ARN,
    SECRET_KEY,
    T1,
    T2,
    Call,
    Recorder,
    botocore_invoke,
    frozen_clock,
    invoke_call,
    isolated_aws_env,  # noqa: F401  (autouse: no AWS settings from the machine)
    mock_client,
    static_credentials,
)


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
