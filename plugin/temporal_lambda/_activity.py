"""The invoke activity: one Lambda call per attempt, heartbeating while it waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import activity

from temporal_lambda._client import LambdaClient
from temporal_lambda._errors import LambdaError, to_application_error
from temporal_lambda._keys import derive_idempotency_key
from temporal_lambda._protocol import parse_response, prepare_call
from temporal_lambda._types import INVOKE_ACTIVITY_NAME, LambdaInvokeRequest, LambdaInvokeResult

MAX_HEARTBEAT_INTERVAL = 10.0
"""Heartbeat at least this often (seconds), so cancellation reaches a long call promptly."""
DEADLINE_MARGIN = 0.5
"""Give up reading this long (seconds) before the attempt's deadline, to report it ourselves."""
MIN_READ_TIMEOUT = 1.0
"""Never use a read timeout shorter than this (seconds)."""


def heartbeat_interval(heartbeat_timeout: timedelta | None) -> float:
    """Return how often to heartbeat: a third of the timeout, at most every 10 s.

    Args:
        heartbeat_timeout: The activity's heartbeat timeout, if any.

    Returns:
        The interval in seconds.
    """
    if heartbeat_timeout is None:
        return MAX_HEARTBEAT_INTERVAL
    return max(0.05, min(heartbeat_timeout.total_seconds() / 3, MAX_HEARTBEAT_INTERVAL))


def attempt_budget(info: activity.Info) -> float | None:
    """Return the seconds this attempt may run, from the server's own timestamps.

    Wall clocks of worker and server are never compared: the budget is the attempt's
    ``start_to_close_timeout``, shortened by what remains of ``schedule_to_close_timeout``
    when the attempt started.

    Args:
        info: The running activity's info.

    Returns:
        Seconds, or ``None`` when the activity has no timeout at all.
    """
    budgets: list[float] = []
    if info.start_to_close_timeout:
        budgets.append(info.start_to_close_timeout.total_seconds())
    if info.schedule_to_close_timeout:
        deadline = info.scheduled_time + info.schedule_to_close_timeout
        budgets.append((deadline - info.started_time).total_seconds())
    return min(budgets) if budgets else None


class LambdaActivities:
    """The activities the plugin registers, with the client they share."""

    def __init__(self, client: LambdaClient) -> None:
        """Create the activities.

        Args:
            client: The Lambda client every invocation goes through.
        """
        self._client = client

    @activity.defn(name=INVOKE_ACTIVITY_NAME)
    async def invoke(self, request: LambdaInvokeRequest) -> LambdaInvokeResult:
        """Invoke a Lambda function once (one attempt of one logical call).

        Args:
            request: What to invoke and how.

        Returns:
            The parsed result.

        Raises:
            temporalio.exceptions.ApplicationError: for every failure, typed and with the
                right retryability (see :mod:`temporal_lambda._errors`).
        """
        info = activity.info()
        started = time.monotonic()
        key = request.idempotency_key or derive_idempotency_key(
            info.workflow_namespace or info.namespace,
            info.workflow_id or "",
            info.workflow_run_id or "",
            info.activity_id,
        )
        try:
            call = prepare_call(request, key)
            budget = attempt_budget(info)
            read_timeout = None
            if budget is not None:
                remaining = budget - (time.monotonic() - started) - DEADLINE_MARGIN
                read_timeout = max(MIN_READ_TIMEOUT, remaining)
            async with _heartbeating(info, request.function_name, key, started):
                raw = await self._client.send(call, read_timeout=read_timeout)
            return parse_response(request, key, raw.status_code, raw.headers, raw.body)
        except LambdaError as err:
            activity.logger.info(
                "Lambda %s failed: %s (%s)", request.function_name, err.error_type, err
            )
            to_application_error(err)


@asynccontextmanager
async def _heartbeating(
    info: activity.Info, function_name: str, key: str, started: float
) -> AsyncIterator[None]:
    """Heartbeat in the background until the block ends.

    Heartbeats carry what the attempt is doing, never the payload. They are also how the
    server's cancellation reaches this attempt: the SDK then cancels the awaiting task,
    and with it the HTTP request.
    """
    interval = heartbeat_interval(info.heartbeat_timeout)

    async def beat() -> None:
        while True:
            activity.heartbeat(
                {
                    "phase": "waiting for Lambda",
                    "function": function_name,
                    "attempt": info.attempt,
                    "elapsed_seconds": round(time.monotonic() - started, 1),
                    "idempotency_key": key,
                }
            )
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat(), name=f"heartbeat {function_name}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
