"""Workflows the benchmarks run (sandbox-safe: no I/O imports)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from temporal_lambda.workflow import invoke_lambda

ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
"""Any heartbeat timeout or failure fails the workflow: nothing is hidden by a retry."""
HEARTBEAT = timedelta(seconds=10)
ATTEMPT_MARGIN = timedelta(seconds=300)
"""Start-to-close timeout beyond the call's sleep: room to wait at the emulator's barrier."""


@workflow.defn
class LambdaCall:
    """One ``invoke_lambda`` of the emulator's ``sleep`` function (``seconds=0``: no sleep)."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> float:
        """Invoke and return what the function slept."""
        seconds = float(args["seconds"])
        result = await invoke_lambda(
            "sleep",
            {"seconds": seconds, "barrier": True},
            task_queue=args["queue"],
            heartbeat_timeout=HEARTBEAT,
            start_to_close_timeout=timedelta(seconds=seconds) + ATTEMPT_MARGIN,
            retry_policy=ONE_ATTEMPT,
        )
        return float(result.payload["slept"])


async def _plain_activity(name: str, args: dict[str, Any]) -> float:
    """Run activity ``name`` with ``args["seconds"]``, with the options ``LambdaCall`` uses."""
    seconds = float(args["seconds"])
    return float(
        await workflow.execute_activity(
            name,
            seconds,
            task_queue=args["queue"],
            start_to_close_timeout=timedelta(seconds=seconds) + ATTEMPT_MARGIN,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=ONE_ATTEMPT,
            result_type=float,
        )
    )


@workflow.defn
class NoopActivityCall:
    """The Temporal floor: one no-op activity, same options, no Lambda."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> float:
        """Run the no-op activity."""
        return await _plain_activity("noop_activity", args)


@workflow.defn
class Boto3Call:
    """The hand-written alternative: a sync activity calling boto3 in the worker's thread pool."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> float:
        """Run the boto3 activity."""
        return await _plain_activity("boto3_invoke", args)


WORKFLOWS = {
    "ours": LambdaCall,
    "ours-nostore": LambdaCall,
    "noop": NoopActivityCall,
    "boto3": Boto3Call,
}
