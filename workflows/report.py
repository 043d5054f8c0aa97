"""ReportWorkflow: one long synchronous call kept alive by heartbeats.

The call may take minutes. ``heartbeat_timeout`` is short so that if the worker running
the call dies, Temporal notices within seconds and retries elsewhere instead of waiting
for the whole ``start_to_close_timeout``; while the worker lives, the activity heartbeats
well inside the timeout for as long as Lambda takes. ``log_type="Tail"`` returns the last
4 KB of the function's log with the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

from temporal_lambda.workflow import invoke_lambda


@dataclass
class ReportInput:
    seconds: float = 8.0
    heartbeat_timeout_seconds: float = 3.0
    function_timeout_seconds: float = 60.0
    function_name: str = "slow-report"


@dataclass
class ReportResult:
    payload: Any
    log_tail: str | None
    request_id: str | None
    idempotency_key: str


@workflow.defn
class ReportWorkflow:
    @workflow.run
    async def run(self, params: ReportInput) -> ReportResult:
        result = await invoke_lambda(
            params.function_name,
            {"seconds": params.seconds},
            log_type="Tail",
            function_timeout=timedelta(seconds=params.function_timeout_seconds),
            heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds),
        )
        return ReportResult(
            payload=result.payload,
            log_tail=result.log_tail,
            request_id=result.request_id,
            idempotency_key=result.idempotency_key,
        )
