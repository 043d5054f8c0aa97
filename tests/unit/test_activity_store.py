"""The activity with an idempotency store: results kept, one caller per key, nothing lost."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from temporalio.exceptions import ApplicationError

from temporal_lambda import LambdaInvokeRequest
from temporal_lambda._activity import LambdaActivities, _fingerprint_fields
from temporal_lambda._client import LambdaClient
from temporal_lambda._keys import derive_idempotency_key, scoped_record_key
from temporal_lambda.idempotency import SQLiteIdempotencyStore, request_fingerprint
from tests.support.activity_env import make_env

KEY = derive_idempotency_key("default", "order-1", "run-1", "7")
# The store's record for KEY, as the activity scopes it (namespace, endpoint, region, function).
RECORD = scoped_record_key(
    namespace="default",
    endpoint="https://lambda.us-east-1.amazonaws.com",
    region="us-east-1",
    function="charge",
    tenant_id=None,
    key=KEY,
)
DURABLE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:flow:1/durable-execution/x/y"


class Lambda:
    """A scripted Lambda behind httpx.MockTransport that counts what reached it."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def activities(fake: Lambda, store: SQLiteIdempotencyStore) -> LambdaActivities:
    client = LambdaClient(
        region="us-east-1",
        credentials=Credentials("AKID", "SECRET"),
        transport=httpx.MockTransport(fake),
    )
    return LambdaActivities(client, store)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteIdempotencyStore:
    return SQLiteIdempotencyStore(tmp_path / "store.sqlite3")


async def run(acts: LambdaActivities, request: LambdaInvokeRequest, attempt: int = 1) -> Any:
    return await make_env(attempt=attempt).run(acts.invoke, request)


async def run_failing(
    acts: LambdaActivities, request: LambdaInvokeRequest, attempt: int = 1
) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await run(acts, request, attempt)
    return caught.value


async def test_completed_result_returned_without_calling_again(
    store: SQLiteIdempotencyStore,
) -> None:
    fake = Lambda(httpx.Response(200, json={"charged": 42}, headers={"x-amzn-RequestId": "r1"}))
    acts = activities(fake, store)
    first = await run(acts, LambdaInvokeRequest("charge", {"order": 1}))
    second = await run(acts, LambdaInvokeRequest("charge", {"order": 1}), attempt=2)
    assert second == first
    assert second.payload == {"charged": 42}
    assert second.request_id == "r1"
    assert len(fake.requests) == 1


async def test_live_lease_of_earlier_attempt_waits(store: SQLiteIdempotencyStore) -> None:
    request = LambdaInvokeRequest("charge", {"order": 1})
    fingerprint = request_fingerprint(_fingerprint_fields(request))
    held = await store.begin(RECORD, fingerprint, lease_seconds=120, owner="crashed-worker")
    assert held.kind == "acquired"
    fake = Lambda(httpx.Response(200, json=1))
    error = await run_failing(activities(fake, store), request, attempt=2)
    assert error.type == "Lambda.IdempotencyInProgress"
    assert error.non_retryable is False
    assert error.next_retry_delay is not None
    assert 115 < error.next_retry_delay.total_seconds() <= 120
    assert fake.requests == []


async def test_expired_lease_is_taken_over_with_same_key(store: SQLiteIdempotencyStore) -> None:
    request = LambdaInvokeRequest("charge", {"order": 1})
    # An earlier attempt took the key with a lease that has already run out.
    fingerprint = request_fingerprint(_fingerprint_fields(request))
    await store.begin(RECORD, fingerprint, lease_seconds=0.001, owner="dead")
    await asyncio.sleep(0.01)
    fake = Lambda(httpx.Response(200, json={"ok": 1}))
    acts = activities(fake, store)
    result = await run(acts, request, attempt=3)
    assert result.payload == {"ok": 1}
    assert (await store.begin(RECORD, fingerprint, lease_seconds=1, owner="x")).kind == "completed"
    sent = json.loads(base64.b64decode(fake.requests[0].headers["X-Amz-Client-Context"]))
    assert sent == {"custom": {"idempotency_key": KEY}}


async def test_taking_over_a_lease_warns_that_the_function_may_run_twice(
    store: SQLiteIdempotencyStore, caplog: pytest.LogCaptureFixture
) -> None:
    request = LambdaInvokeRequest("charge", {"order": 1})
    fingerprint = request_fingerprint(_fingerprint_fields(request))
    await store.begin(RECORD, fingerprint, lease_seconds=0.001, owner="dead")
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.WARNING):
        await run(activities(Lambda(httpx.Response(200, json=1)), store), request, attempt=3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"Lambda charge: taking over key {KEY} from an earlier attempt whose lease ran out; "
        "that attempt may have reached Lambda, so the function may run twice"
    )


