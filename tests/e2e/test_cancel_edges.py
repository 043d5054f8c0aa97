"""Issue 12, items 14 and 15: prompt cancellation, bounded function-error attempts.

Cancellation reaches an activity only in the answer to a heartbeat RPC; the plugin lowers the
worker's heartbeat throttle so a held call's beats (every 9.5 s) go out as they are made, and
a cancel closes the connection within 10 s. A function that keeps failing stops after
``function_error_attempts`` attempts (default 3), counted in the heartbeat details that carry
over from one attempt to the next.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from temporal_lambda import LambdaClient, LambdaInvokeRequest, LambdaPlugin
from temporal_lambda._activity import (
    HEARTBEAT_THROTTLE_INTERVAL,
    MAX_HEARTBEAT_INTERVAL,
    LambdaActivities,
    function_errors_before,
    heartbeat_interval,
)
from temporal_lambda._plugin import SDK_HEARTBEAT_THROTTLE
from temporal_lambda.testing import LambdaContext, LocalLambda
from temporal_lambda.workflow import DEFAULT_HEARTBEAT_TIMEOUT, default_retry_policy
from tests.support.activity_env import make_activities, make_env
from tests.support.cancel_workflows import HeldCallWorkflow
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow

CREDENTIALS = Credentials("testing", "testing")


# --- item 14: heartbeat cadence, deterministic ------------------------------------------------


def sdk_throttle(heartbeat_timeout: timedelta | None, max_throttle: timedelta) -> float:
    """The SDK core's throttle of one activity's heartbeat RPCs (worker/activities.rs)."""
    default = timedelta(seconds=30)  # the Worker's default_heartbeat_throttle_interval
    base = default if not heartbeat_timeout else heartbeat_timeout * 0.8
    return min(base, max_throttle).total_seconds()


def rpc_period(heartbeat_timeout: timedelta | None, max_throttle: timedelta) -> float:
    """Seconds between heartbeat RPCs of a held call.

    Core sends a heartbeat at once when none went out in the last throttle interval, else
    the latest one when the interval ends: beats slower than the throttle go out one each.
    """
    return max(heartbeat_interval(heartbeat_timeout), sdk_throttle(heartbeat_timeout, max_throttle))


def test_plugin_sets_heartbeat_throttle_on_a_default_worker() -> None:
    plugin = LambdaPlugin(
        client=LambdaClient(region="us-east-1", credentials=CREDENTIALS), idempotency_store=None
    )
    config = plugin.configure_worker(
        {
            "task_queue": "q",
            "workflow_runner": SandboxedWorkflowRunner(),
            "max_heartbeat_throttle_interval": timedelta(seconds=60),
        }
    )
    assert timedelta(seconds=60) == SDK_HEARTBEAT_THROTTLE
    assert config["max_heartbeat_throttle_interval"] == timedelta(seconds=9)


@pytest.mark.parametrize("chosen", [timedelta(seconds=2), timedelta(seconds=30)])
def test_plugin_keeps_a_heartbeat_throttle_the_user_chose(chosen: timedelta) -> None:
    plugin = LambdaPlugin(
        client=LambdaClient(region="us-east-1", credentials=CREDENTIALS), idempotency_store=None
    )
    config = plugin.configure_worker(
        {
            "task_queue": "q",
            "workflow_runner": SandboxedWorkflowRunner(),
            "max_heartbeat_throttle_interval": chosen,
        }
    )
    assert config["max_heartbeat_throttle_interval"] == chosen


async def test_real_worker_gets_the_throttle(dev_env: WorkflowEnvironment) -> None:
    plugin = LambdaPlugin(
        client=LambdaClient(region="us-east-1", credentials=CREDENTIALS), idempotency_store=None
    )
    default = Worker(dev_env.client, task_queue=f"tq-{uuid.uuid4()}", plugins=[plugin])
    chosen = Worker(
        dev_env.client,
        task_queue=f"tq-{uuid.uuid4()}",
        plugins=[plugin],
        max_heartbeat_throttle_interval=timedelta(seconds=20),
    )
    throttle = "max_heartbeat_throttle_interval"
    assert default.config(active_config=True)[throttle] == timedelta(seconds=9)
    assert chosen.config(active_config=True)[throttle] == timedelta(seconds=20)


def test_held_call_heartbeat_cadence_at_the_defaults() -> None:
    assert heartbeat_interval(DEFAULT_HEARTBEAT_TIMEOUT) == 9.5
    assert HEARTBEAT_THROTTLE_INTERVAL < MAX_HEARTBEAT_INTERVAL, "each beat goes out at once"
    throttle = timedelta(seconds=HEARTBEAT_THROTTLE_INTERVAL)
    # One RPC per 9.5 s per held call: a cancel waits at most 9.5 s for the next answer.
    assert rpc_period(DEFAULT_HEARTBEAT_TIMEOUT, throttle) == 9.5
    assert rpc_period(None, throttle) == 9.5
    # Before: the SDK's 60 s cap let 0.8 x 30 s = 24 s pass between RPCs.
    assert rpc_period(DEFAULT_HEARTBEAT_TIMEOUT, SDK_HEARTBEAT_THROTTLE) == 24.0
    # A longer heartbeat timeout never sends more often; a shorter one is the user's choice.
    for seconds in (30, 60, 120, 600):
        assert rpc_period(timedelta(seconds=seconds), throttle) == 9.5


# --- item 14: cancellation on the dev server ---------------------------------------------------


@dataclass
class HeldCall:
    arrived: float
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected_at: float | None = None


class NeverAnswers:
    """A 127.0.0.1 HTTP server that reads each request and never answers it.

    It notes when each request arrived and when its client closed the connection.
    """

    def __init__(self) -> None:
        self.calls: list[HeldCall] = []
        self.arrivals = asyncio.Queue[HeldCall]()
        self._server: asyncio.Server | None = None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> NeverAnswers:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            call = HeldCall(arrived=time.monotonic())
            self.calls.append(call)
            self.arrivals.put_nowait(call)
            while await reader.read(4096):
                pass
            call.disconnected_at = time.monotonic()
            call.disconnected.set()
        finally:
            writer.close()


async def test_cancel_closes_the_connection_within_ten_seconds(
    dev_env: WorkflowEnvironment,
) -> None:
    """Cancel three held calls at different phases of the heartbeat cycle, all at defaults.

    Beats go out 1 s after the call starts, then every 9.5 s: a cancel just after the first
    (1.05 s) or the second (10.6 s) waits longest, one at 6 s waits about 4.5 s.
    """
    task_queue = f"tq-{uuid.uuid4()}"
    phases = (1.05, 6.0, 10.6)
    async with NeverAnswers() as server:
        plugin = LambdaPlugin(
            client=LambdaClient(
                region="us-east-1", endpoint_url=server.endpoint_url, credentials=CREDENTIALS
            )
        )
        async with Worker(
            dev_env.client, task_queue=task_queue, workflows=[HeldCallWorkflow], plugins=[plugin]
        ):

            async def cancel_at(phase: float) -> tuple[float, Any]:
                handle = await dev_env.client.start_workflow(
                    HeldCallWorkflow.run,
                    f"held-{phase}",
                    id=f"held-{uuid.uuid4()}",
                    task_queue=task_queue,
                )
                call = await asyncio.wait_for(server.arrivals.get(), 10)
                await asyncio.sleep(call.arrived + phase - time.monotonic())
                requested = time.monotonic()
                await handle.cancel()
                await asyncio.wait_for(call.disconnected.wait(), 30)
                assert call.disconnected_at is not None
                return call.disconnected_at - requested, handle

            # One at a time into the server's queue, so each workflow gets its own call.
            runs = []
            for phase in phases:
                runs.append(asyncio.create_task(cancel_at(phase)))
                await asyncio.sleep(0.3)
            outcomes = await asyncio.gather(*runs)
            waits = [round(wait, 3) for wait, _ in outcomes]
            print(f"cancel request -> server saw the disconnect, at phases {phases}: {waits} s")
            for (wait, handle), phase in zip(outcomes, phases, strict=True):
                assert wait <= 10.5, f"cancelled {phase} s into the call: {wait:.2f} s"
                events = await wait_for_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
                assert EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED not in events
                assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT not in events
                await handle.signal(HeldCallWorkflow.release)
                assert await handle.result() == "CancelledError"
    assert len(server.calls) == len(phases), "each call sent once: no retry after the cancel"


async def wait_for_event(handle: Any, wanted: EventType.ValueType) -> list[EventType.ValueType]:
    """Return the history's event types once ``wanted`` is among them (at most 5 s)."""
    for _ in range(50):
        events = [event.event_type async for event in handle.fetch_history_events()]
        if wanted in events:
            return events
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {EventType.Name(wanted)} in the history")


