"""Sizes and JSON types at Temporal's edge, through a real dev server (it enforces the limits).

- A result over Temporal's payload limit fails the call once, non-retryably, with
  ``Lambda.ResultTooLargeForTemporal`` (with or without the idempotency store): the function
  runs exactly once.
- A request over the limit, nested too deep, or holding non-JSON values (``bytes``, ``set``,
  ``datetime``, a non-str key, NaN) is refused inside the workflow with
  ``Lambda.ValidationError``: no activity scheduled, nothing sent.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import (
    DEFAULT_PAYLOAD_LIMIT,
    MAX_PAYLOAD_DEPTH,
    RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE,
    VALIDATION_ERROR_TYPE,
    LambdaClient,
    LambdaPlugin,
)
from temporal_lambda._sizes import describe_refusal, json_bound
from temporal_lambda.idempotency import IdempotencyStore, SQLiteIdempotencyStore
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow
from tests.support.size_workflows import (
    BadRequestSpec,
    BadRequestWorkflow,
    SizedPayloadWorkflow,
    deep_list,
)

ACCEPTED = "only JSON values (dict with str keys, list, str, int, float, bool, None) can be sent"
RESULT_CHARS = 3_000_000


class BigResult:
    """A handler returning a ~3 MB result, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        self.calls += 1
        return {"blob": "z" * RESULT_CHARS}


def echo_length(event: Any, context: LambdaContext) -> dict[str, Any]:
    return {"length": len(event["blob"]), "same": event["blob"] == "y" * len(event["blob"])}


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=("testing", "testing")) as emulator:
        emulator.register("echo_length", echo_length)
        yield emulator


@asynccontextmanager
async def worker(
    env: WorkflowEnvironment,
    lam: LocalLambda,
    task_queue: str,
    store: IdempotencyStore | None,
) -> AsyncIterator[Worker]:
    plugin = LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=lam.endpoint_url,
            credentials=Credentials("testing", "testing"),
        ),
        idempotency_store=store,
    )
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[InvokeWorkflow, BadRequestWorkflow, SizedPayloadWorkflow],
        plugins=[plugin],
    ) as running:
        yield running


@pytest.mark.parametrize("store_kind", ["none", "sqlite"])
async def test_result_too_large_for_temporal_runs_the_function_once(
    dev_env: WorkflowEnvironment, lam: LocalLambda, tmp_path: Path, store_kind: str
) -> None:
    handler = BigResult()
    lam.register("big", handler)
    store = SQLiteIdempotencyStore(tmp_path / "store.db") if store_kind == "sqlite" else None
    task_queue = f"tq-{uuid.uuid4()}"
    # Three quick attempts allowed: before the fix Temporal refused the completion as a
    # retryable PayloadsTooLarge and each retry ran the function again.
    spec = InvokeSpec("big", {"order": 1}, max_attempts=3, initial_interval_s=0.2)
    async with worker(dev_env, lam, task_queue, store):
        handle = await dev_env.client.start_workflow(
            InvokeWorkflow.run, spec, id=f"wf-{uuid.uuid4()}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert handler.calls == 1
    records = lam.records("big")
    assert len(records) == 1
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE
    assert cause.non_retryable is True
    request_id = records[0].request_id
    assert request_id
    match = re.fullmatch(
        r"Lambda function big ran once and returned; its result \(request id (\S+)\) is "
        r"(\d+) bytes once encoded for Temporal, over Temporal's payload limit of "
        r"(\d+) bytes\. Not retried, since a retry would run the function again: return a "
        r"smaller result \(e\.g\. a reference to an object in S3\) or turn on external "
        r"storage for large payloads",
        cause.message,
    )
    assert match is not None, cause.message
    size = int(match.group(2))
    assert match.group(1) == request_id
    assert int(match.group(3)) == DEFAULT_PAYLOAD_LIMIT
    assert RESULT_CHARS < size < RESULT_CHARS + 2_000
    assert list(cause.details) == [
        {"size": size, "limit": DEFAULT_PAYLOAD_LIMIT, "request_id": request_id}
    ]
    history = await handle.fetch_history()
    started = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert len(started) == 1
    assert started[0].activity_task_started_event_attributes.attempt == 1


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        (
            "large",
            "payload",
            r"the request is (\d+) bytes once encoded for Temporal, over its payload limit of "
            rf"{DEFAULT_PAYLOAD_LIMIT} bytes; nothing was sent\. Send a smaller payload \(e\.g\. a "
            r"reference to an object in S3\) or turn on external storage for large payloads",
        ),
        (
            "deep",
            "payload",
            rf"payload nests containers more than {MAX_PAYLOAD_DEPTH} deep; at most "
            rf"{MAX_PAYLOAD_DEPTH} levels can be sent",
        ),
        ("bytes", "payload", re.escape(f"payload['items'][2] is bytes; {ACCEPTED}")),
        ("set", "payload", re.escape(f"payload['tags'] is set; {ACCEPTED}")),
        ("datetime", "payload", re.escape(f"payload['at'] is datetime; {ACCEPTED}")),
        (
            "int_key",
            "payload",
            re.escape(
                f"payload['totals'] has a key of type int; JSON object keys must be str, and "
                f"{ACCEPTED}"
            ),
        ),
        (
            "nan",
            "payload",
            re.escape(f"payload['ratio'] is nan; JSON has no NaN or infinity, so {ACCEPTED}"),
        ),
        (
            "context_bytes",
            "client_context",
            re.escape(f"client_context['custom']['blob'] is bytes; {ACCEPTED}"),
        ),
    ],
)
async def test_bad_request_refused_in_the_workflow(
    dev_env: WorkflowEnvironment, lam: LocalLambda, case: str, field: str, message: str
) -> None:
    task_queue = f"tq-{uuid.uuid4()}"
    async with worker(dev_env, lam, task_queue, None):
        handle = await dev_env.client.start_workflow(
            BadRequestWorkflow.run,
            BadRequestSpec("echo_length", case),
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=__import__("datetime").timedelta(seconds=15),
        )
        caught = await handle.result()
    assert caught["type"] == VALIDATION_ERROR_TYPE
    assert caught["non_retryable"] is True
    assert re.fullmatch(message, caught["message"]), caught["message"]
    assert caught["details"] == [{"field": field}]
    if case == "large":
        size = int(re.fullmatch(message, caught["message"]).group(1))  # type: ignore[union-attr]
        assert 3_000_000 < size < 3_002_000
    assert lam.invocations == []
    history = await handle.fetch_history()
    types = {event.event_type for event in history.events}
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in types
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in types


