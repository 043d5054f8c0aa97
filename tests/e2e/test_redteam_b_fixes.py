"""The fixes of red team B's findings, beyond the red team's own tests (tests/test_redteam_b.py).

Each test pins a decision the fixes made: the scope's canonical endpoint and function, the
fingerprint's qualifier, how codec failures at encode and decode end, records kept as
references with external storage (with the default store), what the SQLite store refuses and
tightens, what a damaged payload in local or S3 storage becomes, the S3 body bound, one
plugin given twice, and what the command line says of a result Temporal would refuse.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.converter import (
    DataConverter,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import (
    LambdaActivities,
    LambdaClient,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LambdaPlugin,
)
from temporal_lambda._activity import STORED_PAYLOADS_MARKER, _fingerprint_fields
from temporal_lambda._keys import canonical_endpoint, scoped_record_key
from temporal_lambda._request import function_scope
from temporal_lambda.idempotency import (
    SQLiteIdempotencyStore,
    StoreUnavailable,
    default_store_path,
    request_fingerprint,
)
from temporal_lambda.storage import (
    STORAGE_ERROR,
    LocalStorageDriver,
    S3Client,
    S3Driver,
    S3Settings,
    StorageError,
    local_storage,
)
from temporal_lambda.testing import LocalLambda
from tests.e2e.test_redteam_b import (
    LOCAL_CREDS,
    FlakyCodec,
    activity_env,
    assert_no_secret,
    cli,
    echo_headers_lambda_403,
    http_server,
)
from tests.support.moto_s3 import boto_s3, moto_url  # noqa: F401  (session fixture)
from tests.support.redteam_b_workflows import OneCall, OneCallWorkflow

MB = 1_000_000
UNREADABLE = (
    r"^charge already ran for idempotency key k-1, and its stored result cannot be read "
    r"\((?P<reason>.+)\); not calling it again: repair or delete the record to call it anew$"
)


class Lambda:
    """A fake Lambda behind ``httpx.MockTransport`` that counts the calls reaching it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            200, json={"n": len(self.requests)}, headers={"x-amzn-RequestId": "r1"}
        )

    def client(self) -> LambdaClient:
        return LambdaClient(
            region="us-east-1", credentials=LOCAL_CREDS, transport=httpx.MockTransport(self)
        )


def charge(**options: Any) -> LambdaInvokeRequest:
    options.setdefault("idempotency_key", "k-1")
    return LambdaInvokeRequest("charge", {"order": 1}, **options)


async def run(acts: LambdaActivities, request: LambdaInvokeRequest, attempt: int = 1) -> Any:
    return await activity_env(attempt=attempt).run(acts.invoke, request)


