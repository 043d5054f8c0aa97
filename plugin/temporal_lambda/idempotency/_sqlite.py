"""The embedded store: one SQLite file, shared by every worker process on the host.

Concurrency: within a process, every statement runs on one connection in one dedicated
thread, so the event loop never blocks and calls are serialised; across processes, WAL
mode, ``BEGIN IMMEDIATE`` transactions and a busy timeout do it. Time is ``time.time()``,
read after the write lock is taken, so hosts' processes share one clock.

Every SQLite or file-system error becomes :class:`StoreUnavailable` in :meth:`_call`, and
only there; a failed transaction is rolled back, so the file is never left half-changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from temporal_lambda.idempotency._base import (
    COMPLETED,
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_PURGE_INTERVAL_SECONDS,
    DEFAULT_TTL_SECONDS,
    IN_PROGRESS,
    BeginOutcome,
    ClosingStore,
    StoreUnavailable,
    refuse_oversized,
    validate_lease,
    validate_settings,
)

_T = TypeVar("_T")
_log = logging.getLogger(__name__)

TABLE = "idempotency_records"
"""The table every SQLite store uses."""
SCHEMA_VERSION = 1
"""Kept in ``PRAGMA user_version``."""

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        key          TEXT PRIMARY KEY,
        status       TEXT NOT NULL CHECK (status IN ('{IN_PROGRESS}', '{COMPLETED}')),
        fingerprint  TEXT NOT NULL,
        owner        TEXT,
        lease_until  REAL,
        expires_at   REAL NOT NULL,
        result       BLOB,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_expires_at ON {TABLE} (expires_at)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_PRAGMA_NAME = re.compile(r"^[a-z_]+$")
_PRAGMA_VALUE = re.compile(r"^-?[0-9]+$|^[A-Za-z_]+$")


class SQLiteIdempotencyStore(ClosingStore):
    """Idempotency records in a local SQLite file (the default store).

    Safe for many concurrent activities in one worker and for several worker processes
    sharing the file on one host (not over a network file system).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        busy_timeout_seconds: float = 5.0,
        purge_interval_seconds: float | None = DEFAULT_PURGE_INTERVAL_SECONDS,
        pragmas: Mapping[str, int | str] | None = None,
    ) -> None:
        """Create the store; the file, its directory and the table are made on first use.

        Args:
            path: The database file, e.g. :func:`default_store_path`.
            ttl_seconds: How long a record is kept after it was claimed or completed.
            max_result_bytes: The largest result :meth:`complete` stores.
            busy_timeout_seconds: How long to wait for another process's write lock
                before giving up with :class:`StoreUnavailable`.
            purge_interval_seconds: ``begin`` also deletes expired records at most this
                often; ``None``: only :meth:`purge_expired` does.
            pragmas: Extra ``PRAGMA name = value`` settings for the connection, applied
                after the store's own (e.g. ``{"cache_size": -8000}``).

        Raises:
            ValueError: A setting is out of range, or a pragma is not a plain name/value.
        """
        validate_settings(ttl_seconds, max_result_bytes)
        if busy_timeout_seconds < 0:
            raise ValueError(f"busy_timeout_seconds must not be negative: {busy_timeout_seconds}")
        extra = dict(pragmas or {})
        for name, value in extra.items():
            if not _PRAGMA_NAME.match(name) or not _PRAGMA_VALUE.match(str(value)):
                raise ValueError(f"unsupported pragma {name!r} = {value!r}")
        self._path = Path(path)
        self._ttl = float(ttl_seconds)
        self._max_result_bytes = max_result_bytes
        self._busy_timeout = float(busy_timeout_seconds)
        self._purge_interval = purge_interval_seconds
        self._pragmas = extra
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tl-idempotency")
        self._closed = False
        # Touched only on the executor's thread:
        self._conn: sqlite3.Connection | None = None
        self._next_purge = 0.0

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def begin(
        self, key: str, fingerprint: str, *, lease_seconds: float, owner: str
    ) -> BeginOutcome:
        """Claim ``key`` for one attempt, or report why not (see :class:`IdempotencyStore`).

        Args:
            key: The idempotency key.
            fingerprint: The request's fingerprint.
            lease_seconds: How long the claim holds.
            owner: Who claims it.

        Returns:
            The outcome.

        Raises:
            StoreUnavailable: The database could not answer; nothing was changed.
        """
        validate_lease(lease_seconds)

        def body(conn: sqlite3.Connection) -> BeginOutcome:
            outcome = self._transaction(
                conn, lambda now: self._begin(conn, now, key, fingerprint, lease_seconds, owner)
            )
            self._maybe_purge(conn)
            return outcome

        return await self._run(body)

    async def complete(self, key: str, owner: str, result: bytes) -> None:
        """Store the result of the call holding ``key`` (see :class:`IdempotencyStore`).

        Args:
            key: The idempotency key.
            owner: Who ran the call.
            result: The result document.

        Raises:
            ResultTooLarge: ``result`` is over ``max_result_bytes``; ``owner``'s record was
                released and nothing stored.
            StoreUnavailable: The database could not answer; nothing was changed.
        """
        await refuse_oversized(self, key, owner, result, self._max_result_bytes)

        def update(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                f"UPDATE {TABLE} SET status = ?, result = ?, owner = ?, lease_until = NULL,"
                " expires_at = ?, updated_at = ?"
                " WHERE key = ? AND status = ? AND expires_at > ?",
                (COMPLETED, result, owner, now + self._ttl, now, key, IN_PROGRESS, now),
            )

        await self._run(lambda conn: self._transaction(conn, lambda now: update(conn, now)))

    async def release(self, key: str, owner: str) -> None:
        """Delete ``owner``'s in-progress record for ``key``, if there is one.

        Args:
            key: The idempotency key.
            owner: Who claimed it.

        Raises:
            StoreUnavailable: The database could not answer; nothing was changed.
        """

        def delete(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                f"DELETE FROM {TABLE} WHERE key = ? AND owner = ? AND status = ?",
                (key, owner, IN_PROGRESS),
            )

        await self._run(lambda conn: self._transaction(conn, lambda now: delete(conn, now)))

    async def purge_expired(self) -> int:
        """Delete every record past its expiry.

        Returns:
            How many records were deleted.

        Raises:
            StoreUnavailable: The database could not answer; nothing was changed.
        """
        return await self._run(lambda conn: self._transaction(conn, lambda now: _purge(conn, now)))

    async def aclose(self) -> None:
        """Close the connection and stop the store's thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._disconnect)
        finally:
            self._executor.shutdown(wait=False)

    # -- on the executor thread ---------------------------------------------------------

    async def _run(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise RuntimeError("the idempotency store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, body)

    def _call(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``body`` on the connection; the one place store errors are translated."""
        try:
            return body(self._connect())
        except (sqlite3.Error, OSError) as exc:
            name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
            raise StoreUnavailable(
                f"the SQLite idempotency store at {self._path} is unavailable: {exc} ({name})"
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=True
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            self._use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            for name, value in self._pragmas.items():
                conn.execute(f"PRAGMA {name} = {value}")
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:

                def create(now: float) -> None:
                    for statement in _SCHEMA:
                        conn.execute(statement)

                self._transaction(conn, create)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL mode, waiting out other processes doing the same.

        Changing the journal mode needs the file to itself, and SQLite answers ``SQLITE_BUSY``
        at once rather than calling the busy handler when another connection is in the middle
        of it, so wait here, up to the busy timeout.
        """
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.005
        while True:
            try:
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)  # on the store's own thread, never the event loop's
            delay = min(delay * 2, 0.1)

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _transaction(self, conn: sqlite3.Connection, body: Callable[[float], _T]) -> _T:
        """Run ``body(now)`` in a ``BEGIN IMMEDIATE`` transaction; roll back on any error."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(time.time())  # after the write lock is ours
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        return result

    def _begin(
        self,
        conn: sqlite3.Connection,
        now: float,
        key: str,
        fingerprint: str,
        lease_seconds: float,
        owner: str,
    ) -> BeginOutcome:
        row = conn.execute(
            f"SELECT status, fingerprint, lease_until, expires_at, result FROM {TABLE}"
            " WHERE key = ?",
            (key,),
        ).fetchone()
        lease_until = now + lease_seconds
        expires_at = now + max(self._ttl, lease_seconds)
        if row is None or row[3] <= now:
            conn.execute(
                f"INSERT OR REPLACE INTO {TABLE} (key, status, fingerprint, owner, lease_until,"
                " expires_at, result, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (key, IN_PROGRESS, fingerprint, owner, lease_until, expires_at, now, now),
            )
            return BeginOutcome("acquired")
        status, stored_fingerprint, stored_lease_until, _, result = row
        if stored_fingerprint != fingerprint:
            return BeginOutcome("mismatch")
        if status == COMPLETED:
            return BeginOutcome("completed", result=bytes(result))
        if stored_lease_until > now:
            return BeginOutcome("in_progress", retry_after=stored_lease_until - now)
        conn.execute(
            f"UPDATE {TABLE} SET owner = ?, lease_until = ?, expires_at = ?, updated_at = ?"
            " WHERE key = ?",
            (owner, lease_until, expires_at, now, key),
        )
        return BeginOutcome("acquired", taken_over=True)

    def _maybe_purge(self, conn: sqlite3.Connection) -> None:
        """Delete expired records now and then; a failure here waits for the next time."""
        if self._purge_interval is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self._purge_interval
        try:
            purged = self._transaction(conn, lambda now: _purge(conn, now))
        except sqlite3.Error as exc:
            _log.warning("could not purge expired idempotency records: %s", exc)
        else:
            if purged:
                _log.debug("purged %d expired idempotency records", purged)


def _purge(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute(f"DELETE FROM {TABLE} WHERE expires_at <= ?", (now,)).rowcount
