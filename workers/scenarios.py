"""The demo's scenarios: run the example workflows and report what happened, judging nothing.

Each scenario starts its workflow on a :class:`Target` (a Temporal client, a task queue and,
locally, the LocalLambda emulator), tells what it sees through ``say`` as it goes, and returns
an outcome: the workflow's result plus what the emulator and the example functions observed
(``None`` where only the emulator could tell, against real AWS). ``workers.demo`` prints them;
``tests/e2e/test_demo.py`` asserts on them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from functions import handlers as fn_state
from temporal_lambda import LambdaPlugin
from workflows import (
    FanOutInput,
    FanOutResult,
    FanOutWorkflow,
    NotifyInput,
    NotifyResult,
    NotifyWorkflow,
    OrderInput,
    OrderItem,
    OrderResult,
    OrderSaga,
    ReportInput,
    ReportResult,
    ReportWorkflow,
)

REPORT_SECONDS = 8.0
REPORT_HEARTBEAT_TIMEOUT = 3.0
FAN_OUT_CONCURRENCY = 3
THROTTLES = 2
RETRY_AFTER = 1
ITEMS = [
    "apple", "banana", "cherry", "date", "elderberry", "fig",
    "grape", "honeydew", "kiwi", "lemon", "mango", "nectarine",
]  # fmt: skip

Say = Callable[[str], None]
"""Where a scenario tells what it sees, one line at a time."""


@dataclass
class Target:
    """Where the scenarios run: a Temporal client, a task queue, and maybe the emulator."""

    client: Client
    task_queue: str
    plugin: LambdaPlugin
    lam: Any = None
    """The LocalLambda emulator in local mode, ``None`` against AWS."""

    @property
    def local(self) -> bool:
        """Whether the calls go to the emulator (whose records the scenarios can read)."""
        return self.lam is not None

    def records(self, function: str) -> list[Any]:
        """The emulator's records of ``function`` (none against AWS)."""
        return list(self.lam.records(function)) if self.lam is not None else []


# --------------------------------------------------------------------------- outcomes


@dataclass
class OrderOutcome:
    """An ``OrderSaga`` run, and what the example functions kept of it (local mode)."""

    result: OrderResult
    stored_reservation_key: str | None = None
    """The idempotency key reserve-inventory stored with the reservation."""
    charge_calls: int | None = None
    """How many times charge-card was invoked during the run."""
    reservation_gone: bool | None = None
    """The reservation is no longer held by reserve-inventory."""
    refunded: bool | None = None
    """The charge is marked refunded by refund-card."""


@dataclass
class FanOutOutcome:
    """A ``FanOutWorkflow`` run over ``ITEMS``."""

    result: FanOutResult
    seconds: float
    invocations: int | None = None
    """How many times enrich-item was invoked during the run."""


@dataclass
class NotifyOutcome:
    """A ``NotifyWorkflow`` run: DryRun, then an Event."""

    result: NotifyResult
    key_seen: str | None = None
    """The ``idempotency_key`` the notification function found in its event."""


@dataclass
class ThrottleOutcome:
    """An ``OrderSaga`` run whose first calls to reserve-inventory are throttled."""

    result: OrderResult
    seconds: float
    statuses: list[int]
    """The status of each reserve-inventory request, as the emulator answered them."""
    gaps: list[float]
    """Seconds between consecutive reserve-inventory requests."""
    first_activity_attempt: int | None
    """The attempt of the workflow's first started activity (reserve-inventory)."""
    keys_seen: set[str] = field(default_factory=set)
    """The idempotency keys the reserve-inventory requests carried."""


@dataclass
class ReportOutcome:
    """A ``ReportWorkflow`` run: one long call kept alive by heartbeats."""

    result: ReportResult
    seconds: float
    heartbeats: int
    """Distinct heartbeats seen through ``describe()`` while the call ran."""
    attempts: list[int]
    """The attempt of every ``ActivityTaskStarted`` in the history."""
    timeouts: int
    """``ActivityTaskTimedOut`` events in the history."""
    log_tail: list[str]
    invocations: int | None = None
    """How many times slow-report was invoked during the run."""


# --------------------------------------------------------------------------- helpers


def workflow_id(kind: str) -> str:
    """A fresh workflow id for one run of ``kind``."""
    return f"demo-{kind}-{uuid.uuid4().hex[:8]}"


def order(
    order_id: str, amount: float, card: str = "4242", address: str = "1 Main St"
) -> OrderInput:
    """An order of two items, charged through the ``live`` alias of charge-card."""
    return OrderInput(
        order_id=order_id,
        items=[OrderItem("sku-1", 2), OrderItem("sku-7", 1)],
        amount=amount,
        card=card,
        address=address,
        charge_qualifier="live",
    )


async def run_order(t: Target, o: OrderInput) -> OrderResult:
    """Run one ``OrderSaga`` to its end."""
    return await t.client.execute_workflow(
        OrderSaga.run,
        o,
        id=workflow_id(f"order-{o.order_id}"),
        task_queue=t.task_queue,
        execution_timeout=timedelta(seconds=60),
    )


