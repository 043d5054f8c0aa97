"""Idempotency stores: at most one Lambda call per idempotency key, its result kept.

The activity claims a key with :meth:`IdempotencyStore.begin` before it calls Lambda, and
afterwards either stores the result (:meth:`~IdempotencyStore.complete`) or drops its claim
(:meth:`~IdempotencyStore.release`), so a retried attempt returns the stored result instead
of calling again. Two stores:

* :class:`SQLiteIdempotencyStore`: a local file (:func:`default_store_path`), for the
  worker processes of one host;
* :class:`PostgresIdempotencyStore`: a table shared by workers on any number of hosts
  (needs ``temporal-lambda[postgres]``).

Errors (defined with the rest of the tree in :mod:`temporal_lambda._errors`)::

    LambdaIdempotencyError
    ├── CallInProgress       Lambda.IdempotencyInProgress, retried when the lease ends
    ├── KeyReused            Lambda.IdempotencyKeyReused, not retryable
    ├── RecordUnreadable     Lambda.IdempotencyRecordUnreadable, not retryable
    ├── ResultTooLarge       Lambda.IdempotencyResultTooLarge, not retryable
    └── StoreUnavailable     Lambda.IdempotencyStoreUnavailable, retryable

A store of your own raises ``StoreUnavailable`` when it cannot answer and ``ResultTooLarge``
from ``complete``; the activity raises the other three.
"""

from temporal_lambda._codes import (
    IN_PROGRESS_ERROR_TYPE,
    KEY_REUSED_ERROR_TYPE,
    RECORD_UNREADABLE_ERROR_TYPE,
    RESULT_TOO_LARGE_ERROR_TYPE,
    STORE_UNAVAILABLE_ERROR_TYPE,
)
from temporal_lambda._errors import (
    CallInProgress,
    KeyReused,
    LambdaIdempotencyError,
    RecordUnreadable,
    ResultTooLarge,
    StoreUnavailable,
)
from temporal_lambda.idempotency._base import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_TTL_SECONDS,
    BeginOutcome,
    IdempotencyStore,
    default_store_path,
    request_fingerprint,
)
from temporal_lambda.idempotency._postgres import PostgresIdempotencyStore
from temporal_lambda.idempotency._sqlite import SQLiteIdempotencyStore

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "DEFAULT_TTL_SECONDS",
    "IN_PROGRESS_ERROR_TYPE",
    "KEY_REUSED_ERROR_TYPE",
    "RECORD_UNREADABLE_ERROR_TYPE",
    "RESULT_TOO_LARGE_ERROR_TYPE",
    "STORE_UNAVAILABLE_ERROR_TYPE",
    "BeginOutcome",
    "CallInProgress",
    "IdempotencyStore",
    "KeyReused",
    "LambdaIdempotencyError",
    "PostgresIdempotencyStore",
    "RecordUnreadable",
    "ResultTooLarge",
    "SQLiteIdempotencyStore",
    "StoreUnavailable",
    "default_store_path",
    "request_fingerprint",
]
