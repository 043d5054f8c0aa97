"""``LambdaClient`` (``_client``): the URL sent as built, the raw answer, region and endpoint."""

from __future__ import annotations

from typing import Any

import pytest

import temporal_lambda._client
from temporal_lambda._client import LambdaClient, RawResponse
from tests.support.lambda_calls import (
    ARN,
    Recorder,
    invoke_call,
    isolated_aws_env,  # noqa: F401  (autouse: no AWS settings from the machine)
    mock_client,
    static_credentials,
)


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