# --- item 15: bounded function-error attempts --------------------------------------------------


def test_function_errors_before_reads_the_previous_attempts_count() -> None:
    def info(*details: Any) -> Any:
        return make_env(heartbeat_details=list(details)).info

    assert function_errors_before(info()) == 0
    assert function_errors_before(info({"phase": "waiting for Lambda"})) == 0
    assert function_errors_before(info({"function_errors": 2})) == 2
    for damaged in ("2", True, -1, 1.5, None):
        assert function_errors_before(info({"function_errors": damaged})) == 0
    assert function_errors_before(info("not a dict")) == 0


def failing_activity_env(
    **info: Any,
) -> tuple[ActivityEnvironment, LambdaActivities, list[Any], list[int]]:
    """An ActivityEnvironment, its heartbeats, and activities whose function always fails."""
    sent: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        return httpx.Response(
            200,
            headers={"X-Amz-Function-Error": "Unhandled", "x-amzn-RequestId": "r-1"},
            json={"errorType": "ValueError", "errorMessage": "broken", "stackTrace": []},
        )

    env = make_env(**info)
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    return env, make_activities(handler), beats, sent


async def test_failed_attempt_heartbeats_the_count_for_the_next() -> None:
    env, activities, beats, _sent = failing_activity_env(attempt=2)
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.invoke, LambdaInvokeRequest("fn"))
    assert caught.value.type == "ValueError"
    assert caught.value.message == "broken"
    assert caught.value.non_retryable is False
    assert caught.value.details[0]["function_error_attempts"] == 1
    assert caught.value.details[0]["function_error_attempts_allowed"] == 3
    assert caught.value.details[0]["attempt"] == 2
    assert len(beats) == 1
    assert beats[0]["function_errors"] == 1
    assert beats[0]["phase"] == "function failed"
    assert beats[0]["attempt"] == 2


