"""LocalLambda edges: durable executions re-attached by name, 404s naming the ARN asked for."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from temporal_lambda.testing import LambdaContext, LocalLambda

DURABLE_PATH = "/2015-03-31/functions/flow/invocations"


async def test_sync_start_reattaches_to_a_running_execution() -> None:
    runs: list[Any] = []
    release = asyncio.Event()

    async def flow(event: Any, context: LambdaContext) -> dict[str, Any]:
        runs.append(event)
        await release.wait()
        return {"done": event}

    async with LocalLambda(credentials=None) as lam:
        lam.register("flow", flow)
        async with httpx.AsyncClient(base_url=lam.endpoint_url, timeout=10) as client:
            headers = {"X-Amz-Durable-Execution-Name": "order-9"}
            first = asyncio.ensure_future(client.post(DURABLE_PATH, content=b"{}", headers=headers))
            for _ in range(200):
                if runs:
                    break
                await asyncio.sleep(0.01)
            second = asyncio.ensure_future(
                client.post(DURABLE_PATH, content=b"{}", headers=headers)
            )
            await asyncio.sleep(0.1)
            assert not second.done()  # waiting for the running execution
            release.set()
            one, two = await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert runs == [{}]
    assert one.status_code == two.status_code == 200
    assert one.json() == two.json() == {"done": {}}
    arn = one.headers["X-Amz-Durable-Execution-Arn"]
    assert two.headers["X-Amz-Durable-Execution-Arn"] == arn
    assert two.headers["X-Amz-Executed-Version"] == "$LATEST"


async def test_reattached_function_error_is_the_same_error() -> None:
    def flow(event: Any, context: LambdaContext) -> None:
        raise ValueError("no stock")

    async with LocalLambda(credentials=None) as lam:
        lam.register("flow", flow)
        async with httpx.AsyncClient(base_url=lam.endpoint_url, timeout=10) as client:
            headers = {"X-Amz-Durable-Execution-Name": "order-3"}
            first = await client.post(DURABLE_PATH, content=b'{"n":1}', headers=headers)
            again = await client.post(DURABLE_PATH, content=b'{"n":1}', headers=headers)
    assert first.headers["X-Amz-Function-Error"] == again.headers["X-Amz-Function-Error"]
    assert again.json() == first.json()
    assert again.json()["errorType"] == "ValueError"


async def test_event_start_with_the_same_name_is_the_same_execution() -> None:
    runs: list[Any] = []

    def flow(event: Any, context: LambdaContext) -> None:
        runs.append(event)

    async with LocalLambda(credentials=None, duplicate_event_deliveries=1) as lam:
        lam.register("flow", flow)
        async with httpx.AsyncClient(base_url=lam.endpoint_url, timeout=10) as client:
            headers = {
                "X-Amz-Durable-Execution-Name": "order-5",
                "X-Amz-Invocation-Type": "Event",
            }
            first = await client.post(DURABLE_PATH, content=b'{"n":5}', headers=headers)
            again = await client.post(DURABLE_PATH, content=b'{"n":5}', headers=headers)
            other = await client.post(DURABLE_PATH, content=b'{"n":6}', headers=headers)
            await lam.wait_for_events(5)
            # A synchronous start of the same execution returns what it returned.
            sync = await client.post(
                DURABLE_PATH,
                content=b'{"n":5}',
                headers={"X-Amz-Durable-Execution-Name": "order-5"},
            )
    assert [first.status_code, again.status_code, other.status_code] == [202, 202, 409]
    assert (
        again.headers["X-Amz-Durable-Execution-Arn"] == first.headers["X-Amz-Durable-Execution-Arn"]
    )
    assert other.headers["x-amzn-ErrorType"] == "DurableExecutionAlreadyStartedException"
    assert runs == [{"n": 5}]
    assert sync.status_code == 200
    assert sync.content == b"null"


async def test_throttled_durable_start_can_start_again() -> None:
    async with LocalLambda(credentials=None) as lam:
        lam.register("flow", lambda event, context: {"ok": 1}, reserved_concurrency=0)
        async with httpx.AsyncClient(base_url=lam.endpoint_url, timeout=10) as client:
            headers = {"X-Amz-Durable-Execution-Name": "order-1"}
            throttled = await client.post(DURABLE_PATH, content=b"{}", headers=headers)
            lam.register("flow", lambda event, context: {"ok": 2})
            started = await client.post(DURABLE_PATH, content=b"{}", headers=headers)
    assert throttled.status_code == 429
    assert started.status_code == 200
    assert started.json() == {"ok": 2}


async def test_not_found_names_the_account_and_region_asked_for() -> None:
    async with LocalLambda(credentials=None) as lam:
        lam.register("echo", lambda event, context: event)
        async with httpx.AsyncClient(base_url=lam.endpoint_url, timeout=10) as client:

            async def call(name: str, query: str = "") -> httpx.Response:
                quoted = name.replace(":", "%3A")
                return await client.post(
                    f"/2015-03-31/functions/{quoted}/invocations{query}", content=b"{}"
                )

            other_account = await call("arn:aws:lambda:us-east-1:999999999999:function:echo")
            other_region = await call("arn:aws:lambda:eu-west-1:123456789012:function:echo:live")
            partial = await call("999999999999:function:echo", "?Qualifier=1")
            ours = await call("nope")
    assert [r.status_code for r in (other_account, other_region, partial, ours)] == [404] * 4
    assert [r.json()["message"] for r in (other_account, other_region, partial, ours)] == [
        "Function not found: arn:aws:lambda:us-east-1:999999999999:function:echo",
        "Function not found: arn:aws:lambda:eu-west-1:123456789012:function:echo:live",
        "Function not found: arn:aws:lambda:us-east-1:999999999999:function:echo:1",
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope",
    ]
