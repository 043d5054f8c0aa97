"""Bodies at the edges: huge function error documents, huge answers, answers that trickle.

Sizes and timeouts that are Temporal's business go through the dev server (``dev_env``), which
enforces payload limits; answers Lambda would never send come from a small hostile server of
this module's own on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import re
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.converter import DataConverter, DefaultFailureConverter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_lambda import LambdaInvokeRequest, LambdaPlugin
from temporal_lambda._client import LambdaClient
from temporal_lambda._codes import RESPONSE_TOO_LARGE_ERROR_TYPE, TIMEOUT_ERROR_TYPE
from temporal_lambda._errors import (
    MAX_ERROR_MESSAGE,
    MAX_ERROR_TYPE,
    MAX_STACK_TRACE,
    MAX_STACK_TRACE_LINES,
    FunctionErrorInfo,
    LambdaFunctionError,
    LambdaResponseTooLargeError,
    LambdaServiceError,
    LambdaTransportError,
    LambdaValidationError,
    to_application_error,
)
from temporal_lambda._request import prepare_call
from temporal_lambda._response import classify_service_error
from temporal_lambda._spec import MAX_EMPTY_RESPONSE, MAX_ERROR_RESPONSE, MAX_SYNC_RESPONSE
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.e2e_workflows import InvokeSpec, InvokeWorkflow

CREDENTIALS = Credentials("AKIDBODIES", "bodies-secret")
MiB = 1024 * 1024


def sync_call(name: str = "fn") -> Any:
    return prepare_call(LambdaInvokeRequest(name, {"a": 1}), "key-1")


def event_call(name: str = "fn") -> Any:
    return prepare_call(LambdaInvokeRequest(name, {"a": 1}, invocation_type="Event"), "key-1")


def raised(error: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        to_application_error(error)
    return caught.value


def failure_size(error: ApplicationError) -> int:
    """Bytes of the Failure Temporal's default converters make of ``error`` (cause included)."""
    from temporalio.api.failure.v1 import Failure

    failure = Failure()
    DefaultFailureConverter().to_failure(error, DataConverter.default.payload_converter, failure)
    return failure.ByteSize()


# --- item 4: bounded function error documents, carried once ------------------------------


def test_huge_function_message_is_bounded_marked_and_carried_once() -> None:
    info = FunctionErrorInfo("ValueError", "x" * 734_003, ["  File app.py, line 3\n"])
    error = LambdaFunctionError(info, retryable=False)
    app = raised(error)
    assert app.type == "ValueError"
    assert app.non_retryable is True
    assert len(app.message) == MAX_ERROR_MESSAGE
    assert app.message.endswith("x… [truncated from 734003 characters]")
    assert app.message.startswith("x" * 1000)
    assert app.details == (
        {
            "error_type": "ValueError",
            "stack_trace": ["  File app.py, line 3\n"],
            "function_error": "Unhandled",
            "request_id": None,
            "executed_version": None,
            "log_tail": None,
            "truncated": {"message": 734003},
        },
    )
    # Nothing for Temporal's failure converter to encode a second time; still reachable here.
    assert app.__cause__ is None
    assert app.__suppress_context__ is True
    assert app.__context__ is error
    assert error.info.message == "x" * 734_003
    assert failure_size(app) < 40_000


def test_small_function_error_is_untouched() -> None:
    info = FunctionErrorInfo("ValueError", "bad order 42", ["a\n", "b\n"], request_id="r-1")
    app = raised(LambdaFunctionError(info))
    assert (app.type, app.message, app.non_retryable) == ("ValueError", "bad order 42", False)
    assert app.details[0]["stack_trace"] == ["a\n", "b\n"]
    assert app.details[0]["truncated"] == {}
    assert "error_message" not in app.details[0]


def test_long_stack_trace_keeps_both_ends() -> None:
    lines = [f"  File app.py, line {i}, in f{i}\n" for i in range(1000)]
    app = raised(LambdaFunctionError(FunctionErrorInfo("RecursionError", "deep", lines)))
    kept = app.details[0]["stack_trace"]
    half = MAX_STACK_TRACE_LINES // 2
    total = sum(map(len, lines))
    assert kept == [
        *lines[:half],
        f"… [stack trace truncated from 1000 lines, {total} characters]",
        *lines[-half:],
    ]
    assert app.details[0]["truncated"] == {"stack_trace": total, "stack_trace_lines": 1000}
    assert app.message == "deep"


