"""The invoke activity in isolation: ActivityEnvironment + httpx.MockTransport."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from temporal_lambda import LambdaInvokeRequest
from temporal_lambda._activity import attempt_budget, heartbeat_interval
from temporal_lambda._keys import derive_idempotency_key
from tests.support.activity_env import T0, make_activities, make_env


def test_heartbeat_interval() -> None:
    assert heartbeat_interval(None) == 9.5
    assert heartbeat_interval(timedelta(seconds=30)) == 9.5
    assert heartbeat_interval(timedelta(seconds=6)) == 2.0
    assert heartbeat_interval(timedelta(seconds=120)) == 9.5


def test_attempt_budget_from_server_timestamps() -> None:
    info = make_env().info
    assert attempt_budget(info) == 960.0
    info = dataclasses.replace(
        info,
        schedule_to_close_timeout=timedelta(minutes=5),
        started_time=T0 + timedelta(minutes=3),
    )
    assert attempt_budget(info) == 120.0
    info = dataclasses.replace(info, start_to_close_timeout=None, schedule_to_close_timeout=None)
    assert attempt_budget(info) is None


async def test_same_key_on_every_attempt_and_read_timeout_bound_to_attempt() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"x-amzn-RequestId": "r-1"})

    activities = make_activities(handler)
    results = []
    for attempt in (1, 2):
        env = make_env(attempt=attempt, start_to_close_timeout=timedelta(seconds=90))
        results.append(await env.run(activities.invoke, LambdaInvokeRequest("fn", {"a": 1})))
    expected = derive_idempotency_key("default", "order-1", "run-1", "7")
    assert [r.idempotency_key for r in results] == [expected, expected]
    contexts = [json.loads(base64.b64decode(r.headers["X-Amz-Client-Context"])) for r in seen]
    assert contexts == [{"custom": {"idempotency_key": expected}}] * 2
    read_timeout = seen[0].extensions["timeout"]["read"]
    assert 89.0 < read_timeout <= 89.5
    assert results[0].payload == {"ok": True}
    assert results[0].request_id == "r-1"


async def test_explicit_key_overrides_derived_one() -> None:
    activities = make_activities(lambda request: httpx.Response(202))
    request = LambdaInvokeRequest(
        "fn", {"a": 1}, invocation_type="Event", idempotency_key="my-key-1"
    )
    result = await make_env().run(activities.invoke, request)
    assert result.idempotency_key == "my-key-1"
    assert result.status_code == 202


async def test_validation_error_is_non_retryable_and_sends_nothing() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    activities = make_activities(handler)
    with pytest.raises(ApplicationError) as caught:
        await make_env().run(activities.invoke, LambdaInvokeRequest("bad name!", {}))
    assert caught.value.type == "Lambda.ValidationError"
    assert caught.value.non_retryable is True
    assert seen == []


async def test_throttle_becomes_next_retry_delay() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            headers={"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "4"},
            json={"Reason": "CallerRateLimitExceeded", "Type": "User", "message": "Rate Exceeded."},
        )

    with pytest.raises(ApplicationError) as caught:
        await make_env().run(make_activities(handler).invoke, LambdaInvokeRequest("fn"))
    error = caught.value
    assert error.type == "Lambda.TooManyRequestsException"
    assert error.message == "Rate Exceeded."
    assert error.non_retryable is False
    assert error.next_retry_delay == timedelta(seconds=4)
    assert error.details[0]["reason"] == "CallerRateLimitExceeded"


async def test_transport_error_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with pytest.raises(ApplicationError) as caught:
        await make_env().run(make_activities(handler).invoke, LambdaInvokeRequest("fn"))
    assert caught.value.type == "Lambda.SdkClientException"
    assert caught.value.non_retryable is False
    assert "SECRET" not in str(caught.value) and "AKID" not in str(caught.value.details)


async def test_heartbeats_while_waiting_without_payload() -> None:
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=1)

    env = make_env(heartbeat_timeout=timedelta(seconds=0.3))
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    task = asyncio.create_task(
        env.run(make_activities(handler).invoke, LambdaInvokeRequest("fn", {"secret": "s3"}))
    )
    await asyncio.sleep(0.55)
    release.set()
    result = await task
    assert result.payload == 1
    assert len(beats) >= 4
    assert beats[0]["phase"] == "waiting for Lambda"
    assert beats[0]["function"] == "fn"
    assert beats[0]["attempt"] == 1
    assert "s3" not in json.dumps(beats)


async def test_quick_call_sends_no_heartbeat() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return httpx.Response(200, json=1)

    env = make_env(heartbeat_timeout=timedelta(seconds=30))
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    result = await env.run(make_activities(handler).invoke, LambdaInvokeRequest("fn"))
    assert result.payload == 1
    assert beats == [], "a call answered within FIRST_HEARTBEAT_DELAY costs no heartbeat"
    await asyncio.sleep(1.2)
    assert beats == [], "the heartbeat timer stops with the call"


async def test_cancellation_aborts_the_request() -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            finished.append("cancelled")
            raise
        return httpx.Response(200)

    env = make_env(heartbeat_timeout=timedelta(seconds=1))
    task = asyncio.create_task(env.run(make_activities(handler).invoke, LambdaInvokeRequest("fn")))
    await started.wait()
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == ["cancelled"]
