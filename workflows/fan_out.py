"""FanOutWorkflow: invoke a function once per item, at most K at a time, results in order.

The semaphore is ordinary asyncio inside the workflow: the workflow event loop is
deterministic, so the order in which calls start is the same on every replay.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow

from temporal_lambda.workflow import invoke_lambda


@dataclass
class FanOutInput:
    items: list[str]
    max_concurrency: int = 4
    function_name: str = "enrich-item"
    function_timeout_seconds: float = 10.0


@dataclass
class FanOutResult:
    results: list[Any]
    """The functions' results, in the order of the input items."""
    max_in_flight: int
    """The most calls that were running at once (never above ``max_concurrency``)."""


@workflow.defn
class FanOutWorkflow:
    def __init__(self) -> None:
        self._in_flight = 0
        self._max_in_flight = 0

    @workflow.run
    async def run(self, params: FanOutInput) -> FanOutResult:
        if params.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        limit = asyncio.Semaphore(params.max_concurrency)
        timeout = timedelta(seconds=params.function_timeout_seconds)

        async def one(index: int, item: str) -> Any:
            async with limit:
                self._in_flight += 1
                self._max_in_flight = max(self._max_in_flight, self._in_flight)
                try:
                    result = await invoke_lambda(
                        params.function_name,
                        {"index": index, "item": item},
                        function_timeout=timeout,
                        summary=f"{params.function_name} #{index}",
                    )
                finally:
                    self._in_flight -= 1
                return result.payload

        results = await asyncio.gather(*(one(i, item) for i, item in enumerate(params.items)))
        return FanOutResult(results=list(results), max_in_flight=self._max_in_flight)

    @workflow.query
    def in_flight(self) -> int:
        return self._in_flight
