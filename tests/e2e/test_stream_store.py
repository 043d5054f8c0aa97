"""Streamed calls and the idempotency store: one logical call is one call once a result is kept.

Through the dev server and LocalLambda (real sockets), with a SQLite store of the test's own:
a stored result is returned without calling again, a live lease waits, a key reused for
another request (or for an ``Invoke``) is refused, a 20 MiB stream kept in local external
storage leaves a record of a reference only, and a function failing mid-stream releases the
record so the retry calls again.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from temporalio.converter import ExternalStorage
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from temporal_lambda import LambdaClient, LambdaInvokeRequest, LambdaPlugin
from temporal_lambda._activity import (
    STORED_PAYLOADS_MARKER,
    LambdaActivities,
    _fingerprint_fields,
)
from temporal_lambda._keys import scoped_record_key
from temporal_lambda._stream_activity import LambdaStreamActivities
from temporal_lambda._types import LambdaStreamResult
from temporal_lambda.idempotency import SQLiteIdempotencyStore, request_fingerprint
from temporal_lambda.storage import local_storage, s3_storage
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.e2e.test_store_edges import XorCodec
from tests.e2e.test_stream import HISTORY_LIMIT, client_for, failure, history_size, run, sha
from tests.support.activity_env import make_env
from tests.support.moto_s3 import boto_s3, moto_url  # noqa: F401  (session fixture)
from tests.support.stream_handlers import MB, chunks, streamed
from tests.support.stream_workflows import StreamCall

CREDS = Credentials("testing", "testing")
REGION = "us-east-1"
SMALL = {"size": 10_000, "chunk": 1000}


def fails_midway(event: Any, context: LambdaContext) -> Iterator[bytes]:
    yield b"first part\n"
    raise ValueError("the model ran out of tokens")


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=("testing", "testing"), stream_throttle=False) as emulator:
        emulator.register("chunks", chunks, timeout=120.0)
        emulator.register("fails_midway", fails_midway, timeout=120.0)
        yield emulator


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "stream-store.sqlite3"


@pytest.fixture
async def store(store_path: Path) -> AsyncIterator[SQLiteIdempotencyStore]:
    store = SQLiteIdempotencyStore(store_path)
    yield store
    await store.aclose()


def lambda_client(lam: LocalLambda) -> LambdaClient:
    return LambdaClient(region=REGION, endpoint_url=lam.endpoint_url, credentials=CREDS)


def plugin_for(
    lam: LocalLambda, store: SQLiteIdempotencyStore, storage: ExternalStorage | None = None
) -> LambdaPlugin:
    return LambdaPlugin(
        client=lambda_client(lam), idempotency_store=store, external_storage=storage
    )


def record_of(lam: LocalLambda, function: str, key: str) -> str:
    """The store's record key of a call with caller key ``key``, scoped as the activity does."""
    return scoped_record_key(
        namespace="default",
        endpoint=lam.endpoint_url,
        region=REGION,
        function=function,
        tenant_id=None,
        key=key,
    )


def row(store_path: Path, record: str) -> tuple[str, bytes | None] | None:
    """The record's status and stored result, read from the SQLite file itself."""
    with sqlite3.connect(store_path) as db:
        found = db.execute(
            "SELECT status, result FROM idempotency_records WHERE key = ?", (record,)
        ).fetchone()
    return None if found is None else (found[0], found[1])


def stream_fingerprint(request: LambdaInvokeRequest) -> str:
    return request_fingerprint({**_fingerprint_fields(request), "api": "InvokeWithResponseStream"})


async def seed(lam: LocalLambda, store: SQLiteIdempotencyStore, key: str) -> LambdaStreamResult:
    """Run one attempt of the stream activity outside Temporal: its result is stored, and
    Temporal never hears of it (a completion lost with its worker)."""
    client = lambda_client(lam)
    try:
        activities = LambdaStreamActivities(LambdaActivities(client, store))
        request = LambdaInvokeRequest("chunks", SMALL, idempotency_key=key)
        result = await make_env().run(activities.invoke_stream, request)
    finally:
        await client.aclose()
    assert isinstance(result, LambdaStreamResult)
    return result


