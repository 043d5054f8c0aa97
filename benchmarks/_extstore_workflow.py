"""The workflow of the external-storage benchmark (sandbox-safe: imports no I/O)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from temporal_lambda.workflow import invoke_lambda


@workflow.defn
class RoundTripWorkflow:
    """Send ``size`` characters to ``echo`` and return how many came back."""

    @workflow.run
    async def run(self, size: int, activity_queue: str | None = None) -> int:
        """Make the payload here, so the workflow itself sends it (to ``activity_queue``)."""
        text = ("0123456789abcdef" * (size // 16 + 1))[:size]
        result = await invoke_lambda(
            "echo",
            text,
            task_queue=activity_queue,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        returned: str = result.payload
        return len(returned)
