"""The idempotency stores, each against the real thing: a SQLite file and a PostgreSQL server."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from temporal_lambda import LambdaIdempotencyError
from temporal_lambda.idempotency import (
    RESULT_TOO_LARGE_ERROR_TYPE,
    STORE_UNAVAILABLE_ERROR_TYPE,
    BeginOutcome,
    IdempotencyStore,
    PostgresIdempotencyStore,
    ResultTooLarge,
    SQLiteIdempotencyStore,
    StoreUnavailable,
    default_store_path,
    request_fingerprint,
)
from temporal_lambda.idempotency import _sqlite as sqlite_store

FP = request_fingerprint({"function": "charge-card", "payload": {"order": 42}})
OTHER_FP = request_fingerprint({"function": "charge-card", "payload": {"order": 43}})
LONG = 30.0  # a lease that does not run out during a test


@dataclass
class Backend:
    """Makes stores sharing one database (file or table) and reads its rows directly."""

    name: str
    location: str
    dsn: str = ""
    stores: list[IdempotencyStore] = field(default_factory=list)

    def make(self, **kwargs: Any) -> Any:
        kwargs.setdefault("purge_interval_seconds", None)
        store: IdempotencyStore
        if self.name == "sqlite":
            store = SQLiteIdempotencyStore(self.location, **kwargs)
        else:
            kwargs.setdefault("pool_max", 4)
            store = PostgresIdempotencyStore(self.dsn, table=self.location, **kwargs)
        self.stores.append(store)
        return store

    async def rows(self) -> dict[str, dict[str, Any]]:
        """Every record, times as seconds since the epoch."""
        columns = "key, status, fingerprint, owner, lease_until, expires_at, result, created_at"
        if self.name == "sqlite":
            return _sqlite_rows(self.location, columns)
        conn = await asyncpg.connect(self.dsn)
        try:
            records = await conn.fetch(
                f"SELECT key, status, fingerprint, owner,"
                f" extract(epoch FROM lease_until)::float8 AS lease_until,"
                f" extract(epoch FROM expires_at)::float8 AS expires_at, result,"
                f" extract(epoch FROM created_at)::float8 AS created_at FROM {self.location}"
            )
        finally:
            await conn.close()
        return {r["key"]: dict(r) for r in records}

    async def close(self) -> None:
        for store in self.stores:
            await store.aclose()
        if self.name == "postgres":
            conn = await asyncpg.connect(self.dsn)
            try:
                await conn.execute(f"DROP TABLE IF EXISTS {self.location}")
            finally:
                await conn.close()


def _sqlite_rows(path: str, columns: str) -> dict[str, dict[str, Any]]:
    if not os.path.exists(path):
        return {}
    with sqlite3.connect(path) as conn:
        found = conn.execute(f"SELECT {columns} FROM idempotency_records").fetchall()
    return {r[0]: dict(zip(columns.split(", "), r, strict=True)) for r in found}


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        made = Backend("sqlite", str(tmp_path / "state" / "idempotency.sqlite3"))
    else:
        dsn: str = request.getfixturevalue("pg_dsn")
        made = Backend("postgres", f"t_{uuid.uuid4().hex}", dsn=dsn)
    try:
        yield made
    finally:
        await made.close()


@pytest_asyncio.fixture
async def store(backend: Backend) -> Any:
    return backend.make()


# -- transitions ----------------------------------------------------------------------------


async def test_first_begin_acquires_and_records_in_progress(backend: Backend) -> None:
    store = backend.make(ttl_seconds=3600)
    assert isinstance(store, IdempotencyStore)
    before = time.time()
    outcome = await store.begin("k", FP, lease_seconds=60, owner="attempt-1")
    after = time.time()
    assert outcome == BeginOutcome("acquired")
    (row,) = (await backend.rows()).values()
    assert (row["key"], row["status"], row["fingerprint"], row["owner"], row["result"]) == (
        "k",
        "IN_PROGRESS",
        FP,
        "attempt-1",
        None,
    )
    assert before - 1 <= row["created_at"] <= after + 1
    assert row["lease_until"] - row["created_at"] == pytest.approx(60, abs=0.01)
    assert row["expires_at"] - row["created_at"] == pytest.approx(3600, abs=0.01)


async def test_live_lease_answers_in_progress_with_time_left(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    started = time.monotonic()
    outcome = await store.begin("k", FP, lease_seconds=LONG, owner="a2")
    assert outcome.kind == "in_progress"
    assert outcome.result is None and outcome.taken_over is False
    assert outcome.retry_after is not None
    assert LONG - (time.monotonic() - started) - 1 <= outcome.retry_after <= LONG


async def test_other_fingerprint_on_in_progress_is_a_mismatch(backend: Backend, store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    assert await store.begin("k", OTHER_FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
        "mismatch"
    )
    row = (await backend.rows())["k"]
    assert (row["status"], row["fingerprint"], row["owner"]) == ("IN_PROGRESS", FP, "a1")


async def test_other_fingerprint_on_expired_lease_is_still_a_mismatch(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=0.2, owner="a1")
    await asyncio.sleep(0.3)
    assert await store.begin("k", OTHER_FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
        "mismatch"
    )


async def test_other_fingerprint_on_completed_is_a_mismatch(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.complete("k", "a1", b'{"ok":true}')
    assert await store.begin("k", OTHER_FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
        "mismatch"
    )


async def test_expired_lease_is_taken_over(backend: Backend, store: Any) -> None:
    await store.begin("k", FP, lease_seconds=0.2, owner="a1")
    assert (await store.begin("k", FP, lease_seconds=0.2, owner="a2")).kind == "in_progress"
    await asyncio.sleep(0.3)
    outcome = await store.begin("k", FP, lease_seconds=LONG, owner="a2")
    assert outcome == BeginOutcome("acquired", taken_over=True)
    row = (await backend.rows())["k"]
    assert (row["status"], row["owner"]) == ("IN_PROGRESS", "a2")
    assert row["lease_until"] - time.time() == pytest.approx(LONG, abs=1)
    third = await store.begin("k", FP, lease_seconds=LONG, owner="a3")
    assert third.kind == "in_progress"


async def test_complete_stores_the_result_and_begin_returns_it(
    backend: Backend, store: Any
) -> None:
    document = b'{"StatusCode":200,"Payload":"eyJvayI6dHJ1ZX0="}'
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.complete("k", "a1", document)
    assert await store.begin("k", FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
        "completed", result=document
    )
    row = (await backend.rows())["k"]
    assert (row["status"], row["owner"], row["lease_until"], bytes(row["result"])) == (
        "COMPLETED",
        "a1",
        None,
        document,
    )


async def test_empty_result_is_kept_as_empty_bytes(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.complete("k", "a1", b"")
    assert await store.begin("k", FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
        "completed", result=b""
    )


async def test_complete_never_overwrites_a_stored_result(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.complete("k", "a1", b"first")
    await store.complete("k", "a1", b"second")
    await store.complete("k", "a2", b"third")
    outcome = await store.begin("k", FP, lease_seconds=LONG, owner="a3")
    assert outcome == BeginOutcome("completed", result=b"first")


async def test_complete_after_takeover_keeps_the_first_result(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=0.2, owner="a1")
    await asyncio.sleep(0.3)
    assert await store.begin("k", FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
        "acquired", taken_over=True
    )
    await store.complete("k", "a1", b"from a1")  # the slow first attempt finishes after all
    await store.complete("k", "a2", b"from a2")
    outcome = await store.begin("k", FP, lease_seconds=LONG, owner="a3")
    assert outcome == BeginOutcome("completed", result=b"from a1")


async def test_complete_without_a_record_stores_nothing(backend: Backend, store: Any) -> None:
    await store.complete("k", "a1", b"orphan")
    assert await backend.rows() == {}
    assert await store.begin("k", FP, lease_seconds=LONG, owner="a2") == BeginOutcome("acquired")


async def test_release_lets_the_next_begin_acquire(backend: Backend, store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.release("k", "a1")
    assert await backend.rows() == {}
    assert await store.begin("k", FP, lease_seconds=LONG, owner="a2") == BeginOutcome("acquired")


async def test_release_by_another_owner_changes_nothing(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.release("k", "someone-else")
    assert (await store.begin("k", FP, lease_seconds=LONG, owner="a2")).kind == "in_progress"


async def test_release_never_drops_a_completed_record(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.complete("k", "a1", b"done")
    await store.release("k", "a1")
    outcome = await store.begin("k", FP, lease_seconds=LONG, owner="a2")
    assert outcome == BeginOutcome("completed", result=b"done")


async def test_keys_are_independent(store: Any) -> None:
    assert (await store.begin("k1", FP, lease_seconds=LONG, owner="a")).kind == "acquired"
    assert (await store.begin("k2", OTHER_FP, lease_seconds=LONG, owner="a")).kind == "acquired"


# -- expiry ---------------------------------------------------------------------------------


async def test_expired_records_are_invisible_and_purged(backend: Backend) -> None:
    store = backend.make(ttl_seconds=0.5)
    await store.begin("in-progress", FP, lease_seconds=0.1, owner="a1")
    await store.begin("completed", FP, lease_seconds=0.1, owner="a1")
    await store.complete("completed", "a1", b"old")
    await asyncio.sleep(0.6)
    await store.begin("fresh", FP, lease_seconds=LONG, owner="a1")
    assert sorted(await backend.rows()) == ["completed", "fresh", "in-progress"]

    assert await store.purge_expired() == 2
    assert sorted(await backend.rows()) == ["fresh"]
    assert await store.purge_expired() == 0


async def test_expired_record_is_replaced_by_a_fresh_claim(backend: Backend) -> None:
    store = backend.make(ttl_seconds=0.4)
    await store.begin("k", FP, lease_seconds=0.1, owner="a1")
    await store.complete("k", "a1", b"old")
    await asyncio.sleep(0.5)
    # Not "completed", not "mismatch": the expired record no longer exists for begin.
    assert await store.begin("k", OTHER_FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
        "acquired"
    )
    row = (await backend.rows())["k"]
    assert (row["status"], row["fingerprint"], row["owner"], row["result"]) == (
        "IN_PROGRESS",
        OTHER_FP,
        "a2",
        None,
    )


async def test_complete_on_an_expired_claim_stores_nothing(backend: Backend) -> None:
    store = backend.make(ttl_seconds=0.3)
    await store.begin("k", FP, lease_seconds=0.1, owner="a1")
    await asyncio.sleep(0.4)
    await store.complete("k", "a1", b"late")
    assert (await backend.rows())["k"]["status"] == "IN_PROGRESS"
    assert await store.begin("k", FP, lease_seconds=LONG, owner="a2") == BeginOutcome("acquired")


async def test_record_outlives_its_lease_even_with_a_short_ttl(backend: Backend) -> None:
    store = backend.make(ttl_seconds=0.2)
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await asyncio.sleep(0.3)
    assert await store.purge_expired() == 0
    assert (await store.begin("k", FP, lease_seconds=LONG, owner="a2")).kind == "in_progress"


async def test_begin_purges_now_and_then(backend: Backend) -> None:
    store = backend.make(ttl_seconds=0.3, purge_interval_seconds=0)
    await store.begin("old", FP, lease_seconds=0.1, owner="a1")
    await asyncio.sleep(0.4)
    await store.begin("new", FP, lease_seconds=LONG, owner="a1")
    assert sorted(await backend.rows()) == ["new"]


# -- result size ----------------------------------------------------------------------------


async def test_result_too_large_is_refused_and_released(backend: Backend) -> None:
    store = backend.make(max_result_bytes=10)
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    with pytest.raises(ResultTooLarge) as caught:
        await store.complete("k", "a1", b"x" * 11)
    error = caught.value
    assert isinstance(error, LambdaIdempotencyError)
    assert str(error) == "result is 11 bytes; the idempotency store holds at most 10"
    assert error.error_type == RESULT_TOO_LARGE_ERROR_TYPE == "Lambda.IdempotencyResultTooLarge"
    assert error.retryable is False
    assert (error.size, error.limit) == (11, 10)
    assert await backend.rows() == {}
    assert await store.begin("k", FP, lease_seconds=LONG, owner="a2") == BeginOutcome("acquired")


async def test_result_at_the_limit_is_stored_whole(store: Any, backend: Backend) -> None:
    store = backend.make(max_result_bytes=10)
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.complete("k", "a1", b"0123456789")
    assert await store.begin("k", FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
        "completed", result=b"0123456789"
    )


async def test_default_limit_takes_two_megabytes(store: Any) -> None:
    big = os.urandom(2_000_000)
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.complete("k", "a1", big)
    assert (await store.begin("k", FP, lease_seconds=LONG, owner="a2")).result == big
    await store.begin("k2", FP, lease_seconds=LONG, owner="a1")
    with pytest.raises(ResultTooLarge, match=r"^result is 2000001 bytes; .* at most 2000000$"):
        await store.complete("k2", "a1", big + b"!")


# -- concurrency ----------------------------------------------------------------------------


async def test_fifty_concurrent_begins_acquire_once(backend: Backend) -> None:
    stores = [backend.make() for _ in range(5)]
    await stores[0].purge_expired()  # create the table up front: the race is about the key
    outcomes = await asyncio.gather(
        *(stores[i % 5].begin("k", FP, lease_seconds=LONG, owner=f"a{i}") for i in range(50))
    )
    assert Counter(o.kind for o in outcomes) == {"acquired": 1, "in_progress": 49}
    winner = next(i for i, o in enumerate(outcomes) if o.kind == "acquired")
    assert (await backend.rows())["k"]["owner"] == f"a{winner}"


async def test_fifty_concurrent_begins_on_a_fresh_database_acquire_once(
    backend: Backend,
) -> None:
    stores = [backend.make() for _ in range(5)]
    outcomes = await asyncio.gather(
        *(stores[i % 5].begin("k", FP, lease_seconds=LONG, owner=f"a{i}") for i in range(50))
    )
    assert Counter(o.kind for o in outcomes) == {"acquired": 1, "in_progress": 49}


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_takeover_happens_once(backend: Backend, round_: int) -> None:
    stores = [backend.make() for _ in range(5)]
    await stores[0].begin("k", FP, lease_seconds=0.2, owner="a0")
    await asyncio.gather(*(s.purge_expired() for s in stores[1:]))  # connect them all
    await asyncio.sleep(0.3)
    outcomes = await asyncio.gather(
        *(stores[i % 5].begin("k", FP, lease_seconds=LONG, owner=f"a{i}") for i in range(30))
    )
    assert Counter((o.kind, o.taken_over) for o in outcomes) == {
        ("acquired", True): 1,
        ("in_progress", False): 29,
    }


def _race_begin(path: str, owner: str, barrier: Any, results: Any) -> None:
    """In a spawned process: wait for the others, then claim the key once."""

    async def claim() -> str:
        store = SQLiteIdempotencyStore(path, busy_timeout_seconds=20)
        try:
            barrier.wait()
            return (await store.begin("k", FP, lease_seconds=LONG, owner=owner)).kind
        finally:
            await store.aclose()

    try:
        results.put((owner, asyncio.run(claim())))
    except BaseException as exc:
        results.put((owner, f"error: {exc!r}"))


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh-file", "existing-file"])
def test_sqlite_processes_racing_on_one_file_acquire_once(tmp_path: Path, fresh: bool) -> None:
    path = str(tmp_path / "shared.sqlite3")
    if not fresh:
        asyncio.run(_touch(path))
    ctx = multiprocessing.get_context("spawn")
    n = 4
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_race_begin, args=(path, f"p{i}", barrier, results)) for i in range(n)
    ]
    for proc in procs:
        proc.start()
    outcomes = dict(results.get(timeout=120) for _ in range(n))
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    assert Counter(outcomes.values()) == {"acquired": 1, "in_progress": n - 1}, outcomes
    winner = next(owner for owner, kind in outcomes.items() if kind == "acquired")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT owner FROM idempotency_records").fetchall() == [(winner,)]


async def _touch(path: str) -> None:
    async with SQLiteIdempotencyStore(path) as store:
        await store.purge_expired()


# -- SQLite: file, locking, full disk -------------------------------------------------------


async def test_sqlite_creates_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "idempotency.sqlite3"
    async with SQLiteIdempotencyStore(path) as store:
        assert store.path == path
        await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)


async def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "idempotency.sqlite3"
    async with SQLiteIdempotencyStore(path) as store:
        await store.begin("k", FP, lease_seconds=LONG, owner="a1")
        await store.complete("k", "a1", b"kept")
    async with SQLiteIdempotencyStore(path) as store:
        outcome = await store.begin("k", FP, lease_seconds=LONG, owner="a2")
    assert outcome == BeginOutcome("completed", result=b"kept")


def _assert_unavailable(error: BaseException, message_part: str) -> None:
    assert isinstance(error, StoreUnavailable)
    assert isinstance(error, LambdaIdempotencyError)
    assert error.error_type == STORE_UNAVAILABLE_ERROR_TYPE == "Lambda.IdempotencyStoreUnavailable"
    assert error.retryable is True
    assert message_part in str(error)


def _integrity(path: str | Path) -> list[tuple[str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


async def test_sqlite_locked_beyond_busy_timeout_is_unavailable_then_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "idempotency.sqlite3"
    store = SQLiteIdempotencyStore(path, busy_timeout_seconds=0.2)
    try:
        await store.begin("held", FP, lease_seconds=LONG, owner="a1")
        await store.begin("done", FP, lease_seconds=LONG, owner="a1")
        await store.complete("done", "a1", b"result")

        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            for attempt in (
                store.begin("new", FP, lease_seconds=LONG, owner="a2"),
                store.complete("held", "a1", b"x"),
                store.release("held", "a1"),
                store.purge_expired(),
            ):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable) as caught:
                    await attempt
                assert 0.15 <= time.monotonic() - started < 5
                _assert_unavailable(caught.value, "database is locked (SQLITE_BUSY)")
                assert str(caught.value).startswith(
                    f"the SQLite idempotency store at {path} is unavailable: "
                )
                assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        assert await store.begin("new", FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
            "acquired"
        )
        assert (await store.begin("held", FP, lease_seconds=LONG, owner="a3")).kind == (
            "in_progress"
        )
        assert await store.begin("done", FP, lease_seconds=LONG, owner="a3") == BeginOutcome(
            "completed", result=b"result"
        )
    finally:
        await store.aclose()
    assert _integrity(path) == [("ok",)]


async def test_sqlite_waiting_for_a_lock_does_not_block_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "idempotency.sqlite3"
    async with SQLiteIdempotencyStore(path, busy_timeout_seconds=0.5) as store:
        await store.purge_expired()
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            with pytest.raises(StoreUnavailable):
                await store.begin("k", FP, lease_seconds=LONG, owner="a1")
        finally:
            ticker.cancel()
            blocker.execute("ROLLBACK")
            blocker.close()
        assert ticks >= 20


async def test_sqlite_lock_held_while_opening_is_unavailable_then_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "idempotency.sqlite3"
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    store = SQLiteIdempotencyStore(path, busy_timeout_seconds=0.2)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await store.begin("k", FP, lease_seconds=LONG, owner="a1")
        _assert_unavailable(caught.value, "database is locked")
        blocker.execute("ROLLBACK")
        assert await store.begin("k", FP, lease_seconds=LONG, owner="a1") == BeginOutcome(
            "acquired"
        )
    finally:
        blocker.close()
        await store.aclose()
    assert _integrity(path) == [("ok",)]


async def test_sqlite_full_disk_is_unavailable_and_leaves_the_file_intact(
    tmp_path: Path,
) -> None:
    path = tmp_path / "idempotency.sqlite3"
    async with SQLiteIdempotencyStore(path) as roomy:
        await roomy.begin("held", FP, lease_seconds=LONG, owner="a1")
        await roomy.begin("done", FP, lease_seconds=LONG, owner="a1")
        await roomy.complete("done", "a1", b"result")
    with sqlite3.connect(path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]

    full = SQLiteIdempotencyStore(path, pragmas={"max_page_count": pages})
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await full.complete("held", "a1", os.urandom(200_000))
        _assert_unavailable(caught.value, "database or disk is full (SQLITE_FULL)")
        with pytest.raises(StoreUnavailable) as caught:
            await full.begin("k" * 50_000, FP, lease_seconds=LONG, owner="a2")
        _assert_unavailable(caught.value, "database or disk is full (SQLITE_FULL)")
        # Small changes still fit, and nothing was half-written.
        assert (await full.begin("held", FP, lease_seconds=LONG, owner="a2")).kind == (
            "in_progress"
        )
    finally:
        await full.aclose()
    assert _integrity(path) == [("ok",)]

    async with SQLiteIdempotencyStore(path) as store:
        assert await store.begin("done", FP, lease_seconds=LONG, owner="a3") == BeginOutcome(
            "completed", result=b"result"
        )
        big = os.urandom(200_000)
        await store.complete("held", "a1", big)
        assert await store.begin("held", FP, lease_seconds=LONG, owner="a3") == BeginOutcome(
            "completed", result=big
        )
        assert await store.begin("k" * 50_000, FP, lease_seconds=LONG, owner="a3") == (
            BeginOutcome("acquired")
        )
    assert _integrity(path) == [("ok",)]


async def test_sqlite_unwritable_location_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    async with SQLiteIdempotencyStore(blocker / "idempotency.sqlite3") as store:
        with pytest.raises(StoreUnavailable) as caught:
            await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    _assert_unavailable(caught.value, "(FileExistsError)")


async def test_sqlite_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "idempotency.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    async with SQLiteIdempotencyStore(path) as store:
        with pytest.raises(StoreUnavailable) as caught:
            await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    _assert_unavailable(caught.value, "file is not a database (SQLITE_NOTADB)")


async def test_sqlite_quick_transactions_do_not_wait_for_the_store_thread(
    tmp_path: Path,
) -> None:
    # White box: the store's one thread is kept busy, so whatever still finishes ran on
    # the event loop's own connection.
    async with SQLiteIdempotencyStore(tmp_path / "idempotency.sqlite3") as store:
        await store.begin("warm", FP, lease_seconds=LONG, owner="a0")  # file and table made
        gate = threading.Event()
        store._executor.submit(gate.wait, 30)
        try:
            quick = asyncio.gather(
                store.begin("k", FP, lease_seconds=LONG, owner="a1"),
                store.complete("warm", "a0", b"small"),
                store.release("k", "a1"),
            )
            assert await asyncio.wait_for(quick, 5) == [BeginOutcome("acquired"), None, None]
            # Large results and purges always go to the thread.
            large = asyncio.ensure_future(store.complete("other", "a1", b"x" * 100_000))
            purge = asyncio.ensure_future(store.purge_expired())
            await asyncio.sleep(0.3)
            assert not large.done() and not purge.done()
        finally:
            gate.set()
        assert await large is None and await purge == 0
        assert await store.begin("warm", FP, lease_seconds=LONG, owner="a2") == BeginOutcome(
            "completed", result=b"small"
        )


async def test_sqlite_lock_held_by_another_connection_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "idempotency.sqlite3"
    async with SQLiteIdempotencyStore(path, busy_timeout_seconds=5) as store:
        await store.begin("warm", FP, lease_seconds=LONG, owner="a0")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("DELETE FROM idempotency_records WHERE key = 'warm'")
        asyncio.get_running_loop().call_later(0.3, blocker.execute, "COMMIT")
        try:
            started = time.monotonic()
            outcome = await store.begin("warm", FP, lease_seconds=LONG, owner="a1")
            waited = time.monotonic() - started
        finally:
            blocker.close()
        # It waited for the other writer and then saw its change.
        assert outcome == BeginOutcome("acquired")
        assert 0.25 <= waited < 5
    assert _integrity(path) == [("ok",)]


async def test_sqlite_wal_is_checkpointed_while_the_loop_writes(tmp_path: Path) -> None:
    path = tmp_path / "idempotency.sqlite3"
    async with SQLiteIdempotencyStore(path) as store:
        for i in range(1500):
            await store.begin(f"k{i}", FP, lease_seconds=LONG, owner="a1")
            await store.complete(f"k{i}", "a1", b"result")
        wal_bytes = await asyncio.to_thread(os.path.getsize, f"{path}-wal")
    # 3,000 transactions of a few pages each would make a WAL of tens of megabytes if it
    # were never checkpointed; checkpoints let SQLite write it again from the start.
    assert wal_bytes < 8_000_000, wal_bytes
    assert len(_sqlite_rows(str(path), "key")) == 1500
    assert _integrity(path) == [("ok",)]


async def test_sqlite_transactions_wait_out_a_checkpoint_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # White box: count the transactions that ran on the store's thread. While a checkpoint
    # holds the write lock, the loop's transactions wait for it and then run on the loop;
    # sent to the thread, they would hold the lock while later ones arrive, which would find
    # it busy and follow them there (45% of all transactions did, at 64 concurrent calls).
    path = tmp_path / "idempotency.sqlite3"
    async with SQLiteIdempotencyStore(path, purge_interval_seconds=None) as store:
        await store.begin("warm", FP, lease_seconds=LONG, owner="a0")
        on_thread = 0
        call = store._call

        def counting(body: Any, connect: Any, on_loop: bool) -> Any:
            nonlocal on_thread
            on_thread += not on_loop
            return call(body, connect, on_loop)

        monkeypatch.setattr(store, "_call", counting)
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with gate:
                assert (await store.begin(f"k{i}", FP, lease_seconds=LONG, owner="a1")).kind == (
                    "acquired"
                )
                await asyncio.sleep(0)
                await store.complete(f"k{i}", "a1", b"result")

        await asyncio.gather(*(one(i) for i in range(1500)))
        wal_bytes = await asyncio.to_thread(os.path.getsize, f"{path}-wal")
    assert on_thread == 0
    assert wal_bytes < 8_000_000, wal_bytes  # so checkpoints did run meanwhile
    assert len(_sqlite_rows(str(path), "key")) == 1501
    assert _integrity(path) == [("ok",)]


async def test_sqlite_closed_while_waiting_out_a_checkpoint_refuses(tmp_path: Path) -> None:
    # White box: the store's thread is held, so the checkpoint that the next transaction
    # starts waits there, and so does the transaction after it, until the store is closed.
    store = SQLiteIdempotencyStore(tmp_path / "idempotency.sqlite3")
    await store.begin("warm", FP, lease_seconds=LONG, owner="a0")
    gate = threading.Event()
    store._executor.submit(gate.wait, 30)
    store._since_checkpoint = sqlite_store.CHECKPOINT_EVERY - 1
    assert (await store.begin("k1", FP, lease_seconds=LONG, owner="a1")).kind == "acquired"
    waiting = asyncio.ensure_future(store.begin("k2", FP, lease_seconds=LONG, owner="a1"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    closing = asyncio.ensure_future(store.aclose())
    await asyncio.sleep(0.1)
    gate.set()
    with pytest.raises(RuntimeError, match="the idempotency store is closed"):
        await waiting
    await closing
    assert store._loop_conn is None  # not opened again after the close


def test_sqlite_store_works_from_a_second_event_loop_thread(tmp_path: Path) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "idempotency.sqlite3")
    outcomes: list[BeginOutcome] = []

    async def use(key: str) -> None:
        outcomes.append(await store.begin(key, FP, lease_seconds=LONG, owner="a1"))
        outcomes.append(await store.begin(key, FP, lease_seconds=LONG, owner="a2"))

    asyncio.run(use("first"))
    other = threading.Thread(target=asyncio.run, args=(use("second"),))
    other.start()
    other.join(30)
    asyncio.run(store.aclose())
    assert [o.kind for o in outcomes] == ["acquired", "in_progress"] * 2


def test_sqlite_refuses_odd_pragmas(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported pragma"):
        SQLiteIdempotencyStore(tmp_path / "x", pragmas={"cache_size; DROP TABLE x": 1})
    with pytest.raises(ValueError, match="unsupported pragma"):
        SQLiteIdempotencyStore(tmp_path / "x", pragmas={"cache_size": "1; DROP TABLE x"})


# -- PostgreSQL -----------------------------------------------------------------------------


async def test_postgres_unreachable_is_unavailable() -> None:
    dsn = "postgresql://temporal_lambda:s3cret-pw@127.0.0.1:1/temporal_lambda"
    async with PostgresIdempotencyStore(dsn, connect_timeout_seconds=2) as store:
        for _ in range(2):  # a failed pool is not kept: the next call tries again
            with pytest.raises(StoreUnavailable) as caught:
                await store.begin("k", FP, lease_seconds=LONG, owner="a1")
            _assert_unavailable(caught.value, "")
            assert str(caught.value) == (
                "the PostgreSQL idempotency store is unavailable: ConnectionRefusedError:"
                " [Errno 111] Connect call failed ('127.0.0.1', 1)"
            )
            assert isinstance(caught.value.__cause__, ConnectionRefusedError)
        for call in (
            store.complete("k", "a1", b"x"),
            store.release("k", "a1"),
            store.purge_expired(),
        ):
            with pytest.raises(StoreUnavailable):
                await call


async def test_postgres_wrong_password_is_unavailable(pg_dsn: str) -> None:
    dsn = pg_dsn.replace("temporal_lambda:temporal_lambda@", "temporal_lambda:s3cret-pw@")
    async with PostgresIdempotencyStore(dsn) as store:
        with pytest.raises(StoreUnavailable) as caught:
            await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    _assert_unavailable(caught.value, "")
    assert str(caught.value) == (
        "the PostgreSQL idempotency store is unavailable: InvalidPasswordError:"
        ' password authentication failed for user "temporal_lambda"'
    )


async def test_postgres_lost_connection_is_unavailable_then_recovers(
    pg_dsn: str,
) -> None:
    backend = Backend("postgres", f"t_{uuid.uuid4().hex}", dsn=pg_dsn)
    try:
        store = backend.make(pool_min=1, pool_max=1)
        await store.begin("k", FP, lease_seconds=LONG, owner="a1")
        pid = await store._run(lambda conn: conn.fetchval("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(pg_dsn)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid) is True
        finally:
            await admin.close()
        try:
            outcome = await store.begin("k", FP, lease_seconds=LONG, owner="a2")
        except StoreUnavailable as error:  # the pool only finds out by using the connection
            _assert_unavailable(error, "the PostgreSQL idempotency store is unavailable: ")
            outcome = await store.begin("k", FP, lease_seconds=LONG, owner="a2")
        assert outcome.kind == "in_progress"
    finally:
        await backend.close()


async def test_postgres_schema_qualified_table(pg_dsn: str) -> None:
    schema = f"s_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        async with PostgresIdempotencyStore(pg_dsn, table=f"{schema}.records") as store:
            assert (await store.begin("k", FP, lease_seconds=LONG, owner="a1")).kind == ("acquired")
        assert await admin.fetchval(f"SELECT count(*) FROM {schema}.records") == 1
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.mark.parametrize("table", ["", "a.b.c", "records; DROP TABLE x", '"quoted"', "1abc"])
def test_postgres_refuses_odd_table_names(table: str) -> None:
    with pytest.raises(ValueError, match="table must be an identifier"):
        PostgresIdempotencyStore("postgresql://x@127.0.0.1/db", table=table)


def test_package_works_without_asyncpg(tmp_path: Path) -> None:
    script = f"""
