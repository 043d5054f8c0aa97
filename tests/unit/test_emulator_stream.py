"""LocalLambda's InvokeWithResponseStream, read by botocore's own client and event-stream parser.

Every test calls ``invoke_with_response_stream`` of a real boto3 ``lambda`` client (SigV4
signed, over a 127.0.0.1 socket) and iterates its ``EventStream``, so the frames the emulator
writes with its own encoder are decoded and CRC-checked by botocore's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
import urllib3.exceptions
from botocore.config import Config

from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.emulator_keys import record_key

pytestmark = pytest.mark.timeout(120)

MiB = 1024 * 1024
STREAM_PATH = "/2021-11-15/functions/{}/response-streaming-invocations"


def client(lam: LocalLambda) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=lam.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=60),
    )


def stream(lam: LocalLambda, **kwargs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Call and read the whole stream (blocking: run it in a thread)."""
    answer = client(lam).invoke_with_response_stream(**kwargs)
    return answer, list(answer["EventStream"])


async def call(lam: LocalLambda, **kwargs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return await asyncio.to_thread(stream, lam, **kwargs)


def chunks(events: list[dict[str, Any]]) -> list[bytes]:
    return [e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e]


def complete(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert "InvokeComplete" in events[-1]
    assert sum("InvokeComplete" in e for e in events) == 1
    return dict(events[-1]["InvokeComplete"])


def numbers(event: Any, context: LambdaContext) -> Iterator[bytes | str]:
    print("counting", event["n"])
    custom = context.client_context.custom if context.client_context else None
    yield json.dumps({"custom": custom, "tenant": context.tenant_id}).encode()
    for i in range(event["n"]):
        yield f"{i};"


async def async_numbers(event: Any, context: LambdaContext) -> AsyncIterator[str]:
    for i in range(3):
        await asyncio.sleep(0)
        yield f"a{i}"


def breaks(event: Any, context: LambdaContext) -> Iterator[bytes]:
    yield b"first"
    yield b"second"
    raise ValueError("ran out of stock")


def buffered(event: Any, context: LambdaContext) -> dict[str, Any]:
    return {"whole": event}


def refuses(event: Any, context: LambdaContext) -> Iterator[bytes]:
    raise KeyError("order")
    yield b"never"


async def stalls(event: Any, context: LambdaContext) -> AsyncIterator[bytes]:
    yield b"before"
    await asyncio.sleep(30)
    yield b"after"


def big(event: Any, context: LambdaContext) -> Iterator[bytes]:
    block = b"x" * MiB
    for _ in range(event["mib"]):
        yield block


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda() as emulator:
        for name, handler in {
            "numbers": numbers,
            "async-numbers": async_numbers,
            "breaks": breaks,
            "buffered": buffered,
            "refuses": refuses,
            "big": big,
        }.items():
            emulator.register(name, handler)
        emulator.register("stalls", stalls, timeout=0.5)
        yield emulator


async def test_chunks_log_tail_qualifier_client_context_and_tenant(lam: LocalLambda) -> None:
    lam.publish_version("numbers")
    lam.create_alias("numbers", "live", "1")
    context = base64.b64encode(json.dumps({"custom": {"idempotency_key": "k-9"}}).encode())
    answer, events = await call(
        lam,
        FunctionName="numbers",
        Qualifier="live",
        Payload=b'{"n": 3}',
        LogType="Tail",
        ClientContext=context.decode(),
        TenantId="tenant-a",
    )
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "1"
    assert answer["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    assert chunks(events) == [
        b'{"custom": {"idempotency_key": "k-9"}, "tenant": "tenant-a"}',
        b"0;",
        b"1;",
        b"2;",
    ]
    done = complete(events)
    assert set(done) == {"LogResult"}
    log = base64.b64decode(done["LogResult"]).decode()
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert log.startswith(f"START RequestId: {request_id} Version: 1\ncounting 3\nEND RequestId: ")
    assert f"REPORT RequestId: {request_id}\tDuration: " in log
    [record] = lam.records("numbers")
    assert (record.api, record.qualifier, record.status_code, record.error_code) == (
        "InvokeWithResponseStream",
        "live",
        200,
        None,
    )
    assert (record.request_id, record.tenant_id, record_key(record)) == (
        request_id,
        "tenant-a",
        "k-9",
    )
    assert record.payload == b'{"n": 3}'
    [request] = lam.requests()
    assert (request.path, request.query, request.status) == (
        STREAM_PATH.format("numbers"),
        "Qualifier=live",
        200,
    )


async def test_async_generator_of_str_without_tail(lam: LocalLambda) -> None:
    answer, events = await call(lam, FunctionName="async-numbers", Payload=b"{}")
    assert answer["StatusCode"] == 200
    assert chunks(events) == [b"a0", b"a1", b"a2"]
    assert complete(events) == {}


async def test_error_mid_stream_arrives_in_invoke_complete(lam: LocalLambda) -> None:
    answer, events = await call(lam, FunctionName="breaks", Payload=b"{}", LogType="Tail")
    assert answer["StatusCode"] == 200
    assert chunks(events) == [b"first", b"second"]
    done = complete(events)
    assert (done["ErrorCode"], done["ErrorDetails"]) == ("ValueError", "ran out of stock")
    log = base64.b64decode(done["LogResult"]).decode()
    assert "[ERROR] ValueError: ran out of stock\nTraceback (most recent call last):\n" in log
    assert 'raise ValueError("ran out of stock")' in log
    [record] = lam.records("breaks")
    assert (record.status_code, record.error_code) == (200, "ValueError")


async def test_error_before_the_first_chunk(lam: LocalLambda) -> None:
    _, events = await call(lam, FunctionName="refuses", Payload=b"{}")
    assert chunks(events) == []
    assert complete(events) == {"ErrorCode": "KeyError", "ErrorDetails": "'order'"}


async def test_timeout_mid_stream(lam: LocalLambda) -> None:
    started = time.monotonic()
    _, events = await call(lam, FunctionName="stalls", Payload=b"{}")
    assert time.monotonic() - started < 10
    assert chunks(events) == [b"before"]
    done = complete(events)
    assert done["ErrorCode"] == "Sandbox.Timedout"
    assert done["ErrorDetails"].endswith(" Error: Task timed out after 0.50 seconds")
    assert lam.records("stalls")[0].error_code == "Sandbox.Timedout"


async def test_a_buffered_handler_streams_its_whole_result_as_one_chunk(lam: LocalLambda) -> None:
    _, events = await call(lam, FunctionName="buffered", Payload=b'{"a": 1}')
    assert [json.loads(c) for c in chunks(events)] == [{"whole": {"a": 1}}]
    assert complete(events) == {}


async def test_invoke_of_a_streaming_handler_buffers_the_stream(lam: LocalLambda) -> None:
    answer = await asyncio.to_thread(
        lambda: client(lam).invoke(FunctionName="async-numbers", Payload=b"{}")
    )
    assert answer["Payload"].read() == b"a0a1a2"
    assert "FunctionError" not in answer


async def test_dry_run_and_event(lam: LocalLambda) -> None:
    answer, events = await call(lam, FunctionName="numbers", InvocationType="DryRun")
    assert (answer["StatusCode"], answer["ExecutedVersion"], events) == (204, "$LATEST", [])
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        await call(lam, FunctionName="numbers", InvocationType="Event", Payload=b'{"n": 1}')
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'Event' at 'invocationType' failed to "
        "satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]",
    }
    assert [(r.invocation_type, r.status_code) for r in lam.records("numbers")] == [
        ("DryRun", 204),
        ("Event", 400),
    ]


async def test_not_found_throttled_and_unsigned(lam: LocalLambda) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        await call(lam, FunctionName="nope", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.faults.throttle_next(1, function="numbers")
    with pytest.raises(botocore.exceptions.ClientError) as throttled:
        await call(lam, FunctionName="numbers", Payload=b'{"n": 1}')
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["Reason"] == "ConcurrentInvocationLimitExceeded"
    async with httpx.AsyncClient(base_url=lam.endpoint_url, timeout=10) as http:
        unsigned = await http.post(STREAM_PATH.format("numbers"), content=b"{}")
    assert (unsigned.status_code, unsigned.headers["x-amzn-ErrorType"]) == (
        403,
        "MissingAuthenticationTokenException",
    )


async def test_a_dropped_stream_ends_without_invoke_complete(lam: LocalLambda) -> None:
    lam.faults.drop_next(1, function="numbers")
    # botocore reads the chunked body straight from urllib3, which sees the cut.
    with pytest.raises(urllib3.exceptions.ProtocolError, match=r"^Response ended prematurely$"):
        await call(lam, FunctionName="numbers", Payload=b'{"n": 2}')
    _, events = await call(lam, FunctionName="numbers", Payload=b'{"n": 2}')
    assert chunks(events)[1:] == [b"0;", b"1;"]
    assert complete(events) == {}
    assert [r.status_code for r in lam.records("numbers")] == [200, 200]


def timed_read(lam: LocalLambda, mib: int) -> tuple[int, float, float]:
    """Stream ``mib`` MiB; return bytes, seconds to the first 6 MiB, seconds in all."""
    started = time.monotonic()
    answer = client(lam).invoke_with_response_stream(
        FunctionName="big", Payload=json.dumps({"mib": mib}).encode()
    )
    received, burst = 0, 0.0
    for event in answer["EventStream"]:
        if "PayloadChunk" in event:
            received += len(event["PayloadChunk"]["Payload"])
            if not burst and received >= 6 * MiB:
                burst = time.monotonic() - started
        else:
            assert event == {"InvokeComplete": {}}
    return received, burst, time.monotonic() - started


async def test_streams_past_6_mb_are_held_to_2_mb_per_second(lam: LocalLambda) -> None:
    received, burst, seconds = await asyncio.to_thread(timed_read, lam, 10)
    assert received == 10 * MiB
    # 4 MiB past the free 6 MiB at 2 MiB/s: at least 2 s, and the first 6 MiB at once.
    assert seconds >= 2.0
    assert burst < 1.5
    assert seconds < 10


async def test_the_stream_throttle_can_be_switched_off() -> None:
    async with LocalLambda(stream_throttle=False) as lam:
        lam.register("big", big)
        received, _, seconds = await asyncio.to_thread(timed_read, lam, 20)
    assert received == 20 * MiB
    # Held to 2 MiB/s this would take at least 7 s.
    assert seconds < 3.5


async def test_client_leaving_mid_stream_is_recorded(lam: LocalLambda) -> None:
    answer = await asyncio.to_thread(
        lambda: client(lam).invoke_with_response_stream(FunctionName="stalls", Payload=b"{}")
    )
    first = await asyncio.to_thread(lambda: next(iter(answer["EventStream"])))
    assert first == {"PayloadChunk": {"Payload": b"before"}}
    answer["EventStream"].close()
    deadline = time.monotonic() + 5
    while not lam.records("stalls")[0].client_disconnected:
        assert time.monotonic() < deadline, "the disconnect was not seen"
        await asyncio.sleep(0.02)
    [record] = lam.records("stalls")
    assert (record.status_code, record.error_code) == (200, None)
    assert lam.requests()[0].client_disconnected is True
