"""The S3 client and driver: endpoints, S3 SigV4, moto's real S3 API, and hostile answers."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from botocore.credentials import Credentials
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from temporal_lambda.storage import (
    STORAGE_ACCESS_DENIED,
    STORAGE_ERROR,
    STORAGE_NO_SUCH_BUCKET,
    STORAGE_NOT_FOUND,
    STORAGE_UNAVAILABLE,
    S3Client,
    S3Driver,
    S3Settings,
    StorageError,
)
from tests.support.moto_s3 import boto_s3, moto_url  # noqa: F401  (session fixture)

SECRET = "s3cr3t-never-in-messages"
CREDS = Credentials("AKIDEXAMPLE", SECRET)
FAST = S3Settings(attempts=3, backoff=0.01)


@pytest.mark.parametrize(
    ("options", "bucket", "url"),
    [
        ({"region": "us-east-1"}, "my-bucket", "https://my-bucket.s3.us-east-1.amazonaws.com"),
        ({"region": "cn-north-1"}, "my-bucket", "https://my-bucket.s3.cn-north-1.amazonaws.com.cn"),
        (
            {"region": "us-gov-west-1", "use_fips": True},
            "my-bucket",
            "https://my-bucket.s3-fips.us-gov-west-1.amazonaws.com",
        ),
        (
            {"region": "eu-west-1", "use_dualstack": True},
            "my-bucket",
            "https://my-bucket.s3.dualstack.eu-west-1.amazonaws.com",
        ),
        (
            {"region": "us-east-1"},
            "my.dotted.bucket",
            "https://s3.us-east-1.amazonaws.com/my.dotted.bucket",
        ),
        (
            {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9000"},
            "my-bucket",
            "http://127.0.0.1:9000/my-bucket",
        ),
        (
            {"region": "us-east-1", "force_path_style": True},
            "my-bucket",
            "https://s3.us-east-1.amazonaws.com/my-bucket",
        ),
    ],
)
def test_endpoints_come_from_botocores_rule_set(
    options: dict[str, object], bucket: str, url: str
) -> None:
    client = S3Client(credentials=CREDS, **options)  # type: ignore[arg-type]
    target = client.target(bucket)
    assert target.base == url
    assert target.signing_name == "s3"


def test_access_point_arn_is_signed_for_its_own_region() -> None:
    client = S3Client(region="us-east-1", credentials=CREDS)
    target = client.target("arn:aws:s3:us-west-2:123456789012:accesspoint/myap")
    assert target.base == "https://myap-123456789012.s3-accesspoint.us-west-2.amazonaws.com"
    assert target.signing_region == "us-west-2"


@pytest.mark.parametrize(
    ("options", "bucket", "message"),
    [
        (
            {"region": "cn-north-1", "use_fips": True},
            "my-bucket",
            "cannot resolve an S3 endpoint for bucket 'my-bucket': Partition does not support FIPS",
        ),
        (
            {"region": "us-east-1", "use_fips": True, "endpoint_url": "http://127.0.0.1:1"},
            "my-bucket",
            "cannot resolve an S3 endpoint for bucket 'my-bucket': A custom endpoint cannot be "
            "combined with FIPS",
        ),
        (
            {"region": "us-east-1"},
            "arn:aws:s3::123456789012:accesspoint:mfzwi23gnjvgw.mrap",
            "bucket 'arn:aws:s3::123456789012:accesspoint:mfzwi23gnjvgw.mrap' needs a signature "
            "of type sigv4a",
        ),
    ],
)
def test_impossible_endpoints_are_refused_before_any_request(
    options: dict[str, object], bucket: str, message: str
) -> None:
    client = S3Client(credentials=CREDS, **options)  # type: ignore[arg-type]
    with pytest.raises(ValueError) as caught:
        client.target(bucket)
    assert str(caught.value) == message


def test_no_region_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ValueError, match=r"^no AWS region for S3: pass region="):
        S3Client(credentials=CREDS)


# -- a hostile S3 of our own -----------------------------------------------------------------


@dataclass
class Seen:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Hostile:
    url: str
    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)


def error_xml(code: str, message: str) -> bytes:
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
        f"<Message>{message}</Message><RequestId>REQ123</RequestId></Error>"
    ).encode()


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    state = Hostile(url="")

    async def handle(request: web.Request) -> web.Response:
        state.seen.append(
            Seen(request.method, request.raw_path, dict(request.headers), await request.read())
        )
        status, headers, body = state.answers.pop(0) if state.answers else (200, {}, b"")
        return web.Response(status=status, headers=headers, body=body)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


def hostile_client(state: Hostile, settings: S3Settings = FAST) -> S3Client:
    return S3Client(
        region="us-east-1", endpoint_url=state.url, credentials=CREDS, settings=settings
    )


async def test_put_is_signed_for_s3_with_the_bodys_sha256(hostile: Hostile) -> None:
    client = hostile_client(hostile)
    body = b"payload bytes " * 1000
    try:
        await client.put_object(bucket="my-bucket", key="v0/ns/default/wi/a%2Fb/d/x", data=body)
    finally:
        await client.aclose()
    [seen] = hostile.seen
    assert seen.method == "PUT"
    # The key's own '%' is escaped once: what S3 stores is the key as given.
    assert seen.raw_path == "/my-bucket/v0/ns/default/wi/a%252Fb/d/x"
    assert seen.body == body
    assert seen.headers["X-Amz-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    auth = seen.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/s3/aws4_request" in auth
    assert "x-amz-content-sha256" in auth
    assert SECRET not in auth


async def test_get_of_empty_body_signs_the_empty_hash(hostile: Hostile) -> None:
    hostile.answers.append((200, {}, b"stored"))
    client = hostile_client(hostile)
    try:
        assert await client.get_object(bucket="my-bucket", key="k") == b"stored"
    finally:
        await client.aclose()
    assert hostile.seen[0].headers["X-Amz-Content-SHA256"] == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("status", "headers", "body", "error_type", "retryable", "message"),
    [
        (
            403,
            {},
            error_xml("AccessDenied", "Access Denied"),
            STORAGE_ACCESS_DENIED,
            False,
            "S3 GetObject [bucket=my-bucket, key=k]: AccessDenied: Access Denied "
            "(request id REQ123)",
        ),
        (
            403,
            {},
            error_xml("ExpiredToken", "The provided token has expired."),
            STORAGE_ACCESS_DENIED,
            True,
            "S3 GetObject [bucket=my-bucket, key=k]: ExpiredToken: The provided token has "
            "expired. (request id REQ123)",
        ),
        (
            301,
            {"x-amz-bucket-region": "eu-west-1"},
            error_xml(
                "PermanentRedirect",
                "The bucket you are attempting to access must be "
                "addressed using the specified endpoint.",
            ),
            STORAGE_NO_SUCH_BUCKET,
            False,
            "S3 GetObject [bucket=my-bucket, key=k]: PermanentRedirect: The bucket you are "
            "attempting to access must be addressed using the specified endpoint. (the bucket "
            "is in eu-west-1) (request id REQ123)",
        ),
        (
            400,
            {},
            error_xml("InvalidRequest", "Bad."),
            STORAGE_ERROR,
            False,
            "S3 GetObject [bucket=my-bucket, key=k]: InvalidRequest: Bad. (request id REQ123)",
        ),
    ],
)
async def test_refusals_are_typed_and_not_retried_here(
    hostile: Hostile,
    status: int,
    headers: dict[str, str],
    body: bytes,
    error_type: str,
    retryable: bool,
    message: str,
) -> None:
    hostile.answers.append((status, headers, body))
    client = hostile_client(hostile)
    try:
        with pytest.raises(StorageError) as caught:
            await client.get_object(bucket="my-bucket", key="k")
    finally:
        await client.aclose()
    err = caught.value
    assert err.type == error_type
    assert err.message == message
    assert err.non_retryable is (not retryable)
    assert err.status_code == status
    assert SECRET not in str(err)
    assert len(hostile.seen) == 1


async def test_slowdown_is_tried_again_then_raised_as_unavailable(hostile: Hostile) -> None:
    hostile.answers.extend(
        [(503, {}, error_xml("SlowDown", "Please reduce your request rate."))] * 3
    )
    client = hostile_client(hostile)
    try:
        with pytest.raises(StorageError) as caught:
            await client.put_object(bucket="my-bucket", key="k", data=b"x")
    finally:
        await client.aclose()
    err = caught.value
    assert err.type == STORAGE_UNAVAILABLE
    assert err.non_retryable is False
    assert err.message == (
        "S3 PutObject [bucket=my-bucket, key=k]: SlowDown: Please reduce your request rate. "
        "(request id REQ123)"
    )
    assert [s.method for s in hostile.seen] == ["PUT", "PUT", "PUT"]


async def test_a_5xx_then_success_succeeds(hostile: Hostile) -> None:
    hostile.answers.extend([(500, {}, error_xml("InternalError", "oops")), (200, {}, b"ok")])
    client = hostile_client(hostile)
    try:
        assert await client.get_object(bucket="my-bucket", key="k") == b"ok"
    finally:
        await client.aclose()
    assert len(hostile.seen) == 2


async def test_no_connection_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = S3Client(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        credentials=CREDS,
        settings=S3Settings(attempts=2, backoff=0.01),
    )
    try:
        with pytest.raises(StorageError) as caught:
            await client.object_exists(bucket="my-bucket", key="k")
    finally:
        await client.aclose()
    assert caught.value.type == STORAGE_UNAVAILABLE
    assert caught.value.message.startswith(
        f"S3 HeadObject [bucket=my-bucket, key=k]: no answer from "
        f"http://127.0.0.1:{port}/my-bucket ("
    )


async def test_driver_raises_the_typed_error_not_the_sdks_runtime_error(hostile: Hostile) -> None:
    hostile.answers.extend([(404, {}, b""), (403, {}, error_xml("AccessDenied", "Access Denied"))])
    client = hostile_client(hostile)
    driver = S3Driver(client, "my-bucket")
    context = StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(namespace="default", id="wf", run_id="r", type="W")
    )
    try:
        with pytest.raises(StorageError) as caught:
            await driver.store(context, [Payload(data=b"x" * 10)])
    finally:
        await driver.aclose()
    assert caught.value.type == STORAGE_ACCESS_DENIED
    assert caught.value.message.startswith(
        "S3 PutObject [bucket=my-bucket, key=v0/ns/default/wt/W/wi/wf/ri/r/d/sha256/"
    )


# -- moto's S3 ------------------------------------------------------------------------------


@pytest.fixture
def bucket(moto_url: str) -> str:  # noqa: F811
    name = f"b-{uuid.uuid4().hex[:12]}"
    boto_s3(moto_url).create_bucket(Bucket=name)
    return name


async def test_round_trip_through_moto(moto_url: str, bucket: str) -> None:  # noqa: F811
    client = S3Client(region="us-east-1", endpoint_url=moto_url, credentials=CREDS)
    driver = S3Driver(client, bucket)
    payload = Payload(metadata={"encoding": b"binary/plain"}, data=bytes(range(256)) * 20_000)
    context = StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(namespace="default", id="order/42", run_id="r1", type="W")
    )
    try:
        [claim] = await driver.store(context, [payload])
        [again] = await driver.store(context, [payload])  # same content: no second upload
        [back] = await driver.retrieve(StorageDriverRetrieveContext(), [claim])
    finally:
        await driver.aclose()
    assert back == payload
    assert again == claim
    blob = payload.SerializeToString()
    key = f"v0/ns/default/wt/W/wi/order%2F42/ri/r1/d/sha256/{hashlib.sha256(blob).hexdigest()}"
    assert claim.claim_data["key"] == key
    listed = boto_s3(moto_url).list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [key]
    assert boto_s3(moto_url).get_object(Bucket=bucket, Key=key)["Body"].read() == blob


async def test_missing_key_and_missing_bucket_in_moto(moto_url: str, bucket: str) -> None:  # noqa: F811
    client = S3Client(region="us-east-1", endpoint_url=moto_url, credentials=CREDS)
    driver = S3Driver(client, bucket)
    claim = StorageDriverClaim(
        claim_data={
            "bucket": bucket,
            "key": "v0/gone",
            "hash_algorithm": "sha256",
            "hash_value": "0",
        }
    )
    try:
        with pytest.raises(StorageError) as missing:
            await driver.retrieve(StorageDriverRetrieveContext(), [claim])
        assert await client.object_exists(bucket=bucket, key="v0/gone") is False
        with pytest.raises(StorageError) as no_bucket:
            await S3Driver(client, "no-such-bucket-here").store(
                StorageDriverStoreContext(), [Payload(data=b"x")]
            )
    finally:
        await client.aclose()
    assert missing.value.type == STORAGE_NOT_FOUND
    assert missing.value.non_retryable is True
    assert missing.value.message.startswith(
        f"S3 GetObject [bucket={bucket}, key=v0/gone]: NoSuchKey: The specified key does not exist."
    )
    assert no_bucket.value.type == STORAGE_NO_SUCH_BUCKET
    assert no_bucket.value.non_retryable is True
    assert "NoSuchBucket: The specified bucket does not exist" in no_bucket.value.message


def test_endpoint_with_userinfo_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        S3Client(
            region="us-east-1",
            endpoint_url="https://minio:hunter2-secret@127.0.0.1:9000",
            credentials=CREDS,
        )
    assert str(caught.value) == (
        "endpoint_url must not contain user information (user:password@host); S3 calls are "
        "signed with the AWS credentials (credentials= or the standard chain), not with URL "
        "credentials"
    )
    assert "hunter2" not in str(caught.value)