async def test_attempt_at_the_bound_is_final_and_sends_no_heartbeat() -> None:
    env, activities, beats, _sent = failing_activity_env(
        attempt=7, heartbeat_details=[{"function_errors": 2}]
    )
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.invoke, LambdaInvokeRequest("fn"))
    assert caught.value.type == "ValueError"
    assert caught.value.message == "broken (function failed on 3 of 3 allowed attempts)"
    assert caught.value.non_retryable is True
    details = caught.value.details[0]
    assert "error_message" not in details  # the message is carried once
    assert (details["function_error_attempts"], details["function_error_attempts_allowed"]) == (
        3,
        3,
    )
    assert details["attempt"] == 7
    assert beats == []


async def test_no_bound_when_function_error_attempts_is_zero() -> None:
    env, activities, beats, _sent = failing_activity_env(
        attempt=50, heartbeat_details=[{"function_errors": 49}]
    )
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.invoke, LambdaInvokeRequest("fn", function_error_attempts=0))
    assert caught.value.non_retryable is False
    assert caught.value.message == "broken"
    assert [beat["function_errors"] for beat in beats] == [50]


@pytest.mark.parametrize("bad", [-1, True])
async def test_bad_function_error_attempts_refused_before_sending(bad: Any) -> None:
    env, activities, _beats, sent = failing_activity_env()
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.invoke, LambdaInvokeRequest("fn", function_error_attempts=bad))
    assert caught.value.type == "Lambda.ValidationError"
    assert caught.value.message == (
        f"function_error_attempts must be a whole number of attempts (0 for no bound), got {bad!r}"
    )
    assert caught.value.non_retryable is True
    assert caught.value.details[0] == {"field": "function_error_attempts"}
    assert sent == []