async def run_failing(
    acts: LambdaActivities, request: LambdaInvokeRequest, attempt: int = 1
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await run(acts, request, attempt)
    return caught.value


# -- 4/5: the scope -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelled", "canonical"),
    [
        ("HTTP://LocalHost:80/", "http://localhost"),
        ("https://lambda.us-east-1.amazonaws.com:443", "https://lambda.us-east-1.amazonaws.com"),
        ("https://LAMBDA.us-east-1.amazonaws.com/", "https://lambda.us-east-1.amazonaws.com"),
        ("http://127.0.0.1:9001/", "http://127.0.0.1:9001"),
        ("https://h:80/Base/", "https://h:80/Base"),
        ("http://[::1]:80", "http://[::1]"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
    ],
)
def test_endpoint_is_canonical_in_the_scope(spelled: str, canonical: str) -> None:
    assert canonical_endpoint(spelled) == canonical
    assert canonical_endpoint(canonical) == canonical


@pytest.mark.parametrize(
    "spelled",
    [
        "arn:aws:lambda:us-east-1:123456789012:function:charge",
        "arn:aws:lambda:us-east-1:123456789012:function:charge:live",
        "us-east-1:123456789012:function:charge",
        "123456789012:function:charge",
        "123456789012:function:charge:$LATEST",
        "123456789012:charge",
    ],
)
def test_every_spelling_with_the_account_is_account_and_name(spelled: str) -> None:
    assert function_scope(spelled) == "123456789012:charge"


def test_a_bare_name_is_its_own_scope_apart_from_the_arn() -> None:
    """Documented: which account a bare name means depends on the credentials (no STS call)."""
    assert function_scope("charge") == function_scope("charge:live") == "charge"
    assert function_scope("arn:aws:lambda:us-east-1:111111111111:function:charge") != (
        function_scope("arn:aws:lambda:us-east-1:222222222222:function:charge")
    )
    scope = {
        "namespace": "default",
        "endpoint": "https://lambda.us-east-1.amazonaws.com",
        "region": "us-east-1",
        "tenant_id": None,
        "key": "order-42",
    }
    assert scoped_record_key(function=function_scope("charge"), **scope) != scoped_record_key(
        function=function_scope("123456789012:function:charge"), **scope
    )


def test_canonical_spellings_keep_the_record_keys_of_before() -> None:
    """A store written before the canonicalisation still finds its bare-name records."""
    fields = ("default", "https://lambda.us-east-1.amazonaws.com", "us-east-1", "charge")
    material = "\x1f".join((*fields, "", "False", "order-42"))
    digest = hashlib.sha256(material.encode()).digest()
    before = "tls1-" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert before == scoped_record_key(
        namespace="default",
        endpoint="https://lambda.us-east-1.amazonaws.com",
        region="us-east-1",
        function="charge",
        tenant_id=None,
        key="order-42",
    )


# -- 12: the fingerprint's qualifier ------------------------------------------------------


def test_the_qualifier_is_fingerprinted_wherever_it_is_given() -> None:
    def fingerprint(name: str, qualifier: str | None = None) -> str:
        request = LambdaInvokeRequest(name, {"order": 1}, qualifier=qualifier)
        return request_fingerprint(_fingerprint_fields(request))

    live = fingerprint("charge:live")
    assert fingerprint("charge", "live") == live
    assert fingerprint("charge:live", "live") == live
    assert fingerprint("charge", "prod") != live
    assert fingerprint("charge") != live
    full = fingerprint("arn:aws:lambda:us-east-1:123456789012:function:charge:live")
    assert fingerprint("123456789012:function:charge", "live") == full != live


async def test_another_qualifier_with_the_same_key_is_still_refused(tmp_path: Path) -> None:
    fake = Lambda()
    async with SQLiteIdempotencyStore(tmp_path / "store.sqlite3") as store:
        acts = LambdaActivities(fake.client(), store)
        live = LambdaInvokeRequest("charge:live", {"order": 1}, idempotency_key="k-1")
        await run(acts, live)
        error = await run_failing(acts, charge(qualifier="prod"), attempt=2)
    assert (error.type, error.non_retryable) == ("Lambda.IdempotencyKeyReused", True)
    assert len(fake.requests) == 1


# -- 6/7: the store's codec failing ----------------------------------------------------------


async def test_codec_failing_at_encode_returns_the_result_and_releases_the_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The function ran: Temporal records its result; the key is free for the next attempt."""
    fake = Lambda()
    async with SQLiteIdempotencyStore(tmp_path / "store.sqlite3") as store:
        acts = LambdaActivities(fake.client(), store, payload_codec=FlakyCodec(fail_encode=1))
        with caplog.at_level(logging.WARNING):
            first = await run(acts, charge())
        rows = sqlite3.connect(store.path).execute("SELECT * FROM idempotency_records")
        assert rows.fetchall() == []
        second = await run(acts, charge(), attempt=2)
        third = await run(acts, charge(), attempt=3)
    assert isinstance(first, LambdaInvokeResult)
    assert first.payload == {"n": 1}
    assert second.payload == third.payload == {"n": 2}  # stored by the second attempt
    assert len(fake.requests) == 2
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(
        "Lambda charge succeeded but its result could not be encoded for the idempotency store "
        "(ConnectionError: key service unreachable); returning it to Temporal, which records it"
    )


async def test_codec_failing_at_decode_is_retryable_and_says_so(tmp_path: Path) -> None:
    fake = Lambda()
    codec = FlakyCodec()
    async with SQLiteIdempotencyStore(tmp_path / "store.sqlite3") as store:
        acts = LambdaActivities(fake.client(), store, payload_codec=codec)
        await run(acts, charge())
        codec.fail_decode = 1
        error = await run_failing(acts, charge(), attempt=2)
        again = await run(acts, charge(), attempt=3)
    assert (error.type, error.non_retryable) == ("Lambda.IdempotencyStoreUnavailable", False)
    assert error.message == (
        "the payload codec could not decode the stored result of charge for idempotency key "
        "k-1 (ConnectionError: key service unreachable); the function already ran and is not "
        "called again: the read is retried"
    )
    assert again.payload == {"n": 1}
    assert len(fake.requests) == 1


def _referencing_payloads() -> bytes:
    """A record's bytes holding a reference to a payload in external storage."""
    reference = Payload(metadata={"encoding": b"json/external-storage-reference"}, data=b"{}")
    reference.external_payloads.add().size_bytes = 5 * MB
    return STORED_PAYLOADS_MARKER + Payloads(payloads=[reference]).SerializeToString()


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (STORED_PAYLOADS_MARKER + b"\xff\xff\xff", r"DecodeError: .+"),
        (
            _referencing_payloads(),
            r"ValueError: it was kept in external storage, and this worker's client has no "
            r"external storage",
        ),
        (
            STORED_PAYLOADS_MARKER
            + Payloads(
                payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b"[1]")]
            ).SerializeToString(),
            r"ValueError: a stored result is a JSON object, not list",
        ),
    ],
    ids=["not-payloads", "reference-without-storage", "not-a-result"],
)
async def test_a_record_that_cannot_be_a_result_stays_unreadable(
    tmp_path: Path, stored: bytes, reason: str
) -> None:
    fake = Lambda()
    async with SQLiteIdempotencyStore(tmp_path / "store.sqlite3") as store:
        acts = LambdaActivities(fake.client(), store)
        await run(acts, charge())
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE idempotency_records SET result = ?", (stored,))
        error = await run_failing(acts, charge(), attempt=2)
    assert (error.type, error.non_retryable) == ("Lambda.IdempotencyRecordUnreadable", True)
    match = re.fullmatch(UNREADABLE, error.message)
    assert match is not None, error.message
    assert re.fullmatch(reason, match["reason"]), match["reason"]
    assert len(fake.requests) == 1


