"""An SQLite persistence layer for Powertools' idempotency utility.

:class:`SQLitePersistenceLayer` is a drop-in ``persistence_store`` for
``aws_lambda_powertools.utilities.idempotency.idempotent``: it keeps the same records, with the
same conditions, as ``DynamoDBPersistenceLayer``, in one SQLite file. It exists so the
Powertools example (:mod:`functions.idempotent_payments`) runs here, in
:class:`temporal_lambda.testing.LocalLambda`, with no server to start; in production use the
DynamoDB layer (one SQLite file in a Lambda's ``/tmp`` is private to one execution
environment, so it cannot deduplicate across environments).

Semantics, mirroring ``DynamoDBPersistenceLayer``:

* ``_put_record`` inserts the ``INPROGRESS`` record only if no record exists for the key, the
  existing one has expired (``expiration < now``, seconds), or it is ``INPROGRESS`` with an
  in-progress expiry that has passed (``in_progress_expiration < now``, milliseconds: the
  invocation that wrote it timed out). Otherwise it raises
  ``IdempotencyItemAlreadyExistsError`` carrying the existing record (as DynamoDB's
  ``ReturnValuesOnConditionCheckFailure`` does), after payload validation. The check and the
  write happen in one ``BEGIN IMMEDIATE`` transaction, which takes SQLite's write lock up
  front, so concurrent invocations (threads or processes) cannot both win.
* ``_update_record`` upserts status, response data, expiry (and the validation hash when
  payload validation is on), like ``UpdateItem``.
* ``_get_record`` returns the record even if it has expired (``DataRecord.status`` then reads
  ``EXPIRED``), like a consistent ``GetItem`` before TTL deletion.
* ``_delete_record`` removes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)

__all__ = ["SQLitePersistenceLayer"]

_COLUMNS = "id, status, expiration, in_progress_expiration, data, validation"


class SQLitePersistenceLayer(BasePersistenceLayer):
    """Powertools idempotency records in an SQLite file.

    Args:
        path: The database file (created with its table if missing). Every invocation that
            should deduplicate against another must use the same file.
        table_name: The table holding the records.
        busy_timeout: Seconds to wait for another writer's lock before failing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table_name: str = "idempotency_records",
        busy_timeout: float = 30.0,
    ) -> None:
        if not table_name.isidentifier():
            raise ValueError(f"table_name must be an identifier, got {table_name!r}")
        self.path = os.fspath(path)
        self.table_name = table_name
        self.busy_timeout = busy_timeout
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table_name} ("
                "id TEXT PRIMARY KEY, "
                "status TEXT NOT NULL, "
                "expiration INTEGER NOT NULL, "
                "in_progress_expiration INTEGER, "
                "data TEXT, "
                "validation TEXT)"
            )
        super().__init__()  # type: ignore[no-untyped-call]

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: safe from any thread, and nothing to leak.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _to_record(row: tuple[str, str, int, int | None, str | None, str | None]) -> DataRecord:
        key, status, expiration, in_progress_expiration, data, validation = row
        return DataRecord(
            idempotency_key=key,
            status=status,
            expiry_timestamp=expiration,
            in_progress_expiry_timestamp=in_progress_expiration,
            response_data=data or "",
            payload_hash=validation or "",
        )

    def records(self) -> list[DataRecord]:
        """Return every stored record, oldest key first (for tests and inspection)."""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM {self.table_name} ORDER BY rowid"
            ).fetchall()
        return [self._to_record(row) for row in rows]

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM {self.table_name} WHERE id = ?", (idempotency_key,)
            ).fetchone()
        if row is None:
            raise IdempotencyItemNotFoundError
        return self._to_record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = dt.datetime.now()
        now_seconds = int(now.timestamp())
        now_millis = int(now.timestamp() * 1000)
        validation = data_record.payload_hash if self.payload_validation_enabled else None
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM {self.table_name} WHERE id = ?",
                    (data_record.idempotency_key,),
                ).fetchone()
                if row is not None:
                    _, status, expiration, in_progress_expiration, _, _ = row
                    replaceable = expiration < now_seconds or (
                        status == STATUS_CONSTANTS["INPROGRESS"]
                        and in_progress_expiration is not None
                        and in_progress_expiration < now_millis
                    )
                    if not replaceable:
                        conn.execute("ROLLBACK")
                        old = self._to_record(row)
                        self._validate_payload(data_payload=data_record, stored_data_record=old)
                        self._save_to_cache(data_record=old)
                        raise IdempotencyItemAlreadyExistsError(old_data_record=old)
                conn.execute(
                    f"INSERT OR REPLACE INTO {self.table_name} ({_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, NULL, ?)",
                    (
                        data_record.idempotency_key,
                        data_record.status,
                        data_record.expiry_timestamp,
                        data_record.in_progress_expiry_timestamp,
                        validation or None,
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _update_record(self, data_record: DataRecord) -> None:
        validation = data_record.payload_hash if self.payload_validation_enabled else None
        with self._connect() as conn:
            conn.execute(
                f"INSERT INTO {self.table_name} (id, status, expiration, data, validation) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "status = excluded.status, expiration = excluded.expiration, "
                "data = excluded.data, "
                "validation = COALESCE(excluded.validation, validation)",
                (
                    data_record.idempotency_key,
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.response_data,
                    validation,
                ),
            )

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._connect() as conn:
            conn.execute(
                f"DELETE FROM {self.table_name} WHERE id = ?", (data_record.idempotency_key,)
            )