@pytest.mark.parametrize("length", [300, 1_000_000])
async def test_requests_under_the_limit_arrive_intact(
    dev_env: WorkflowEnvironment, lam: LocalLambda, length: int
) -> None:
    """Small requests skip the encode (the bound proves them small); 1 MB ones are encoded
    in the workflow and handed to the activity already encoded: both arrive unchanged."""
    task_queue = f"tq-{uuid.uuid4()}"
    async with worker(dev_env, lam, task_queue, None):
        answer = await dev_env.client.execute_workflow(
            SizedPayloadWorkflow.run,
            args=["echo_length", length],
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert answer == {"length": length, "same": True}
    assert len(lam.records("echo_length")) == 1


def test_bound_is_an_upper_bound_of_the_default_json() -> None:
    values: list[Any] = [
        None,
        True,
        -(10**17),
        -2.2250738585072014e-308,
        '\x00\x1f"\\é\u2028\U0001f600',
        {"k\x01": [1.5, "a", {"é": None}], "": ()},
        [[[]], {}],
        ("tuple", 1),
    ]
    for value in values:
        bound = json_bound(value)
        encoded = json.dumps(value, separators=(",", ":"), sort_keys=True)
        assert bound is not None and bound >= len(encoded), value
    assert json_bound(10**30) is not None and json_bound(10**30) >= 2**62  # forces an encode


def test_depth_bound_is_exact() -> None:
    assert json_bound(deep_list(MAX_PAYLOAD_DEPTH)) is not None
    assert json_bound(deep_list(MAX_PAYLOAD_DEPTH + 1)) is None
    assert describe_refusal(deep_list(MAX_PAYLOAD_DEPTH + 1), "payload") == (
        f"payload nests containers more than {MAX_PAYLOAD_DEPTH} deep; "
        f"at most {MAX_PAYLOAD_DEPTH} levels can be sent"
    )
    assert json_bound({"ok": deep_list(100_000)}) is None  # no RecursionError


def test_payload_limit_must_be_positive() -> None:
    with pytest.raises(
        ValueError, match=r"^payload_limit must be a positive number of bytes, got 0$"
    ):
        LambdaPlugin(region="us-east-1", idempotency_store=None, payload_limit=0)


def test_payload_sizes_match_protobuf() -> None:
    from temporalio.api.common.v1 import Payload, Payloads

    from temporal_lambda._sizes import payload_size, payloads_size

    for length in (0, 1, 127, 128, 16_383, 16_384, 3_000_000):
        for metadata in ({}, {"encoding": b"json/plain"}, {"é" * 70: b"", "k": b"v" * 200}):
            payloads = [Payload(metadata=metadata, data=b"x" * length), Payload()]
            assert [payload_size(p) for p in payloads] == [p.ByteSize() for p in payloads]
            assert (
                payloads_size(map(payload_size, payloads)) == Payloads(payloads=payloads).ByteSize()
            )