def describe_order(say: Say, res: OrderResult) -> None:
    """Tell how an order ended: status, ids, and the failure with its compensations."""
    say(f"status={res.status} reservation={res.reservation_id} charge={res.charge_id}")
    if res.tracking_number:
        say(f"tracking={res.tracking_number} (charge-card version {res.charged_version})")
    if res.failure:
        f = res.failure
        say(f"failed at {f.step}: {f.error_type}: {f.message}")
    say(f"compensations run: {' → '.join(res.compensations) or 'none'}")


# --------------------------------------------------------------------------- scenarios


async def saga_success(t: Target, say: Say) -> OrderOutcome:
    """``OrderSaga`` completing: reserve, charge through the ``live`` alias, ship."""
    res = await run_order(t, order("1001", 120.0))
    describe_order(say, res)
    out = OrderOutcome(res)
    if t.local:
        stored = fn_state.RESERVATIONS.get(res.reservation_id or "", {}).get("idempotency_key")
        out.stored_reservation_key = stored
        say(
            f"idempotency key {res.idempotency_keys.get('reserve-inventory')} sent; "
            f"reserve-inventory stored {stored} (from the client context)"
        )
    return out


async def saga_declined(t: Target, say: Say) -> OrderOutcome:
    """``OrderSaga`` with a declined card: ``PaymentDeclined``, not retried, compensated."""
    before = len(t.records("charge-card"))
    res = await run_order(t, order("1002", 5000.0))
    describe_order(say, res)
    out = OrderOutcome(res)
    if t.local:
        out.charge_calls = len(t.records("charge-card")) - before
        out.reservation_gone = (
            res.reservation_id is not None and res.reservation_id not in fn_state.RESERVATIONS
        )
        say(
            f"charge-card invoked {out.charge_calls}x; "
            f"reservation {'released' if out.reservation_gone else 'still held'}"
        )
    return out


async def saga_ship_failure(t: Target, say: Say) -> OrderOutcome:
    """``OrderSaga`` failing at shipping: refund, then release."""
    res = await run_order(t, order("1003", 80.0, address="nowhere"))
    describe_order(say, res)
    out = OrderOutcome(res)
    if t.local:
        out.refunded = fn_state.CHARGES.get(res.charge_id or "", {}).get("refunded") is True
        say(f"charge {res.charge_id} {'refunded' if out.refunded else 'not refunded'}")
    return out