# -- 1: external storage with the default store -------------------------------------------


async def test_a_large_result_with_the_default_store_keeps_a_small_reference(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """5.9 MB from Lambda, the default SQLite store, local storage: the row is a reference."""
    monkeypatch.setenv("TEMPORAL_LAMBDA_STATE_DIR", str(tmp_path / "state"))
    size = 5_900_000
    async with LocalLambda(credentials=("testing", "testing")) as lam:
        lam.register("big", lambda event, context: "x" * event["size"], timeout=20.0)
        plugin = LambdaPlugin(
            client=LambdaClient(
                region="us-east-1", endpoint_url=lam.endpoint_url, credentials=LOCAL_CREDS
            ),
            external_storage=local_storage(tmp_path / "payloads"),
        )
        client = Client(
            dev_env.client.service_client, namespace=dev_env.client.namespace, plugins=[plugin]
        )
        call = OneCall("big", {"size": size}, options={"idempotency_key": "big-1"})
        results = []
        async with Worker(client, task_queue=task_queue, workflows=[OneCallWorkflow]):
            for _ in range(2):  # the second workflow gets the stored result, read back
                results.append(
                    await client.execute_workflow(
                        OneCallWorkflow.run,
                        call,
                        id=f"fixb-{uuid.uuid4()}",
                        task_queue=task_queue,
                        execution_timeout=timedelta(seconds=60),
                    )
                )
        calls = len(lam.records("big"))
    assert [r["length"] for r in results] == [size, size]
    assert results[0]["request_id"] == results[1]["request_id"]
    assert calls == 1
    with sqlite3.connect(default_store_path()) as conn:
        [(stored,)] = conn.execute("SELECT result FROM idempotency_records").fetchall()
    assert stored.startswith(STORED_PAYLOADS_MARKER)
    assert len(stored) < 1024, len(stored)
    stored_files = [p for p in (tmp_path / "payloads").rglob("*") if p.is_file()]
    assert any(p.stat().st_size > size for p in stored_files)


# -- 8: a planted store file, and the open's identity ------------------------------------------


async def _refusal(path: Path) -> str:
    store = SQLiteIdempotencyStore(path)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await store.begin("k", "f" * 64, lease_seconds=60.0, owner="o")
    finally:
        await store.aclose()
    assert caught.value.retryable is True
    return str(caught.value)


REFUSED_TAIL = (
    ". Results kept there could be read or replaced by another user; use a file in a "
    "directory of your own (TEMPORAL_LAMBDA_STATE_DIR, or the store's path)"
)


async def test_a_store_directory_others_may_write_to_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    message = await _refusal(shared / "store.sqlite3")
    assert message == (
        f"the SQLite idempotency store at {shared / 'store.sqlite3'} is refused: its "
        f"directory {shared} is writable by group or others (mode 0777), so another user "
        "could put their own file there; chmod 700 it" + REFUSED_TAIL
    )
    assert not (shared / "store.sqlite3").exists()


async def test_a_store_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    path = tmp_path / "link" / "store.sqlite3"
    assert await _refusal(path) == (
        f"the SQLite idempotency store at {path} is refused: its directory {tmp_path / 'link'} "
        "is a symbolic link (give the real one)" + REFUSED_TAIL
    )


@pytest.mark.parametrize("name", ["store.sqlite3", "store.sqlite3-wal"])
async def test_a_store_file_or_wal_that_is_a_symlink_is_refused(tmp_path: Path, name: str) -> None:
    target = tmp_path / "elsewhere"
    sqlite3.connect(target).close()
    (tmp_path / name).symlink_to(target)
    path = tmp_path / "store.sqlite3"
    what = "it" if name == path.name else f"its {name}"
    assert await _refusal(path) == (
        f"the SQLite idempotency store at {path} is refused: {what} is a symbolic link"
        + REFUSED_TAIL
    )


async def test_a_store_file_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("making a file owned by another user needs root")
    path = tmp_path / "store.sqlite3"
    sqlite3.connect(path).close()
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o600)
    assert await _refusal(path) == (
        f"the SQLite idempotency store at {path} is refused: it is owned by uid 65534 "
        f"(mode 0600), not by this process's user (uid 0)" + REFUSED_TAIL
    )


