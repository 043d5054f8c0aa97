"""Idempotency stores: at most one Lambda call per idempotency key, its result kept.

The activity claims a key with :meth:`IdempotencyStore.begin` before it calls Lambda, and
afterwards either stores the result (:meth:`~IdempotencyStore.complete`) or drops its claim
(:meth:`~IdempotencyStore.release`), so a retried attempt returns the stored result instead
of calling again. Two stores:

* :class:`SQLiteIdempotencyStore`: a local file (:func:`default_store_path`), for the
  worker processes of one host;
* :class:`PostgresIdempotencyStore`: a table shared by workers on any number of hosts
  (needs ``temporal-lambda[postgres]``).

Errors::

    LambdaIdempotencyError
    ├── ResultTooLarge       Lambda.IdempotencyResultTooLarge, not retryable
    └── StoreUnavailable     Lambda.IdempotencyStoreUnavailable, retryable
"""

from temporal_lambda._codes import RESULT_TOO_LARGE_ERROR_TYPE, STORE_UNAVAILABLE_ERROR_TYPE
from temporal_lambda.idempotency._base import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_TTL_SECONDS,
    BeginOutcome,
    IdempotencyStore,
    ResultTooLarge,
    StoreUnavailable,
    default_store_path,
    request_fingerprint,
)
from temporal_lambda.idempotency._postgres import PostgresIdempotencyStore
from temporal_lambda.idempotency._sqlite import SQLiteIdempotencyStore

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "DEFAULT_TTL_SECONDS",
    "RESULT_TOO_LARGE_ERROR_TYPE",
    "STORE_UNAVAILABLE_ERROR_TYPE",
    "BeginOutcome",
    "IdempotencyStore",
    "PostgresIdempotencyStore",
    "ResultTooLarge",
    "SQLiteIdempotencyStore",
    "StoreUnavailable",
    "default_store_path",
    "request_fingerprint",
]
