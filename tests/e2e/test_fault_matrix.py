"""The fault matrix: real worker processes killed, a real emulator broken, real stores jammed.

Every case runs a workflow on the Temporal dev server with worker *processes*
(:mod:`tests.support.fault_worker`) calling the LocalLambda emulator (in this process, or in a
process of its own, :mod:`tests.support.fault_emulator`, where it is restarted), and asserts:

* the workflow's result, and that it is COMPLETED within a bound (nothing stuck or lost);
* exactly one side effect, counted in a ledger file that survives every process's death;
* what shows the mechanism under test at work (invocation records, history, store rows).

Two functions: ``plain`` is NOT idempotent (one ledger entry per invocation: only the
plugin's store can keep it to one), ``record-payment`` is the Powertools-idempotent function
of :mod:`functions.idempotent_payments` (it replays a key's first receipt).

Each case fails without its mechanism. ``FAULT_MATRIX_BREAK`` switches mechanisms off to show
it (see :mod:`tests.support.fault_worker`; ``callee`` here replaces ``record-payment`` by
``plain``)::

    FAULT_MATRIX_BREAK=store .venv/bin/pytest tests/e2e/test_fault_matrix.py   # 1, 2, 7, 8 fail
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from functions.idempotent_payments import FUNCTION_NAME as RECORD_PAYMENT
from temporal_lambda import LambdaClient, LambdaInvokeResult
from temporal_lambda._keys import scoped_record_key
from temporal_lambda.idempotency import STORE_UNAVAILABLE_ERROR_TYPE, SQLiteIdempotencyStore
from temporal_lambda.testing import InvocationRecord, LocalLambda
from tests.support.emulator_keys import record_key
from tests.support.fault_emulator import PAYMENT, PLAIN_FUNCTION, FileLedger, register_all
from tests.support.fault_proxy import HoldingProxy
from tests.support.fault_worker import REGION as FAULT_WORKER_REGION
from tests.support.fault_worker import broken
from tests.support.fault_workflows import FaultSpec, FaultWorkflow

ROOT = Path(__file__).resolve().parents[2]
BROKEN = broken()
IDEMPOTENT_FUNCTION = PLAIN_FUNCTION if "callee" in BROKEN else RECORD_PAYMENT
"""The Powertools function, or (mutation ``callee``) the plain one in its place."""
IN_PROGRESS = "Lambda.IdempotencyInProgress"
TRANSPORT_ERROR = "Lambda.SdkClientException"
FINISH_WITHIN = 60.0
"""Seconds a workflow may take once the fault is over before it counts as stuck."""

_T = TypeVar("_T")

pytestmark = pytest.mark.timeout(120)


# -- processes -----------------------------------------------------------------------------------


@dataclass
class Proc:
    """A child process of this test, its output collected from a pipe."""

    name: str
    process: asyncio.subprocess.Process
    output: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def identity(self) -> str:
        """The worker identity :mod:`tests.support.fault_worker` gives itself."""
        return f"fault-worker-{self.pid}"

    async def kill(self) -> None:
        """SIGKILL this process (by its pid) and reap it."""
        if self.process.returncode is None:
            os.kill(self.pid, signal.SIGKILL)
        await self.process.wait()

    def log(self) -> str:
        return "".join(self.output[-200:])


class Procs:
    """Starts child processes and kills (only) them at the end of the test."""

    def __init__(self) -> None:
        self.started: list[Proc] = []

    async def spawn(self, name: str, module: str, *args: str, within: float = 30.0) -> Proc:
        """Run ``python -m module args`` and wait until it prints ``READY``."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        proc = Proc(name, process)
        self.started.append(proc)
        ready = asyncio.Event()

        async def read() -> None:
            assert process.stdout is not None
            while line := await process.stdout.readline():
                text = line.decode(errors="replace")
                proc.output.append(text)
                if text.startswith("READY"):
                    ready.set()

        proc.reader = asyncio.create_task(read())
        deadline = time.monotonic() + within
        while not ready.is_set():
            if process.returncode is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start:\n{proc.log()}")
            await asyncio.sleep(0.02)
        return proc

    async def close(self) -> None:
        for proc in self.started:
            await proc.kill()
            if proc.reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.reader, 5)


