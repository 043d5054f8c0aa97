"""Workflows for the size and JSON-type edges: each builds its bad request inside the workflow.

A client could not send ``bytes`` or a ``set`` as the workflow's input without Temporal's own
converter changing them first, so the spec names the case and the workflow makes the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from temporal_lambda.workflow import invoke_lambda


def deep_list(levels: int) -> list[Any]:
    """A list nested ``levels`` deep (``[[[...]]]``), built without recursion."""
    root: list[Any] = []
    current = root
    for _ in range(levels - 1):
        inner: list[Any] = []
        current.append(inner)
        current = inner
    return root


def bad_arguments(case: str) -> dict[str, Any]:
    """The ``invoke_lambda`` keyword arguments of one bad case."""
    cases: dict[str, dict[str, Any]] = {
        "large": {"payload": {"blob": "x" * 3_000_000}},
        "deep": {"payload": {"tree": deep_list(5_000)}},
        "bytes": {"payload": {"items": [0, 1, b"raw"]}},
        "set": {"payload": {"tags": {"a", "b"}}},
        "datetime": {"payload": {"at": datetime(2024, 5, 1, 12, 0)}},
        "int_key": {"payload": {"totals": {1: 10}}},
        "nan": {"payload": {"ratio": float("nan")}},
        "context_bytes": {"payload": {"ok": 1}, "client_context": {"custom": {"blob": b"x"}}},
    }
    return cases[case]


@dataclass
class BadRequestSpec:
    function_name: str
    case: str


@workflow.defn
class BadRequestWorkflow:
    """Call with one bad request, catch the error, and report what was caught."""

    @workflow.run
    async def run(self, spec: BadRequestSpec) -> dict[str, Any]:
        try:
            await invoke_lambda(
                spec.function_name,
                start_to_close_timeout=timedelta(seconds=10),
                **bad_arguments(spec.case),
            )
        except ApplicationError as err:
            return {
                "type": err.type,
                "non_retryable": err.non_retryable,
                "message": err.message,
                "details": list(err.details),
            }
        return {"type": None}


@workflow.defn
class SizedPayloadWorkflow:
    """Send a string payload of the given length and return what the function answered."""

    @workflow.run
    async def run(self, function_name: str, length: int) -> Any:
        result = await invoke_lambda(
            function_name, {"blob": "y" * length}, start_to_close_timeout=timedelta(seconds=10)
        )
        return result.payload
