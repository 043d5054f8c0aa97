"""LocalLambda over real sockets: registration, versions, aliases, records, faults, the runtime."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.config import Config

from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.emulator_keys import record_key

# botocore's ``max_attempts`` counts retries; ``total_max_attempts`` counts the first call too.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30)


def client(lam: LocalLambda, secret: str = "testing", token: str | None = None) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=lam.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=NO_RETRIES,
    )


def echo(event: Any, context: LambdaContext) -> Any:
    print("echoing", event)
    return {"event": event, "version": context.function_version}


def fails(event: Any, context: LambdaContext) -> Any:
    raise ValueError("bad input")


async def slow(event: Any, context: LambdaContext) -> Any:
    await asyncio.sleep(event.get("sleep", 5))
    return "done"


@pytest.fixture
async def lam() -> AsyncIterator[LocalLambda]:
    async with LocalLambda(async_retry_delays=(0.05, 0.05)) as emulator:
        emulator.register("echo", echo)
        emulator.register("fails", fails)
        emulator.register("slow", slow, timeout=0.3)
        yield emulator


async def invoke(lam: LocalLambda, **kwargs: Any) -> Any:
    return await asyncio.to_thread(lambda: client(lam).invoke(**kwargs))


async def test_success_with_tail_log(lam: LocalLambda) -> None:
    response = await invoke(lam, FunctionName="echo", Payload=b'{"a": 1}', LogType="Tail")
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read()) == {"event": {"a": 1}, "version": "$LATEST"}
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert log.startswith(f"START RequestId: {request_id} Version: $LATEST\n")
    assert "echoing {'a': 1}\n" in log
    assert f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: " in log
    [record] = lam.records("echo")
    assert (record.api, record.invocation_type, record.status_code) == (
        "Invoke",
        "RequestResponse",
        200,
    )
    assert record.request_id == request_id


async def test_concurrent_logs_do_not_mix(lam: LocalLambda) -> None:
    def chatty(event: Any, context: LambdaContext) -> Any:
        for i in range(20):
            print(f"{event['n']}-{i}")
            time.sleep(0.001)
        logging.getLogger("fn").warning("warned %s", event["n"])
        return event["n"]

    lam.register("chatty", chatty)

    async def one(n: int) -> str:
        response = await invoke(
            lam, FunctionName="chatty", Payload=json.dumps({"n": n}).encode(), LogType="Tail"
        )
        return base64.b64decode(response["LogResult"]).decode()

    logs = await asyncio.gather(*(one(n) for n in range(4)))
    for n, log in enumerate(logs):
        printed = [line for line in log.splitlines() if "-" in line and line[0].isdigit()]
        assert printed == [f"{n}-{i}" for i in range(20)]
        assert f"\twarned {n}\n" in log
        assert "[WARNING]\t" in log


async def test_client_context_reaches_handler(lam: LocalLambda) -> None:
    seen: list[Any] = []

    def handler(event: Any, context: LambdaContext) -> Any:
        cc = context.client_context
        assert cc is not None
        seen.append((cc.custom, cc.env, cc.client and cc.client.app_title))
        return context.get_remaining_time_in_millis() > 0

    lam.register("ctx", handler)
    custom = {"custom": {"idempotency_key": "k-1"}, "env": {"e": 1}, "client": {"app_title": "t"}}
    encoded = base64.b64encode(json.dumps(custom).encode()).decode()
    response = await invoke(lam, FunctionName="ctx", ClientContext=encoded, Payload=b"{}")
    assert json.loads(response["Payload"].read()) is True
    assert seen == [({"idempotency_key": "k-1"}, {"e": 1}, "t")]
    assert record_key(lam.records("ctx")[0]) == "k-1"
    [record] = lam.records("ctx")
    assert (record.client_context, record.payload) == (encoded, b"{}")
    assert record.client_context_json() == custom
    assert record.payload_json() == {}


async def test_invalid_client_context(lam: LocalLambda) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="echo", ClientContext="not base64!!", Payload=b"{}")
    assert info.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_function_error_shape(lam: LocalLambda) -> None:
    response = await invoke(lam, FunctionName="fails", Payload=b"{}")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    document = json.loads(response["Payload"].read())
    assert document["errorType"] == "ValueError"
    assert document["errorMessage"] == "bad input"
    assert document["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert len(document["stackTrace"]) == 1
    assert document["stackTrace"][0].endswith(', in fails\n    raise ValueError("bad input")\n')
    assert "test_emulator.py" in document["stackTrace"][0]
    assert lam.records("fails")[0].error_code == "ValueError"


async def test_timeout(lam: LocalLambda) -> None:
    started = time.monotonic()
    response = await invoke(lam, FunctionName="slow", Payload=b'{"sleep": 5}', LogType="Tail")
    assert time.monotonic() - started < 2
    assert response["FunctionError"] == "Unhandled"
    request_id = response["ResponseMetadata"]["RequestId"]
    assert json.loads(response["Payload"].read()) == {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 0.30 seconds",
        "errorType": "Sandbox.Timedout",
    }
    assert "Task timed out after 0.30 seconds" in base64.b64decode(response["LogResult"]).decode()


async def test_sync_handler_timeout(lam: LocalLambda) -> None:
    lam.register("blocking", lambda event, context: time.sleep(1), timeout=0.2)
    response = await invoke(lam, FunctionName="blocking", Payload=b"{}")
    assert json.loads(response["Payload"].read())["errorType"] == "Sandbox.Timedout"


async def test_not_found(lam: LocalLambda) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="missing", Payload=b"{}")
    error = info.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException"
    assert error["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing"
    )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="echo", Qualifier="nope", Payload=b"{}")
    assert info.value.response["Error"]["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:echo:nope"
    )
    assert [r.status_code for r in lam.records()] == [404, 404]


async def test_request_too_large(lam: LocalLambda) -> None:
    big = b'"' + b"x" * 6_291_456 + b'"'
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="echo", Payload=big)
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert info.value.response["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="echo", Payload=big[:1_100_000], InvocationType="Event")
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"


async def test_response_too_large(lam: LocalLambda) -> None:
    lam.register("huge", lambda event, context: "x" * 6_300_000)
    response = await invoke(lam, FunctionName="huge", Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    document = json.loads(response["Payload"].read())
    assert document["errorType"] == "Function.ResponseSizeTooLarge"


async def test_throttle(lam: LocalLambda) -> None:
    lam.register("limited", slow, timeout=2, reserved_concurrency=1, throttle_retry_after=3)
    first = asyncio.ensure_future(invoke(lam, FunctionName="limited", Payload=b'{"sleep": 1}'))
    for _ in range(500):
        if lam.records("limited"):
            break
        await asyncio.sleep(0.01)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="limited", Payload=b'{"sleep": 0}')
    response = info.value.response
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "3"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert json.loads((await first)["Payload"].read()) == "done"


async def test_wrong_secret_and_unknown_key(lam: LocalLambda) -> None:
    def call(secret: str) -> Any:
        return client(lam, secret).invoke(FunctionName="echo", Payload=b"{}")

    with pytest.raises(botocore.exceptions.ClientError) as info:
        await asyncio.to_thread(call, "wrong")
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = boto3.client(
        "lambda",
        endpoint_url=lam.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="other",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    )
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await asyncio.to_thread(unknown.invoke, FunctionName="echo", Payload=b"{}")
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{lam.endpoint_url}/2015-03-31/functions/echo/invocations")
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert [r.status_code for r in lam.records("echo")] == [403, 403, 403]


async def test_versions_aliases_and_name_forms(lam: LocalLambda) -> None:
    lam.register("v", lambda event, context: "one")
    assert lam.publish_version("v") == "1"
    lam.register("v", lambda event, context: "two")
    assert lam.publish_version("v") == "2"
    lam.register("v", lambda event, context: "latest")
    lam.create_alias("v", "live", "1")

    async def call(name: str, qualifier: str | None = None) -> tuple[Any, str]:
        kwargs: dict[str, Any] = {"FunctionName": name, "Payload": b"{}"}
        if qualifier is not None:
            kwargs["Qualifier"] = qualifier
        response = await invoke(lam, **kwargs)
        return json.loads(response["Payload"].read()), response["ExecutedVersion"]

    assert await call("v") == ("latest", "$LATEST")
    assert await call("v", "1") == ("one", "1")
    assert await call("v:2") == ("two", "2")
    assert await call("v", "live") == ("one", "1")
    assert await call("123456789012:function:v:live") == ("one", "1")
    assert await call("arn:aws:lambda:us-east-1:123456789012:function:v", "$LATEST") == (
        "latest",
        "$LATEST",
    )
    assert [r.qualifier for r in lam.records("v")] == [None, "1", "2", "live", "live", "$LATEST"]


async def test_dry_run(lam: LocalLambda) -> None:
    response = await invoke(lam, FunctionName="echo", InvocationType="DryRun")
    assert response["StatusCode"] == 204


async def test_invoke_async_api(lam: LocalLambda) -> None:
    calls: list[Any] = []
    lam.register("bg", lambda event, context: calls.append(event))
    response = await asyncio.to_thread(
        lambda: client(lam).invoke_async(FunctionName="bg", InvokeArgs=b'{"idempotency_key": "x"}')
    )
    assert response["Status"] == 202
    await lam.wait_for_events()
    assert calls == [{"idempotency_key": "x"}]
    [record] = lam.records("bg")
    assert (record.api, record.invocation_type, record_key(record)) == (
        "InvokeAsync",
        "Event",
        "x",
    )


async def test_event_retries_and_duplicates() -> None:
    async with LocalLambda(async_retry_delays=(0.05, 0.05), duplicate_event_deliveries=2) as lam:
        attempts: list[float] = []

        def flaky(event: Any, context: LambdaContext) -> Any:
            attempts.append(time.monotonic())
            raise RuntimeError("always")

        lam.register("flaky", flaky)
        response = await invoke(lam, FunctionName="flaky", InvocationType="Event", Payload=b"{}")
        assert response["StatusCode"] == 202
        assert response["Payload"].read() == b""
        await lam.wait_for_events()
        records = lam.records("flaky")
        assert [r.delivery for r in records] == [1, 2, 3, 4, 5, 6]
        assert {r.request_id for r in records} == {records[0].request_id}
        assert [r.error_code for r in records] == ["RuntimeError"] * 6
        assert records[0].status_code == 202
        assert len(attempts) == 6
        assert attempts[1] - attempts[0] >= 0.04


async def test_event_success_not_retried(lam: LocalLambda) -> None:
    calls: list[Any] = []
    lam.register("ok", lambda event, context: calls.append(event))
    await invoke(lam, FunctionName="ok", InvocationType="Event", Payload=b'{"n": 1}')
    await lam.wait_for_events()
    assert calls == [{"n": 1}]
    assert [r.delivery for r in lam.records("ok")] == [1]


async def test_fail_next(lam: LocalLambda) -> None:
    lam.faults.fail_next(
        1, status=429, code="TooManyRequestsException", message="Rate Exceeded.",
        retry_after=2, reason="CallerRateLimitExceeded", function="echo",
    )  # fmt: skip
    other = await invoke(lam, FunctionName="fails", Payload=b"{}")
    assert other["FunctionError"] == "Unhandled"  # the rule only matches "echo"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="echo", Payload=b"{}")
    response = info.value.response
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["Reason"] == "CallerRateLimitExceeded"
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "2"
    ok = await invoke(lam, FunctionName="echo", Payload=b"{}")
    assert ok["StatusCode"] == 200
    lam.faults.fail_next(1)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="echo", Payload=b"{}")
    assert info.value.response["Error"]["Code"] == "ServiceException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert [(r.status_code, r.error_code) for r in lam.records("echo")] == [
        (429, "TooManyRequestsException"),
        (200, None),
        (500, "ServiceException"),
    ]


async def test_delay_next(lam: LocalLambda) -> None:
    lam.faults.delay_next(1, 0.3)
    started = time.monotonic()
    await invoke(lam, FunctionName="echo", Payload=b"{}")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await invoke(lam, FunctionName="echo", Payload=b"{}")
    assert time.monotonic() - started < 0.3


async def test_drop_next(lam: LocalLambda) -> None:
    calls: list[Any] = []

    def handler(event: Any, context: LambdaContext) -> Any:
        calls.append(event)
        return {"data": "y" * 1000}

    lam.register("dropped", handler)
    lam.faults.drop_next(2, function="dropped")
    with pytest.raises(botocore.exceptions.BotoCoreError):
        response = await invoke(lam, FunctionName="dropped", Payload=b"{}")
        response["Payload"].read()
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(
                f"{lam.endpoint_url}/2015-03-31/functions/dropped/invocations",
                content=b"{}",
                headers=_signed_headers(lam, "dropped", b"{}"),
            )
    assert len(calls) == 2
    ok = await invoke(lam, FunctionName="dropped", Payload=b"{}")
    assert json.loads(ok["Payload"].read()) == {"data": "y" * 1000}


def _signed_headers(lam: LocalLambda, name: str, body: bytes) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST", url=f"{lam.endpoint_url}/2015-03-31/functions/{name}/invocations", data=body
    )
    SigV4Auth(Credentials("testing", "testing"), "lambda", "us-east-1").add_auth(request)
    return dict(request.headers.items())


async def test_client_disconnect_recorded(lam: LocalLambda) -> None:
    lam.register("long", slow, timeout=10)
    body = b'{"sleep": 5}'

    async def call() -> None:
        async with httpx.AsyncClient() as http:
            await http.post(
                f"{lam.endpoint_url}/2015-03-31/functions/long/invocations",
                content=body,
                headers=_signed_headers(lam, "long", body),
            )

    task = asyncio.ensure_future(call())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 2
    while not (lam.records("long") and lam.records("long")[0].client_disconnected):
        assert time.monotonic() < deadline, "disconnect not seen"
        await asyncio.sleep(0.02)
    assert lam.records("long")[0].status_code == 499
    [request] = lam.requests()
    assert (request.path, request.status, request.answered_at) == (
        "/2015-03-31/functions/long/invocations",
        None,
        None,
    )
    assert request.client_disconnected is True


async def test_request_log_shows_every_request_with_secrets_redacted(lam: LocalLambda) -> None:
    lam.publish_version("echo")
    lam.create_alias("echo", "live", "1")
    with_token = client(lam, token="session-secret")
    started = time.monotonic()
    answer = await asyncio.to_thread(
        lambda: with_token.invoke(FunctionName="echo:live", Payload=b'{"n": 1}', LogType="Tail")
    )
    assert answer["StatusCode"] == 200
    async with httpx.AsyncClient(base_url=lam.endpoint_url, timeout=10) as http:
        unknown = await http.get("/2015-03-31/functions/echo/configuration?x=1")
        unsigned = await http.post(
            "/2015-03-31/functions/echo/invocations?Qualifier=1", content=b"abc"
        )
    assert (unknown.status_code, unsigned.status_code) == (404, 403)
    first, second, third = lam.requests()
    assert (first.method, first.path, first.query, first.body_size, first.status) == (
        "POST",
        "/2015-03-31/functions/echo%3Alive/invocations",
        "",
        8,
        200,
    )
    assert first.header("Authorization") == "[REDACTED]"
    assert first.header("x-amz-security-token") == "[REDACTED]"
    assert first.header("x-amz-log-type") == "Tail"
    assert "session-secret" not in repr(first)
    assert first.request_id == answer["ResponseMetadata"]["RequestId"]
    assert started <= first.received_at <= (first.answered_at or 0) <= time.monotonic()
    assert first.client_disconnected is False
    assert (second.method, second.path, second.query, second.body_size, second.status) == (
        "GET",
        "/2015-03-31/functions/echo/configuration",
        "x=1",
        0,
        404,
    )
    assert (third.query, third.body_size, third.status, third.header("authorization")) == (
        "Qualifier=1",
        3,
        403,
        None,
    )
    # Only the invoke routes make invocation records; the request log has them all.
    assert [r.request_id for r in lam.records()] == [first.request_id, third.request_id]
    lam.clear_records()
    assert (lam.requests(), lam.records()) == ([], [])


async def test_asgi_transport_without_server() -> None:
    lam = LocalLambda(credentials=None)
    lam.register("echo", echo)
    lam.register("fn", fails)
    lam.publish_version("fn")
    transport = httpx.ASGITransport(app=lam.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lambda") as http:
        ok = await http.post("/2015-03-31/functions/echo/invocations", content=b'{"x": 1}')
        error = await http.post(
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afn"
            "%3A1/invocations"
        )
        missing = await http.post("/2015-03-31/functions/nope/invocations?Qualifier=live")
    assert ok.status_code == 200
    assert ok.json() == {"event": {"x": 1}, "version": "$LATEST"}
    assert len(ok.headers["x-amzn-RequestId"]) == 36
    assert error.status_code == 200
    assert error.headers["X-Amz-Function-Error"] == "Unhandled"
    assert error.headers["X-Amz-Executed-Version"] == "1"
    assert error.json()["errorType"] == "ValueError"
    assert missing.status_code == 404
    assert missing.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert missing.json() == {
        "Type": "User",
        "message": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope:live",
    }


async def test_invalid_json_payload(lam: LocalLambda) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        await invoke(lam, FunctionName="echo", Payload=b"{not json")
    assert info.value.response["Error"]["Code"] == "InvalidRequestContentException"


async def test_durable_execution_names_are_unique_per_function() -> None:
    runs: list[Any] = []

    def flow(event: Any, context: LambdaContext) -> dict[str, Any]:
        runs.append(event)
        return {"ok": event}

    async with LocalLambda(credentials=None) as lam:
        lam.register("flow", flow)
        async with httpx.AsyncClient(base_url=lam.endpoint_url) as client:

            async def start(payload: bytes) -> httpx.Response:
                return await client.post(
                    "/2015-03-31/functions/flow/invocations",
                    content=payload,
                    headers={"X-Amz-Durable-Execution-Name": "order-7"},
                )

            first = await start(b'{"a":1}')
            again = await start(b'{"a":1}')
            other = await start(b'{"a":2}')
    arn = first.headers["X-Amz-Durable-Execution-Arn"]
    assert first.status_code == 200
    assert first.json() == {"ok": {"a": 1}}
    assert arn.startswith(
        "arn:aws:lambda:us-east-1:123456789012:function:flow:$LATEST/durable-execution/order-7/"
    )
    # The same name and payload re-attach to the execution: its result, not a second run.
    assert again.status_code == 200
    assert again.json() == {"ok": {"a": 1}}
    assert again.headers["X-Amz-Durable-Execution-Arn"] == arn
    assert runs == [{"a": 1}]
    assert other.status_code == 409
    assert other.headers["x-amzn-ErrorType"] == "DurableExecutionAlreadyStartedException"
    assert "X-Amz-Durable-Execution-Arn" not in other.headers
    assert other.json()["message"] == (
        "Durable execution order-7 has already been started with a different payload."
    )
    assert [r.status_code for r in lam.records("flow")] == [200, 200, 409]
