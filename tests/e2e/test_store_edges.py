"""The idempotency store at its edges: scope per tenant, the file at rest, damaged records."""

from __future__ import annotations

import base64
import contextlib
import datetime
import logging
import os
import re
import sqlite3
import stat
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import LambdaInvokeRequest, LambdaPlugin
from temporal_lambda._activity import ENCODED_RESULT_MARKER, LambdaActivities
from temporal_lambda._client import LambdaClient
from temporal_lambda._codes import RECORD_UNREADABLE_ERROR_TYPE
from temporal_lambda._keys import scoped_record_key
from temporal_lambda.idempotency import (
    IdempotencyStore,
    PostgresIdempotencyStore,
    SQLiteIdempotencyStore,
    StoreUnavailable,
)
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.activity_env import make_env
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow

SECRET_RESULT = "secret-result-7f3a91"
UNREADABLE = (
    r"^charge already ran for idempotency key k-1, and its stored result cannot be read "
    r"\((?P<reason>.+)\); not calling it again: repair or delete the record to call it anew$"
)


class XorCodec(PayloadCodec):
    """A codec that changes every byte (stands in for an encrypting codec)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(metadata={"encoding": b"binary/xor"}, data=_xor(p.SerializeToString()))
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != b"binary/xor":
                out.append(p)
            else:
                out.append(Payload.FromString(_xor(p.data)))
        return out


def _xor(data: bytes) -> bytes:
    return bytes(b ^ 0x5A for b in data)


class Lambda:
    """A fake Lambda behind httpx.MockTransport that answers the secret and counts calls."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            200, json={"secret": SECRET_RESULT}, headers={"x-amzn-RequestId": "r1"}
        )


def activities(
    fake: Lambda,
    store: IdempotencyStore,
    codec: PayloadCodec | None = None,
    endpoint_url: str | None = None,
) -> LambdaActivities:
    client = LambdaClient(
        region="us-east-1",
        endpoint_url=endpoint_url,
        credentials=Credentials("AKID", "SECRET"),
        transport=httpx.MockTransport(fake),
    )
    return LambdaActivities(client, store, payload_codec=codec)


def charge(payload: Any = None, **options: Any) -> LambdaInvokeRequest:
    options.setdefault("idempotency_key", "k-1")
    return LambdaInvokeRequest(
        "charge", payload if payload is not None else {"order": 1}, **options
    )


async def run(acts: LambdaActivities, request: LambdaInvokeRequest, **info: Any) -> Any:
    return await make_env(**info).run(acts.invoke, request)