async def test_a_store_file_of_ours_open_to_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    sqlite3.connect(path).close()
    os.chmod(path, 0o666)
    async with SQLiteIdempotencyStore(path) as store:
        await store.begin("k", "f" * 64, lease_seconds=60.0, owner="o")
    assert os.stat(path).st_mode & 0o777 == 0o600


async def test_a_file_replaced_while_the_store_opens_it_is_noticed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The identity is taken before ``sqlite3.connect`` and checked after SQLite read the file."""
    path = tmp_path / "store.sqlite3"
    connect = sqlite3.connect
    swaps = [True]

    def replace_then_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        if swaps and args and Path(args[0]) == path:
            swaps.pop()
            replacement = tmp_path / "replacement.sqlite3"
            connect(replacement).close()
            os.chmod(replacement, 0o600)
            os.replace(replacement, path)
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", replace_then_connect)
    async with SQLiteIdempotencyStore(path) as store:
        with pytest.raises(StoreUnavailable) as caught:
            await store.begin("k", "f" * 64, lease_seconds=60.0, owner="o")
        outcome = await store.begin("k", "f" * 64, lease_seconds=60.0, owner="o")
    assert str(caught.value) == (
        f"the SQLite idempotency store at {path} was deleted or replaced while it was being "
        "opened; opening the path again for the next attempt"
    )
    assert outcome.kind == "acquired"
    with connect(path) as conn:
        assert conn.execute("SELECT key FROM idempotency_records").fetchall() != []


# -- 10: a damaged stored payload ----------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "same-size"])
async def test_local_driver_rewrites_a_damaged_file_and_keeps_a_right_one(
    tmp_path: Path, damage: str
) -> None:
    driver = LocalStorageDriver(tmp_path / "payloads")
    payload = Payload(metadata={"encoding": b"binary/plain"}, data=b"z" * 1000)
    context = StorageDriverStoreContext()
    [claim] = await driver.store(context, [payload])
    path = driver.root / claim.claim_data["key"]
    right = path.read_bytes()
    inode = path.stat().st_ino
    os.utime(path, (0, 0))
    await driver.store(context, [payload])
    assert (path.stat().st_ino, path.read_bytes()) == (inode, right)  # kept, not rewritten
    assert path.stat().st_mtime > 0  # its time refreshed
    path.write_bytes(right[:-1] if damage == "truncated" else right[:-1] + b"!")
    await driver.store(context, [payload])
    assert path.read_bytes() == right
    assert await driver.retrieve(StorageDriverRetrieveContext(), [claim]) == [payload]


def test_local_storage_root_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("making a directory owned by another user needs root")
    root = tmp_path / "payloads"
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    with pytest.raises(ValueError) as caught:
        LocalStorageDriver(root)
    assert str(caught.value) == (
        f"external storage root {root} is owned by uid 65534, not by this process's user "
        "(uid 0): its owner could read and replace payloads; use a directory of your own"
    )


@pytest.fixture
def bucket(moto_url: str) -> Iterator[str]:  # noqa: F811
    name = f"b-{uuid.uuid4().hex[:12]}"
    boto_s3(moto_url).create_bucket(Bucket=name)
    yield name


class Counting(httpx.AsyncBaseTransport):
    """A transport that counts requests per method on the way to another one."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.methods: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_s3_content_key_holding_other_bytes_is_written_again(
    moto_url: str,  # noqa: F811
    bucket: str,
) -> None:
    """PUT sends x-amz-checksum-sha256; HEAD (checksum mode) trusts only that checksum."""
    transport = Counting(httpx.AsyncHTTPTransport())
    s3 = S3Client(
        region="us-east-1", endpoint_url=moto_url, credentials=LOCAL_CREDS, transport=transport
    )
    driver = S3Driver(s3, bucket)
    payload = Payload(metadata={"encoding": b"binary/plain"}, data=b"q" * 2000)
    context = StorageDriverStoreContext()
    try:
        [claim] = await driver.store(context, [payload])
        assert transport.methods == ["HEAD", "PUT"]
        await driver.store(context, [payload])
        assert transport.methods[2:] == ["HEAD"]  # the right object: not written again
        key = claim.claim_data["key"]
        boto_s3(moto_url).put_object(Bucket=bucket, Key=key, Body=b"damaged")
        await driver.store(context, [payload])
        assert transport.methods[3:] == ["HEAD", "PUT"]
        assert await driver.retrieve(StorageDriverRetrieveContext(), [claim]) == [payload]
    finally:
        await s3.aclose()
    head = boto_s3(moto_url).head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert (
        head["ChecksumSHA256"]
        == base64.b64encode(hashlib.sha256(payload.SerializeToString()).digest()).decode()
    )


