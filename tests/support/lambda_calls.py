"""Helpers of the client, signer and transport tests: calls as botocore makes them, a recorder."""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import botocore.credentials
import botocore.handlers
import botocore.session
import httpx
import pytest

from temporal_lambda._client import LambdaClient

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
