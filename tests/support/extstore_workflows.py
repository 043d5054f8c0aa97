"""Workflows of the external-storage tests: large payloads made and checked in the workflow."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from temporal_lambda.workflow import invoke_lambda


def big_text(size: int) -> str:
    """A deterministic ASCII string of exactly ``size`` characters (not all one byte)."""
    unit = "0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
    return (unit * (size // len(unit) + 1))[:size]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class BigCall:
    function_name: str
    request_size: int = 0
    """Characters of the string payload the workflow sends (0: a small object)."""
    response_size: int = 0
    """Characters the function is asked to return."""
    activity_task_queue: str | None = None
    max_attempts: int = 1
    wait_for_signal: bool = False


@workflow.defn
class BigPayloadWorkflow:
    """Send a large request and/or receive a large result; return sizes and digests only."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, call: BigCall) -> dict[str, Any]:
        payload: Any = (
            big_text(call.request_size)
            if call.request_size
            else {"return_size": call.response_size}
        )
        result = await invoke_lambda(
            call.function_name,
            payload,
            task_queue=call.activity_task_queue,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=call.max_attempts),
        )
        if call.wait_for_signal:
            await workflow.wait_condition(lambda: self.go)
        returned = result.payload
        return {
            "received": returned,
            "returned_size": len(returned) if isinstance(returned, str) else None,
            "returned_sha256": digest(returned) if isinstance(returned, str) else None,
        }


@workflow.defn
class EchoBackWorkflow:
    """Invoke with a large payload and return the whole result to the client."""

    @workflow.run
    async def run(self, call: BigCall) -> Any:
        result = await invoke_lambda(
            call.function_name,
            {"return_size": call.response_size},
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return result.payload