def test_one_huge_stack_line_is_cut() -> None:
    app = raised(LambdaFunctionError(FunctionErrorInfo("E", "m", ["y" * 1_500_000])))
    kept = app.details[0]["stack_trace"]
    assert kept == [
        "y" * (MAX_STACK_TRACE // 2),
        "… [stack trace truncated from 1 lines, 1500000 characters]",
    ]
    assert app.details[0]["truncated"] == {"stack_trace": 1_500_000, "stack_trace_lines": 1}


def test_absurd_error_type_is_bounded_and_recognisable() -> None:
    error_type = "My.Error." + "Z" * 10_000
    app = raised(LambdaFunctionError(FunctionErrorInfo(error_type, "m")))
    assert app.type is not None and len(app.type) == MAX_ERROR_TYPE
    assert app.type.startswith("My.Error.ZZZ")
    assert app.type.endswith("… [truncated from 10009 characters]")
    assert app.details[0]["error_type"] == app.type
    assert app.details[0]["truncated"] == {"error_type": 10_009}


def test_worst_case_failure_stays_far_below_temporal_limits() -> None:
    # Characters the JSON payload converter escapes to 12 bytes each, everywhere at once.
    emoji = "\U0001f600"
    info = FunctionErrorInfo(
        emoji * 5000,
        emoji * 1_500_000,
        [emoji * 5000] * 5000,
        log_tail="\x00" * 4096,
    )
    app = raised(LambdaFunctionError(info))
    assert failure_size(app) < 600_000


def test_service_error_echoing_a_huge_body_is_bounded_and_carried_once() -> None:
    code = "Weird" * 2000
    body = b'{"message": "' + b"m" * 60_000 + b'", "Reason": "' + b"r" * 5000 + b'"}'
    error = classify_service_error(503, {"x-amzn-errortype": code}, body)
    app = raised(error)
    assert app.type is not None and len(app.type) == MAX_ERROR_TYPE
    assert app.type.startswith("Lambda.WeirdWeird")
    assert app.non_retryable is False
    assert app.message == "m" * 4096 + "…"
    details = app.details[0]
    assert len(details["code"]) == MAX_ERROR_TYPE and len(details["reason"]) == MAX_ERROR_TYPE
    assert app.__cause__ is None and app.__context__ is error
    assert failure_size(app) < 16_000


@pytest.mark.parametrize(
    "error",
    [
        LambdaValidationError("v" * 100_000, field="payload"),
        LambdaTransportError("t" * 100_000),
        LambdaServiceError("s" * 100_000, code="X", status_code=500, retryable=True),
    ],
    ids=["validation", "transport", "service"],
)
def test_every_error_message_is_bounded_once(error: Any) -> None:
    app = raised(error)
    assert len(app.message) == MAX_ERROR_MESSAGE
    assert app.message.endswith("… [truncated from 100000 characters]")
    assert app.details[0]["truncated"] == {"message": 100_000}
    assert app.__cause__ is None and app.__context__ is error
    assert failure_size(app) < 40_000


# --- hostile HTTP servers on 127.0.0.1 ----------------------------------------------------


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length: *(\d+)", head)
    if match:
        await reader.readexactly(int(match.group(1)))
    return head


@asynccontextmanager
async def hostile(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` on 127.0.0.1; yield the endpoint URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over (asyncio logs a cancelled handler)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def client_for(endpoint: str) -> LambdaClient:
    return LambdaClient(region="us-east-1", endpoint_url=endpoint, credentials=CREDENTIALS)


class Streamer:
    """Answers ``status`` then streams ``total`` bytes, noting what went out and when it stopped."""

    def __init__(self, status: str, total: int, content_length: bool = False) -> None:
        self.status = status
        self.total = total
        self.content_length = content_length
        self.sent = 0
        self.requests = 0
        self.stopped = asyncio.Event()
        self.stopped_at = 0.0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        self.requests += 1
        length = f"Content-Length: {self.total}\r\n" if self.content_length else ""
        writer.write(
            f"HTTP/1.1 {self.status}\r\nContent-Type: text/html\r\n{length}"
            "Connection: close\r\n\r\n".encode()
        )
        chunk = memoryview(b"z" * (256 * 1024))
        try:
            while self.sent < self.total:
                writer.write(chunk)
                await writer.drain()
                self.sent += len(chunk)
        finally:
            self.stopped_at = time.monotonic()
            self.stopped.set()


# --- item 5: a cap on the answer's body ---------------------------------------------------


async def test_300_mb_body_stops_past_the_cap_with_bounded_memory() -> None:
    streamer = Streamer("200 OK", 300 * MiB)
    async with hostile(streamer) as endpoint, client_for(endpoint) as client:
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(LambdaResponseTooLargeError) as caught:
                await asyncio.wait_for(client.send(sync_call(), read_timeout=30), 60)
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await asyncio.wait_for(streamer.stopped.wait(), 5)
    error = caught.value
    assert error.error_type == RESPONSE_TOO_LARGE_ERROR_TYPE == "Lambda.ResponseTooLarge"
    assert error.retryable is False
    assert error.limit == MAX_SYNC_RESPONSE == 6_291_456
    assert MAX_SYNC_RESPONSE < error.bytes_read <= MAX_SYNC_RESPONSE + 1 * MiB
    assert re.fullmatch(
        r"POST http://127\.0\.0\.1:\d+/2015-03-31/functions/fn/invocations: the HTTP 200 "
        r"answer is larger than the 6291456 bytes this call can get from Lambda \(reading "
        rf"stopped at {error.bytes_read} bytes\); the function may have run, so this is not "
        r"retried",
        str(error),
    )
    assert error.details() == {
        "timeout": False,
        "maybe_sent": True,
        "status_code": 200,
        "bytes_read": error.bytes_read,
        "limit": MAX_SYNC_RESPONSE,
    }
    assert peak < 40 * MiB, f"peak {peak / MiB:.1f} MiB"
    # The server noticed the disconnect soon after the cap, long before 300 MB.
    assert streamer.sent < 48 * MiB, streamer.sent
    assert elapsed < 10
    app = raised(error)
    assert (app.type, app.non_retryable) == ("Lambda.ResponseTooLarge", True)


async def test_content_length_over_the_cap_is_refused_without_reading() -> None:
    async def announce(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 300000000\r\n\r\n")
        await writer.drain()
        await reader.read()  # send nothing more; wait for the client to hang up

    async with hostile(announce) as endpoint, client_for(endpoint) as client:
        started = time.monotonic()
        with pytest.raises(LambdaResponseTooLargeError) as caught:
            await client.send(sync_call(), read_timeout=10)
        elapsed = time.monotonic() - started
    assert elapsed < 2
    assert (caught.value.bytes_read, caught.value.limit) == (0, MAX_SYNC_RESPONSE)
    assert str(caught.value).endswith(
        "the HTTP 200 answer is larger than the 6291456 bytes this call can get from Lambda "
        "(Content-Length 300000000, none read); the function may have run, so this is not "
        "retried"
    )


async def test_event_answer_with_a_body_is_capped_at_64_kib() -> None:
    streamer = Streamer("202 Accepted", 1 * MiB, content_length=False)
    async with hostile(streamer) as endpoint, client_for(endpoint) as client:
        with pytest.raises(LambdaResponseTooLargeError) as caught:
            await client.send(event_call(), read_timeout=10)
    assert caught.value.limit == MAX_EMPTY_RESPONSE == 65_536
    assert caught.value.status_code == 202
    assert "the HTTP 202 answer is larger than the 65536 bytes" in str(caught.value)


async def test_huge_error_page_is_cut_and_keeps_its_status() -> None:
    streamer = Streamer("503 Service Unavailable", 50 * MiB)
    async with hostile(streamer) as endpoint, client_for(endpoint) as client:
        started = time.monotonic()
        raw = await client.send(sync_call(), read_timeout=10)
        assert time.monotonic() - started < 5
        await asyncio.wait_for(streamer.stopped.wait(), 5)
    assert raw.status_code == 503
    assert raw.body == b"z" * MAX_ERROR_RESPONSE
    assert streamer.sent < 32 * MiB
    error = classify_service_error(raw.status_code, raw.headers, raw.body)
    assert (error.error_type, error.retryable) == ("Lambda.Unknown", True)


@pytest.mark.parametrize(
    ("call", "limit"), [(sync_call(), MAX_SYNC_RESPONSE), (event_call(), MAX_EMPTY_RESPONSE)]
)
async def test_body_of_exactly_the_cap_is_accepted_one_more_is_not(call: Any, limit: int) -> None:
    size = limit

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"1" * size)

    async with LambdaClient(
        region="us-east-1", credentials=CREDENTIALS, transport=httpx.MockTransport(answer)
    ) as client:
        raw = await client.send(call)
        assert len(raw.body) == limit
        size = limit + 1
        with pytest.raises(LambdaResponseTooLargeError) as caught:
            await client.send(call)
    assert caught.value.limit == limit


# --- item 12: a total deadline over the whole answer --------------------------------------


def trickler(where: str, interval: float, count: int) -> Handler:
    """Answer one byte every ``interval`` seconds, in the headers or in the body."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if where == "headers":
            head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * count + b"\r\nContent-Length: 2\r\n\r\n"
            for i in range(len(head)):
                writer.write(head[i : i + 1])
                await writer.drain()
                await asyncio.sleep(interval)
            writer.write(b"{}")
        else:
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {count}\r\n\r\n".encode())
            for _ in range(count):
                await writer.drain()
                await asyncio.sleep(interval)
                writer.write(b"1")
        await writer.drain()

    return handler


@pytest.mark.parametrize("where", ["body", "headers"])
async def test_trickling_answer_ends_at_the_read_deadline(where: str) -> None:
    # One byte every 0.25 s for 12 s: the socket is never silent for the 1.5 s read timeout.
    async with hostile(trickler(where, 0.25, 48)) as endpoint, client_for(endpoint) as client:
        started = time.monotonic()
        with pytest.raises(LambdaTransportError) as caught:
            await asyncio.wait_for(client.send(sync_call(), read_timeout=1.5), 15)
        elapsed = time.monotonic() - started
    error = caught.value
    assert 1.4 < elapsed < 4.0
    assert (error.error_type, error.timeout, error.maybe_sent, error.retryable) == (
        TIMEOUT_ERROR_TYPE,
        True,
        True,
        True,
    )
    assert isinstance(error.__cause__, httpx.ReadTimeout)
    assert re.fullmatch(
        r"POST http://127\.0\.0\.1:\d+/2015-03-31/functions/fn/invocations: no answer within "
        r"the read timeout \(ReadTimeout: the whole answer did not arrive within 1\.5 s\)",
        str(error),
    )
    app = raised(error)
    assert (app.type, app.non_retryable) == ("Lambda.ClientExecutionTimeoutException", False)


async def test_cancellation_is_not_taken_for_the_deadline() -> None:
    async with hostile(trickler("body", 0.25, 48)) as endpoint, client_for(endpoint) as client:
        task = asyncio.create_task(client.send(sync_call(), read_timeout=10))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


# --- through a worker on the dev server ---------------------------------------------------


def big_error(event: Any, context: LambdaContext) -> None:
    raise ValueError("x" * int(event["size"]))


@asynccontextmanager
async def worker_for(env: WorkflowEnvironment, endpoint: str) -> AsyncIterator[str]:
    task_queue = f"tq-bodies-{uuid.uuid4()}"
    plugin = LambdaPlugin(
        client=LambdaClient(region="us-east-1", endpoint_url=endpoint, credentials=CREDENTIALS),
        idempotency_store=None,
    )
    async with Worker(
        env.client, task_queue=task_queue, workflows=[InvokeWorkflow], plugins=[plugin]
    ):
        yield task_queue


async def fail_workflow(
    env: WorkflowEnvironment, task_queue: str, spec: InvokeSpec
) -> tuple[ApplicationError, WorkflowHandle[Any, Any]]:
    handle = await env.client.start_workflow(
        InvokeWorkflow.run,
        spec,
        id=f"wf-bodies-{uuid.uuid4()}",
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(handle.result(), 45)
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError), repr(activity_error)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError), repr(cause)
    return cause, handle


@pytest.mark.parametrize("size", [700_000, 1_500_000])
async def test_huge_error_document_on_the_dev_server(
    dev_env: WorkflowEnvironment, size: int
) -> None:
    async with LocalLambda(credentials=("AKIDBODIES", "bodies-secret")) as lam:
        lam.register("big-error", big_error)
        async with worker_for(dev_env, lam.endpoint_url) as task_queue:
            # Retries are allowed (3 attempts, short heartbeat timeout), but ValueError is not
            # retried: any second call would come from the failure itself being refused.
            error, handle = await fail_workflow(
                dev_env,
                task_queue,
                InvokeSpec(
                    "big-error",
                    {"size": size},
                    {"non_retryable_function_errors": ["ValueError"]},
                    heartbeat_timeout_s=2.0,
                    max_attempts=3,
                    initial_interval_s=0.1,
                ),
            )
        records = lam.records("big-error")
    assert len(records) == 1
    assert error.type == "ValueError"
    assert error.non_retryable is True
    assert len(error.message) == MAX_ERROR_MESSAGE
    assert error.message.endswith(f"x… [truncated from {size} characters]")
    details = error.details[0]
    assert details["error_type"] == "ValueError"
    assert details["truncated"] == {"message": size}
    assert details["request_id"] == records[0].request_id
    assert "error_message" not in details
    assert any("big_error" in line for line in details["stack_trace"])
    # The history holds one small failure per event, with no cause chained to it.
    history = await handle.fetch_history()
    failed = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    assert len(failed) == 1
    failure = failed[0].activity_task_failed_event_attributes.failure
    assert failure.message == error.message
    assert not failure.HasField("cause")
    assert failure.ByteSize() < 48_000
    assert sum(e.ByteSize() for e in history.events) < 160_000


async def test_response_too_large_on_the_dev_server_is_not_retried(
    dev_env: WorkflowEnvironment,
) -> None:
    streamer = Streamer("200 OK", 64 * MiB)
    async with hostile(streamer) as endpoint, worker_for(dev_env, endpoint) as task_queue:
        error, _ = await fail_workflow(
            dev_env, task_queue, InvokeSpec("fn", {"a": 1}, max_attempts=3, initial_interval_s=0.1)
        )
    assert streamer.requests == 1
    assert error.type == "Lambda.ResponseTooLarge"
    assert error.non_retryable is True
    assert re.fullmatch(
        r"POST http://127\.0\.0\.1:\d+/2015-03-31/functions/fn/invocations: the HTTP 200 answer "
        r"is larger than the 6291456 bytes this call can get from Lambda \(reading stopped at "
        r"\d+ bytes\); the function may have run, so this is not retried",
        error.message,
    )
    assert error.details[0]["limit"] == MAX_SYNC_RESPONSE


async def test_trickling_answer_on_the_dev_server_is_our_timeout(
    dev_env: WorkflowEnvironment,
) -> None:
    async with (
        hostile(trickler("body", 0.5, 40)) as endpoint,
        worker_for(dev_env, endpoint) as task_queue,
    ):
        started = time.monotonic()
        error, _ = await fail_workflow(
            dev_env, task_queue, InvokeSpec("fn", {"a": 1}, start_to_close_s=6.0, max_attempts=1)
        )
        elapsed = time.monotonic() - started
    assert error.type == TIMEOUT_ERROR_TYPE == "Lambda.ClientExecutionTimeoutException"
    assert error.non_retryable is False
    assert re.fullmatch(
        r"POST http://127\.0\.0\.1:\d+/2015-03-31/functions/fn/invocations: no answer within "
        r"the read timeout \(ReadTimeout: the whole answer did not arrive within 5\.\d+ s\)",
        error.message,
    )
    assert elapsed < 12
