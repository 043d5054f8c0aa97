"""Workflows of tests/e2e/test_cancel_edges.py (a module of its own, as the sandbox imports it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from temporal_lambda.workflow import invoke_lambda


@workflow.defn
class HeldCallWorkflow:
    """Invoke with every default; when cancelled, stay open until released.

    Staying open lets the activity's own report (``ActivityTaskCanceled``) reach the history:
    with the default ``TRY_CANCEL`` the workflow stops waiting at once, before the activity
    has closed its connection.
    """

    def __init__(self) -> None:
        self._released = False

    @workflow.signal
    def release(self) -> None:
        self._released = True

    @workflow.run
    async def run(self, function_name: str) -> str:
        try:
            await invoke_lambda(function_name, {"hold": True})
        except ActivityError as err:
            outcome = type(err.cause).__name__
        except asyncio.CancelledError:
            outcome = "asyncio.CancelledError"
        else:
            outcome = "answered"
        await workflow.wait_condition(lambda: self._released, timeout=timedelta(seconds=60))
        return outcome
