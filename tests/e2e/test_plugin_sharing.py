"""One LambdaPlugin shared by several workers: resources live until the last one stops."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import LambdaClient, LambdaPlugin
from temporal_lambda.idempotency import SQLiteIdempotencyStore
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=("testing", "testing")) as emulator:

        def echo(event: Any, context: LambdaContext) -> Any:
            return event

        emulator.register("echo", echo)
        yield emulator


def make_plugin(lam: LocalLambda, **options: Any) -> LambdaPlugin:
    return LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=lam.endpoint_url,
            credentials=Credentials("testing", "testing"),
        ),
        **options,
    )


async def call(client: Client, task_queue: str, n: int) -> Any:
    """One workflow invoking echo; bounded, so a store that stays broken fails the test."""
    result = await client.execute_workflow(
        InvokeWorkflow.run,
        InvokeSpec("echo", {"n": n}),
        id=f"wf-{uuid.uuid4()}",
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=10),
    )
    return result.payload


def store_is_closed(plugin: LambdaPlugin) -> bool:
    store = plugin.store
    assert isinstance(store, SQLiteIdempotencyStore)
    return store._closed


async def exercise(
    plugin: LambdaPlugin, client: Client, worker_plugins: list[LambdaPlugin]
) -> None:
    """Two workers; stop one, the other still calls; both stopped: closed; again: works."""
    queue_a, queue_b = f"tq-{uuid.uuid4()}", f"tq-{uuid.uuid4()}"
    first_store = plugin.store
    worker_a = Worker(
        client, task_queue=queue_a, workflows=[InvokeWorkflow], plugins=worker_plugins
    )
    async with Worker(
        client, task_queue=queue_b, workflows=[InvokeWorkflow], plugins=worker_plugins
    ):
        async with worker_a:
            assert await call(client, queue_a, 1) == {"n": 1}
            assert await call(client, queue_b, 2) == {"n": 2}
        # The first worker stopped; the second's calls still go through store and client.
        assert not store_is_closed(plugin)
        assert await call(client, queue_b, 3) == {"n": 3}
        assert await call(client, queue_b, 4) == {"n": 4}
    assert plugin.client.closed
    assert store_is_closed(plugin)
    with pytest.raises(RuntimeError, match=r"^the idempotency store is closed$"):
        await first_store.purge_expired()  # type: ignore[union-attr]
    # A worker started afterwards gets a new default store (same file) and a new pool.
    async with Worker(
        client, task_queue=queue_a, workflows=[InvokeWorkflow], plugins=worker_plugins
    ):
        assert await call(client, queue_a, 5) == {"n": 5}
        assert plugin.store is not first_store
        assert isinstance(plugin.store, SQLiteIdempotencyStore)
        assert isinstance(first_store, SQLiteIdempotencyStore)
        assert plugin.store.path == first_store.path
        assert not plugin.client.closed
    assert plugin.client.closed
    assert store_is_closed(plugin)


async def test_plugin_on_client_connect_serves_two_workers(
    dev_env: WorkflowEnvironment, lam: LocalLambda
) -> None:
    plugin = make_plugin(lam)
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        plugins=[plugin],
    )
    await exercise(plugin, client, worker_plugins=[])


async def test_one_plugin_given_to_two_workers(
    dev_env: WorkflowEnvironment, lam: LocalLambda
) -> None:
    plugin = make_plugin(lam)
    await exercise(plugin, dev_env.client, worker_plugins=[plugin])


async def test_store_given_by_the_user_is_left_open(
    dev_env: WorkflowEnvironment, lam: LocalLambda, tmp_path: Path
) -> None:
    async with SQLiteIdempotencyStore(tmp_path / "mine.sqlite3") as store:
        plugin = make_plugin(lam, idempotency_store=store)
        queue = f"tq-{uuid.uuid4()}"
        for n in (1, 2):  # stopped and started again: the same store, still open
            async with Worker(
                dev_env.client, task_queue=queue, workflows=[InvokeWorkflow], plugins=[plugin]
            ):
                assert await call(dev_env.client, queue, n) == {"n": n}
            assert plugin.client.closed
            assert plugin.store is store
            assert await store.purge_expired() == 0
    assert store._closed


async def test_run_context_counts_its_users(lam: LocalLambda) -> None:
    plugin = make_plugin(lam)
    assert plugin.run_context is not None
    async with plugin.run_context():
        async with plugin.run_context():
            pass
        assert not store_is_closed(plugin)
    assert store_is_closed(plugin)
    async with plugin.run_context():
        assert not store_is_closed(plugin)
    assert store_is_closed(plugin)