async def run_failing(
    acts: LambdaActivities, request: LambdaInvokeRequest, **info: Any
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await run(acts, request, **info)
    return caught.value


def record_of(
    key: str = "k-1", *, function: str = "charge", namespace: str = "default", **scope: Any
) -> str:
    """The store's record key for a call the unit tests' activities make."""
    return scoped_record_key(
        namespace=namespace,
        endpoint=scope.get("endpoint", "https://lambda.us-east-1.amazonaws.com"),
        region="us-east-1",
        function=function,
        tenant_id=scope.get("tenant_id"),
        key=key,
    )


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "tl" / "store.sqlite3"


@pytest.fixture
async def store(store_path: Path) -> AsyncIterator[SQLiteIdempotencyStore]:
    async with SQLiteIdempotencyStore(store_path) as s:
        yield s


def raw_rows(path: Path) -> list[tuple[str, bytes | None]]:
    with sqlite3.connect(path) as conn:
        return [(k, r) for k, r in conn.execute("SELECT key, result FROM idempotency_records")]


def file_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def delete_store_file(path: Path, suffixes: Sequence[str] = ("", "-wal", "-shm")) -> None:
    for suffix in suffixes:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


# -- item 6: a record belongs to (namespace, endpoint, region, function, tenant, key) -----


def test_record_key_depends_on_every_part_of_the_scope() -> None:
    base = {
        "namespace": "ns",
        "endpoint": "https://lambda.us-east-1.amazonaws.com",
        "region": "us-east-1",
        "function": "charge",
        "tenant_id": None,
        "key": "order-42",
    }
    first = scoped_record_key(**base)
    assert first == scoped_record_key(**base)
    assert len(first) == 48
    assert first.startswith("tls1-")
    variants = [
        {"namespace": "other"},
        {"endpoint": "http://127.0.0.1:9000"},
        {"region": "eu-west-1"},
        {"function": "arn:aws:lambda:us-east-1:111111111111:function:charge"},
        {"function": "arn:aws:lambda:us-east-1:222222222222:function:charge"},
        {"tenant_id": "t1"},
        {"tenant_id": ""},
        {"key": "order-43"},
    ]
    keys = {scoped_record_key(**{**base, **variant}) for variant in variants}
    assert len(keys) == len(variants)
    assert first not in keys


async def test_same_key_for_two_tenants_is_two_calls(store: SQLiteIdempotencyStore) -> None:
    fake = Lambda()
    acts = activities(fake, store)
    await run(acts, charge(tenant_id="tenant-a"))
    await run(acts, charge(tenant_id="tenant-b"))
    assert len(fake.requests) == 2
    # The function sees the caller's key, never the record key.
    assert [r.headers["X-Amz-Tenant-Id"] for r in fake.requests] == ["tenant-a", "tenant-b"]
    contexts = [r.headers["X-Amz-Client-Context"] for r in fake.requests]
    assert all(b"k-1" in base64.b64decode(c) for c in contexts)
    rows = {key for key, _ in raw_rows(store.path)}
    assert rows == {record_of(tenant_id="tenant-a"), record_of(tenant_id="tenant-b")}


async def test_qualifier_is_in_the_fingerprint_not_the_scope(
    store: SQLiteIdempotencyStore,
) -> None:
    fake = Lambda()
    acts = activities(fake, store)
    await run(acts, LambdaInvokeRequest("charge:live", {"order": 1}, idempotency_key="k-1"))
    error = await run_failing(
        acts, LambdaInvokeRequest("charge:v2", {"order": 1}, idempotency_key="k-1")
    )
    assert error.type == "Lambda.IdempotencyKeyReused"
    assert error.non_retryable is True
    assert len(fake.requests) == 1
    assert {key for key, _ in raw_rows(store.path)} == {record_of()}


async def _second_namespace(env: WorkflowEnvironment) -> Client:
    namespace = f"tl-second-{uuid.uuid4().hex[:8]}"
    await env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86_400)
        )
    )
    return await Client.connect(env.client.service_client.config.target_host, namespace=namespace)


def plugin_for(lam: LocalLambda, store: IdempotencyStore) -> LambdaPlugin:
    return LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=lam.endpoint_url,
            credentials=Credentials("testing", "testing"),
        ),
        idempotency_store=store,
    )


async def run_wf(client: Client, task_queue: str, spec: InvokeSpec) -> Any:
    return await client.execute_workflow(
        InvokeWorkflow.run,
        spec,
        id=f"wf-{uuid.uuid4()}",
        task_queue=task_queue,
        execution_timeout=datetime.timedelta(seconds=15),
    )


def counting_emulator(calls: list[Any]) -> LocalLambda:
    lam = LocalLambda(credentials=("testing", "testing"))

    def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        calls.append(event)
        return {"seen": event}

    lam.register("charge", handler)
    return lam