@pytest.fixture
async def procs() -> AsyncIterator[Procs]:
    started = Procs()
    try:
        yield started
    finally:
        await started.close()


def address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def start_worker(
    procs: Procs, server: str, task_queue: str, endpoint: str, store: str, *extra: str
) -> Proc:
    return await procs.spawn(
        "worker",
        "tests.support.fault_worker",
        "--address",
        server,
        "--task-queue",
        task_queue,
        "--endpoint",
        endpoint,
        "--store",
        store,
        *extra,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the emulator in this process ----------------------------------------------------------------


@dataclass
class Emulator:
    lam: LocalLambda
    ledger: FileLedger

    @property
    def url(self) -> str:
        return self.lam.endpoint_url

    def calls(self, function: str, key: str | None = None) -> list[InvocationRecord]:
        """Requests for ``function`` (with ``key``), in arrival order."""
        return [r for r in self.lam.records(function) if key is None or record_key(r) == key]

    def effects(self, key: str) -> list[dict[str, Any]]:
        """Ledger entries (side effects) of the call with ``key``."""
        return [e for e in self.ledger.entries() if e.get("idempotency_key") == key]


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    ledger = FileLedger(tmp_path / "ledger.jsonl")
    async with LocalLambda(
        credentials=("testing", "testing"),
        duplicate_event_deliveries=3,  # only Event invocations (case 6) see this
        async_retry_delays=(0.05, 0.05),
    ) as lam:
        register_all(lam, ledger, tmp_path / "powertools.sqlite3")
        yield Emulator(lam, ledger)


# -- waiting and inspecting ----------------------------------------------------------------------


async def eventually(check: Callable[[], _T | None], within: float, what: str) -> _T:
    """Poll ``check`` every 10 ms until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


async def start(
    env: WorkflowEnvironment, task_queue: str, spec: FaultSpec
) -> WorkflowHandle[Any, Any]:
    return await env.client.start_workflow(
        FaultWorkflow.run, spec, id=f"fault-{uuid.uuid4()}", task_queue=task_queue
    )


async def finish(
    handle: WorkflowHandle[Any, Any], within: float = FINISH_WITHIN
) -> LambdaInvokeResult:
    """The workflow's result, which must come within ``within`` s; it is then COMPLETED."""
    result = await asyncio.wait_for(handle.result(), within)
    assert isinstance(result, LambdaInvokeResult)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    return result


@dataclass
class FinalAttempt:
    attempt: int
    identity: str
    previous_failure: Failure | None


async def final_attempt(handle: WorkflowHandle[Any, Any]) -> FinalAttempt:
    """The activity's completing attempt, from history (and the failure of the one before)."""
    history = await handle.fetch_history()
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert started, "the activity never started"
    last = started[-1]
    failure = last.last_failure if last.HasField("last_failure") else None
    return FinalAttempt(last.attempt, last.identity, failure)


async def pending_failure(handle: WorkflowHandle[Any, Any]) -> tuple[int, Failure] | None:
    """``(attempt, last failure)`` of the pending activity, if it has failed yet."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.HasField("last_failure"):
            return pending.attempt, pending.last_failure
    return None


async def wait_for_failure(
    handle: WorkflowHandle[Any, Any], error_type: str, *, attempts: int, within: float = 20.0
) -> Failure:
    """Wait until the activity has failed ``attempts - 1`` times, the last with ``error_type``."""
    deadline = time.monotonic() + within
    while True:
        found = await pending_failure(handle)
        if found is not None:
            attempt, failure = found
            if attempt >= attempts and failure.application_failure_info.type == error_type:
                return failure
        if time.monotonic() > deadline:
            pytest.fail(f"no retried {error_type} failure within {within} s (last: {found})")
        await asyncio.sleep(0.05)


def failure_type(failure: Failure | None) -> str | None:
    return None if failure is None else failure.application_failure_info.type


def store_status(path: Path, key: str, endpoint_url: str) -> str | None:
    """The status of ``key``'s record (``PLAIN_FUNCTION`` called through the fault worker, in
    the default namespace) in an SQLite store file, read from this process."""
    record = scoped_record_key(
        namespace="default",
        endpoint=LambdaClient(region=FAULT_WORKER_REGION, endpoint_url=endpoint_url).endpoint,
        region=FAULT_WORKER_REGION,
        function=PLAIN_FUNCTION,
        tenant_id=None,
        key=key,
    )
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=1.0)) as conn:
            row = conn.execute(
                "SELECT status FROM idempotency_records WHERE key = ?", (record,)
            ).fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path, timeout=5.0)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def monotonic_of(wall: float) -> float:
    """``time.monotonic()`` at the wall-clock time ``wall`` (both of this host)."""
    return wall - (time.time() - time.monotonic())


async def create_store(path: Path) -> None:
    """Create an SQLite store file (schema, WAL mode) as a worker would."""
    async with SQLiteIdempotencyStore(path) as store:
        await store.purge_expired()


# -- 1. killed after Lambda answered, before the activity completed ------------------------------


async def test_1_worker_killed_after_lambda_answered_returns_stored_result(
    dev_env: WorkflowEnvironment, emu: Emulator, procs: Procs, tmp_path: Path
) -> None:
    """The plugin's store: a retry after the crash returns the stored result, no second call.

    ``plain`` is not idempotent, so only the store can keep Lambda to one call. To kill worker
    A in the window without racing it, A talks to Temporal through a proxy that is put on hold
    while the Lambda call is still running: A's completion (sent after it stored the result)
    never reaches the server. A is SIGKILLed once its result is in the store; after the
    heartbeat timeout worker B runs attempt 2.
    """
    store = tmp_path / "store.sqlite3"
    task_queue = f"fault-{uuid.uuid4()}"
    proxy = HoldingProxy(address(dev_env))
    await proxy.start()
    try:
        emu.ledger.delay = 1.0  # the call takes a second: time to hold A's connection
        a = await start_worker(procs, proxy.address, task_queue, emu.url, f"sqlite:{store}")
        handle = await start(dev_env, task_queue, FaultSpec(PLAIN_FUNCTION, {"order": 1}))
        first = await eventually(
            lambda: next(iter(emu.calls(PLAIN_FUNCTION)), None), 30, "A's call"
        )
        proxy.hold()  # from now on nothing A sends reaches Temporal
        key = record_key(first)
        assert key is not None
        await eventually(lambda: first.status_code == 200, 10, "Lambda's answer")
        if "store" in BROKEN:
            await asyncio.sleep(0.5)
        else:
            await eventually(
                lambda: store_status(store, key, emu.url) == "COMPLETED", 10, "the stored result"
            )
        await a.kill()
        b = await start_worker(procs, address(dev_env), task_queue, emu.url, f"sqlite:{store}")
        result = await finish(handle)
    finally:
        await proxy.close()

    assert len(emu.calls(PLAIN_FUNCTION, key)) == 1, "Lambda was called again after the crash"
    assert len(emu.effects(key)) == 1
    assert result.status_code == 200
    assert result.request_id == first.request_id  # the first call's answer, from the store
    assert result.payload == {"request_id": first.request_id, "idempotency_key": key}
    final = await final_attempt(handle)
    assert final.attempt >= 2, "attempt 1 completed: the kill came too late to test anything"
    assert final.identity == b.identity
    assert proxy.dropped_bytes > 0  # A did try to tell Temporal


# -- 2 and 7. killed during a long call; the next attempt on another worker process -------------


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
async def test_2_7_worker_killed_mid_call_next_attempt_does_not_double(
    store_kind: str,
    dev_env: WorkflowEnvironment,
    emu: Emulator,
    procs: Procs,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Case 2 (workers sharing an SQLite file) and case 7 (sharing PostgreSQL).

    Worker A is SIGKILLed 4 s before the payment's side effect. The emulator keeps running the
    function (as Lambda does). After the heartbeat timeout worker B gets attempt 2, finds A's
    live lease (until A's deadline: start_to_close 6 s) and waits it out
    (``Lambda.IdempotencyInProgress``); only then it calls again, with the same key, and the
    Powertools function replays its receipt.
    """
    if store_kind == "sqlite":
        store = f"sqlite:{tmp_path / 'store.sqlite3'}"
    else:
        store = f"postgres:{request.getfixturevalue('pg_dsn')}"
    task_queue = f"fault-{uuid.uuid4()}"
    emu.ledger.delay = 4.0  # a long call: its side effect lands 4 s after it started
    server = address(dev_env)
    a = await start_worker(procs, server, task_queue, emu.url, store)
    spec = FaultSpec(IDEMPOTENT_FUNCTION, dict(PAYMENT), start_to_close_s=6.0, heartbeat_s=2.0)
    handle = await start(dev_env, task_queue, spec)
    first = await eventually(
        lambda: next(iter(emu.calls(IDEMPOTENT_FUNCTION)), None), 30, "A's call"
    )
    key = record_key(first)
    assert key is not None
    await a.kill()
    b = await start_worker(procs, server, task_queue, emu.url, store)
    result = await finish(handle)

    effects = emu.effects(key)
    assert len(effects) == 1, f"side effect doubled: {effects}"
    assert first.client_disconnected  # A died while its call was running
    calls = emu.calls(IDEMPOTENT_FUNCTION, key)
    assert len(calls) >= 2
    effect_at = monotonic_of(effects[0]["at"])
    early = [c for c in calls[1:] if c.received_at < effect_at]
    assert not early, "a second call was sent while A's call was still running"
    assert result.payload["receipt"] == f"rcpt-{key}"
    assert result.payload["request_id"] == first.request_id  # the first call's receipt
    final = await final_attempt(handle)
    assert final.identity == b.identity
    assert final.attempt >= 3
    assert failure_type(final.previous_failure) == IN_PROGRESS