async def test_s3_get_object_is_bounded_by_the_drivers_max_payload_size(
    moto_url: str,  # noqa: F811
    bucket: str,
) -> None:
    s3 = S3Client(region="us-east-1", endpoint_url=moto_url, credentials=LOCAL_CREDS)
    assert s3.max_object_bytes == 50 * 1024 * 1024
    S3Driver(s3, bucket, max_payload_size=1000)
    assert s3.max_object_bytes == 1000
    boto_s3(moto_url).put_object(Bucket=bucket, Key="big", Body=b"0" * 1001)
    boto_s3(moto_url).put_object(Bucket=bucket, Key="fits", Body=b"0" * 1000)
    try:
        assert await s3.get_object(bucket=bucket, key="fits") == b"0" * 1000
        with pytest.raises(StorageError) as caught:
            await s3.get_object(bucket=bucket, key="big")
    finally:
        await s3.aclose()
    assert (caught.value.type, caught.value.non_retryable) == (STORAGE_ERROR, True)
    assert caught.value.message == (
        f"S3 GetObject [bucket={bucket}, key=big]: the object is larger than the 1000 bytes a "
        "stored payload may be (Content-Length 1001, none read): not a payload this driver "
        "stored (wrong endpoint or bucket?); raise S3Settings.max_object_bytes or the driver's "
        "max_payload_size if it is one"
    )
    assert S3Client(
        region="us-east-1", settings=S3Settings(max_object_bytes=10), credentials=LOCAL_CREDS
    ).max_object_bytes == (10)


