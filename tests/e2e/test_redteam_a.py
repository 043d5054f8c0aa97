"""Red-team tests of issue 12's promise (sizes, error documents, scrubbing, attempts, replay).

Each test shows one defect found by attacking the merged work as an SRE and a hostile server
would (see /work/notes/redA.md); each was an ``xfail(strict=True)`` until fixed (see
/work/notes/fixA.md). Only public names of the package are imported.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from temporal_lambda import (
    MAX_ERROR_MESSAGE,
    VALIDATION_ERROR_TYPE,
    LambdaActivities,
    LambdaClient,
    LambdaInvokeRequest,
    LambdaPlugin,
)
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.redteam_a_workflows import OneRequestWorkflow, ParallelLargeRequestsWorkflow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOTE_1_OF_1 = " (function failed on 1 of 1 allowed attempts)"


def activity_env() -> ActivityEnvironment:
    """An ActivityEnvironment with the info of a first attempt under the default timeouts."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id="order-1",
        workflow_run_id="run-1",
        activity_id="1",
        attempt=1,
        start_to_close_timeout=timedelta(minutes=16),
        schedule_to_close_timeout=None,
        heartbeat_timeout=timedelta(seconds=30),
        scheduled_time=T0,
        started_time=T0,
    )
    return env


def activities(handler: Any, credentials: Credentials | None = None) -> LambdaActivities:
    """Activities without a store whose Lambda answers with ``handler`` (an httpx handler)."""
    client = LambdaClient(
        region="us-east-1",
        credentials=credentials or Credentials("AKIDEXAMPLE", "SECRETEXAMPLE"),
        transport=httpx.MockTransport(handler),
    )
    return LambdaActivities(client)