# -- 3. the connection or the emulator fails mid-flight -----------------------------------------


async def test_3a_connection_reset_mid_response(
    dev_env: WorkflowEnvironment, emu: Emulator, procs: Procs, tmp_path: Path
) -> None:
    """The function ran, the answer is cut halfway: the lease is released and the retry, with
    the same key, gets the Powertools function's stored receipt."""
    task_queue = f"fault-{uuid.uuid4()}"
    await start_worker(
        procs, address(dev_env), task_queue, emu.url, f"sqlite:{tmp_path / 'store.sqlite3'}"
    )
    emu.lam.faults.drop_next(1, function=IDEMPOTENT_FUNCTION)
    began = time.monotonic()
    spec = FaultSpec(IDEMPOTENT_FUNCTION, dict(PAYMENT), start_to_close_s=20.0)
    result = await finish(await start(dev_env, task_queue, spec))
    elapsed = time.monotonic() - began

    key = result.idempotency_key
    calls = emu.calls(IDEMPOTENT_FUNCTION, key)
    assert [c.status_code for c in calls] == [200, 200]  # the first answer was truncated
    assert len(emu.effects(key)) == 1
    assert result.payload["request_id"] == calls[0].request_id  # the first run's receipt
    assert elapsed < 10, "the retry waited for the 20 s lease: the failed call kept it"


