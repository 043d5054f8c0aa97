"""End to end: workflow → real Temporal server → worker + plugin → real HTTP → LocalLambda."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from botocore.credentials import Credentials
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import LambdaClient, LambdaInvokeResult, LambdaPlugin
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow
from tests.support.emulator_keys import record_key


def echo(event: Any, context: LambdaContext) -> dict[str, Any]:
    print(f"echo called with {event!r}")
    custom = context.client_context.custom if context.client_context else None
    return {"event": event, "custom": custom, "version": context.function_version}


def fails(event: Any, context: LambdaContext) -> None:
    raise ValueError(f"bad order {event['order']}")


async def slow(event: Any, context: LambdaContext) -> dict[str, Any]:
    await asyncio.sleep(float(event["seconds"]))
    return {"slept": event["seconds"]}


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=("testing", "testing")) as emulator:
        emulator.register("echo", echo)
        emulator.register("fails", fails)
        emulator.register("slow", slow, timeout=120.0)
        emulator.publish_version("echo")
        emulator.create_alias("echo", "live", "1")
        yield emulator


@asynccontextmanager
async def running_worker(
    env: WorkflowEnvironment, lam: LocalLambda, task_queue: str, secret: str = "testing"
) -> AsyncIterator[Worker]:
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=lam.endpoint_url,
            credentials=Credentials("testing", secret),
        )
    )
    async with Worker(
        env.client, task_queue=task_queue, workflows=[InvokeWorkflow], plugins=[plugin]
    ) as worker:
        yield worker


async def start(
    env: WorkflowEnvironment, task_queue: str, spec: InvokeSpec
) -> WorkflowHandle[Any, Any]:
    return await env.client.start_workflow(
        InvokeWorkflow.run, spec, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
    )


async def run(env: WorkflowEnvironment, task_queue: str, spec: InvokeSpec) -> LambdaInvokeResult:
    handle = await start(env, task_queue, spec)
    result: LambdaInvokeResult = await handle.result()
    return result


async def run_failing(
    env: WorkflowEnvironment, task_queue: str, spec: InvokeSpec
) -> ApplicationError:
    handle = await start(env, task_queue, spec)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_request_response(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        result = await run(
            any_env, task_queue, InvokeSpec("echo", {"order": 1}, {"log_type": "Tail"})
        )
    records = lam.records("echo")
    assert len(records) == 1
    key = record_key(records[0])
    assert key is not None and key.startswith("tl-") and len(key) == 46
    assert result.status_code == 200
    assert result.idempotency_key == key
    assert result.payload == {
        "event": {"order": 1},
        "custom": {"idempotency_key": key},
        "version": "$LATEST",
    }
    assert result.payload_encoding == "json"
    assert result.executed_version == "$LATEST"
    assert result.request_id == records[0].request_id
    assert result.log_tail is not None and "echo called with {'order': 1}" in result.log_tail
    assert result.function_error is None


async def test_summary_only_when_given(dev_env: WorkflowEnvironment, lam: LocalLambda) -> None:
    task_queue = f"tq-{uuid.uuid4()}"
    summaries = []
    async with running_worker(dev_env, lam, task_queue):
        for options in ({}, {"summary": "charge card #1"}):
            handle = await start(dev_env, task_queue, InvokeSpec("echo", {"n": 1}, options))
            await handle.result()
            history = await handle.fetch_history()
            (scheduled,) = [
                e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
            ]
            summaries.append(
                dev_env.client.data_converter.payload_converter.from_payload(
                    scheduled.user_metadata.summary, str
                )
                if scheduled.user_metadata.HasField("summary")
                else None
            )
    assert summaries == [None, "charge card #1"]


async def test_qualifier_alias(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        result = await run(any_env, task_queue, InvokeSpec("echo", {"n": 1}, {"qualifier": "live"}))
    assert result.executed_version == "1"
    assert result.payload["version"] == "1"
    assert [r.qualifier for r in lam.records("echo")] == ["live"]


async def test_event_carries_key_in_payload(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        result = await run(
            any_env, task_queue, InvokeSpec("echo", {"order": 7}, {"invocation_type": "Event"})
        )
    await lam.wait_for_events()
    assert result.status_code == 202
    assert result.payload is None
    records = lam.records("echo")
    assert [(r.invocation_type, record_key(r)) for r in records] == [
        ("Event", result.idempotency_key)
    ]


async def test_dry_run_does_not_run_function(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        result = await run(
            any_env, task_queue, InvokeSpec("echo", {"order": 7}, {"invocation_type": "DryRun"})
        )
    assert result.status_code == 204
    assert [r.invocation_type for r in lam.records("echo")] == ["DryRun"]


async def test_invoke_async_legacy_api(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        result = await run(
            any_env, task_queue, InvokeSpec("echo", {"order": 8}, {"invoke_async": True})
        )
    await lam.wait_for_events()
    assert result.status_code == 202
    records = lam.records("echo")
    assert [(r.api, record_key(r)) for r in records] == [("InvokeAsync", result.idempotency_key)]


async def test_function_error_reaches_workflow(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        error = await run_failing(
            any_env,
            task_queue,
            InvokeSpec(
                "fails",
                {"order": 42},
                {"non_retryable_function_errors": ["ValueError"], "log_type": "Tail"},
            ),
        )
    assert error.type == "ValueError"
    assert error.message == "bad order 42"
    assert error.non_retryable is True
    details = error.details[0]
    assert details["error_type"] == "ValueError"
    assert "error_message" not in details  # carried once: it is error.message
    assert details["truncated"] == {}
    assert details["function_error"] == "Unhandled"
    assert any("raise ValueError" in line for line in details["stack_trace"])
    assert details["request_id"] == lam.records("fails")[0].request_id
    assert details["executed_version"] == "$LATEST"
    assert "START RequestId" in details["log_tail"]
    assert len(lam.records("fails")) == 1


async def test_function_error_retried_by_default(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        error = await run_failing(
            any_env,
            task_queue,
            InvokeSpec("fails", {"order": 1}, max_attempts=2, initial_interval_s=0.1),
        )
    assert error.type == "ValueError"
    assert error.non_retryable is False
    keys = {record_key(r) for r in lam.records("fails")}
    assert len(lam.records("fails")) == 2
    assert len(keys) == 1


async def test_not_found_is_not_retried(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        error = await run_failing(any_env, task_queue, InvokeSpec("missing", {"x": 1}))
    assert error.type == "Lambda.ResourceNotFoundException"
    assert error.non_retryable is True
    assert error.message == (
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing"
    )
    assert error.details[0]["status_code"] == 404
    assert len(lam.records("missing")) == 1


async def test_5xx_retried_until_success(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    lam.faults.fail_next(1, status=502, code="ENILimitReachedException", function="echo")
    lam.faults.fail_next(1, status=500, code="ServiceException", function="echo")
    async with running_worker(any_env, lam, task_queue):
        result = await run(
            any_env, task_queue, InvokeSpec("echo", {"n": 5}, initial_interval_s=0.1)
        )
    assert result.status_code == 200
    records = lam.records("echo")
    assert [r.status_code for r in records] == [502, 500, 200]
    assert len({record_key(r) for r in records}) == 1


async def test_throttle_waits_for_retry_after(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    lam.faults.fail_next(
        2,
        status=429,
        code="TooManyRequestsException",
        retry_after=2,
        reason="ReservedFunctionConcurrentInvocationLimitExceeded",
        function="echo",
    )
    async with running_worker(dev_env, lam, task_queue):
        result = await run(
            dev_env, task_queue, InvokeSpec("echo", {"n": 1}, initial_interval_s=0.1)
        )
    assert result.status_code == 200
    records = lam.records("echo")
    assert [r.status_code for r in records] == [429, 429, 200]
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(records)]
    assert all(gap >= 2.0 for gap in gaps), gaps


async def test_throttle_error_shape(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    lam.faults.fail_next(
        1,
        status=429,
        code="TooManyRequestsException",
        retry_after=3,
        reason="ConcurrentInvocationLimitExceeded",
        message="Rate Exceeded.",
        function="echo",
    )
    async with running_worker(any_env, lam, task_queue):
        error = await run_failing(any_env, task_queue, InvokeSpec("echo", {}, max_attempts=1))
    assert error.type == "Lambda.TooManyRequestsException"
    assert error.message == "Rate Exceeded."
    assert error.non_retryable is False
    assert error.next_retry_delay is not None and error.next_retry_delay.total_seconds() == 3
    assert error.details[0]["reason"] == "ConcurrentInvocationLimitExceeded"
    assert error.details[0]["retry_after"] == 3


async def test_long_call_heartbeats_past_heartbeat_timeout(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(dev_env, lam, task_queue):
        started = time.monotonic()
        handle = await start(
            dev_env, task_queue, InvokeSpec("slow", {"seconds": 7}, heartbeat_timeout_s=2)
        )
        seen: list[dict[str, Any]] = []
        while time.monotonic() - started < 6:
            description = await handle.describe()
            for pending in description.raw_description.pending_activities:
                if pending.heartbeat_details.payloads:
                    details = await dev_env.client.data_converter.decode(
                        pending.heartbeat_details.payloads
                    )
                    seen.append(details[0])
            await asyncio.sleep(1.0)
        result: LambdaInvokeResult = await handle.result()
    assert time.monotonic() - started >= 7
    assert result.payload == {"slept": 7}
    assert len(lam.records("slow")) == 1, "one attempt: no heartbeat timeout fired"
    assert seen, "heartbeat details visible while the call runs"
    assert seen[-1]["phase"] == "waiting for Lambda"
    assert seen[-1]["function"] == "slow"
    assert seen[-1]["elapsed_seconds"] > 2


async def test_cancellation_aborts_the_call(
    dev_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(dev_env, lam, task_queue):
        handle = await start(
            dev_env,
            task_queue,
            InvokeSpec(
                "slow",
                {"seconds": 60},
                heartbeat_timeout_s=2,
                wait_cancellation=True,
            ),
        )
        for _ in range(100):
            if lam.records("slow"):
                break
            await asyncio.sleep(0.1)
        cancelled_at = time.monotonic()
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        elapsed = time.monotonic() - cancelled_at
    assert isinstance(caught.value.cause, CancelledError)
    assert elapsed < 10
    record = lam.records("slow")[0]
    assert record.client_disconnected is True


async def test_wrong_credentials_rejected(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue, secret="not-the-secret"):
        error = await run_failing(any_env, task_queue, InvokeSpec("echo", {"n": 1}))
    assert error.type == "Lambda.InvalidSignatureException"
    assert error.non_retryable is True
    assert "signature" in error.message
    assert "not-the-secret" not in str(error.details)


async def test_bad_input_fails_before_sending(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    async with running_worker(any_env, lam, task_queue):
        error = await run_failing(any_env, task_queue, InvokeSpec("bad name!", {"n": 1}))
    assert error.type == "Lambda.ValidationError"
    assert error.non_retryable is True
    assert lam.invocations == []


async def test_durable_execution_started_once_across_retries(
    any_env: WorkflowEnvironment, lam: LocalLambda, task_queue: str
) -> None:
    lam.faults.drop_next(1, function="echo")
    async with running_worker(any_env, lam, task_queue):
        result = await run(
            any_env,
            task_queue,
            InvokeSpec(
                "echo",
                {"order": 3},
                {"qualifier": "1", "durable_execution_name_from_key": True},
                initial_interval_s=0.1,
            ),
        )
    records = lam.records("echo")
    # The retry re-attaches to the execution the dropped answer started (same name, same
    # payload): it gets that execution's result and ARN, and the function ran once.
    assert [r.status_code for r in records] == [200, 200]
    assert records[0].durable_execution_name == result.idempotency_key
    assert records[1].durable_execution_name == result.idempotency_key
    assert records[1].error_code is None
    assert result.already_started is False
    assert result.payload["event"] == {"order": 3}
    assert result.durable_execution_arn is not None
    assert result.durable_execution_arn.startswith(
        "arn:aws:lambda:us-east-1:123456789012:function:echo:1/durable-execution/"
        + result.idempotency_key
    )