async def test_a_stream_whose_completion_was_lost_returns_the_stored_result_without_calling(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    store: SQLiteIdempotencyStore,
    store_path: Path,
) -> None:
    key = f"lost-{uuid.uuid4().hex}"
    first = await seed(lam, store, key)
    assert first.sha256 == sha(streamed(10_000, 1000))
    assert len(lam.records("chunks")) == 1
    stored = row(store_path, record_of(lam, "chunks", key))
    assert stored is not None and stored[0] == "COMPLETED"

    client = client_for(dev_env, plugin_for(lam, store))
    call = StreamCall("chunks", SMALL, idempotency_key=key, keep_payload=True)
    _, result = await run(client, task_queue, call)
    assert (result["sha256"], result["size"], result["chunks"]) == (first.sha256, 10_000, 10)
    assert result["request_id"] == first.request_id
    assert result["payload"] == first.payload
    assert result["key"] == key
    assert len(lam.records("chunks")) == 1


async def test_a_live_lease_of_an_earlier_stream_attempt_is_in_progress_and_sends_nothing(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    store: SQLiteIdempotencyStore,
) -> None:
    key = f"held-{uuid.uuid4().hex}"
    request = LambdaInvokeRequest("chunks", SMALL, idempotency_key=key)
    held = await store.begin(
        record_of(lam, "chunks", key),
        stream_fingerprint(request),
        lease_seconds=120,
        owner="crashed-worker",
    )
    assert held.kind == "acquired"
    client = client_for(dev_env, plugin_for(lam, store))
    error = await failure(client, task_queue, StreamCall("chunks", SMALL, idempotency_key=key))
    assert error.type == "Lambda.IdempotencyInProgress"
    assert not error.non_retryable
    assert re.fullmatch(
        rf"an earlier attempt of this call \(key {key}\) may still be waiting for Lambda; "
        r"not calling again until its lease ends in \d+\.\d s",
        error.message,
    ), error.message
    assert lam.records("chunks") == []


async def test_a_key_reused_for_another_stream_or_for_an_invoke_is_refused(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    store: SQLiteIdempotencyStore,
) -> None:
    key = f"reused-{uuid.uuid4().hex}"
    client = client_for(dev_env, plugin_for(lam, store))
    await run(client, task_queue, StreamCall("chunks", SMALL, idempotency_key=key))
    assert len(lam.records("chunks")) == 1

    other = StreamCall("chunks", {"size": 20_000, "chunk": 1000}, idempotency_key=key)
    error = await failure(client, task_queue, other)
    expected = (
        f"idempotency key {key} was already used for a different request; "
        "give each logical call its own key"
    )
    assert (error.type, error.message, error.non_retryable) == (
        "Lambda.IdempotencyKeyReused",
        expected,
        True,
    )

    # The same function, payload and key through Invoke is another call, not the stream's.
    lambda_ = lambda_client(lam)
    try:
        invoke = LambdaActivities(lambda_, store).invoke
        with pytest.raises(ApplicationError) as info:
            await make_env().run(invoke, LambdaInvokeRequest("chunks", SMALL, idempotency_key=key))
    finally:
        await lambda_.aclose()
    assert (info.value.type, info.value.message, info.value.non_retryable) == (
        "Lambda.IdempotencyKeyReused",
        expected,
        True,
    )
    assert len(lam.records("chunks")) == 1


async def test_a_20mib_stream_in_local_storage_keeps_a_reference_and_is_not_called_again(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    store: SQLiteIdempotencyStore,
    store_path: Path,
    tmp_path: Path,
) -> None:
    key = f"large-{uuid.uuid4().hex}"
    size = 20 * MB
    storage = local_storage(tmp_path / "payloads")
    client = client_for(dev_env, plugin_for(lam, store, storage))
    call = StreamCall("chunks", {"size": size}, idempotency_key=key)
    _, first = await run(client, task_queue, call)
    digest = sha(streamed(size))
    assert (first["size"], first["chunks"], first["sha256"]) == (size, 20, digest)
    stored = row(store_path, record_of(lam, "chunks", key))
    assert stored is not None
    status, data = stored
    assert status == "COMPLETED"
    assert data is not None and data.startswith(STORED_PAYLOADS_MARKER)
    assert len(data) < 2048

    handle, again = await run(client, task_queue, call)
    assert (again["size"], again["sha256"], again["payload_sha256"]) == (size, digest, digest)
    assert again["request_id"] == first["request_id"]
    assert await history_size(handle) < HISTORY_LIMIT
    assert len(lam.records("chunks")) == 1


