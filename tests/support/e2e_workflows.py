"""Workflows the end-to-end tests run: each is a thin wrapper around ``invoke_lambda``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from temporal_lambda import LambdaInvokeResult
from temporal_lambda.workflow import default_retry_policy, invoke_lambda


@dataclass
class InvokeSpec:
    function_name: str
    payload: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    heartbeat_timeout_s: float = 30.0
    start_to_close_s: float | None = None
    max_attempts: int = 0
    initial_interval_s: float = 1.0
    wait_cancellation: bool = False


def retry_policy(spec: InvokeSpec) -> RetryPolicy:
    base = default_retry_policy(spec.options.get("non_retryable_function_errors", ()))
    base.maximum_attempts = spec.max_attempts
    base.initial_interval = timedelta(seconds=spec.initial_interval_s)
    return base


@workflow.defn
class InvokeWorkflow:
    """Invoke once with the spec's options and return the result (or fail with the error)."""

    @workflow.run
    async def run(self, spec: InvokeSpec) -> LambdaInvokeResult:
        return await invoke_lambda(
            spec.function_name,
            spec.payload,
            heartbeat_timeout=timedelta(seconds=spec.heartbeat_timeout_s),
            start_to_close_timeout=(
                timedelta(seconds=spec.start_to_close_s) if spec.start_to_close_s else None
            ),
            retry_policy=retry_policy(spec),
            cancellation_type=(
                workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
                if spec.wait_cancellation
                else workflow.ActivityCancellationType.TRY_CANCEL
            ),
            **spec.options,
        )