def failing_function(message: str) -> Any:
    """An httpx handler: the function fails with ``PermissionError`` and ``message``."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"X-Amz-Function-Error": "Unhandled", "x-amzn-RequestId": "r-1"},
            json={"errorType": "PermissionError", "errorMessage": message, "stackTrace": []},
        )

    return handler


async def final_error(message: str) -> ApplicationError:
    """Run one attempt of a call allowed one function failure; return the error raised."""
    acts = activities(failing_function(message))
    with pytest.raises(ApplicationError) as caught:
        await activity_env().run(
            acts.invoke, LambdaInvokeRequest("fn", {"n": 1}, function_error_attempts=1)
        )
    return caught.value


# --- the attempts note and the scrubber ----------------------------------------------------------


async def test_attempts_note_survives_a_message_mentioning_authorization() -> None:
    message = "upstream answered 401: check the Authorization: header"
    error = await final_error(message)
    assert error.type == "PermissionError"
    assert error.non_retryable is True
    assert error.details[0]["function_error_attempts"] == 1
    # The function's own words may be redacted, but the final error must still say it is final.
    assert error.message.endswith(NOTE_1_OF_1), error.message


async def test_attempts_note_survives_scrubbing_of_a_bounded_message() -> None:
    message = "login failed for credential=x; " * 2_000  # 62,000 characters
    error = await final_error(message)
    assert error.non_retryable is True
    assert len(error.message) <= MAX_ERROR_MESSAGE
    truncated = error.details[0]["truncated"]
    assert truncated == {"message": len(message)}
    assert error.message.endswith(NOTE_1_OF_1), error.message[-120:]
    assert f"[truncated from {len(message)} characters]" in error.message


# --- secrets echoed back -------------------------------------------------------------------------


@dataclasses.dataclass
class Secrets:
    access_key: str
    secret_key: str
    token: str

    @classmethod
    def random(cls) -> Secrets:
        return cls(
            "ASIA" + secrets.token_hex(8).upper(),
            base64.b64encode(secrets.token_bytes(30)).decode(),
            base64.b64encode(secrets.token_bytes(600)).decode(),
        )

    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key, self.token)


def cgi_table(request: httpx.Request, padding: int) -> str:
    """A debug page listing the request headers as CGI variables in an HTML table.

    The shape of a WSGI/PHP/Django debug page behind a proxy: names like
    ``HTTP_X_AMZ_SECURITY_TOKEN`` in one cell, the value in the next.
    """
    rows = "".join(
        f"<tr><td>HTTP_{name.upper().replace('-', '_')}</td><td>{value}</td></tr>"
        for name, value in request.headers.items()
    )
    return f"<html><body><p>{'.' * padding}</p><table>{rows}</table></body></html>"


async def service_error_text(
    keys: Secrets, body: Any, status: int = 502
) -> tuple[str, dict[str, str]]:
    """Send one call to a server answering ``status`` with ``body(request)``.

    Returns:
        Everything the workflow would see of the error (message and details as JSON), and
        the headers the server received.
    """
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(status, content=body(request).encode())

    acts = activities(handler, keys.credentials())
    with pytest.raises(ApplicationError) as caught:
        await activity_env().run(acts.invoke, LambdaInvokeRequest("fn", {"n": 1}))
    error = caught.value
    return error.message + json.dumps(list(error.details)), seen


async def test_token_cut_by_the_message_bound_is_still_redacted() -> None:
    keys = Secrets.random()
    # Find where the token cell starts without padding, then pad so that the 4,096-character
    # cut of the message falls 300 characters into the token.
    probe, seen = await service_error_text(keys, lambda r: cgi_table(r, 0))
    assert keys.token not in probe  # whole, it is found and redacted
    page = cgi_table(httpx.Request("POST", "http://127.0.0.1/", headers=seen), 0)
    start = page.index(keys.token)
    padding = 4096 - start - 300
    text, _ = await service_error_text(keys, lambda r: cgi_table(r, padding))
    for fragment in (keys.token[:40], keys.token[100:140], keys.token[250:290]):
        assert fragment not in text


async def test_base64_echo_of_the_headers_is_redacted() -> None:
    keys = Secrets.random()

    def dump(request: httpx.Request) -> str:
        encoded = base64.b64encode(json.dumps(dict(request.headers)).encode()).decode()
        return f"upstream failed; request dump={encoded}"

    text, _ = await service_error_text(keys, dump)
    found = re.search(r"dump=([A-Za-z0-9+/=]+)", text)
    assert found is not None, text[:200]
    assert keys.token not in base64.b64decode(found.group(1)).decode(errors="replace")


# --- the workflow-side size check against what Temporal refuses ----------------------------------


def echo_length(event: Any, context: LambdaContext) -> dict[str, Any]:
    return {"length": len(event["blob"])}


@asynccontextmanager
async def emulator() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(credentials=("testing", "testing")) as lam:
        lam.register("echo", echo_length)
        yield lam


def plugin_for(lam: LocalLambda | None, **options: Any) -> LambdaPlugin:
    return LambdaPlugin(
        client=LambdaClient(
            region="us-east-1",
            endpoint_url=None if lam is None else lam.endpoint_url,
            credentials=Credentials("testing", "testing"),
        ),
        idempotency_store=None,
        **options,
    )


async def history_counts(handle: Any) -> dict[int, int]:
    counts: dict[int, int] = {}
    async for event in handle.fetch_history_events():
        counts[event.event_type] = counts.get(event.event_type, 0) + 1
    return counts


async def test_requests_scheduled_together_never_terminate_the_workflow(
    dev_env: WorkflowEnvironment,
) -> None:
    task_queue = f"tq-{uuid.uuid4()}"
    async with (
        emulator() as lam,
        Worker(
            dev_env.client,
            task_queue=task_queue,
            workflows=[ParallelLargeRequestsWorkflow],
            plugins=[plugin_for(lam)],
        ),
    ):
        handle = await dev_env.client.start_workflow(
            ParallelLargeRequestsWorkflow.run,
            args=["echo", 3, 1_900_000],
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=10),
        )
        try:
            outcome = await handle.result()
        except WorkflowFailureError as err:
            pytest.fail(f"the workflow ended with {err.cause!r}")
    counts = await history_counts(handle)
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED not in counts
    # Either every call ran, or the workflow caught a typed refusal for what did not fit.
    assert outcome == [{"length": 1_900_000}] * 3 or outcome[-1]["type"] == VALIDATION_ERROR_TYPE


class Base64Codec(PayloadCodec):
    """A codec that wraps each payload in base64 text (4/3 larger), as text-only stores need."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": b"binary/redteam-b64"},
                data=base64.b64encode(payload.SerializeToString()),
            )
            for payload in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload.FromString(base64.b64decode(payload.data))
            if payload.metadata.get("encoding") == b"binary/redteam-b64"
            else payload
            for payload in payloads
        ]


