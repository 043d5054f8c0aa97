"""Workflows of the red-team tests (tests/test_redteam_b.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from temporal_lambda.workflow import invoke_lambda


@dataclass
class OneCall:
    """One call of ``function_name`` with ``payload``, at most ``max_attempts`` attempts."""

    function_name: str
    payload: Any = None
    max_attempts: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    """More ``invoke_lambda`` keywords (e.g. ``idempotency_key``)."""


@workflow.defn
class OneCallWorkflow:
    """Invoke once and return the size of the result and its request id (not the result)."""

    @workflow.run
    async def run(self, call: OneCall) -> dict[str, Any]:
        result = await invoke_lambda(
            call.function_name,
            call.payload,
            start_to_close_timeout=timedelta(seconds=20),
            retry_policy=RetryPolicy(maximum_attempts=call.max_attempts),
            **call.options,
        )
        return {"length": len(str(result.payload)), "request_id": result.request_id}