async def test_a_store_codec_of_its_own_keeps_a_large_stream_readable(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    store: SQLiteIdempotencyStore,
    store_path: Path,
    tmp_path: Path,
) -> None:
    """A store given its own codec: the stream goes through the SDK's storage, not straight
    into the local driver, so the stored reference is one the store's converter resolves."""
    key = f"codec-{uuid.uuid4().hex}"
    temporal = client_for(dev_env, plugin_for(lam, store, local_storage(tmp_path / "payloads")))
    lambda_ = lambda_client(lam)
    try:
        stream = LambdaStreamActivities(LambdaActivities(lambda_, store, payload_codec=XorCodec()))
        request = LambdaInvokeRequest("chunks", {"size": MB}, idempotency_key=key)
        first = await ActivityEnvironment(temporal).run(stream.invoke_stream, request)
        again = await ActivityEnvironment(temporal).run(stream.invoke_stream, request)
    finally:
        await lambda_.aclose()
    assert isinstance(first, LambdaStreamResult) and isinstance(again, LambdaStreamResult)
    assert again == first
    assert first.sha256 == sha(streamed(MB))
    stored = row(store_path, record_of(lam, "chunks", key))
    assert stored is not None and stored[1] is not None
    assert stored[1].startswith(STORED_PAYLOADS_MARKER) and len(stored[1]) < 2048
    assert len(lam.records("chunks")) == 1


async def test_a_20mib_stream_in_s3_keeps_a_reference_and_is_not_called_again(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    store: SQLiteIdempotencyStore,
    store_path: Path,
    moto_url: str,  # noqa: F811
) -> None:
    bucket = f"stream-store-{uuid.uuid4().hex[:12]}"
    boto_s3(moto_url).create_bucket(Bucket=bucket)
    storage = s3_storage(bucket, region=REGION, endpoint_url=moto_url, credentials=CREDS)
    key = f"s3-{uuid.uuid4().hex}"
    size = 20 * MB
    client = client_for(dev_env, plugin_for(lam, store, storage))
    call = StreamCall("chunks", {"size": size}, idempotency_key=key)
    _, first = await run(client, task_queue, call)
    stored = row(store_path, record_of(lam, "chunks", key))
    assert stored is not None
    status, data = stored
    assert status == "COMPLETED"
    assert data is not None and data.startswith(STORED_PAYLOADS_MARKER)
    assert len(data) < 2048

    handle, again = await run(client, task_queue, call)
    assert (again["size"], again["sha256"]) == (size, first["sha256"])
    assert again["sha256"] == sha(streamed(size))
    assert again["request_id"] == first["request_id"]
    assert await history_size(handle) < HISTORY_LIMIT
    assert len(lam.records("chunks")) == 1


async def test_a_function_failing_mid_stream_releases_the_record_so_the_retry_calls_again(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    store: SQLiteIdempotencyStore,
    store_path: Path,
) -> None:
    key = f"fails-{uuid.uuid4().hex}"
    client = client_for(dev_env, plugin_for(lam, store))
    call = StreamCall(
        "fails_midway", max_attempts=2, function_error_attempts=2, idempotency_key=key
    )
    error = await failure(client, task_queue, call)
    assert (error.type, error.message, error.non_retryable) == (
        "ValueError",
        "the model ran out of tokens (function failed on 2 of 2 allowed attempts)",
        True,
    )
    assert len(lam.records("fails_midway")) == 2
    assert row(store_path, record_of(lam, "fails_midway", key)) is None