async def test_3b_read_timeout(
    dev_env: WorkflowEnvironment, emu: Emulator, procs: Procs, tmp_path: Path
) -> None:
    """The function outlives the attempt (3 s): the plugin stops reading at its deadline and
    releases; retries with the same key find the run in progress, then replay its receipt."""
    task_queue = f"fault-{uuid.uuid4()}"
    await start_worker(
        procs, address(dev_env), task_queue, emu.url, f"sqlite:{tmp_path / 'store.sqlite3'}"
    )
    emu.ledger.delay = 3.5
    spec = FaultSpec(IDEMPOTENT_FUNCTION, dict(PAYMENT), start_to_close_s=3.0, heartbeat_s=2.0)
    result = await finish(await start(dev_env, task_queue, spec), within=30)

    key = result.idempotency_key
    calls = emu.calls(IDEMPOTENT_FUNCTION, key)
    assert calls[0].client_disconnected  # the plugin gave up reading
    assert len(emu.effects(key)) == 1
    assert result.payload["request_id"] == calls[0].request_id  # the timed-out run's receipt


async def test_3c_emulator_restarted_mid_flight(
    dev_env: WorkflowEnvironment, procs: Procs, tmp_path: Path
) -> None:
    """The emulator process is SIGKILLed while the function runs, and restarted: the plugin
    treats the reset as retryable and releases its lease; after the orphaned Powertools
    record's in-progress expiry (the function timeout, 3 s) the call runs once on the new
    process."""
    port = free_port()
    ledger = FileLedger(tmp_path / "ledger.jsonl")
    journal = tmp_path / "journal.jsonl"
    emulator_args = (
        "--port",
        str(port),
        "--ledger",
        str(ledger.path),
        "--powertools-db",
        str(tmp_path / "powertools.sqlite3"),
        "--journal",
        str(journal),
        "--delay",
        "2",
        "--timeout",
        "3",
    )
    e1 = await procs.spawn("emulator", "tests.support.fault_emulator", *emulator_args)
    task_queue = f"fault-{uuid.uuid4()}"
    endpoint = f"http://127.0.0.1:{port}"
    await start_worker(
        procs, address(dev_env), task_queue, endpoint, f"sqlite:{tmp_path / 'store.sqlite3'}"
    )
    began = time.monotonic()
    spec = FaultSpec(IDEMPOTENT_FUNCTION, dict(PAYMENT), start_to_close_s=20.0)
    handle = await start(dev_env, task_queue, spec)
    await eventually(lambda: journal.exists() and journal.read_text(), 30, "the first call")
    await asyncio.sleep(0.3)  # the function is running; its side effect is 1.7 s away
    await e1.kill()
    assert len(ledger) == 0
    e2 = await procs.spawn("emulator", "tests.support.fault_emulator", *emulator_args)
    result = await finish(handle)
    elapsed = time.monotonic() - began

    key = result.idempotency_key
    effects = [e for e in ledger.entries() if e["idempotency_key"] == key]
    assert len(effects) == 1
    assert effects[0]["pid"] == e2.pid
    assert result.payload["receipt"] == f"rcpt-{key}"
    assert elapsed < 15, "the retry waited for the 20 s lease: the failed call kept it"


