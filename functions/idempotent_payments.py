"""``record-payment``: a Lambda function made idempotent with aws-lambda-powertools.

The function appends one entry to a payment ledger (its side effect) and returns a receipt.
Powertools' ``@idempotent`` makes it run once per idempotency key: a repeat with the same
key, whether a duplicate ``Event`` delivery from Lambda's async queue or a Temporal retry of
a synchronous call whose answer was lost, gets the first receipt back from the persistence
store, and the ledger is not touched again.

Where the key is: temporal-lambda sends a key that stays the same across every retry of one
activity. For ``Event`` (and ``InvokeAsync``) calls it is a field of the JSON-object payload,
``event["idempotency_key"]``, so ``IdempotencyConfig(event_key_jmespath="idempotency_key")``
finds it as is. For synchronous (``RequestResponse``) calls it is in the client context,
``context.client_context.custom["idempotency_key"]``, which a JMESPath over the event cannot
reach. The recipe for both paths is one small decorator, :func:`idempotency_key_from_context`,
placed *outside* ``@idempotent``: it copies the client-context key into (a copy of) the event
under the same field before ``@idempotent`` looks, so the same ``event_key_jmespath`` works
for both invocation types::

    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer, IdempotencyConfig, idempotent,
    )

    persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
    config = IdempotencyConfig(
        event_key_jmespath="idempotency_key",   # the field temporal-lambda fills
        raise_on_no_idempotency_key=True,       # a call without a key is a bug: fail loudly
        expires_after_seconds=24 * 60 * 60,     # longer than the activity's retry horizon
    )

    @idempotency_key_from_context               # sync: client context -> event field
    @idempotent(config=config, persistence_store=persistence)
    def handler(event, context):
        ...                                     # the side effect, once per key

When both carry a key (a synchronous call whose payload also has the field), the client
context wins: that is the one the plugin derived for this activity.

What a caller sees on a repeat:

* the call after one that completed: the stored result (a replay; no side effect);
* a call while the first is still running with the same key (e.g. Temporal retried after a
  heartbeat timeout): the function fails with ``IdempotencyAlreadyInProgressError``, which the
  default retry policy retries until the first finishes and its result can be replayed;
* the function raised: Powertools deletes the record, so the retry runs it again;
* the same key with a different ``account``/``amount``/``currency``:
  ``IdempotencyValidationError`` (payload validation); no key at all: ``IdempotencyKeyError``.
  Workflows should list both in ``non_retryable_function_errors``.

``expires_after_seconds`` must outlast every retry of the same activity; the plugin's default
retry policy retries without limit, so bound it (``schedule_to_close_timeout``) below the
expiry, or a very late retry would find the record gone and run the side effect again.

Deploying to AWS: the persistence store is ``DynamoDBPersistenceLayer`` when the environment
variable ``IDEMPOTENCY_TABLE`` names a table (partition key ``id`` of type string, TTL on
``expiration``); otherwise the SQLite file at ``IDEMPOTENCY_SQLITE_PATH`` (default: under the
temp directory), which only deduplicates within one execution environment and is meant for
local runs. ::

    aws dynamodb create-table --table-name record-payment-idempotency \\
        --attribute-definitions AttributeName=id,AttributeType=S \\
        --key-schema AttributeName=id,KeyType=HASH --billing-mode PAY_PER_REQUEST
    aws dynamodb update-time-to-live --table-name record-payment-idempotency \\
        --time-to-live-specification Enabled=true,AttributeName=expiration
    pip install --target build "aws-lambda-powertools>=3" && cp -r functions build/
    (cd build && zip -r ../record-payment.zip .)
    aws lambda create-function --function-name record-payment --runtime python3.12 \\
        --handler functions.idempotent_payments.handler --zip-file fileb://record-payment.zip \\
        --timeout 10 --role "$ROLE_ARN" \\
        --environment "Variables={IDEMPOTENCY_TABLE=record-payment-idempotency}"

The role needs ``dynamodb:GetItem``, ``PutItem``, ``UpdateItem`` and ``DeleteItem`` on the
table. The ledger here is a module-level list (shared by every invocation in the emulator,
one per execution environment on AWS); a real function would write to its database or call
its payment provider at the same point.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

from functions.powertools_persistence import SQLitePersistenceLayer

__all__ = [
    "EXPIRES_AFTER_SECONDS",
    "FUNCTION_NAME",
    "HANDLER_NAME",
    "IDEMPOTENCY_FIELD",
    "LEDGER",
    "InvalidPayment",
    "handler",
    "idempotency_key_from_context",
    "make_handler",
    "persistence_from_env",
]

FUNCTION_NAME = "record-payment"
"""The function's name in the examples and tests."""
HANDLER_NAME = "functions.idempotent_payments.handler"
"""The AWS handler string, for a zip holding the ``functions`` package."""
IDEMPOTENCY_FIELD = "idempotency_key"
"""Where temporal-lambda puts the key (its default ``idempotency_key_field``)."""
EXPIRES_AFTER_SECONDS = 24 * 60 * 60
"""How long a completed record is replayed (Powertools' default is one hour)."""