async def fan_out(t: Target, say: Say) -> FanOutOutcome:
    """``FanOutWorkflow``: one call per item, a bounded number at once, results in order."""
    before = len(t.records("enrich-item"))
    started = time.monotonic()
    res: FanOutResult = await t.client.execute_workflow(
        FanOutWorkflow.run,
        FanOutInput(items=ITEMS, max_concurrency=FAN_OUT_CONCURRENCY),
        id=workflow_id("fanout"),
        task_queue=t.task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    out = FanOutOutcome(res, time.monotonic() - started)
    say(f"{len(res.results)} results in {out.seconds:.2f} s, max in flight {res.max_in_flight}")
    say("first three: " + ", ".join(str(x) for x in res.results[:3]))
    if t.local:
        out.invocations = len(t.records("enrich-item")) - before
        say(f"enrich-item invoked {out.invocations}x for {len(ITEMS)} items")
    return out


async def notify(t: Target, say: Say) -> NotifyOutcome:
    """``NotifyWorkflow``: a ``DryRun`` permission check, then an ``Event``."""
    res: NotifyResult = await t.client.execute_workflow(
        NotifyWorkflow.run,
        NotifyInput(recipient="ops@example.com", message="order 1001 shipped"),
        id=workflow_id("notify"),
        task_queue=t.task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    say(
        f"DryRun → {res.dry_run_status}, Event → {res.status_code}, "
        f"key {res.idempotency_key}, request id {res.request_id}"
    )
    out = NotifyOutcome(res)
    if t.local:
        await t.lam.wait_for_events()
        delivered = [n for n in fn_state.NOTIFICATIONS if n.get("idempotency_key")]
        out.key_seen = delivered[-1]["idempotency_key"] if delivered else None
        say(f"the function ran later and saw event['idempotency_key'] = {out.key_seen}")
    return out


async def throttle(t: Target, say: Say) -> ThrottleOutcome | None:
    """Throttles with ``Retry-After``, retried after the delay asked for (emulator only)."""
    if not t.local:
        say("skipped: needs the emulator's fault injection")
        return None
    before = len(t.records("reserve-inventory"))
    t.lam.faults.fail_next(
        THROTTLES,
        status=429,
        code="TooManyRequestsException",
        retry_after=RETRY_AFTER,
        reason="ReservedFunctionConcurrentInvocationLimitExceeded",
        function="reserve-inventory",
    )
    started = time.monotonic()
    handle: WorkflowHandle[Any, OrderResult] = await t.client.start_workflow(
        OrderSaga.run,
        order("1004", 42.0),
        id=workflow_id("order-1004"),
        task_queue=t.task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    res = await handle.result()
    seconds = time.monotonic() - started
    records = t.records("reserve-inventory")[before:]
    say(f"order {res.status} in {seconds:.2f} s; reserve-inventory requests as Lambda saw them:")
    first = records[0].received_at if records else 0.0
    for rec in records:
        say(
            f"  +{rec.received_at - first:5.2f} s  status {rec.status_code}"
            + (f" {rec.error_code}" if rec.error_code else "")
            + (f"  key …{key[-12:]}" if (key := _sent_key(rec)) else "")
        )
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(records)]
    # The first ActivityTaskStarted is reserve-inventory's; a retried activity records only
    # its last attempt.
    history = await handle.fetch_history()
    started_attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    first_attempt = started_attempts[0] if started_attempts else None
    say(f"one activity, started as attempt {first_attempt}")
    return ThrottleOutcome(
        result=res,
        seconds=seconds,
        statuses=[rec.status_code for rec in records],
        gaps=gaps,
        first_activity_attempt=first_attempt,
        keys_seen={key for rec in records if (key := _sent_key(rec))},
    )


def _sent_key(rec: Any) -> str | None:
    """The idempotency key a synchronous call carried in its client context, as Lambda got it.

    The emulator records the raw header; the plugin puts the key in its ``custom`` part.
    """
    context = rec.client_context_json()
    custom = context.get("custom") if context is not None else None
    key = custom.get("idempotency_key") if isinstance(custom, dict) else None
    return key if isinstance(key, str) else None


async def long_report(t: Target, say: Say) -> ReportOutcome:
    """``ReportWorkflow``: a call longer than its heartbeat timeout, kept alive by heartbeats."""
    before = len(t.records("slow-report"))
    started = time.monotonic()
    handle: WorkflowHandle[Any, ReportResult] = await t.client.start_workflow(
        ReportWorkflow.run,
        ReportInput(seconds=REPORT_SECONDS, heartbeat_timeout_seconds=REPORT_HEARTBEAT_TIMEOUT),
        id=workflow_id("report"),
        task_queue=t.task_queue,
        execution_timeout=timedelta(seconds=90),
    )
    heartbeats: dict[datetime, Any] = {}
    result_task = asyncio.create_task(handle.result())
    while not result_task.done():
        await asyncio.wait({result_task}, timeout=0.5)
        desc = await handle.describe()
        for pending in desc.raw_description.pending_activities:
            if not pending.HasField("last_heartbeat_time"):
                continue
            at = pending.last_heartbeat_time.ToDatetime()
            if at not in heartbeats:
                details = await t.client.data_converter.decode(pending.heartbeat_details.payloads)
                heartbeats[at] = details[0] if details else None
                d = heartbeats[at] if isinstance(heartbeats[at], dict) else {}
                say(
                    f"  t+{time.monotonic() - started:4.1f} s heartbeat: attempt "
                    f"{pending.attempt}, phase {d.get('phase')!r}, "
                    f"elapsed {d.get('elapsed_seconds')} s"
                )
    res = await result_task
    seconds = time.monotonic() - started
    say(
        f"completed in {seconds:.1f} s "
        f"({seconds / REPORT_HEARTBEAT_TIMEOUT:.1f}x the heartbeat timeout), payload {res.payload}"
    )
    tail = (res.log_tail or "").strip().splitlines()
    say("log tail (last lines):")
    for line in tail[-4:]:
        say(f"  | {line}")
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    timeouts = sum(
        1 for e in history.events if e.HasField("activity_task_timed_out_event_attributes")
    )
    say(f"attempts {attempts}, {timeouts} timeout(s) in the history")
    out = ReportOutcome(res, seconds, len(heartbeats), attempts, timeouts, tail)
    if t.local:
        out.invocations = len(t.records("slow-report")) - before
        say(f"slow-report invoked {out.invocations}x")
    return out


Scenario = Callable[[Target, Say], Awaitable[Any]]

SCENARIOS: list[tuple[str, Scenario]] = [
    ("1. OrderSaga — happy path (reserve → charge via alias 'live' → ship)", saga_success),
    ("2. OrderSaga — declined card (amount 5000): compensate", saga_declined),
    ("3. OrderSaga — shipping impossible: refund, then release", saga_ship_failure),
    (
        f"4. FanOutWorkflow — {len(ITEMS)} items, at most {FAN_OUT_CONCURRENCY} concurrent calls",
        fan_out,
    ),
    ("5. NotifyWorkflow — DryRun permission check, then Event (fire and forget)", notify),
    (
        f"6. Throttling — {THROTTLES} throttles (429, Retry-After: {RETRY_AFTER}), then success",
        throttle,
    ),
    (
        f"7. ReportWorkflow — {REPORT_SECONDS:.0f} s call, heartbeat_timeout "
        f"{REPORT_HEARTBEAT_TIMEOUT:.0f} s, log tail",
        long_report,
    ),
]
"""Every scenario with the title the demo prints, in the order it runs them."""