# -- 4. a throttle storm -----------------------------------------------------------------------


@pytest.mark.timeout(150)
async def test_4_throttle_storm_completes_never_retried_early(
    dev_env: WorkflowEnvironment, emu: Emulator, procs: Procs, tmp_path: Path
) -> None:
    """50 consecutive 429s with ``Retry-After: 1.5``. The retry policy alone retries every
    second (the server's floor for retry intervals), so every gap of at least 1.5 s is the
    plugin turning ``Retry-After`` into the attempt's ``next_retry_delay``."""
    retry_after = 1.5
    task_queue = f"fault-{uuid.uuid4()}"
    await start_worker(
        procs, address(dev_env), task_queue, emu.url, f"sqlite:{tmp_path / 'store.sqlite3'}"
    )
    emu.lam.faults.fail_next(
        50,
        status=429,
        code="TooManyRequestsException",
        message="Rate Exceeded.",
        retry_after=retry_after,
        reason="ReservedFunctionConcurrentInvocationLimitExceeded",
        function=PLAIN_FUNCTION,
    )
    spec = FaultSpec(PLAIN_FUNCTION, {"order": 4}, initial_interval_s=0.05, maximum_interval_s=0.05)
    result = await finish(await start(dev_env, task_queue, spec), within=130)

    key = result.idempotency_key
    calls = emu.calls(PLAIN_FUNCTION, key)
    assert [c.status_code for c in calls] == [429] * 50 + [200]
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= retry_after - 0.005, f"retried {min(gaps):.3f} s after a throttle"
    assert len(emu.effects(key)) == 1
    assert result.payload["request_id"] == calls[-1].request_id