LEDGER: list[dict[str, Any]] = []
"""The side effect: one entry per payment actually recorded."""
_LEDGER_LOCK = threading.Lock()

Handler = Callable[[Any, Any], Any]


class InvalidPayment(ValueError):
    """The event is not a payment this function can record; retrying will not help."""


def idempotency_key_from_context(handler: Handler) -> Handler:
    """Copy the client-context idempotency key into the event, for ``@idempotent``.

    Put it outside (above) ``@idempotent``. Synchronous calls carry the key in
    ``context.client_context.custom["idempotency_key"]``; this hands the inner handler a
    shallow copy of the event with that key under ``"idempotency_key"``, so
    ``event_key_jmespath="idempotency_key"`` serves both invocation types. Events without a
    client context (``Event``, ``InvokeAsync``), or that are not JSON objects, pass unchanged.
    """

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        client_context = getattr(context, "client_context", None)
        custom = getattr(client_context, "custom", None)
        key = custom.get(IDEMPOTENCY_FIELD) if isinstance(custom, dict) else None
        if key and isinstance(event, dict):
            event = {**event, IDEMPOTENCY_FIELD: key}
        return handler(event, context)

    return wrapper


def persistence_from_env() -> BasePersistenceLayer:
    """Return DynamoDB when ``IDEMPOTENCY_TABLE`` is set, else an SQLite file (local runs)."""
    table = os.environ.get("IDEMPOTENCY_TABLE")
    if table:
        return DynamoDBPersistenceLayer(table_name=table)
    path = os.environ.get(
        "IDEMPOTENCY_SQLITE_PATH",
        os.path.join(tempfile.gettempdir(), "record-payment-idempotency.sqlite3"),
    )
    return SQLitePersistenceLayer(path)


def make_handler(
    persistence_store: BasePersistenceLayer,
    *,
    ledger: list[dict[str, Any]] | None = None,
    expires_after_seconds: int = EXPIRES_AFTER_SECONDS,
) -> Handler:
    """Build the ``record-payment`` handler on a persistence store and a ledger.

    Args:
        persistence_store: Where Powertools keeps its idempotency records.
        ledger: The list the side effect appends to; default :data:`LEDGER`.
        expires_after_seconds: How long a completed record is replayed.

    Returns:
        ``handler(event, context)``.
    """
    entries = LEDGER if ledger is None else ledger
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_FIELD,
        payload_validation_jmespath="[account, amount, currency]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=expires_after_seconds,
    )

    @idempotency_key_from_context
    @idempotent(config=config, persistence_store=persistence_store)
    def record_payment(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Append the payment to the ledger and return its receipt."""
        amount = event.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise InvalidPayment(f"amount must be a positive integer (cents), got {amount!r}")
        with _LEDGER_LOCK:
            entry = {
                "entry": len(entries) + 1,
                "account": event["account"],
                "amount": amount,
                "currency": event.get("currency", "EUR"),
                "idempotency_key": event.get(IDEMPOTENCY_FIELD),
                "request_id": getattr(context, "aws_request_id", "local"),
            }
            entries.append(entry)
        print(
            f"record-payment account={entry['account']} amount={amount} "
            f"key={entry['idempotency_key']} entry={entry['entry']}"
        )
        return {"receipt": f"rcpt-{entry['idempotency_key']}", **entry}

    return record_payment


handler: Handler = make_handler(persistence_from_env())
"""The deployed handler (``functions.idempotent_payments.handler``)."""
