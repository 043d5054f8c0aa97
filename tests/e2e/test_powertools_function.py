"""A real callee library: Powertools ``@idempotent`` on the keys temporal-lambda sends.

The ``record-payment`` example (``functions/idempotent_payments.py``) runs in LocalLambda with
its idempotency records in SQLite (``functions/powertools_persistence.py``). Under duplicate
``Event`` delivery and under retried synchronous calls, its side effect (a ledger entry)
happens once per key.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyKeyError,
    IdempotencyValidationError,
)
from botocore.credentials import Credentials
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from functions.idempotent_payments import (
    FUNCTION_NAME,
    InvalidPayment,
    idempotency_key_from_context,
    make_handler,
)
from functions.powertools_persistence import SQLitePersistenceLayer
from temporal_lambda import (
    LambdaClient,
    LambdaInvokeRequest,
    LambdaInvokeResult,
    LambdaPlugin,
    LambdaTransportError,
)
from temporal_lambda._request import prepare_call
from temporal_lambda._response import parse_response
from temporal_lambda.testing import ClientContext, LambdaContext, LocalLambda
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow
from tests.support.emulator_keys import record_key

PAYMENT = {"account": "acct-7", "amount": 1250, "currency": "EUR"}


@dataclass
class Payments:
    lam: LocalLambda
    ledger: list[dict[str, Any]]
    store: SQLitePersistenceLayer


@pytest.fixture
def store(tmp_path: Path) -> SQLitePersistenceLayer:
    return SQLitePersistenceLayer(tmp_path / "idempotency.sqlite3")


@pytest.fixture
async def payments(store: SQLitePersistenceLayer) -> AsyncIterator[Payments]:
    ledger: list[dict[str, Any]] = []
    async with LocalLambda(
        credentials=("testing", "testing"),
        duplicate_event_deliveries=3,
        async_retry_delays=(0.05, 0.05),
    ) as lam:
        lam.register(FUNCTION_NAME, make_handler(store, ledger=ledger), timeout=10.0)
        yield Payments(lam, ledger, store)


def context(key: str | None = None, request_id: str = "req-1") -> LambdaContext:
    return LambdaContext(
        function_name=FUNCTION_NAME,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}",
        memory_limit_in_mb=128,
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{FUNCTION_NAME}",
        log_stream_name="local",
        client_context=ClientContext({"custom": {"idempotency_key": key}}) if key else None,
        tenant_id=None,
        deadline=time.monotonic() + 10,
    )


def receipt(entry: dict[str, Any]) -> dict[str, Any]:
    return {"receipt": f"rcpt-{entry['idempotency_key']}", **entry}


# -- the handler on its own --------------------------------------------------------------------


def test_event_key_and_client_context_key_are_one_key(store: SQLitePersistenceLayer) -> None:
    ledger: list[dict[str, Any]] = []
    handler = make_handler(store, ledger=ledger)
    first = handler({**PAYMENT, "idempotency_key": "tl-k1"}, context(request_id="req-1"))
    # The same key arriving the synchronous way (client context) is a replay.
    again = handler(dict(PAYMENT), context("tl-k1", request_id="req-2"))
    other = handler(dict(PAYMENT), context("tl-k2", request_id="req-3"))
    assert ledger == [
        {
            "entry": 1,
            "account": "acct-7",
            "amount": 1250,
            "currency": "EUR",
            "idempotency_key": "tl-k1",
            "request_id": "req-1",
        },
        {
            "entry": 2,
            "account": "acct-7",
            "amount": 1250,
            "currency": "EUR",
            "idempotency_key": "tl-k2",
            "request_id": "req-3",
        },
    ]
    assert first == again == receipt(ledger[0])
    assert other == receipt(ledger[1])
    assert [r.status for r in store.records()] == ["COMPLETED", "COMPLETED"]


def test_client_context_key_wins_over_payload_field() -> None:
    seen: list[Any] = []

    @idempotency_key_from_context
    def inner(event: Any, context: Any) -> None:
        seen.append(event)

    original = {"idempotency_key": "from-payload", "x": 1}
    inner(original, context("from-context"))
    inner(original, context())
    inner([1, 2], context("from-context"))
    assert seen == [
        {"idempotency_key": "from-context", "x": 1},
        {"idempotency_key": "from-payload", "x": 1},
        [1, 2],
    ]
    assert original == {"idempotency_key": "from-payload", "x": 1}, "caller's event not mutated"


def test_key_reuse_with_other_payment_and_missing_key_are_rejected(
    store: SQLitePersistenceLayer,
) -> None:
    ledger: list[dict[str, Any]] = []
    handler = make_handler(store, ledger=ledger)
    handler(dict(PAYMENT), context("tl-k1"))
    with pytest.raises(IdempotencyValidationError):
        handler({**PAYMENT, "amount": 9999}, context("tl-k1"))
    with pytest.raises(IdempotencyKeyError):
        handler(dict(PAYMENT), context())
    assert len(ledger) == 1


def test_failed_call_leaves_no_record_so_a_retry_runs_again(
    store: SQLitePersistenceLayer,
) -> None:
    ledger: list[dict[str, Any]] = []
    handler = make_handler(store, ledger=ledger)
    with pytest.raises(InvalidPayment):
        handler({**PAYMENT, "amount": 0}, context("tl-k1"))
    assert store.records() == []
    assert ledger == []


class SlowLedger(list[dict[str, Any]]):
    """A ledger whose append takes long enough for concurrent calls to overlap."""

    def append(self, entry: dict[str, Any]) -> None:
        time.sleep(0.3)
        super().append(entry)


def test_concurrent_calls_with_one_key_record_once(store: SQLitePersistenceLayer) -> None:
    ledger = SlowLedger()
    handler = make_handler(store, ledger=ledger)
    barrier = threading.Barrier(8)
    outcomes: list[Any] = []
    lock = threading.Lock()

    def call(n: int) -> None:
        barrier.wait()
        try:
            outcome: Any = handler(dict(PAYMENT), context("tl-same", request_id=f"req-{n}"))
        except Exception as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ledger) == 1
    receipts = [o for o in outcomes if isinstance(o, dict)]
    in_progress = [o for o in outcomes if isinstance(o, IdempotencyAlreadyInProgressError)]
    assert len(receipts) + len(in_progress) == 8, outcomes
    assert receipts and all(r == receipt(ledger[0]) for r in receipts)
    assert in_progress, "the calls overlapped: the others found the record in progress"


# -- the persistence layer's conditions (as DynamoDBPersistenceLayer's) ------------------------


def configured(store: SQLitePersistenceLayer) -> None:
    store.configure(IdempotencyConfig(event_key_jmespath="idempotency_key"), function_name="f")


def test_put_refuses_a_live_in_progress_record(store: SQLitePersistenceLayer) -> None:
    configured(store)
    store.save_inprogress({"idempotency_key": "k"}, remaining_time_in_millis=10_000)
    with pytest.raises(IdempotencyItemAlreadyExistsError) as caught:
        store.save_inprogress({"idempotency_key": "k"}, remaining_time_in_millis=10_000)
    old = caught.value.old_data_record
    assert old is not None and old.status == "INPROGRESS"
    assert [r.idempotency_key for r in store.records()] == [old.idempotency_key]


def test_put_takes_over_a_timed_out_in_progress_record(store: SQLitePersistenceLayer) -> None:
    configured(store)
    store.save_inprogress({"idempotency_key": "k"}, remaining_time_in_millis=0)
    time.sleep(0.01)
    store.save_inprogress({"idempotency_key": "k"}, remaining_time_in_millis=10_000)
    (record,) = store.records()
    assert record.status == "INPROGRESS"
    assert record.in_progress_expiry_timestamp is not None
    assert record.in_progress_expiry_timestamp > time.time() * 1000 + 5_000


def test_put_replaces_an_expired_record_but_not_a_live_completed_one(
    store: SQLitePersistenceLayer, tmp_path: Path
) -> None:
    configured(store)
    store.expires_after_seconds = -10  # records written now are already expired
    store.save_inprogress({"idempotency_key": "k"}, remaining_time_in_millis=10_000)
    store.save_success({"idempotency_key": "k"}, {"done": 1})
    assert [r.status for r in store.records()] == ["EXPIRED"]
    store.expires_after_seconds = 3600
    store.save_inprogress({"idempotency_key": "k"}, remaining_time_in_millis=10_000)
    assert [r.status for r in store.records()] == ["INPROGRESS"]

    live = SQLitePersistenceLayer(tmp_path / "live.sqlite3")
    configured(live)
    live.save_inprogress({"idempotency_key": "k"}, remaining_time_in_millis=10_000)
    live.save_success({"idempotency_key": "k"}, {"done": 1})
    with pytest.raises(IdempotencyItemAlreadyExistsError) as caught:
        live.save_inprogress({"idempotency_key": "k"}, remaining_time_in_millis=10_000)
    old = caught.value.old_data_record
    assert old is not None and old.status == "COMPLETED"
    assert old.response_json_as_dict() == {"done": 1}


# -- in the emulator, over HTTP ----------------------------------------------------------------


@pytest.fixture
def client(payments: Payments) -> Iterator[LambdaClient]:
    yield LambdaClient(
        region="us-east-1",
        endpoint_url=payments.lam.endpoint_url,
        credentials=Credentials("testing", "testing"),
    )


async def test_emulator_duplicate_event_delivery_records_once(
    payments: Payments, client: LambdaClient
) -> None:
    key = f"tl-{uuid.uuid4().hex}"
    request = LambdaInvokeRequest(FUNCTION_NAME, dict(PAYMENT), invocation_type="Event")
    async with client:
        response = await client.send(prepare_call(request, key))
    await payments.lam.wait_for_events()
    assert response.status_code == 202
    records = payments.lam.records(FUNCTION_NAME)
    assert [(r.delivery, record_key(r), r.error_code) for r in records] == [
        (1, key, None),
        (2, key, None),
        (3, key, None),
    ]
    assert payments.ledger == [
        {
            "entry": 1,
            "account": "acct-7",
            "amount": 1250,
            "currency": "EUR",
            "idempotency_key": key,
            "request_id": records[0].request_id,
        }
    ]
    assert [r.status for r in payments.store.records()] == ["COMPLETED"]


async def test_emulator_resent_sync_call_after_lost_answer_records_once(
    payments: Payments, client: LambdaClient
) -> None:
    key = f"tl-{uuid.uuid4().hex}"
    request = LambdaInvokeRequest(FUNCTION_NAME, dict(PAYMENT))
    call = prepare_call(request, key)
    payments.lam.faults.drop_next(1, function=FUNCTION_NAME)
    async with client:
        with pytest.raises(LambdaTransportError):
            await client.send(call)
        response = await client.send(call)
    result = parse_response(request, key, response.status_code, response.headers, response.body)
    records = payments.lam.records(FUNCTION_NAME)
    assert len(records) == 2
    assert len(payments.ledger) == 1
    assert payments.ledger[0]["request_id"] == records[0].request_id
    assert result.payload == receipt(payments.ledger[0])
    assert result.request_id == records[1].request_id


# -- through Temporal ---------------------------------------------------------------------------


def worker(env: WorkflowEnvironment, lam: LocalLambda, task_queue: str) -> Worker:
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=lam.endpoint_url,
            credentials=Credentials("testing", "testing"),
        )
    )
    return Worker(env.client, task_queue=task_queue, workflows=[InvokeWorkflow], plugins=[plugin])


async def run(env: WorkflowEnvironment, task_queue: str, spec: InvokeSpec) -> LambdaInvokeResult:
    result: LambdaInvokeResult = await env.client.execute_workflow(
        InvokeWorkflow.run, spec, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
    )
    return result


async def test_retried_sync_call_records_once(
    any_env: WorkflowEnvironment, payments: Payments, task_queue: str
) -> None:
    payments.lam.faults.drop_next(1, function=FUNCTION_NAME)
    async with worker(any_env, payments.lam, task_queue):
        result = await run(
            any_env, task_queue, InvokeSpec(FUNCTION_NAME, dict(PAYMENT), initial_interval_s=0.1)
        )
    records = payments.lam.records(FUNCTION_NAME)
    key = result.idempotency_key
    assert [(r.invocation_type, record_key(r)) for r in records] == [
        ("RequestResponse", key),
        ("RequestResponse", key),
    ]
    assert payments.ledger == [
        {
            "entry": 1,
            "account": "acct-7",
            "amount": 1250,
            "currency": "EUR",
            "idempotency_key": key,
            "request_id": records[0].request_id,
        }
    ]
    # The second attempt got the first attempt's receipt, replayed by Powertools.
    assert result.payload == receipt(payments.ledger[0])
    assert result.request_id == records[1].request_id
    assert [r.status for r in payments.store.records()] == ["COMPLETED"]


async def test_duplicate_event_delivery_through_workflow_records_once(
    any_env: WorkflowEnvironment, payments: Payments, task_queue: str
) -> None:
    async with worker(any_env, payments.lam, task_queue):
        result = await run(
            any_env,
            task_queue,
            InvokeSpec(FUNCTION_NAME, dict(PAYMENT), {"invocation_type": "Event"}),
        )
    await payments.lam.wait_for_events()
    assert result.status_code == 202
    records = payments.lam.records(FUNCTION_NAME)
    assert [(r.delivery, record_key(r)) for r in records] == [
        (1, result.idempotency_key),
        (2, result.idempotency_key),
        (3, result.idempotency_key),
    ]
    assert [(e["entry"], e["idempotency_key"]) for e in payments.ledger] == [
        (1, result.idempotency_key)
    ]


async def test_two_workflows_record_twice(
    dev_env: WorkflowEnvironment, payments: Payments, task_queue: str
) -> None:
    async with worker(dev_env, payments.lam, task_queue):
        first = await run(dev_env, task_queue, InvokeSpec(FUNCTION_NAME, dict(PAYMENT)))
        second = await run(
            dev_env,
            task_queue,
            InvokeSpec(FUNCTION_NAME, dict(PAYMENT), {"invocation_type": "Event"}),
        )
    await payments.lam.wait_for_events()
    assert first.idempotency_key != second.idempotency_key
    assert [(e["entry"], e["idempotency_key"]) for e in payments.ledger] == [
        (1, first.idempotency_key),
        (2, second.idempotency_key),
    ]
    assert len(payments.lam.records(FUNCTION_NAME)) == 4