# -- 5. bursts of 5xx ----------------------------------------------------------------------------


async def test_5_bursts_of_5xx_complete(
    dev_env: WorkflowEnvironment, emu: Emulator, procs: Procs, tmp_path: Path
) -> None:
    """Two 500s, two 502s, two 503s in a row: all retried, then one call runs."""
    task_queue = f"fault-{uuid.uuid4()}"
    await start_worker(
        procs, address(dev_env), task_queue, emu.url, f"sqlite:{tmp_path / 'store.sqlite3'}"
    )
    bursts = [
        (500, "ServiceException"),
        (502, "EC2UnexpectedException"),
        (503, "ServiceUnavailableException"),
    ]
    for status, code in bursts:
        emu.lam.faults.fail_next(2, status=status, code=code, function=PLAIN_FUNCTION)
    spec = FaultSpec(PLAIN_FUNCTION, {"order": 5}, initial_interval_s=0.05, maximum_interval_s=0.05)
    result = await finish(await start(dev_env, task_queue, spec))

    key = result.idempotency_key
    calls = emu.calls(PLAIN_FUNCTION, key)
    assert [c.status_code for c in calls] == [500] * 2 + [502] * 2 + [503] * 2 + [200]
    assert len(emu.effects(key)) == 1
    assert result.status_code == 200


# -- 6. an Event delivered three times -----------------------------------------------------------


async def test_6_event_delivered_three_times_one_side_effect(
    dev_env: WorkflowEnvironment, emu: Emulator, procs: Procs, tmp_path: Path
) -> None:
    """Lambda's async queue is at-least-once: the emulator delivers each event three times;
    the key the plugin puts in the payload lets the Powertools function record it once."""
    task_queue = f"fault-{uuid.uuid4()}"
    await start_worker(
        procs, address(dev_env), task_queue, emu.url, f"sqlite:{tmp_path / 'store.sqlite3'}"
    )
    spec = FaultSpec(IDEMPOTENT_FUNCTION, dict(PAYMENT), invocation_type="Event")
    result = await finish(await start(dev_env, task_queue, spec))
    await emu.lam.wait_for_events(10)

    key = result.idempotency_key
    assert result.status_code == 202
    deliveries = emu.calls(IDEMPOTENT_FUNCTION, key)
    assert [d.delivery for d in deliveries] == [1, 2, 3]
    assert len(emu.effects(key)) == 1


# -- 8. the SQLite store locked, or its disk full -------------------------------------------------


