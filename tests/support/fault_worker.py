"""A worker process for the fault matrix, so a test can SIGKILL it mid-call.

``python -m tests.support.fault_worker --address HOST:PORT --task-queue Q --endpoint URL
--store sqlite:PATH|postgres:DSN|none`` runs a Temporal worker with ``LambdaPlugin`` and
:class:`tests.support.fault_workflows.FaultWorkflow`, prints ``READY`` once it polls, and runs until
SIGTERM or SIGINT.

Mutations (to check that each fault-matrix case fails without the mechanism it tests):
``FAULT_MATRIX_BREAK`` is a comma-separated list of

* ``store``: no idempotency store at all (as ``--store none``);
* ``release``: a failed attempt keeps its lease instead of releasing it;
* ``retry-after``: errors no longer carry ``Retry-After`` into ``next_retry_delay``;
* ``transport-retry``: transport errors (reset, timeout, refused) are not retryable;
* ``5xx-retry``: only 408/429 answers are retryable, not 5xx;
* ``fail-open``: when the store cannot answer, call Lambda anyway.

Without it the plugin runs unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from botocore.credentials import Credentials
from temporalio.client import Client
from temporalio.worker import Worker

from temporal_lambda import LambdaClient, LambdaPlugin
from temporal_lambda.idempotency import (
    BeginOutcome,
    IdempotencyStore,
    PostgresIdempotencyStore,
    SQLiteIdempotencyStore,
    StoreUnavailable,
)
from tests.support.fault_workflows import FaultWorkflow

BREAK_VARIABLE = "FAULT_MATRIX_BREAK"
REGION = "us-east-1"
"""The region the fault workers sign for (part of their idempotency records' scope)."""


def broken() -> set[str]:
    """The mechanisms ``FAULT_MATRIX_BREAK`` switches off."""
    return {part.strip() for part in os.environ.get(BREAK_VARIABLE, "").split(",") if part}


def make_store(spec: str, *, busy_timeout: float) -> IdempotencyStore | None:
    """Build the store a ``--store`` value names."""
    kind, _, where = spec.partition(":")
    if kind == "none" or "store" in broken():
        return None
    if kind == "sqlite":
        store: IdempotencyStore = SQLiteIdempotencyStore(where, busy_timeout_seconds=busy_timeout)
    elif kind == "postgres":
        store = PostgresIdempotencyStore(where, pool_min=1, pool_max=4)
    else:
        raise SystemExit(f"unknown store {spec!r}")
    if "fail-open" in broken():
        store = _FailOpen(store)
    return store


class _FailOpen:
    """Mutation ``fail-open``: a store error in ``begin`` lets the call go ahead."""

    def __init__(self, inner: IdempotencyStore) -> None:
        self._inner = inner

    async def begin(
        self, key: str, fingerprint: str, *, lease_seconds: float, owner: str
    ) -> BeginOutcome:
        try:
            return await self._inner.begin(
                key, fingerprint, lease_seconds=lease_seconds, owner=owner
            )
        except StoreUnavailable:
            return BeginOutcome("acquired")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def apply_mutations() -> None:
    """Switch off what ``FAULT_MATRIX_BREAK`` names (test-only monkeypatches)."""
    from temporal_lambda import _activity, _errors, _response

    mutations = broken()
    if "release" in mutations:

        async def keep_lease(store: Any, key: str, owner: str) -> None:
            return None

        _activity._release = keep_lease  # type: ignore[assignment]
    if "retry-after" in mutations:
        original = _activity.to_application_error

        def without_retry_after(error: Any) -> Any:
            if getattr(error, "retry_after", None) is not None:
                error.retry_after = None
            return original(error)

        _activity.to_application_error = without_retry_after
    if "transport-retry" in mutations:
        _errors.LambdaTransportError.retryable = False
    if "5xx-retry" in mutations:
        _response.is_retryable = lambda code, status_code: status_code in (408, 429)


async def serve(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address, namespace=args.namespace)
    store = make_store(args.store, busy_timeout=args.sqlite_busy_timeout)
    plugin = LambdaPlugin(
        client=LambdaClient(
            region=REGION, endpoint_url=args.endpoint, credentials=Credentials("testing", "testing")
        ),
        idempotency_store=store,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=args.task_queue,
        workflows=[FaultWorkflow],
        plugins=[plugin],
        identity=f"fault-worker-{os.getpid()}",
        # A killed worker's cached workflows move to another worker quickly.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
    ):
        print("READY", flush=True)
        await stop.wait()
    if store is not None:  # the plugin leaves a store it was given open
        await store.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fault_worker")
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--store", default="none")
    parser.add_argument("--sqlite-busy-timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    # A file-size limit (the "disk full" case) must fail the write, not kill the process.
    with contextlib.suppress(AttributeError):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    apply_mutations()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