async def test_same_key_from_two_namespaces_is_two_calls(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    calls: list[Any] = []
    other = await _second_namespace(dev_env)
    spec = InvokeSpec("charge", {"order": 42}, options={"idempotency_key": "order-42"})
    async with (
        counting_emulator(calls) as lam,
        SQLiteIdempotencyStore(tmp_path / "shared.sqlite3") as store,
    ):
        for client in (dev_env.client, other):
            queue = f"tq-{uuid.uuid4()}"
            async with Worker(
                client,
                task_queue=queue,
                workflows=[InvokeWorkflow],
                plugins=[plugin_for(lam, store)],
            ):
                result = await run_wf(client, queue, spec)
                assert result.payload == {"seen": {"order": 42}}
        assert len(calls) == 2


async def test_same_key_against_two_endpoints_sharing_one_store(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    calls_a: list[Any] = []
    calls_b: list[Any] = []
    spec = InvokeSpec("charge", {"order": 42}, options={"idempotency_key": "order-42"})
    path = tmp_path / "shared.sqlite3"
    async with (
        counting_emulator(calls_a) as lam_a,
        counting_emulator(calls_b) as lam_b,
        SQLiteIdempotencyStore(path) as store_a,
        SQLiteIdempotencyStore(path) as store_b,
    ):
        queue_a, queue_b = f"tq-{uuid.uuid4()}", f"tq-{uuid.uuid4()}"
        async with (
            Worker(
                dev_env.client,
                task_queue=queue_a,
                workflows=[InvokeWorkflow],
                plugins=[plugin_for(lam_a, store_a)],
            ),
            Worker(
                dev_env.client,
                task_queue=queue_b,
                workflows=[InvokeWorkflow],
                plugins=[plugin_for(lam_b, store_b)],
            ),
        ):
            await run_wf(dev_env.client, queue_a, spec)
            await run_wf(dev_env.client, queue_b, spec)
            again = await run_wf(dev_env.client, queue_a, spec)  # same scope: stored result
            assert again.payload == {"seen": {"order": 42}}
            assert (len(calls_a), len(calls_b)) == (1, 1)
            other_payload = replace(spec, payload={"order": 43})
            with pytest.raises(WorkflowFailureError) as caught:
                await run_wf(dev_env.client, queue_b, other_payload)
        assert (len(calls_a), len(calls_b)) == (1, 1)
    cause = caught.value.cause
    assert isinstance(cause, ActivityError)
    error = cause.cause
    assert isinstance(error, ApplicationError)
    assert error.type == "Lambda.IdempotencyKeyReused"
    assert error.non_retryable is True
    assert error.message == (
        "idempotency key order-42 was already used for a different request; "
        "give each logical call its own key"
    )
    assert len(raw_rows(path)) == 2


# -- item 8: the store at rest ------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_sqlite_file_and_directories_are_private(
    store: SQLiteIdempotencyStore, store_path: Path, tmp_path: Path
) -> None:
    old = os.umask(0o022)
    try:
        await run(activities(Lambda(), store), charge())
    finally:
        os.umask(old)
    assert _mode(tmp_path / "state") == 0o700
    assert _mode(store_path.parent) == 0o700
    assert _mode(store_path) == 0o600
    for suffix in ("-wal", "-shm"):
        assert _mode(Path(f"{store_path}{suffix}")) == 0o600


async def test_existing_readable_store_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    async with SQLiteIdempotencyStore(path) as store:
        await store.purge_expired()
    assert _mode(path) == 0o600


async def test_result_at_rest_goes_through_the_codec_sqlite(
    store: SQLiteIdempotencyStore,
) -> None:
    fake = Lambda()
    acts = activities(fake, store, codec=XorCodec())
    first = await run(acts, charge())
    [(_, stored)] = raw_rows(store.path)
    assert stored is not None
    assert stored.startswith(ENCODED_RESULT_MARKER)
    assert SECRET_RESULT.encode() not in stored
    assert SECRET_RESULT.encode() not in file_bytes(store.path)
    assert SECRET_RESULT.encode() not in file_bytes(Path(f"{store.path}-wal"))
    again = await run(acts, charge(), attempt=2)
    assert again == first
    assert again.payload == {"secret": SECRET_RESULT}
    assert len(fake.requests) == 1


async def test_plaintext_record_of_an_older_version_still_reads(
    store: SQLiteIdempotencyStore,
) -> None:
    fake = Lambda()
    await run(activities(fake, store), charge())  # no codec: plain JSON, as before
    [(_, stored)] = raw_rows(store.path)
    assert stored is not None and stored.startswith(b"{")
    again = await run(activities(fake, store, codec=XorCodec()), charge(), attempt=2)
    assert again.payload == {"secret": SECRET_RESULT}
    assert len(fake.requests) == 1


async def test_result_at_rest_goes_through_the_codec_postgres(pg_dsn: str) -> None:
    table = f"tl_codec_{uuid.uuid4().hex[:12]}"
    store = PostgresIdempotencyStore(pg_dsn, table=table, pool_min=0, pool_max=2)
    import asyncpg

    try:
        fake = Lambda()
        acts = activities(fake, store, codec=XorCodec())
        first = await run(acts, charge())
        conn = await asyncpg.connect(pg_dsn)
        try:
            stored = await conn.fetchval(f"SELECT result FROM {table}")
            assert stored.startswith(ENCODED_RESULT_MARKER)
            assert SECRET_RESULT.encode() not in stored
            again = await run(acts, charge(), attempt=2)
            assert again == first
            assert len(fake.requests) == 1
            await conn.execute(f"UPDATE {table} SET result = $1", b"\xff\xfe garbage")
            error = await run_failing(acts, charge(), attempt=3)
        finally:
            await conn.execute(f"DROP TABLE {table}")
            await conn.close()
    finally:
        await store.aclose()
    assert error.type == RECORD_UNREADABLE_ERROR_TYPE
    assert error.non_retryable is True
    assert len(fake.requests) == 1


async def test_worker_client_codec_protects_results_at_rest(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Through a worker: the activity takes the codec of the worker's Temporal client."""
    calls: list[Any] = []
    config = dev_env.client.config()
    config["data_converter"] = replace(DataConverter.default, payload_codec=XorCodec())
    client = Client(**config)
    spec = InvokeSpec("charge", SECRET_RESULT, options={"idempotency_key": "order-42"})
    path = tmp_path / "codec.sqlite3"
    async with counting_emulator(calls) as lam, SQLiteIdempotencyStore(path) as store:
        queue = f"tq-{uuid.uuid4()}"
        async with Worker(
            client, task_queue=queue, workflows=[InvokeWorkflow], plugins=[plugin_for(lam, store)]
        ):
            first = await run_wf(client, queue, spec)
            second = await run_wf(client, queue, spec)
    assert first.payload == second.payload == {"seen": SECRET_RESULT}
    assert len(calls) == 1
    [(_, stored)] = raw_rows(path)
    assert stored is not None and stored.startswith(ENCODED_RESULT_MARKER)
    assert SECRET_RESULT.encode() not in file_bytes(path)


# -- item 9: a damaged store --------------------------------------------------------------


def _damage(path: Path, sql_value: str, *params: Any) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE idempotency_records SET result = {sql_value}", params)


@pytest.mark.parametrize(
    ("sql_value", "params", "reason"),
    [
        ("?", (b"\x80\x81garbage",), r"UnicodeDecodeError: .+"),
        ("CAST(x'ff7b' AS TEXT)", (), r"UnicodeDecodeError: .+"),
        ("?", (b'{"status_code": 200}',), r"TypeError: .+idempotency_key.+"),
        ("?", (b"[1, 2]",), r"ValueError: a stored result is a JSON object, not list"),
        ("NULL", (), r"ValueError: the completed record holds no result"),
        (
            "?",
            (ENCODED_RESULT_MARKER + b"\x01\x02",),
            r"ValueError: it was encoded with a payload codec, and this worker's client has none",
        ),
    ],
)
async def test_unreadable_record_is_typed_logged_and_not_retried(
    store: SQLiteIdempotencyStore,
    caplog: pytest.LogCaptureFixture,
    sql_value: str,
    params: tuple[Any, ...],
    reason: str,
) -> None:
    fake = Lambda()
    acts = activities(fake, store)
    await run(acts, charge())
    _damage(store.path, sql_value, *params)
    with caplog.at_level(logging.ERROR):
        error = await run_failing(acts, charge(), attempt=2)
    assert error.type == RECORD_UNREADABLE_ERROR_TYPE == "Lambda.IdempotencyRecordUnreadable"
    assert error.non_retryable is True
    match = re.fullmatch(UNREADABLE, error.message)
    assert match is not None, error.message
    assert re.fullmatch(reason, match["reason"]), match["reason"]
    assert len(fake.requests) == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "idempotency record unreadable: charge already ran" in errors[0].getMessage()


async def test_record_with_a_field_from_a_newer_version_reads(
    store: SQLiteIdempotencyStore,
) -> None:
    fake = Lambda()
    acts = activities(fake, store)
    first = await run(acts, charge())
    [(_, stored)] = raw_rows(store.path)
    assert stored is not None
    newer = stored[:-1] + b',"added_by_a_newer_version":{"x":1}}'
    _damage(store.path, "?", newer)
    again = await run(acts, charge(), attempt=2)
    assert again == first
    assert len(fake.requests) == 1


async def test_deleted_store_file_is_reported_then_reopened(
    store: SQLiteIdempotencyStore, caplog: pytest.LogCaptureFixture
) -> None:
    path = store.path
    first = await store.begin("a", "f", lease_seconds=60, owner="o")
    assert first.kind == "acquired"
    delete_store_file(path)
    with caplog.at_level(logging.ERROR), pytest.raises(StoreUnavailable) as caught:
        await store.begin("b", "f", lease_seconds=60, owner="o")
    assert caught.value.retryable is True
    assert caught.value.error_type == "Lambda.IdempotencyStoreUnavailable"
    assert str(caught.value) == (
        f"the SQLite idempotency store at {path} was deleted while in use; records written "
        "since are not in the file other workers use. Opening the path again for the next "
        "attempt"
    )
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        str(caught.value)
    ]
    # Then the store opens the path again: what it writes, another worker reads.
    assert (await store.begin("b", "f", lease_seconds=60, owner="o")).kind == "acquired"
    await store.complete("b", "o", b"{}")
    assert (await store.begin("b", "f", lease_seconds=60, owner="o")).kind == "completed"
    assert path.exists()
    assert _mode(path) == 0o600
    async with SQLiteIdempotencyStore(path) as other_worker:
        seen = await other_worker.begin("b", "f", lease_seconds=60, owner="p")
    assert seen.kind == "completed"
    assert seen.result == b"{}"
    assert len(caplog.records) == 1


async def test_replaced_store_file_is_reported_then_reopened(
    store: SQLiteIdempotencyStore, tmp_path: Path
) -> None:
    path = store.path
    await store.begin("a", "f", lease_seconds=60, owner="o")
    await store.complete("a", "o", b"{}")
    # Another worker's store file (with its own record) moves into place.
    async with SQLiteIdempotencyStore(tmp_path / "new.sqlite3") as elsewhere:
        await elsewhere.begin("z", "f", lease_seconds=60, owner="o")
    delete_store_file(path, suffixes=("-wal", "-shm"))
    os.replace(tmp_path / "new.sqlite3", path)
    with pytest.raises(StoreUnavailable, match=r"was replaced by another file while in use"):
        await store.begin("a", "f", lease_seconds=60, owner="o")
    # Reopened: the record written to the old file is gone, the new file's is there.
    assert (await store.begin("z", "f", lease_seconds=60, owner="o")).kind == "in_progress"
    assert (await store.begin("a", "f", lease_seconds=60, owner="o")).kind == "acquired"


async def test_deleted_store_file_through_the_activity(
    store: SQLiteIdempotencyStore, caplog: pytest.LogCaptureFixture
) -> None:
    fake = Lambda()
    acts = activities(fake, store)
    await run(acts, charge(idempotency_key="k-0"))
    delete_store_file(store.path)
    with caplog.at_level(logging.ERROR):
        error = await run_failing(acts, charge())
    assert error.type == "Lambda.IdempotencyStoreUnavailable"
    assert error.non_retryable is False
    assert "was deleted while in use" in error.message
    assert len(fake.requests) == 1  # nothing sent on the failed attempt
    again = await run(acts, charge(), attempt=2)
    assert again.payload == {"secret": SECRET_RESULT}
    assert len(fake.requests) == 2
    assert {key for key, _ in raw_rows(store.path)} == {record_of()}
