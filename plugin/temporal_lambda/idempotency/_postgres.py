"""The shared store: one PostgreSQL table, for workers on many hosts.

``asyncpg`` is imported when the pool is first needed, so the package works without it
(install ``temporal-lambda[postgres]``). Time is the database's ``clock_timestamp()``, so
the workers' clocks never matter. ``begin`` runs in one transaction that locks the key's
row (``INSERT ... ON CONFLICT DO NOTHING``, then ``SELECT ... FOR UPDATE``); every other
transition is a single statement.

Every driver, server and network error becomes :class:`StoreUnavailable` in :meth:`_run`,
and only there.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from temporal_lambda._closing import AsyncClosing
from temporal_lambda._errors import StoreUnavailable
from temporal_lambda.idempotency._base import (
    COMPLETED,
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_PURGE_INTERVAL_SECONDS,
    DEFAULT_TTL_SECONDS,
    IN_PROGRESS,
    BeginOutcome,
    refuse_oversized,
    validate_lease,
    validate_settings,
)

if TYPE_CHECKING:
    import asyncpg
    import asyncpg.pool

    _Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
    _Conn: TypeAlias = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)

DEFAULT_TABLE = "temporal_lambda_idempotency"
"""The table a PostgreSQL store uses unless told otherwise."""
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SCHEMA_LOCK_ID = 0x746C_6964  # "tlid": serialises CREATE TABLE across workers
_BEGIN_ATTEMPTS = 10


class PostgresIdempotencyStore(AsyncClosing):
    """Idempotency records in a PostgreSQL table, shared by workers on any number of hosts."""

    def __init__(
        self,
        dsn: str,
        *,
        table: str = DEFAULT_TABLE,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        pool_min: int = 1,
        pool_max: int = 10,
        connect_timeout_seconds: float = 10.0,
        command_timeout_seconds: float | None = 30.0,
        purge_interval_seconds: float | None = DEFAULT_PURGE_INTERVAL_SECONDS,
    ) -> None:
        """Create the store; the pool and the table are made on first use.

        Args:
            dsn: A libpq connection URI, e.g. ``postgresql://user:pw@host:5432/db``.
            table: The table, optionally ``schema.table``; created if it does not exist.
            ttl_seconds: How long a record is kept after it was claimed or completed.
            max_result_bytes: The largest result :meth:`complete` stores.
            pool_min: Connections the pool keeps open.
            pool_max: Connections the pool opens at most.
            connect_timeout_seconds: How long to wait for a new connection.
            command_timeout_seconds: How long one statement may take (``None``: no limit).
            purge_interval_seconds: ``begin`` also deletes expired records at most this
                often; ``None``: only :meth:`purge_expired` does.

        Raises:
            ValueError: A setting is out of range, or ``table`` is not a plain identifier.
        """
        validate_settings(ttl_seconds, max_result_bytes)
        parts = table.split(".")
        if len(parts) > 2 or not all(_IDENTIFIER.match(part) for part in parts):
            raise ValueError(f"table must be an identifier or schema.identifier, not {table!r}")
        if not 0 <= pool_min <= pool_max or pool_max < 1:
            raise ValueError(f"need 0 <= pool_min <= pool_max, 1 <= pool_max: {pool_min, pool_max}")
        self._dsn = dsn
        self._table = ".".join(f'"{part}"' for part in parts)
        self._index = f'"{parts[-1][:48]}_expires_at"'
        self._ttl = float(ttl_seconds)
        self._max_result_bytes = max_result_bytes
        self._pool_min = pool_min
        self._pool_max = pool_max
        self._connect_timeout = connect_timeout_seconds
        self._command_timeout = command_timeout_seconds
        self._purge_interval = purge_interval_seconds
        self._pool: _Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._closed = False
        self._next_purge = 0.0

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
        expiry = max(self._ttl, lease_seconds)
        t = self._table

        async def claim(conn: _Conn) -> BeginOutcome:
            async with conn.transaction():
                for _ in range(_BEGIN_ATTEMPTS):
                    inserted = await conn.fetchval(
                        f"INSERT INTO {t} AS r (key, status, fingerprint, owner, lease_until,"
                        " expires_at, result, created_at, updated_at)"
                        " SELECT $1, $2, $3, $4, now_ + $5 * interval '1 second',"
                        "   now_ + $6 * interval '1 second', NULL, now_, now_"
                        " FROM (SELECT clock_timestamp() AS now_) AS c"
                        " ON CONFLICT (key) DO NOTHING RETURNING true",
                        key,
                        IN_PROGRESS,
                        fingerprint,
                        owner,
                        float(lease_seconds),
                        expiry,
                    )
                    if inserted:
                        return BeginOutcome("acquired")
                    row = await conn.fetchrow(
                        f"SELECT status, fingerprint, lease_until, expires_at, result FROM {t}"
                        " WHERE key = $1 FOR UPDATE",
                        key,
                    )
                    if row is None:  # deleted since the INSERT looked: try again
                        continue
                    now: datetime = await conn.fetchval("SELECT clock_timestamp()")
                    if row["expires_at"] <= now:
                        await conn.execute(
                            f"UPDATE {t} SET status = $2, fingerprint = $3, owner = $4,"
                            " lease_until = $5::timestamptz + $6 * interval '1 second',"
                            " expires_at = $5::timestamptz + $7 * interval '1 second',"
                            " result = NULL, created_at = $5, updated_at = $5 WHERE key = $1",
                            key,
                            IN_PROGRESS,
                            fingerprint,
                            owner,
                            now,
                            float(lease_seconds),
                            expiry,
                        )
                        return BeginOutcome("acquired")
                    if row["fingerprint"] != fingerprint:
                        return BeginOutcome("mismatch")
                    if row["status"] == COMPLETED:
                        result = row["result"]  # NULL only in a damaged row
                        return BeginOutcome(
                            "completed", result=None if result is None else bytes(result)
                        )
                    if row["lease_until"] > now:
                        retry_after = (row["lease_until"] - now).total_seconds()
                        return BeginOutcome("in_progress", retry_after=retry_after)
                    await conn.execute(
                        f"UPDATE {t} SET owner = $2,"
                        " lease_until = $3::timestamptz + $4 * interval '1 second',"
                        " expires_at = $3::timestamptz + $5 * interval '1 second',"
                        " updated_at = $3 WHERE key = $1",
                        key,
                        owner,
                        now,
                        float(lease_seconds),
                        expiry,
                    )
                    return BeginOutcome("acquired", taken_over=True)
            raise StoreUnavailable(f"could not claim idempotency key {key!r}: too much contention")

        outcome = await self._run(claim)
        await self._maybe_purge()
        return outcome

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
        await self._execute(
            f"UPDATE {self._table} SET status = $2, result = $3, owner = $4, lease_until = NULL,"
            " expires_at = clock_timestamp() + $5 * interval '1 second',"
            " updated_at = clock_timestamp()"
            " WHERE key = $1 AND status = $6 AND expires_at > clock_timestamp()",
            key,
            COMPLETED,
            result,
            owner,
            self._ttl,
            IN_PROGRESS,
        )

    async def release(self, key: str, owner: str) -> None:
        """Delete ``owner``'s in-progress record for ``key``, if there is one.

        Args:
            key: The idempotency key.
            owner: Who claimed it.

        Raises:
            StoreUnavailable: The database could not answer; nothing was changed.
        """
        await self._execute(
            f"DELETE FROM {self._table} WHERE key = $1 AND owner = $2 AND status = $3",
            key,
            owner,
            IN_PROGRESS,
        )

    async def purge_expired(self) -> int:
        """Delete every record past its expiry.

        Returns:
            How many records were deleted.

        Raises:
            StoreUnavailable: The database could not answer; nothing was changed.
        """
        status = await self._execute(
            f"DELETE FROM {self._table} WHERE expires_at <= clock_timestamp()"
        )
        return int(status.split()[-1])

    async def aclose(self) -> None:
        """Close the pool. Safe to call twice."""
        self._closed = True
        async with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _execute(self, query: str, *args: Any) -> str:
        async def run(conn: _Conn) -> str:
            return await conn.execute(query, *args)

        return await self._run(run)

    async def _run(self, body: Callable[[_Conn], Awaitable[_T]]) -> _T:
        """Run ``body`` on a pooled connection; the one place store errors are translated."""
        try:
            pool = await self._get_pool()
            async with pool.acquire(timeout=self._connect_timeout) as conn:
                return await body(conn)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if not _is_store_error(exc):
                raise
            raise StoreUnavailable(
                f"the PostgreSQL idempotency store is unavailable: {type(exc).__name__}: {exc}"
            ) from exc

    async def _get_pool(self) -> _Pool:
        if self._closed:
            raise RuntimeError("the idempotency store is closed")
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await self._create_pool()
            return self._pool

    async def _create_pool(self) -> _Pool:
        try:
            import asyncpg
        except ImportError as exc:
            raise ImportError(
                "PostgresIdempotencyStore needs asyncpg: install temporal-lambda[postgres]"
            ) from exc
        pool: _Pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._pool_min,
            max_size=self._pool_max,
            timeout=self._connect_timeout,
            command_timeout=self._command_timeout,
        )
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_ID)
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._table} ("
                    " key text PRIMARY KEY,"
                    f" status text NOT NULL CHECK (status IN ('{IN_PROGRESS}', '{COMPLETED}')),"
                    " fingerprint text NOT NULL,"
                    " owner text,"
                    " lease_until timestamptz,"
                    " expires_at timestamptz NOT NULL,"
                    " result bytea,"
                    " created_at timestamptz NOT NULL,"
                    " updated_at timestamptz NOT NULL)"
                )
                await conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {self._index} ON {self._table} (expires_at)"
                )
        except BaseException:
            pool.terminate()
            raise
        return pool

    async def _maybe_purge(self) -> None:
        """Delete expired records now and then; a failure here waits for the next time."""
        loop = asyncio.get_running_loop()
        if self._purge_interval is None or loop.time() < self._next_purge:
            return
        self._next_purge = loop.time() + self._purge_interval
        try:
            purged = await self.purge_expired()
        except StoreUnavailable as exc:
            _log.warning("could not purge expired idempotency records: %s", exc)
        else:
            if purged:
                _log.debug("purged %d expired idempotency records", purged)


def _is_store_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` means the database could not answer (rather than a bug here)."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    driver = sys.modules.get("asyncpg")
    if driver is None:
        return False
    # InternalClientError: what asyncpg raises on a connection the server has just closed.
    return isinstance(
        exc, driver.PostgresError | driver.InterfaceError | driver.InternalClientError
    )