async def test_8a_sqlite_store_locked_is_retryable_and_sends_nothing(
    dev_env: WorkflowEnvironment, emu: Emulator, procs: Procs, tmp_path: Path
) -> None:
    """Another process holds the file's write lock: each attempt fails with a retryable
    ``Lambda.IdempotencyStoreUnavailable`` and sends nothing; unlocked, the workflow ends."""
    path = tmp_path / "store.sqlite3"
    await create_store(path)
    lock = sqlite3.connect(path, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        task_queue = f"fault-{uuid.uuid4()}"
        await start_worker(
            procs,
            address(dev_env),
            task_queue,
            emu.url,
            f"sqlite:{path}",
            "--sqlite-busy-timeout",
            "0.3",
        )
        spec = FaultSpec(PLAIN_FUNCTION, {"order": 8}, initial_interval_s=0.1)
        handle = await start(dev_env, task_queue, spec)
        failure = await wait_for_failure(handle, STORE_UNAVAILABLE_ERROR_TYPE, attempts=3)
        assert not failure.application_failure_info.non_retryable
        assert "database is locked" in failure.message
        assert emu.calls(PLAIN_FUNCTION) == [], "Lambda was called without the store"
        lock.execute("ROLLBACK")
    finally:
        lock.close()
    result = await finish(handle)

    key = result.idempotency_key
    assert len(emu.calls(PLAIN_FUNCTION, key)) == 1
    assert len(emu.effects(key)) == 1
    assert integrity(path) == "ok"
    assert store_status(path, key, emu.url) == "COMPLETED"


class FullDisk:
    """Makes the disk of an SQLite store full, and frees it again.

    As root (CI), the store lives on a 2 MB tmpfs of its own, and "full" is a filler file
    taking every free block: the store's next write gets ``ENOSPC``, which SQLite reports as
    ``SQLITE_FULL`` ("database or disk is full"). Where nothing can be mounted, the worker's
    ``RLIMIT_FSIZE`` is lowered from here (``prlimit``) below the end of the store's WAL: the
    kernel then refuses its writes with ``EFBIG`` (SQLite: "disk I/O error").
    ``PRAGMA max_page_count`` cannot do it: it is per connection, and that is the worker's.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.directory = directory
        self.mounted = False
        if os.geteuid() == 0:
            mount = ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(directory)]
            self.mounted = subprocess.run(mount, capture_output=True, check=False).returncode == 0
        self.expected_message = "database or disk is full" if self.mounted else "disk I/O error"
        self._filler = directory / "filler"

    def fill(self, worker_pid: int) -> None:
        if self.mounted:
            # Write until ENOSPC: the disk is full.
            with self._filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 4096)
        else:
            wal = self.directory / "store.sqlite3-wal"
            _, hard = resource.prlimit(worker_pid, resource.RLIMIT_FSIZE)
            resource.prlimit(worker_pid, resource.RLIMIT_FSIZE, (wal.stat().st_size, hard))

    def free(self, worker_pid: int) -> None:
        if self.mounted:
            self._filler.unlink()
        else:
            _, hard = resource.prlimit(worker_pid, resource.RLIMIT_FSIZE)
            resource.prlimit(worker_pid, resource.RLIMIT_FSIZE, (hard, hard))

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.directory)], check=False)
            self.mounted = False


async def test_8b_sqlite_disk_full_is_retryable_and_sends_nothing(
    dev_env: WorkflowEnvironment, emu: Emulator, procs: Procs, tmp_path: Path
) -> None:
    """The store's disk is full: each attempt fails with a retryable
    ``Lambda.IdempotencyStoreUnavailable`` and sends nothing; once there is room again the
    workflow ends, and the file is intact (see :class:`FullDisk`)."""
    disk = FullDisk(tmp_path / "disk")
    path = disk.directory / "store.sqlite3"
    try:
        await create_store(path)
        task_queue = f"fault-{uuid.uuid4()}"
        worker = await start_worker(
            procs,
            address(dev_env),
            task_queue,
            emu.url,
            f"sqlite:{path}",
            "--sqlite-busy-timeout",
            "0.3",
        )
        # A first call opens the worker's connection (and its WAL and shared-memory files).
        warm_up = FaultSpec(PLAIN_FUNCTION, {"warm-up": 1})
        await finish(await start(dev_env, task_queue, warm_up))
        disk.fill(worker.pid)
        spec = FaultSpec(PLAIN_FUNCTION, {"order": 8}, initial_interval_s=0.1)
        handle = await start(dev_env, task_queue, spec)
        failure = await wait_for_failure(handle, STORE_UNAVAILABLE_ERROR_TYPE, attempts=3)
        assert not failure.application_failure_info.non_retryable
        assert disk.expected_message in failure.message
        assert len(emu.calls(PLAIN_FUNCTION)) == 1, "Lambda was called without the store"
        disk.free(worker.pid)
        result = await finish(handle)

        key = result.idempotency_key
        assert len(emu.calls(PLAIN_FUNCTION, key)) == 1
        assert len(emu.effects(key)) == 1
        assert integrity(path) == "ok"
        assert store_status(path, key, emu.url) == "COMPLETED"
    finally:
        await procs.close()  # nothing may keep the file system busy
        disk.unmount()