async def test_s3_body_without_a_length_stops_at_the_bound() -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"\0" * 1024)
        await response.write_eof()
        return response

    async with http_server(chunked) as url:
        s3 = S3Client(
            region="us-east-1",
            endpoint_url=url,
            credentials=LOCAL_CREDS,
            settings=S3Settings(max_object_bytes=4096),
        )
        try:
            with pytest.raises(StorageError) as caught:
                await asyncio.wait_for(s3.get_object(bucket="b", key="k"), 10.0)
        finally:
            await s3.aclose()
    assert caught.value.type == STORAGE_ERROR
    assert re.search(r"\(reading stopped at \d+ bytes\)", caught.value.message)


# -- 13: two plugins on one worker --------------------------------------------------------


async def test_another_lambda_plugin_on_the_worker_is_refused(dev_env: WorkflowEnvironment) -> None:
    def plugin() -> LambdaPlugin:
        return LambdaPlugin(region="us-east-1", idempotency_store=None)

    client = Client(
        dev_env.client.service_client, namespace=dev_env.client.namespace, plugins=[plugin()]
    )
    with (
        pytest.warns(UserWarning, match="present from both client and worker"),
        pytest.raises(ValueError) as caught,
    ):
        Worker(client, task_queue="q", workflows=[OneCallWorkflow], plugins=[plugin()])
    assert str(caught.value) == (
        "this worker already has a LambdaPlugin (from its client or its plugins): give each "
        "worker one LambdaPlugin, on Client.connect or on Worker(plugins=...)"
    )


# -- 2/11 and the noticed CLI item ------------------------------------------------------------


@pytest.mark.parametrize("output", ["text", "json"])
async def test_cli_notes_a_result_a_workflow_would_get_refused(output: str) -> None:
    async with LocalLambda(credentials=None) as lam:
        lam.register("big", lambda event, context: "x" * event["size"], timeout=10.0)
        code, out, err = await cli(
            "invoke",
            "big",
            "--payload",
            json.dumps({"size": 3 * MB}),
            "--region",
            "us-east-1",
            "--endpoint-url",
            lam.endpoint_url,
            *(["--json"] if output == "json" else []),
        )
        small = await cli(
            "invoke",
            "big",
            "--payload",
            '{"size": 10}',
            "--region",
            "us-east-1",
            "--endpoint-url",
            lam.endpoint_url,
            "--json",
        )

    def note(size: int) -> str:
        return (
            "A workflow would get ApplicationError type=Lambda.ResultTooLargeForTemporal (not "
            f"retried): this result is {size} bytes once encoded for Temporal, over its "
            "default payload limit of 2097152 bytes, unless the worker's client has external "
            "storage (LambdaPlugin(external_storage=...)), which keeps it outside the workflow "
            "history"
        )

    assert code == 0, err
    if output == "json":
        data = json.loads(out)
        # The size as Temporal frames it: the completion's Payloads of the result.
        [payload] = DataConverter.default.payload_converter.to_payloads(
            [LambdaInvokeResult(**data["result"])]
        )
        size = Payloads(payloads=[payload]).ByteSize()
        assert size > 3 * MB
        assert (data["kind"], data["notes"]) == ("success", [note(size)])
    else:
        shown = " ".join(out[out.index("A workflow would get") :].split())
        size = int(re.search(r"this result is (\d+) bytes", shown)[1])  # type: ignore[index]
        assert shown == note(size)
    assert json.loads(small[1])["notes"] == []


async def test_cli_through_temporal_scrubs_secrets_echoed_by_the_server(
    dev_env: WorkflowEnvironment,
) -> None:
    async with http_server(echo_headers_lambda_403) as url:
        code, out, err = await cli(
            "invoke",
            "charge",
            "--region",
            "us-east-1",
            "--endpoint-url",
            url,
            "--through-temporal",
            "--max-attempts",
            "1",
            TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        )
    assert code == 4, (code, out, err)
    assert "Lambda.AccessDeniedException" in out
    assert_no_secret(out + err)