async def test_request_grown_past_the_limit_by_a_codec_is_refused_not_hung(
    dev_env: WorkflowEnvironment,
) -> None:
    config = dev_env.client.config()
    config["data_converter"] = dataclasses.replace(
        DataConverter.default, payload_codec=Base64Codec()
    )
    client = Client(**config)
    task_queue = f"tq-{uuid.uuid4()}"
    async with (
        emulator() as lam,
        Worker(
            client, task_queue=task_queue, workflows=[OneRequestWorkflow], plugins=[plugin_for(lam)]
        ),
    ):
        handle = await client.start_workflow(
            OneRequestWorkflow.run,
            args=["echo", 1_700_000],
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=6),
        )
        try:
            outcome = await handle.result()
        except WorkflowFailureError as err:
            counts = await history_counts(handle)
            failed = counts.get(EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, 0)
            pytest.fail(f"the workflow ended with {err.cause!r} ({failed} workflow task failures)")
        assert lam.invocations == []
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in await history_counts(handle)
        # A request well under the limit the codec leaves still goes through.
        small = await client.execute_workflow(
            OneRequestWorkflow.run,
            args=["echo", 1_000_000],
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=20),
        )
    assert small == {"length": 1_000_000}
    assert outcome["type"] == VALIDATION_ERROR_TYPE
    assert outcome["non_retryable"] is True
    # 2 MiB less 1% through a codec growing by 4/3, less the codec's few bytes of framing.
    limit = int(outcome["message"].split("payload limit of ")[1].split(" ", 1)[0])
    assert 1_550_000 < limit < int(2 * 1024 * 1024 * 0.99 * 3 / 4)


# --- replay ---------------------------------------------------------------------------------------


async def recorded_history(dev_env: WorkflowEnvironment, length: int) -> WorkflowHistory:
    """Run :class:`OneRequestWorkflow` with a payload of ``length`` characters; its history."""
    task_queue = f"tq-{uuid.uuid4()}"
    async with (
        emulator() as lam,
        Worker(
            dev_env.client,
            task_queue=task_queue,
            workflows=[OneRequestWorkflow],
            plugins=[plugin_for(lam)],
        ),
    ):
        handle = await dev_env.client.start_workflow(
            OneRequestWorkflow.run,
            args=["echo", length],
            id=f"wf-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        assert await handle.result() == {"length": length}
        return await handle.fetch_history()


async def replay(history: WorkflowHistory, namespace: str, **options: Any) -> str | None:
    """Replay ``history`` with a plugin built with ``options``; the failure's type, if any."""
    replayer = Replayer(
        workflows=[OneRequestWorkflow], namespace=namespace, plugins=[plugin_for(None, **options)]
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    return None if failure is None else type(failure).__name__


async def test_a_replayer_checks_its_own_payload_limit(dev_env: WorkflowEnvironment) -> None:
    history = await recorded_history(dev_env, 5_000)
    namespace = f"replay-{uuid.uuid4()}"
    assert await replay(history, namespace) is None  # the default limit: replays cleanly
    await replay(history, namespace, payload_limit=1_000)  # another replayer, a small limit
    assert await replay(history, namespace) is None  # the default limit again


async def test_lowering_payload_limit_keeps_running_workflows_replayable(
    dev_env: WorkflowEnvironment,
) -> None:
    history = await recorded_history(dev_env, 5_000)
    assert await replay(history, f"replay-{uuid.uuid4()}", payload_limit=1_000) is None
