"""The fixes of red team A's findings, beyond its own tests (tests/test_redteam_a.py).

Scrubbing (the Authorization value's end, fragments at a cut, base64 forms, the size a
truncation marker names), the status's code for a bare 429/413, the message of an error
document too large for Temporal, the per-workflow-task request budget, limits estimated
through a payload codec, limits that end with their worker, and replay that makes the run's
own size decisions.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from temporal_lambda import (
    MAX_TASK_REQUESTS,
    RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE,
    VALIDATION_ERROR_TYPE,
    LambdaActivities,
    LambdaClient,
    LambdaInvokeRequest,
)
from temporal_lambda._errors import bound_text
from temporal_lambda._redact import REDACTED, scrub
from temporal_lambda._sizes import limits_through_codec
from temporal_lambda.testing import LocalLambda
from temporal_lambda.workflow import REFUSAL_MARKER
from tests.e2e.test_redteam_a import activity_env, emulator, history_counts, plugin_for
from tests.support.redteam_a_workflows import OneRequestWorkflow, ParallelLargeRequestsWorkflow

TOKEN = base64.b64encode(bytes(range(256)) * 2).decode()  # 684 characters, every byte value

# --- scrubbing -------------------------------------------------------------------------------


def test_authorization_pattern_stops_at_the_value() -> None:
    assert scrub("check the Authorization: header and retry") == (
        f"check the Authorization: {REDACTED} and retry"
    )
    assert scrub("Authorization: Bearer abc.def.ghi; then more") == (
        f"Authorization: {REDACTED}; then more"
    )
    auth = (
        "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20300102/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "ab12" * 16
    )
    assert scrub(f"Authorization: {auth} (note)") == f"Authorization: {REDACTED} (note)"
    assert scrub(f"seen {auth} (note)") == f"seen AWS4-HMAC-SHA256 {REDACTED} (note)"
    assert scrub(f"HTTP_AUTHORIZATION={auth}&next=1") == f"HTTP_AUTHORIZATION={REDACTED}&next=1"
    assert scrub("HTTP_X_AMZ_SECURITY_TOKEN=FwoGZXIvYXdz+/== rest") == (
        f"HTTP_X_AMZ_SECURITY_TOKEN={REDACTED} rest"
    )


def test_scrubbing_twice_changes_nothing() -> None:
    text = "login failed for credential=x; Authorization: y; " + TOKEN[:300]
    once = scrub(text, [TOKEN])
    assert scrub(once, [TOKEN]) == once
    assert TOKEN[:40] not in once


@pytest.mark.parametrize("size", [8, 9, 300, len(TOKEN) - 1])
def test_a_secrets_head_at_the_end_of_a_cut_text_is_redacted(size: int) -> None:
    head = TOKEN[:size]
    assert scrub(f"dump: {head}", [TOKEN]) == f"dump: {REDACTED}"
    assert scrub(f"dump: {head}…", [TOKEN]) == f"dump: {REDACTED}…"
    marked = f"dump: {head}… [truncated from 99999 characters]"
    assert scrub(marked, [TOKEN]) == f"dump: {REDACTED}… [truncated from 99999 characters]"
    assert scrub(f"{TOKEN[-size:]} and on", [TOKEN]) == f"{REDACTED} and on"


def test_a_short_fragment_is_not_a_secret() -> None:
    assert scrub(f"ends with {TOKEN[:7]}", [TOKEN]) == f"ends with {TOKEN[:7]}"


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_base64_forms_of_a_secret_are_redacted(offset: int, urlsafe: bool) -> None:
    data = ("x" * offset + json.dumps({"x-amz-security-token": TOKEN}) + " tail").encode()
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    dump = encode(data).decode()
    text = scrub(f"request dump={dump} end", [TOKEN])
    assert REDACTED in text
    head, _, rest = text.removeprefix("request dump=").partition(REDACTED)
    tail = rest.removesuffix(" end")
    # What is left of the run is whole 4-character groups, and decodes without the secret.
    decode = base64.urlsafe_b64decode if urlsafe else base64.b64decode
    for part in (head, tail):
        assert len(part) % 4 == 0
        assert TOKEN[:16].encode() not in decode(part)
    assert len(dump) - len(head) - len(tail) < len(encode(TOKEN.encode())) + 12


def test_bound_text_names_the_original_size() -> None:
    text, cut = bound_text("y" * 200, 100, original=150)
    assert cut == 150
    assert len(text) == 100
    assert text.endswith("… [truncated from 150 characters]")
    assert bound_text("y" * 50, 100, original=150) == ("y" * 50, None)


# --- one attempt in an ActivityEnvironment ----------------------------------------------------


async def one_attempt(
    handler: Any, request: LambdaInvokeRequest, *, payload_limit: int | None = None
) -> ApplicationError:
    client = LambdaClient(
        region="us-east-1",
        credentials=Credentials("AKIDEXAMPLE", "SECRETEXAMPLE"),
        transport=httpx.MockTransport(handler),
    )
    acts = (
        LambdaActivities(client)
        if payload_limit is None
        else LambdaActivities(client, payload_limit=payload_limit)
    )
    with pytest.raises(ApplicationError) as caught:
        await activity_env().run(acts.invoke, request)
    return caught.value


@pytest.mark.parametrize(
    ("status", "error_type", "non_retryable"),
    [
        (429, "Lambda.TooManyRequestsException", False),
        (413, "Lambda.RequestTooLargeException", True),
        (503, "Lambda.Unknown", False),
    ],
)
async def test_a_bare_status_gets_its_code(
    status: int, error_type: str, non_retryable: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=b"<html>busy</html>")

    error = await one_attempt(handler, LambdaInvokeRequest("fn", {"n": 1}))
    assert error.type == error_type
    assert error.non_retryable is non_retryable
    assert error.message == "<html>busy</html>"
    assert error.details[0]["status_code"] == status


async def test_a_too_large_error_document_says_the_function_failed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"X-Amz-Function-Error": "Unhandled", "x-amzn-RequestId": "r-9"},
            json={"errorType": "ValueError", "errorMessage": "z" * 20_000, "stackTrace": []},
        )

    request = LambdaInvokeRequest("fn", {"n": 1}, raise_on_function_error=False)
    error = await one_attempt(handler, request, payload_limit=10_000)
    assert error.type == RESULT_TOO_LARGE_FOR_TEMPORAL_ERROR_TYPE
    assert error.non_retryable is True
    size = error.details[0]["size"]
    assert error.message == (
        "Lambda function fn failed (Unhandled) and returned an error document, which "
        "raise_on_function_error=False returns as the result; it (request id r-9) is "
        f"{size} bytes once encoded for Temporal, over Temporal's payload limit of 10000 "
        "bytes. Not retried, since a retry would run the function again: return a smaller "
        "result (e.g. a reference to an object in S3) or turn on external storage for large "
        "payloads"
    )


# --- the workflow side, on the dev server ----------------------------------------------------


async def run_parallel(
    client: Client, lam: LocalLambda, count: int, length: int
) -> tuple[list[Any], dict[int, int]]:
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ParallelLargeRequestsWorkflow],
        plugins=[plugin_for(lam)],
    ):
        handle = await client.start_workflow(
            ParallelLargeRequestsWorkflow.run,
            args=["echo", count, length],
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=30),
        )
        outcome = await handle.result()
        return outcome, await history_counts(handle)


async def test_two_large_requests_fit_one_workflow_task(dev_env: WorkflowEnvironment) -> None:
    async with emulator() as lam:
        outcome, counts = await run_parallel(dev_env.client, lam, 2, 1_900_000)
    assert outcome == [{"length": 1_900_000}] * 2
    assert counts[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] == 2
    assert EventType.EVENT_TYPE_MARKER_RECORDED not in counts
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in counts


async def test_a_third_large_request_in_one_task_is_refused(dev_env: WorkflowEnvironment) -> None:
    async with emulator() as lam:
        outcome, counts = await run_parallel(dev_env.client, lam, 3, 1_900_000)
    assert len(outcome) == 1
    refusal = outcome[0]
    assert refusal["type"] == VALIDATION_ERROR_TYPE
    assert refusal["non_retryable"] is True
    assert refusal["details"] == [{"field": "payload"}]
    message = refusal["message"]
    prefix = "the request is "
    assert message.startswith(prefix)
    size = int(message[len(prefix) :].split(" ", 1)[0])
    assert 1_900_000 < size < 1_901_000
    assert message == (
        f"the request is {size} bytes once encoded for Temporal, and this workflow task "
        f"already scheduled {2 * size} bytes of requests: together over the "
        f"{MAX_TASK_REQUESTS} bytes one workflow task may schedule (its completion is one "
        "gRPC message of at most 4 MiB); nothing was sent. Await the calls in smaller groups "
        "(each group in a workflow task of its own) or turn on external storage for large "
        "payloads"
    )
    assert counts[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] == 2
    assert counts[EventType.EVENT_TYPE_MARKER_RECORDED] == 1  # the refusal, for replays
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED not in counts
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in counts


def test_limits_through_a_base64_codec() -> None:
    limits = limits_through_codec(2_000_000, ((1_000, 1_400), (4_000, 5_400)))
    # slope 4/3, intercept 66.7: 2,000,000 x 0.99 = 1,980,000 after the codec
    assert limits.request == int((1_980_000 - 1_400 + 4 / 3 * 1_000) / (4 / 3))
    assert limits.task == int((MAX_TASK_REQUESTS * 0.99 - 1_400 + 4 / 3 * 1_000) / (4 / 3))
    same = limits_through_codec(2_000_000, ((1_000, 1_000), (4_000, 4_000)))
    assert same.request == 1_980_000


async def run_one(client: Client, lam: LocalLambda, length: int, **options: Any) -> Any:
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[OneRequestWorkflow],
        plugins=[plugin_for(lam, **options)],
    ):
        handle = await client.start_workflow(
            OneRequestWorkflow.run,
            args=["echo", length],
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        return await handle.result(), await handle.fetch_history(), task_queue


async def test_a_stopped_workers_limit_does_not_stay(dev_env: WorkflowEnvironment) -> None:
    task_queue = f"tq-{uuid.uuid4()}"

    async def once(**options: Any) -> Any:
        async with (
            emulator() as lam,
            Worker(
                dev_env.client,
                task_queue=task_queue,
                workflows=[OneRequestWorkflow],
                plugins=[plugin_for(lam, **options)],
            ),
        ):
            return await dev_env.client.execute_workflow(
                OneRequestWorkflow.run,
                args=["echo", 5_000],
                id=f"wf-{uuid.uuid4()}",
                task_queue=task_queue,
            )

    refused = await once(payload_limit=1_000)
    assert refused["type"] == VALIDATION_ERROR_TYPE
    assert await once() == {"length": 5_000}  # same queue, same process, the default limit


async def replay(history: WorkflowHistory, **options: Any) -> str | None:
    replayer = Replayer(
        workflows=[OneRequestWorkflow],
        namespace=f"replay-{uuid.uuid4()}",
        plugins=[plugin_for(None, **options)],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    return None if failure is None else f"{type(failure).__name__}: {failure}"


async def test_replay_makes_the_runs_own_refusal(dev_env: WorkflowEnvironment) -> None:
    async with emulator() as lam:
        outcome, history, _ = await run_one(dev_env.client, lam, 5_000, payload_limit=1_000)
    assert outcome["type"] == VALIDATION_ERROR_TYPE
    assert outcome["message"].endswith(
        "over its payload limit of 1000 bytes; nothing was sent. Send a smaller payload (e.g. "
        "a reference to an object in S3) or turn on external storage for large payloads"
    )
    markers = [
        event
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert len(markers) == 1
    assert REFUSAL_MARKER.encode() + b".0" in markers[0].SerializeToString()
    # Raised since: the run's refusal is replayed, not today's acceptance.
    assert await replay(history) is None
    assert await replay(history, payload_limit=1_000) is None


async def test_replay_of_a_scheduled_call_ignores_a_lowered_limit(
    dev_env: WorkflowEnvironment,
) -> None:
    async with emulator() as lam:
        outcome, history, _ = await run_one(dev_env.client, lam, 5_000)
    assert outcome == {"length": 5_000}
    assert await replay(history, payload_limit=1_000) is None
    assert await replay(history) is None
