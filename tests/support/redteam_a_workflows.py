"""Workflows for the red-team tests of issue 12 (tests/test_redteam_a.py).

A separate module because the workflow sandbox imports it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from temporal_lambda.workflow import invoke_lambda


def _caught(err: ApplicationError) -> dict[str, Any]:
    return {
        "type": err.type,
        "non_retryable": err.non_retryable,
        "message": err.message,
        "details": list(err.details),
    }


@workflow.defn
class ParallelLargeRequestsWorkflow:
    """Schedule ``count`` calls at once, each with a string payload of ``length`` characters.

    Each request alone fits Temporal's payload limit; together they go in one workflow task
    completion.
    """

    @workflow.run
    async def run(self, function_name: str, count: int, length: int) -> list[Any]:
        calls = [
            invoke_lambda(
                function_name,
                {"blob": "y" * length, "n": index},
                start_to_close_timeout=timedelta(seconds=10),
            )
            for index in range(count)
        ]
        try:
            results = await asyncio.gather(*calls)
        except ApplicationError as err:
            return [_caught(err)]
        return [result.payload for result in results]


@workflow.defn
class OneRequestWorkflow:
    """Send one string payload of ``length`` characters; report the answer or the refusal."""

    @workflow.run
    async def run(self, function_name: str, length: int) -> Any:
        try:
            result = await invoke_lambda(
                function_name, {"blob": "y" * length}, start_to_close_timeout=timedelta(seconds=10)
            )
        except ApplicationError as err:
            return _caught(err)
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            return _caught(err.cause)
        return result.payload
