"""Large payloads through Temporal's external storage, end to end on the dev server.

Workflow → dev server (which enforces the 2 MB payload limit) → worker + plugin → LocalLambda
over sockets, with the payloads in moto's S3 server or in a local directory.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import LambdaClient, LambdaPlugin
from temporal_lambda.storage import (
    STORAGE_ERROR,
    STORAGE_NO_SUCH_BUCKET,
    STORAGE_NOT_FOUND,
    STORAGE_UNAVAILABLE,
    LocalStorageDriver,
    S3Settings,
    StorageError,
    local_storage,
    s3_storage,
)
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.extstore_workflows import BigCall, BigPayloadWorkflow, big_text, digest
from tests.support.moto_s3 import boto_s3, moto_url  # noqa: F401  (session fixture)

MB = 1024 * 1024
HISTORY_LIMIT = 64 * 1024
CREDS = Credentials("testing", "testing")


def measure(event: Any, context: LambdaContext) -> Any:
    if isinstance(event, str):
        return {"size": len(event), "sha256": digest(event)}
    return big_text(int(event["return_size"]))


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=("testing", "testing")) as emulator:
        emulator.register("measure", measure, timeout=60.0)
        yield emulator


@pytest.fixture
def bucket(moto_url: str) -> str:  # noqa: F811
    name = f"e2e-{uuid.uuid4().hex[:12]}"
    boto_s3(moto_url).create_bucket(Bucket=name)
    return name


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "payloads"


@pytest.fixture(params=["local", "s3"])
def storage_factory(request: pytest.FixtureRequest, store_dir: Path) -> Iterator[tuple[str, Any]]:
    """A function building a fresh ExternalStorage on the same place (as a restarted worker)."""
    if request.param == "local":
        yield "local", lambda: local_storage(store_dir)
    else:
        url = request.getfixturevalue("moto_url")
        name = request.getfixturevalue("bucket")
        yield (
            "s3",
            lambda: s3_storage(name, region="us-east-1", endpoint_url=url, credentials=CREDS),
        )


def plugin_for(lam: LocalLambda, storage: ExternalStorage) -> LambdaPlugin:
    return LambdaPlugin(
        client=LambdaClient(region="us-east-1", endpoint_url=lam.endpoint_url, credentials=CREDS),
        idempotency_store=None,
        external_storage=storage,
    )


def client_for(env: WorkflowEnvironment, plugin: LambdaPlugin) -> Client:
    return Client(env.client.service_client, namespace=env.client.namespace, plugins=[plugin])


@asynccontextmanager
async def worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(client, task_queue=task_queue, workflows=[BigPayloadWorkflow]) as w:
        yield w


async def start(client: Client, task_queue: str, call: BigCall) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        BigPayloadWorkflow.run,
        call,
        id=f"big-{uuid.uuid4()}",
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=60),
    )


async def history_size(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(event.ByteSize() for event in history.events)


async def wait_for_event(handle: WorkflowHandle[Any, Any], kind: int) -> Any:
    timeout = 15.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in (await handle.fetch_history()).events:
            if event.event_type == kind:
                return event
        await asyncio.sleep(0.2)
    raise AssertionError(f"no event {EventType.Name(kind)} within {timeout} s")


def stored_count(kind: str, store_dir: Path, moto: str | None, bucket: str | None) -> int:
    if kind == "local":
        return sum(1 for p in store_dir.rglob("*") if p.is_file())
    listed = boto_s3(moto).list_objects_v2(Bucket=bucket)
    return int(listed.get("KeyCount", 0))


def application_errors(err: BaseException) -> list[ApplicationError]:
    found = []
    current: BaseException | None = err
    while current is not None:
        if isinstance(current, ApplicationError):
            found.append(current)
        current = current.__cause__
    return found


# -- both directions ------------------------------------------------------------------------


async def test_workflow_sends_5mb_and_the_function_gets_it_byte_for_byte(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    storage_factory: tuple[str, Any],
    store_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    kind, make = storage_factory
    client = client_for(dev_env, plugin_for(lam, make()))
    size = 5 * MB
    async with worker(client, task_queue):
        handle = await start(client, task_queue, BigCall("measure", request_size=size))
        result = await handle.result()
    assert result["received"] == {"size": size, "sha256": digest(big_text(size))}
    assert await history_size(handle) < HISTORY_LIMIT
    moto = request.getfixturevalue("moto_url") if kind == "s3" else None
    bucket = request.getfixturevalue("bucket") if kind == "s3" else None
    assert stored_count(kind, store_dir, moto, bucket) >= 1


async def test_function_returns_5_9mb_and_the_workflow_gets_it(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    storage_factory: tuple[str, Any],
) -> None:
    _kind, make = storage_factory
    client = client_for(dev_env, plugin_for(lam, make()))
    size = int(5.9 * MB) - 2  # the JSON string's quotes make it 5.9 MB on the wire
    async with worker(client, task_queue):
        handle = await start(client, task_queue, BigCall("measure", response_size=size))
        result = await handle.result()
    assert result["returned_size"] == size
    assert result["returned_sha256"] == digest(big_text(size))
    assert await history_size(handle) < HISTORY_LIMIT


async def test_request_over_6mb_is_refused_before_sending(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str, store_dir: Path
) -> None:
    client = client_for(dev_env, plugin_for(lam, local_storage(store_dir)))
    async with worker(client, task_queue):
        handle = await start(client, task_queue, BigCall("measure", request_size=6_400_000))
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    [err, *_] = [e for e in application_errors(caught.value) if e.type == "Lambda.ValidationError"]
    assert err.non_retryable is True
    assert "6291456" in err.message.replace(",", "").replace("_", "")
    assert lam.invocations == []


# -- restart, missing objects, S3 errors, wrong bucket --------------------------------------


async def test_worker_restart_between_store_and_retrieve(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    storage_factory: tuple[str, Any],
) -> None:
    _kind, make = storage_factory
    size = 3 * MB
    first = client_for(dev_env, plugin_for(lam, make()))
    async with worker(first, task_queue):
        handle = await start(
            first, task_queue, BigCall("measure", response_size=size, wait_for_signal=True)
        )
        await wait_for_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    # A new process: new client, plugin and storage objects on the same bucket / directory.
    second = client_for(dev_env, plugin_for(lam, make()))
    async with worker(second, task_queue):
        await second.get_workflow_handle(handle.id).signal(BigPayloadWorkflow.proceed)
        result = await second.get_workflow_handle(handle.id).result()
    assert result["returned_sha256"] == digest(big_text(size))
    assert len(lam.invocations) == 1


async def test_payload_removed_before_a_replay_fails_the_workflow_typed(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str, store_dir: Path
) -> None:
    """A non-retryable ApplicationError while decoding an activation fails the workflow."""
    first = client_for(dev_env, plugin_for(lam, local_storage(store_dir)))
    async with worker(first, task_queue):
        handle = await start(
            first, task_queue, BigCall("measure", response_size=3 * MB, wait_for_signal=True)
        )
        await wait_for_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    removed = LocalStorageDriver(store_dir).expire(timedelta(microseconds=1))
    assert removed >= 1
    second = client_for(dev_env, plugin_for(lam, local_storage(store_dir)))
    async with worker(second, task_queue):
        await second.get_workflow_handle(handle.id).signal(BigPayloadWorkflow.proceed)
        with pytest.raises(WorkflowFailureError) as caught:
            await second.get_workflow_handle(handle.id).result()
    err = caught.value.cause
    assert isinstance(err, ApplicationError)
    assert err.type == STORAGE_NOT_FOUND
    assert err.non_retryable is True
    assert err.message.startswith("stored payload v0/ns/default/d/sha256/")
    assert err.message.endswith(
        f"is not in {store_dir} (removed by clean-up, or this worker uses another directory)"
    )
    assert len(lam.invocations) == 1


async def test_missing_activity_input_fails_the_activity_with_the_typed_cause(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    moto_url: str,  # noqa: F811
    bucket: str,
) -> None:
    activity_queue = f"{task_queue}-act"
    storage = s3_storage(bucket, region="us-east-1", endpoint_url=moto_url, credentials=CREDS)
    client = client_for(dev_env, plugin_for(lam, storage))
    call = BigCall("measure", request_size=3 * MB, activity_task_queue=activity_queue)
    async with worker(client, task_queue):
        handle = await start(client, task_queue, call)
        await wait_for_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        s3 = boto_s3(moto_url)
        for item in s3.list_objects_v2(Bucket=bucket)["Contents"]:
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        async with worker(client, activity_queue):
            with pytest.raises(WorkflowFailureError) as caught:
                await handle.result()
    assert isinstance(caught.value.cause, ActivityError)
    top, *causes = application_errors(caught.value.cause)
    assert top.message == "Failed decoding arguments"  # the SDK's own wrapper
    typed = [e for e in causes if e.type == STORAGE_NOT_FOUND]
    assert typed, [(e.type, e.message) for e in causes]
    assert typed[0].message.startswith(f"S3 GetObject [bucket={bucket}, key=v0/ns/default/")
    assert "NoSuchKey: The specified key does not exist." in typed[0].message
    assert lam.invocations == []


async def test_wrong_bucket_fails_the_activity_with_no_such_bucket(
    dev_env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    moto_url: str,  # noqa: F811
) -> None:
    storage = s3_storage(
        "no-such-bucket-anywhere", region="us-east-1", endpoint_url=moto_url, credentials=CREDS
    )
    client = client_for(dev_env, plugin_for(lam, storage))
    async with worker(client, task_queue):
        handle = await start(client, task_queue, BigCall("measure", response_size=3 * MB))
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert isinstance(caught.value.cause, ActivityError)
    err = caught.value.cause.cause
    assert isinstance(err, ApplicationError)
    assert err.type == STORAGE_NO_SUCH_BUCKET
    assert err.non_retryable is True
    assert err.message.startswith(
        "S3 PutObject [bucket=no-such-bucket-anywhere, key=v0/ns/default/wt/BigPayloadWorkflow/wi/"
    )
    assert "NoSuchBucket: The specified bucket does not exist" in err.message


async def test_s3_server_error_fails_the_activity_retryably(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    from aiohttp import web

    seen: list[str] = []

    async def slow_down(request: web.Request) -> web.Response:
        seen.append(request.method)
        await request.read()
        if request.method == "HEAD":
            return web.Response(status=404)
        body = b"<Error><Code>SlowDown</Code><Message>Reduce your rate.</Message></Error>"
        return web.Response(status=503, body=body)

    app = web.Application(client_max_size=16 * MB)
    app.router.add_route("*", "/{tail:.*}", slow_down)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        storage = s3_storage(
            "payloads",
            region="us-east-1",
            endpoint_url=url,
            credentials=CREDS,
            settings=S3Settings(attempts=2, backoff=0.01),
        )
        client = client_for(dev_env, plugin_for(lam, storage))
        async with worker(client, task_queue):
            handle = await start(client, task_queue, BigCall("measure", response_size=3 * MB))
            with pytest.raises(WorkflowFailureError) as caught:
                await handle.result()
    finally:
        await runner.cleanup()
    assert isinstance(caught.value.cause, ActivityError)
    err = caught.value.cause.cause
    assert isinstance(err, ApplicationError)
    assert err.type == STORAGE_UNAVAILABLE
    assert err.non_retryable is False
    assert err.message.endswith("SlowDown: Reduce your rate.")
    assert seen == ["HEAD", "PUT", "PUT"]


# -- plugin wiring --------------------------------------------------------------------------


async def test_plugin_given_only_to_a_worker_is_refused(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str, store_dir: Path
) -> None:
    plugin = plugin_for(lam, local_storage(store_dir))
    with pytest.raises(ValueError) as caught:
        Worker(
            dev_env.client, task_queue=task_queue, workflows=[BigPayloadWorkflow], plugins=[plugin]
        )
    assert str(caught.value) == (
        "LambdaPlugin(external_storage=...) must be passed to Client.connect(plugins=[...]) "
        "(or Client(plugins=[...])), not only to Worker(plugins=[...]): external storage "
        "lives on the client's data converter, which a worker plugin cannot change, and "
        "without it payloads over 2 MB fail"
    )


async def test_plugin_on_the_client_installs_storage_on_its_converter(
    dev_env: WorkflowEnvironment, lam: LocalLambda, store_dir: Path
) -> None:
    storage = local_storage(store_dir)
    client = client_for(dev_env, plugin_for(lam, storage))
    assert client.data_converter.external_storage is storage
    assert storage.payload_size_threshold == 256 * 1024


async def test_two_external_storages_are_refused(
    dev_env: WorkflowEnvironment, lam: LocalLambda, store_dir: Path, tmp_path: Path
) -> None:
    other = DataConverter(external_storage=local_storage(tmp_path / "other"))
    with pytest.raises(ValueError, match=r"^the client's data converter already has external"):
        Client(
            dev_env.client.service_client,
            data_converter=other,
            plugins=[plugin_for(lam, local_storage(store_dir))],
        )


# -- the local driver ------------------------------------------------------------------------

CONTEXT = StorageDriverStoreContext(
    target=StorageDriverWorkflowInfo(namespace="ns/one", id="wf", run_id="r", type="W")
)


async def test_local_driver_layout_permissions_and_round_trip(store_dir: Path) -> None:
    driver = LocalStorageDriver(store_dir)
    payload = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(300_000))
    [claim] = await driver.store(CONTEXT, [payload])
    blob = payload.SerializeToString()
    key = f"v0/ns/ns%2Fone/d/sha256/{digest_bytes(blob)}"
    assert claim.claim_data == {
        "key": key,
        "hash_algorithm": "sha256",
        "hash_value": digest_bytes(blob),
    }
    assert stat.S_IMODE(store_dir.stat().st_mode) == 0o700  # noqa: ASYNC240
    assert stat.S_IMODE((store_dir / key).stat().st_mode) == 0o600
    assert [p.name for p in (store_dir / key).parent.iterdir()] == [key.rsplit("/", 1)[1]]
    [back] = await driver.retrieve(StorageDriverRetrieveContext(), [claim])
    assert back == payload


def digest_bytes(blob: bytes) -> str:
    import hashlib

    return hashlib.sha256(blob).hexdigest()


def test_local_driver_refuses_a_directory_open_to_others(tmp_path: Path) -> None:
    root = tmp_path / "open"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    with pytest.raises(ValueError) as caught:
        LocalStorageDriver(root)
    assert str(caught.value) == (
        f"external storage root {root} is open to group or others (mode 0755); "
        "payloads are private: chmod 700 it"
    )


async def test_local_driver_expire_removes_only_what_was_not_stored_recently(
    store_dir: Path,
) -> None:
    driver = LocalStorageDriver(store_dir)
    [old] = await driver.store(CONTEXT, [Payload(data=b"old")])
    [kept] = await driver.store(CONTEXT, [Payload(data=b"kept")])
    [again] = await driver.store(CONTEXT, [Payload(data=b"again")])
    hour_ago = time.time() - 3600
    for claim in (old, again):
        os.utime(store_dir / claim.claim_data["key"], (hour_ago, hour_ago))
    await driver.store(CONTEXT, [Payload(data=b"again")])  # stored again: fresh
    assert driver.expire(timedelta(minutes=30)) == 1
    assert not (store_dir / old.claim_data["key"]).exists()
    assert (store_dir / kept.claim_data["key"]).exists()
    assert (store_dir / again.claim_data["key"]).exists()
    with pytest.raises(ValueError, match=r"^older_than must be positive"):
        driver.expire(timedelta(0))


async def test_local_driver_missing_tampered_and_foreign_claims(store_dir: Path) -> None:
    driver = LocalStorageDriver(store_dir)
    [claim] = await driver.store(CONTEXT, [Payload(data=b"payload")])
    path = store_dir / claim.claim_data["key"]
    path.write_bytes(b"changed")
    with pytest.raises(StorageError) as tampered:
        await driver.retrieve(StorageDriverRetrieveContext(), [claim])
    assert tampered.value.type == STORAGE_ERROR
    assert tampered.value.message == (
        f"stored payload {claim.claim_data['key']} in {store_dir} does not match its sha256"
    )
    path.unlink()
    with pytest.raises(StorageError) as missing:
        await driver.retrieve(StorageDriverRetrieveContext(), [claim])
    assert missing.value.type == STORAGE_NOT_FOUND
    assert missing.value.non_retryable is True
    assert missing.value.message == (
        f"stored payload {claim.claim_data['key']} is not in {store_dir} (removed by clean-up, "
        "or this worker uses another directory)"
    )
    foreign = StorageDriverClaim(
        claim_data={"key": "../../etc/passwd", "hash_algorithm": "sha256", "hash_value": "0"}
    )
    with pytest.raises(StorageError) as refused:
        await driver.retrieve(StorageDriverRetrieveContext(), [foreign])
    assert refused.value.type == STORAGE_ERROR
    assert refused.value.message.startswith("not a reference of the local storage driver: ")