import asyncio, sys
sys.modules["asyncpg"] = None  # as if it were not installed
from temporal_lambda.idempotency import PostgresIdempotencyStore, SQLiteIdempotencyStore

async def main():
    async with SQLiteIdempotencyStore({str(tmp_path / "db")!r}) as store:
        print((await store.begin("k", "f", lease_seconds=1, owner="o")).kind)
    async with PostgresIdempotencyStore("postgresql://x@127.0.0.1:1/db") as store:
        try:
            await store.begin("k", "f", lease_seconds=1, owner="o")
        except ImportError as exc:
            print(exc)

asyncio.run(main())
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.splitlines() == [
        "acquired",
        "PostgresIdempotencyStore needs asyncpg: install temporal-lambda[postgres]",
    ]


# -- settings and lifecycle -----------------------------------------------------------------


MAKERS: dict[str, Callable[..., Any]] = {
    "sqlite": lambda **kw: SQLiteIdempotencyStore("unused.sqlite3", **kw),
    "postgres": lambda **kw: PostgresIdempotencyStore("postgresql://x@127.0.0.1/db", **kw),
}


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"ttl_seconds": 0}, "ttl_seconds must be positive, not 0"),
        ({"max_result_bytes": -1}, "max_result_bytes must not be negative, not -1"),
    ],
)
def test_settings_are_checked(
    maker: Callable[..., Any], setting: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        maker(**setting)


async def test_lease_must_be_positive(store: Any) -> None:
    with pytest.raises(ValueError, match=r"^lease_seconds must be positive, not 0$"):
        await store.begin("k", FP, lease_seconds=0, owner="a1")


async def test_closed_store_refuses_work(store: Any) -> None:
    await store.begin("k", FP, lease_seconds=LONG, owner="a1")
    await store.aclose()
    await store.aclose()
    with pytest.raises(RuntimeError, match=r"^the idempotency store is closed$"):
        await store.begin("k", FP, lease_seconds=LONG, owner="a1")


# -- helpers --------------------------------------------------------------------------------


def test_request_fingerprint_is_sha256_of_canonical_json() -> None:
    request = {"function": "fn", "qualifier": None, "payload": {"b": [1, 2.5], "a": "é"}}
    canonical = '{"function":"fn","payload":{"a":"\\u00e9","b":[1,2.5]},"qualifier":null}'
    assert request_fingerprint(request) == hashlib.sha256(canonical.encode()).hexdigest()
    reordered = {"payload": {"a": "é", "b": [1, 2.5]}, "qualifier": None, "function": "fn"}
    assert request_fingerprint(reordered) == request_fingerprint(request)
    assert request_fingerprint({"a": 1}) == (
        "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    )
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": "1"})


def test_request_fingerprint_refuses_what_json_cannot_say() -> None:
    with pytest.raises(ValueError):
        request_fingerprint({"x": float("nan")})
    with pytest.raises(TypeError):
        request_fingerprint({"x": object()})


def test_default_store_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TEMPORAL_LAMBDA_STATE_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    expected_home = tmp_path / "home" / ".local" / "state" / "temporal-lambda"
    assert default_store_path() == expected_home / "idempotency.sqlite3"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/ignored")
    assert default_store_path() == expected_home / "idempotency.sqlite3"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "temporal-lambda" / "idempotency.sqlite3"
    monkeypatch.setenv("TEMPORAL_LAMBDA_STATE_DIR", str(tmp_path / "mine"))
    assert default_store_path() == tmp_path / "mine" / "idempotency.sqlite3"
