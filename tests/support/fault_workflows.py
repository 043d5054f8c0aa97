"""The workflow the fault-matrix workers run: one ``invoke_lambda`` with a tunable retry policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow

from temporal_lambda import LambdaInvokeResult
from temporal_lambda.workflow import default_retry_policy, invoke_lambda


@dataclass
class FaultSpec:
    """One call, with timeouts and a retry policy short enough for a test."""

    function_name: str
    payload: Any = None
    invocation_type: str = "RequestResponse"
    start_to_close_s: float = 10.0
    heartbeat_s: float = 2.0
    initial_interval_s: float = 0.2
    backoff: float = 1.0
    maximum_interval_s: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


@workflow.defn
class FaultWorkflow:
    """Invoke once and return the result."""

    @workflow.run
    async def run(self, spec: FaultSpec) -> LambdaInvokeResult:
        policy = default_retry_policy()
        policy.initial_interval = timedelta(seconds=spec.initial_interval_s)
        policy.backoff_coefficient = spec.backoff
        policy.maximum_interval = timedelta(seconds=spec.maximum_interval_s)
        return await invoke_lambda(
            spec.function_name,
            spec.payload,
            invocation_type=spec.invocation_type,
            start_to_close_timeout=timedelta(seconds=spec.start_to_close_s),
            heartbeat_timeout=timedelta(seconds=spec.heartbeat_s),
            retry_policy=policy,
            **spec.options,
        )
