"""InvokeWithResponseStream end to end: workflow → dev server → worker + plugin → a stream.

The streams come from LocalLambda over sockets (its generator handlers send real event-stream
frames) or from a hostile server of this module's own (tests/stream_server.py); large results
cross Temporal through external storage (a local directory, or moto's S3 server).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.converter import ExternalStorage
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import LambdaClient, LambdaPlugin
from temporal_lambda.storage import local_storage, s3_storage
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.moto_s3 import boto_s3, moto_url  # noqa: F401  (session fixture)
from tests.support.stream_handlers import MB, chunks, streamed
from tests.support.stream_server import HostileStream, frames_of
from tests.support.stream_workflows import StreamCall, StreamWorkflow

HISTORY_LIMIT = 64 * 1024
CREDS = Credentials("testing", "testing")


def binary(event: Any, context: LambdaContext) -> Iterator[bytes]:
    for _ in range(int((event or {}).get("times", 1))):
        yield bytes(range(256)) * 4


def fails_midway(event: Any, context: LambdaContext) -> Iterator[bytes]:
    yield b"first part\n"
    print("about to fail")
    raise ValueError("the model ran out of tokens")


async def slow(event: Any, context: LambdaContext) -> AsyncIterator[bytes]:
    """Stream a small chunk every 100 ms for a minute; note when the caller went away."""
    try:
        for _ in range(600):
            yield b"tick\n"
            await asyncio.sleep(0.1)
    finally:
        SLOW_ENDED.append(time.monotonic())


SLOW_ENDED: list[float] = []


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=("testing", "testing"), stream_throttle=False) as emulator:
        for name, handler in (
            ("chunks", chunks),
            ("binary", binary),
            ("fails_midway", fails_midway),
            ("slow", slow),
        ):
            emulator.register(name, handler, timeout=120.0)
        yield emulator


def plugin_for(endpoint_url: str, storage: ExternalStorage | None) -> LambdaPlugin:
    return LambdaPlugin(
        client=LambdaClient(region="us-east-1", endpoint_url=endpoint_url, credentials=CREDS),
        idempotency_store=None,
        external_storage=storage,
    )


def client_for(env: WorkflowEnvironment, plugin: LambdaPlugin) -> Client:
    return Client(env.client.service_client, namespace=env.client.namespace, plugins=[plugin])


async def run(
    client: Client, task_queue: str, call: StreamCall
) -> tuple[WorkflowHandle[Any, Any], dict[str, Any]]:
    async with Worker(client, task_queue=task_queue, workflows=[StreamWorkflow]):
        handle = await client.start_workflow(
            StreamWorkflow.run,
            call,
            id=f"stream-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=90),
        )
        return handle, await handle.result()


async def failure(client: Client, task_queue: str, call: StreamCall) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as info:
        await run(client, task_queue, call)
    cause = info.value.cause
    if isinstance(cause, ActivityError):
        cause = cause.cause
    assert isinstance(cause, ApplicationError), repr(cause)
    return cause


async def history_size(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(event.ByteSize() for event in history.events)


def files(directory: Path, pattern: str = "*") -> list[Path]:
    return [path for path in directory.rglob(pattern) if path.is_file()]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- small streams, inline ------------------------------------------------------------------


async def test_small_stream_arrives_inline_with_its_log_tail_qualifier_context_and_tenant(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, None))
    call = StreamCall(
        "chunks",
        {"size": 10_000, "chunk": 1000},
        log_type="Tail",
        qualifier="$LATEST",
        tenant_id="tenant-7",
        client_context={"custom": {"who": "test"}},
        keep_payload=True,
    )
    _handle, result = await run(client, task_queue, call)
    data = streamed(10_000, 1000)
    assert result["payload"] == data.decode()
    assert (result["status_code"], result["size"], result["chunks"]) == (200, 10_000, 10)
    assert (result["sha256"], result["encoding"]) == (sha(data), "text")
    assert "streamed 10000" in result["log_tail"]
    assert result["executed_version"] == "$LATEST"
    (record,) = lam.records("chunks")
    assert record.api == "InvokeWithResponseStream"
    assert (record.qualifier, record.tenant_id) == ("$LATEST", "tenant-7")
    context = record.client_context_json()
    assert context["custom"]["who"] == "test"
    assert context["custom"]["idempotency_key"] == result["key"]
    (request,) = [r for r in lam.requests() if "response-streaming" in r.path]
    assert request.path == "/2021-11-15/functions/chunks/response-streaming-invocations"
    assert request.query == "Qualifier=%24LATEST"


async def test_binary_stream_is_base64(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, None))
    _handle, result = await run(client, task_queue, StreamCall("binary", keep_payload=True))
    data = bytes(range(256)) * 4
    assert result["encoding"] == "base64"
    assert base64.b64decode(result["payload"]) == data
    assert (result["size"], result["sha256"]) == (1024, sha(data))


async def test_dry_run_answers_204_with_nothing_streamed(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, None))
    _handle, result = await run(
        client, task_queue, StreamCall("chunks", {"size": 10}, invocation_type="DryRun")
    )
    assert (result["status_code"], result["size"], result["chunks"]) == (204, 0, 0)
    assert (result["encoding"], result["payload_length"], result["sha256"]) == (
        "empty",
        None,
        None,
    )


async def test_event_is_refused_in_the_workflow_before_anything_is_sent(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, None))
    with pytest.raises(WorkflowFailureError) as info:
        await run(client, task_queue, StreamCall("chunks", {"size": 10}, invocation_type="Event"))
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "Lambda.ValidationError"
    assert cause.non_retryable
    assert cause.message == (
        "InvokeWithResponseStream takes invocation type RequestResponse or DryRun, "
        "not 'Event'; nothing was sent"
    )
    assert lam.invocations == []


# -- large streams, through external storage ------------------------------------------------


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "payloads"


async def test_20mb_stream_reaches_the_workflow_through_the_local_driver(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str, store_dir: Path
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, local_storage(store_dir)))
    size = 20 * MB
    handle, result = await run(client, task_queue, StreamCall("chunks", {"size": size}))
    data = streamed(size)
    assert (result["size"], result["chunks"], result["sha256"]) == (size, 20, sha(data))
    assert (result["encoding"], result["payload_length"]) == ("text", size)
    assert result["payload_sha256"] == sha(data)
    assert await history_size(handle) < HISTORY_LIMIT
    stored = files(store_dir)
    assert len(stored) == 1
    assert stored[0].stat().st_size > size
    assert stored[0].stat().st_mode & 0o777 == 0o600
    assert not files(store_dir, ".tmp-*")


async def test_20mb_stream_reaches_the_workflow_through_s3(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    moto_url: str,  # noqa: F811
) -> None:
    bucket = f"stream-{uuid.uuid4().hex[:12]}"
    boto_s3(moto_url).create_bucket(Bucket=bucket)
    storage = s3_storage(bucket, region="us-east-1", endpoint_url=moto_url, credentials=CREDS)
    client = client_for(dev_env, plugin_for(lam.endpoint_url, storage))
    size = 20 * MB
    handle, result = await run(client, task_queue, StreamCall("chunks", {"size": size}))
    assert (result["size"], result["payload_sha256"]) == (size, sha(streamed(size)))
    assert await history_size(handle) < HISTORY_LIMIT
    assert boto_s3(moto_url).list_objects_v2(Bucket=bucket)["KeyCount"] == 1


async def test_large_binary_stream_is_stored_as_base64_through_the_local_driver(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str, store_dir: Path
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, local_storage(store_dir)))
    handle, result = await run(
        client, task_queue, StreamCall("binary", {"times": 1000}, keep_payload=True)
    )
    data = (bytes(range(256)) * 4) * 1000
    assert (result["encoding"], result["size"], result["chunks"]) == ("base64", len(data), 1000)
    assert base64.b64decode(result["payload"]) == data
    assert result["sha256"] == sha(data)
    assert len(files(store_dir)) == 2  # the result, then the workflow's own result (> 256 KiB)
    assert await history_size(handle) < HISTORY_LIMIT


async def test_stream_over_the_payload_limit_without_external_storage_is_refused(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, None))
    error = await failure(client, task_queue, StreamCall("chunks", {"size": 3 * MB}))
    assert error.type == "Lambda.ResultTooLargeForTemporal"
    assert error.non_retryable
    request_id = lam.records("chunks")[0].request_id
    assert error.message == (
        f"Lambda function chunks streamed a response (request id {request_id}) of "
        f"{3 * MB} bytes, over Temporal's payload limit of {2 * MB} bytes, and the worker's "
        "client has no external storage. Not retried, since a retry would run the function "
        "again: pass LambdaPlugin(external_storage=...) to Client.connect (e.g. "
        "temporal_lambda.storage.s3_storage or local_storage) to receive large streams"
    )
    assert len(lam.records("chunks")) == 1


# -- failures -------------------------------------------------------------------------------


async def test_error_mid_stream_is_the_functions_typed_error_counted_and_bounded(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, None))
    call = StreamCall("fails_midway", log_type="Tail", max_attempts=5, function_error_attempts=2)
    error = await failure(client, task_queue, call)
    assert error.type == "ValueError"
    assert error.message == (
        "the model ran out of tokens (function failed on 2 of 2 allowed attempts)"
    )
    assert error.non_retryable
    (details,) = error.details
    assert details["function_error_attempts"] == 2
    assert "about to fail" in details["log_tail"]
    assert details["request_id"] == lam.records("fails_midway")[-1].request_id
    assert len(lam.records("fails_midway")) == 2


async def test_stream_cut_before_invoke_complete_is_a_retryable_transport_error(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    client = client_for(dev_env, plugin_for(lam.endpoint_url, None))
    lam.faults.inject("drop", 1, function="chunks")
    error = await failure(client, task_queue, StreamCall("chunks", {"size": 1000}))
    assert error.type == "Lambda.SdkClientException"
    assert not error.non_retryable
    # The emulator cuts the connection mid-answer: what the socket says, and how far it got.
    assert re.fullmatch(
        r"POST http://127\.0\.0\.1:\d+/2021-11-15/functions/chunks/response-streaming-"
        r"invocations: connection failed \(ReadError: .*\)( \(the stream broke after 1000 "
        r"bytes in 1 chunks, before InvokeComplete\))?",
        error.message,
    ), error.message
    # Retried, the next attempt gets the whole stream.
    lam.faults.inject("drop", 1, function="chunks")
    _handle, result = await run(
        client, task_queue, StreamCall("chunks", {"size": 1000}, max_attempts=2)
    )
    assert result["size"] == 1000
    assert len(lam.records("chunks")) == 3


async def test_cancellation_stops_the_stream_within_seconds_and_progress_is_heartbeated(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    SLOW_ENDED.clear()
    client = client_for(dev_env, plugin_for(lam.endpoint_url, None))
    async with Worker(client, task_queue=task_queue, workflows=[StreamWorkflow]):
        handle = await client.start_workflow(
            StreamWorkflow.run,
            StreamCall("slow", heartbeat_seconds=3.0),
            id=f"stream-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        details = await heartbeat_details(handle)
        assert details["phase"] == "streaming from Lambda"
        assert details["received_bytes"] > 0
        assert details["received_chunks"] > 0
        assert details["received_bytes"] == 5 * details["received_chunks"]
        cancelled_at = time.monotonic()
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, CancelledError)
    assert len(SLOW_ENDED) == 1
    assert SLOW_ENDED[0] - cancelled_at < 5.0
    (record,) = lam.records("slow")
    assert record.client_disconnected


async def heartbeat_details(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The pending activity's last heartbeat with bytes received, within 15 s."""
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            if pending.heartbeat_details.payloads:
                converter = handle._client.data_converter
                (details,) = await converter.decode(pending.heartbeat_details.payloads)
                if details.get("received_bytes"):
                    return dict(details)
        await asyncio.sleep(0.3)
    raise AssertionError("no heartbeat with progress within 15 s")