async def test_a_fresh_key_takes_no_lease_over(
    store: SQLiteIdempotencyStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        await run(
            activities(Lambda(httpx.Response(200, json=1)), store),
            LambdaInvokeRequest("charge", {"order": 1}),
        )
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_key_reused_for_other_request_is_refused(store: SQLiteIdempotencyStore) -> None:
    fake = Lambda(httpx.Response(200, json=1))
    acts = activities(fake, store)
    await run(acts, LambdaInvokeRequest("charge", {"order": 1}, idempotency_key="k-1"))
    error = await run_failing(
        acts, LambdaInvokeRequest("charge", {"order": 2}, idempotency_key="k-1")
    )
    assert error.type == "Lambda.IdempotencyKeyReused"
    assert error.non_retryable is True
    assert error.message == (
        "idempotency key k-1 was already used for a different request; "
        "give each logical call its own key"
    )
    assert len(fake.requests) == 1


async def test_failed_function_is_not_cached(store: SQLiteIdempotencyStore) -> None:
    failure = httpx.Response(
        200,
        headers={"X-Amz-Function-Error": "Unhandled"},
        json={"errorType": "ValueError", "errorMessage": "boom"},
    )
    fake = Lambda(failure, httpx.Response(200, json={"ok": True}))
    acts = activities(fake, store)
    error = await run_failing(acts, LambdaInvokeRequest("charge", {"order": 1}))
    assert error.type == "ValueError"
    result = await run(acts, LambdaInvokeRequest("charge", {"order": 1}), attempt=2)
    assert result.payload == {"ok": True}
    keys = [
        json.loads(base64.b64decode(r.headers["X-Amz-Client-Context"]))["custom"]
        for r in fake.requests
    ]
    assert keys == [{"idempotency_key": KEY}] * 2


async def test_transport_failure_releases_the_key(store: SQLiteIdempotencyStore) -> None:
    fake = Lambda(httpx.ReadError("reset"), httpx.Response(200, json=2))
    acts = activities(fake, store)
    error = await run_failing(acts, LambdaInvokeRequest("charge", {"order": 1}))
    assert error.type == "Lambda.SdkClientException"
    result = await run(acts, LambdaInvokeRequest("charge", {"order": 1}), attempt=2)
    assert result.payload == 2
    assert len(fake.requests) == 2


async def test_result_too_large_for_store_is_refused(tmp_path: Path) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "small.sqlite3", max_result_bytes=1000)
    fake = Lambda(httpx.Response(200, json={"blob": "x" * 2000}))
    error = await run_failing(activities(fake, store), LambdaInvokeRequest("charge", {}))
    assert error.type == "Lambda.IdempotencyResultTooLarge"
    assert error.non_retryable is True
    assert "1000" in error.message


async def test_store_unavailable_is_retryable_and_sends_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's directory should be")
    store = SQLiteIdempotencyStore(blocker / "store.sqlite3")
    fake = Lambda(httpx.Response(200, json=1))
    error = await run_failing(activities(fake, store), LambdaInvokeRequest("charge", {}))
    assert error.type == "Lambda.IdempotencyStoreUnavailable"
    assert error.non_retryable is False
    assert fake.requests == []


async def test_event_accepted_is_kept(store: SQLiteIdempotencyStore) -> None:
    fake = Lambda(httpx.Response(202))
    acts = activities(fake, store)
    request = LambdaInvokeRequest("notify", {"to": "a"}, invocation_type="Event")
    first = await run(acts, request)
    second = await run(acts, request, attempt=2)
    assert first.status_code == second.status_code == 202
    assert len(fake.requests) == 1


async def test_durable_execution_named_after_key(store: SQLiteIdempotencyStore) -> None:
    fake = Lambda(
        httpx.Response(200, json={"done": True}),
    )
    acts = activities(fake, store)
    request = LambdaInvokeRequest("flow:1", {"order": 1}, durable_execution_name_from_key=True)
    await run(acts, request)
    assert fake.requests[0].headers["X-Amz-Durable-Execution-Name"] == KEY


async def test_durable_already_started_is_not_a_failure(tmp_path: Path) -> None:
    fake = Lambda(
        httpx.Response(
            409,
            headers={
                "x-amzn-ErrorType": "DurableExecutionAlreadyStartedException",
                "x-amzn-RequestId": "r9",
                "X-Amz-Durable-Execution-Arn": DURABLE_ARN,
            },
            json={"Type": "User", "message": "already started"},
        )
    )
    acts = LambdaActivities(
        LambdaClient(
            region="us-east-1",
            credentials=Credentials("AKID", "SECRET"),
            transport=httpx.MockTransport(fake),
        )
    )
    request = LambdaInvokeRequest("flow:1", {"order": 1}, durable_execution_name_from_key=True)
    result = await make_env().run(acts.invoke, request)
    assert result.already_started is True
    assert result.status_code == 409
    assert result.request_id == "r9"
    assert result.durable_execution_arn == DURABLE_ARN
    # With a name the caller chose, the same answer is a real conflict.
    named = LambdaInvokeRequest("flow:1", {"order": 1}, durable_execution_name="mine")
    with pytest.raises(ApplicationError) as caught:
        await make_env().run(acts.invoke, named)
    assert caught.value.type == "Lambda.DurableExecutionAlreadyStartedException"
    assert caught.value.non_retryable is True


async def test_both_durable_name_options_is_a_validation_error(
    store: SQLiteIdempotencyStore,
) -> None:
    fake = Lambda(httpx.Response(200, json=1))
    request = LambdaInvokeRequest(
        "flow:1", {}, durable_execution_name="x", durable_execution_name_from_key=True
    )
    error = await run_failing(activities(fake, store), request)
    assert error.type == "Lambda.ValidationError"
    assert error.non_retryable is True
    assert fake.requests == []
