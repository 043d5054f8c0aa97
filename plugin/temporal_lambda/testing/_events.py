"""The ``Event`` queue: background delivery of accepted events, with retries and duplicates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ._records import InvocationRecord
from ._registry import FunctionConfig
from ._runtime import Outcome, Runtime

__all__ = ["EventQueue"]


class EventQueue:
    """Delivers accepted events in the background, as Lambda's asynchronous queue does.

    A failed delivery is retried after each of ``retry_delays``; every event is delivered
    ``duplicates`` times (the queue is at-least-once); a throttled delivery waits for a free
    slot. Each delivery after the first is a new :class:`InvocationRecord` (same request id,
    ``delivery`` 2, 3...) appended to ``records``.

    Args:
        runtime: Runs the handler and counts executions.
        records: The emulator's invocation records.
        retry_delays: The waits before the retries of a failed delivery.
        duplicates: How many times each event is delivered.
    """

    def __init__(
        self,
        runtime: Runtime,
        records: list[InvocationRecord],
        *,
        retry_delays: tuple[float, ...],
        duplicates: int,
    ) -> None:
        self.runtime = runtime
        self.records = records
        self.retry_delays = retry_delays
        self.duplicates = max(1, duplicates)
        self._tasks: set[asyncio.Task[None]] = set()

    def enqueue(
        self,
        config: FunctionConfig,
        event: Any,
        record: InvocationRecord,
        on_done: Callable[[Outcome | None, BaseException | None], None] | None = None,
    ) -> None:
        """Deliver ``event`` in the background; ``on_done`` learns the last outcome or error."""
        task = asyncio.get_running_loop().create_task(self._deliver(config, event, record, on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until every queued event, with its retries and duplicates, is finished.

        Raises:
            TimeoutError: Events were still running after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._tasks)} event(s) still running")
            await asyncio.wait(set(self._tasks), timeout=remaining)

    async def cancel(self) -> None:
        """Abandon every queued event."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(
        self,
        config: FunctionConfig,
        event: Any,
        first: InvocationRecord,
        on_done: Callable[[Outcome | None, BaseException | None], None] | None,
    ) -> None:
        try:
            outcome = await self._deliver_copies(config, event, first)
        except BaseException as exc:
            if on_done is not None:
                on_done(None, exc)
            raise
        if on_done is not None:
            on_done(outcome, None)

    async def _deliver_copies(
        self, config: FunctionConfig, event: Any, first: InvocationRecord
    ) -> Outcome | None:
        """Deliver an event with Lambda's retries and duplicates; return the last outcome."""
        outcome: Outcome | None = None
        delivery = 0
        for _copy in range(self.duplicates):
            for attempt in range(len(self.retry_delays) + 1):
                delivery += 1
                record = first
                if delivery > 1:
                    record = replace(
                        first,
                        delivery=delivery,
                        received_at=time.monotonic(),
                        status_code=200,
                        error_code=None,
                        client_disconnected=False,
                    )
                    self.records.append(record)
                # Lambda's queue retries throttled events; poll for a free slot.
                while self.runtime.throttled(config):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                outcome = await self.runtime.invoke(config, event, record)
                record.error_code = outcome.error_type
                if outcome.error_type is None or attempt == len(self.retry_delays):
                    break
                await asyncio.sleep(self.retry_delays[attempt])
        return outcome