async def test_stream_over_200mb_is_cut_with_a_non_retryable_error(
    dev_env: WorkflowEnvironment, task_queue: str, store_dir: Path
) -> None:
    frame = frames_of(b"z" * MB)
    async with HostileStream(lambda: (frame for _ in range(400))) as server:
        client = client_for(dev_env, plugin_for(server.endpoint_url, local_storage(store_dir)))
        started = time.monotonic()
        error = await failure(client, task_queue, StreamCall("big", max_attempts=3))
        assert time.monotonic() - started < 30
        assert server.requests == 1
        assert server.sent < 210 * MB
    assert error.type == "Lambda.ResponseTooLarge"
    assert error.non_retryable
    limit = 200 * MB
    assert error.message.endswith(
        f"/2021-11-15/functions/big/response-streaming-invocations: the streamed response is "
        f"larger than Lambda's {limit} bytes (reading stopped at {limit + MB} bytes, 201 "
        "chunks); the function ran, so this is not retried"
    )
    (details,) = error.details
    assert (details["bytes_read"], details["limit"]) == (limit + MB, limit)
    assert not files(store_dir)


async def test_a_stream_that_ends_cleanly_without_invoke_complete_is_retryable(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with HostileStream(lambda: iter([frames_of(b"only this")])) as server:
        client = client_for(dev_env, plugin_for(server.endpoint_url, None))
        error = await failure(client, task_queue, StreamCall("f", max_attempts=2))
        assert server.requests == 2
    assert error.type == "Lambda.SdkClientException"
    assert not error.non_retryable
    assert error.message == (
        f"POST {server.endpoint_url}/2021-11-15/functions/f/response-streaming-invocations: "
        "the stream ended after 9 bytes in 1 chunks without InvokeComplete (the connection "
        "closed early); the function may have run"
    )


async def test_a_malformed_frame_is_a_retryable_transport_error(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    good = frames_of(b"fine")
    bad = bytearray(frames_of(b"broken"))
    bad[-1] ^= 0xFF  # the message CRC no longer matches
    async with HostileStream(lambda: iter([good, bytes(bad)])) as server:
        client = client_for(dev_env, plugin_for(server.endpoint_url, None))
        error = await failure(client, task_queue, StreamCall("f"))
    assert error.type == "Lambda.SdkClientException"
    assert not error.non_retryable
    assert "the event stream is malformed after 4 bytes in 1 chunks (ChecksumMismatch" in (
        error.message
    )