def test_default_retry_policy_lists_each_type_once() -> None:
    for names in ((), ("PaymentDeclined",), ("Lambda.ValidationError", "X", "X")):
        types = default_retry_policy(names).non_retryable_error_types or []
        assert len(types) == len(set(types)), sorted(t for t in types if types.count(t) > 1)
        assert set(names) <= set(types)
        assert "Lambda.ValidationError" in types


# --- item 15 on the dev server -------------------------------------------------------------------


@asynccontextmanager
async def failing_lambda() -> AsyncIterator[tuple[LocalLambda, list[int]]]:
    """LocalLambda with ``broken`` (raises at once) and ``broken_slowly`` (after 1.3 s)."""
    calls: list[int] = []

    def broken(event: Any, context: LambdaContext) -> None:
        calls.append(1)
        if event.get("throttle_after_first") and len(calls) == 1:
            emulator.faults.fail_next(
                1, status=429, code="TooManyRequestsException", message="Rate Exceeded."
            )
        raise ValueError(f"bad {event['n']}")

    async def broken_slowly(event: Any, context: LambdaContext) -> None:
        calls.append(1)
        await asyncio.sleep(1.3)
        raise ValueError(f"bad {event['n']}")

    async with LocalLambda(credentials=("testing", "testing")) as emulator:
        emulator.register("broken", broken)
        emulator.register("broken_slowly", broken_slowly)
        yield emulator, calls


async def run_to_failure(
    env: WorkflowEnvironment, lam: LocalLambda, spec: InvokeSpec, store: bool = False
) -> ApplicationError:
    task_queue = f"tq-{uuid.uuid4()}"
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1", endpoint_url=lam.endpoint_url, credentials=CREDENTIALS
        ),
        **({} if store else {"idempotency_store": None}),
    )
    async with Worker(
        env.client, task_queue=task_queue, workflows=[InvokeWorkflow], plugins=[plugin]
    ):
        handle = await env.client.start_workflow(
            InvokeWorkflow.run, spec, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), 20)
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_failing_function_runs_three_times_by_default(dev_env: WorkflowEnvironment) -> None:
    async with failing_lambda() as (lam, calls):
        error = await run_to_failure(
            dev_env, lam, InvokeSpec("broken", {"n": 1}, initial_interval_s=0.1), store=True
        )
    assert len(calls) == 3
    assert error.type == "ValueError"
    assert error.message == "bad 1 (function failed on 3 of 3 allowed attempts)"
    assert error.non_retryable is True
    details = error.details[0]
    assert "error_message" not in details  # the message is carried once
    assert details["function_error_attempts"] == 3
    assert details["function_error_attempts_allowed"] == 3
    assert details["attempt"] == 3


@pytest.mark.parametrize("allowed", [1, 5])
async def test_function_error_attempts_per_call(dev_env: WorkflowEnvironment, allowed: int) -> None:
    async with failing_lambda() as (lam, calls):
        error = await run_to_failure(
            dev_env,
            lam,
            InvokeSpec(
                "broken", {"n": 2}, {"function_error_attempts": allowed}, initial_interval_s=0.1
            ),
        )
    assert len(calls) == allowed
    assert error.type == "ValueError"
    assert error.message == f"bad 2 (function failed on {allowed} of {allowed} allowed attempts)"
    assert error.non_retryable is True
    assert error.details[0]["attempt"] == allowed


async def test_throttled_attempts_do_not_count(dev_env: WorkflowEnvironment) -> None:
    """Throttled first, then failing, throttled again, failing twice: 5 attempts, 3 counted."""
    async with failing_lambda() as (lam, calls):
        lam.faults.fail_next(
            1, status=429, code="TooManyRequestsException", message="Rate Exceeded."
        )
        error = await run_to_failure(
            dev_env,
            lam,
            InvokeSpec("broken", {"n": 3, "throttle_after_first": True}, initial_interval_s=0.1),
        )
        codes = [record.error_code for record in lam.records("broken")]
    assert codes == [
        "TooManyRequestsException",
        "ValueError",
        "TooManyRequestsException",
        "ValueError",
        "ValueError",
    ]
    assert len(calls) == 3
    assert error.type == "ValueError"
    assert error.message == "bad 3 (function failed on 3 of 3 allowed attempts)"
    assert error.non_retryable is True
    assert error.details[0]["attempt"] == 5


async def test_count_survives_a_held_attempt(dev_env: WorkflowEnvironment) -> None:
    """Each attempt beats at 1 s and fails at 1.3 s, inside the SDK's throttle window.

    The failure's count is then held back by the throttle; the SDK still sends it before it
    reports the failure, and the next attempt reads it.
    """
    async with failing_lambda() as (lam, calls):
        error = await run_to_failure(
            dev_env, lam, InvokeSpec("broken_slowly", {"n": 4}, initial_interval_s=0.1)
        )
    assert len(calls) == 3
    assert error.message == "bad 4 (function failed on 3 of 3 allowed attempts)"
    assert error.non_retryable is True


async def test_non_retryable_function_error_still_stops_at_once(
    dev_env: WorkflowEnvironment,
) -> None:
    async with failing_lambda() as (lam, calls):
        error = await run_to_failure(
            dev_env,
            lam,
            InvokeSpec(
                "broken",
                {"n": 5},
                {"non_retryable_function_errors": ["ValueError"]},
                initial_interval_s=0.1,
            ),
        )
    assert len(calls) == 1
    assert error.type == "ValueError"
    assert error.message == "bad 5"
    assert error.non_retryable is True
    assert "function_error_attempts" not in error.details[0]


async def test_powertools_in_progress_errors_are_retried_without_counting(
    dev_env: WorkflowEnvironment,
) -> None:
    """Powertools' "another execution holds this key" is waiting, not failing: four of them
    (more than the bound of 3) and then an answer give the answer."""
    calls: list[int] = []

    class IdempotencyAlreadyInProgressError(Exception):
        pass

    def busy(event: Any, context: LambdaContext) -> dict[str, int]:
        calls.append(1)
        if len(calls) <= 4:
            raise IdempotencyAlreadyInProgressError("execution already in progress")
        return {"calls": len(calls)}

    async with LocalLambda(credentials=("testing", "testing")) as lam:
        lam.register("busy", busy)
        task_queue = f"tq-{uuid.uuid4()}"
        plugin = LambdaPlugin(
            client=LambdaClient(
                region="us-east-1", endpoint_url=lam.endpoint_url, credentials=CREDENTIALS
            ),
            idempotency_store=None,
        )
        async with Worker(
            dev_env.client, task_queue=task_queue, workflows=[InvokeWorkflow], plugins=[plugin]
        ):
            result = await asyncio.wait_for(
                dev_env.client.execute_workflow(
                    InvokeWorkflow.run,
                    InvokeSpec("busy", {"n": 1}, initial_interval_s=0.1),
                    id=f"wf-{uuid.uuid4()}",
                    task_queue=task_queue,
                ),
                30,
            )
    assert result.payload == {"calls": 5}
    assert len(calls) == 5
