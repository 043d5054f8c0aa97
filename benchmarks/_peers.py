"""One client peer under load, in its own process: ``python -m benchmarks._peers PEER ...``.

Prints one JSON line: calls, seconds, calls/s, client CPU seconds per call, errors, peak RSS.
Each peer runs in a fresh process so CPU time and RSS are its own, never the emulator's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psutil

FUNCTION = "echo"
PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
CREDS = ("testing", "testing")
REGION = "us-east-1"

Factory = Callable[[str, int, bytes], Awaitable[tuple[Callable[[], Awaitable[None]], Any]]]


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def _check(body: bytes, expected: bytes) -> None:
    if len(body) != len(expected):
        raise RuntimeError(f"bad answer: {len(body)} bytes, expected {len(expected)}")


async def ours(endpoint: str, concurrency: int, payload: bytes, transport: str = "") -> Any:
    """This project's client: prepare_call + sign + send + parse_response."""
    import botocore.credentials

    from temporal_lambda._client import HttpSettings, LambdaClient
    from temporal_lambda._request import prepare_call
    from temporal_lambda._response import parse_response
    from temporal_lambda._types import LambdaInvokeRequest

    kwargs: dict[str, Any] = {}
    if transport:
        kwargs["transport"] = _alt_transport(transport, concurrency)
    client = LambdaClient(
        region=REGION,
        endpoint_url=endpoint,
        credentials=botocore.credentials.Credentials(*CREDS),
        http=HttpSettings(),
        **kwargs,
    )
    event = json.loads(payload)
    request = LambdaInvokeRequest(function_name=FUNCTION, payload=event)

    async def one() -> None:
        # As the activity does: nothing keeps the prepared call (its body) once it is sent.
        raw = await client.send(prepare_call(request, "bench-key-0001"))
        result = parse_response(request, "bench-key-0001", raw.status_code, raw.headers, raw.body)
        if raw.status_code != 200 or result.function_error:
            raise RuntimeError(f"status {raw.status_code}")
        _check(raw.body, payload)

    return one, client.aclose


def _alt_transport(name: str, concurrency: int) -> Any:
    """Transports tried while choosing the default (calibration only)."""
    import httpx

    from temporal_lambda._transport import HttpSettings, socket_options

    http = HttpSettings()
    if name == "httpx-default":
        return httpx.AsyncHTTPTransport(
            retries=0,
            socket_options=socket_options(http),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        )
    if name == "httpx-keepalive":
        return httpx.AsyncHTTPTransport(
            retries=0,
            socket_options=socket_options(http),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )
    if name == "httpx-aiohttp":
        import httpx_aiohttp

        return httpx_aiohttp.AiohttpTransport(limits=httpx.Limits(max_connections=None))
    raise SystemExit(f"unknown transport {name}")


async def aiobotocore_peer(endpoint: str, concurrency: int, payload: bytes) -> Any:
    """Aiobotocore's Lambda client (no retries, pool as large as the concurrency)."""
    import aiobotocore.session
    from aiobotocore.config import AioConfig

    session = aiobotocore.session.get_session()
    cm = session.create_client(
        "lambda",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=CREDS[0],
        aws_secret_access_key=CREDS[1],
        config=AioConfig(
            max_pool_connections=max(10, concurrency),
            retries={"max_attempts": 1, "mode": "standard"},
            read_timeout=905,
        ),
    )
    client = await cm.__aenter__()

    async def one() -> None:
        response = await client.invoke(FunctionName=FUNCTION, Payload=payload)
        async with response["Payload"] as stream:
            body = await stream.read()
        if response.get("FunctionError"):
            raise RuntimeError("function error")
        _check(body, payload)

    async def close() -> None:
        await cm.__aexit__(None, None, None)

    return one, close


async def boto3_threads(endpoint: str, concurrency: int, payload: bytes) -> Any:
    """boto3's Lambda client called from a thread pool (a hand-written sync activity)."""
    import concurrent.futures

    import boto3
    from botocore.config import Config

    client = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=CREDS[0],
        aws_secret_access_key=CREDS[1],
        config=Config(
            max_pool_connections=max(10, concurrency),
            retries={"max_attempts": 1, "mode": "standard"},
            read_timeout=905,
        ),
    )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=concurrency)
    loop = asyncio.get_running_loop()

    def call() -> None:
        response = client.invoke(FunctionName=FUNCTION, Payload=payload)
        _check(response["Payload"].read(), payload)

    async def one() -> None:
        await loop.run_in_executor(pool, call)

    async def close() -> None:
        pool.shutdown(wait=True)

    return one, close


async def raw_aiohttp(endpoint: str, concurrency: int, payload: bytes) -> Any:
    """The transport floor: aiohttp POST, no signing, no parsing."""
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    url = endpoint + PATH

    async def one() -> None:
        async with session.post(url, data=payload) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            _check(body, payload)

    return one, session.close


async def raw_httpx(endpoint: str, concurrency: int, payload: bytes) -> Any:
    """Httpx's default transport, no signing (diagnosis of the transport alone)."""
    import httpx

    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None)
    )
    url = endpoint + PATH

    async def one() -> None:
        response = await client.post(url, content=payload)
        if response.status_code != 200:
            raise RuntimeError(f"status {response.status_code}")
        _check(response.content, payload)

    return one, client.aclose


PEERS: dict[str, Any] = {
    "ours": ours,
    "aiobotocore": aiobotocore_peer,
    "boto3-threads": boto3_threads,
    "raw-aiohttp": raw_aiohttp,
    "raw-httpx": raw_httpx,
}


async def run(
    peer: str,
    endpoint: str,
    concurrency: int,
    seconds: float,
    warmup: float,
    payload: bytes,
    transport: str,
    count: int,
) -> dict[str, Any]:
    factory = PEERS[peer]
    if peer == "ours":
        one, close = await factory(endpoint, concurrency, payload, transport)
    else:
        one, close = await factory(endpoint, concurrency, payload)
    proc = psutil.Process()
    state = {"calls": 0, "errors": 0, "measuring": False, "stop": False, "first_error": ""}

    async def worker() -> None:
        while not state["stop"]:
            try:
                await one()
            except Exception as exc:
                state["errors"] += 1
                state["first_error"] = state["first_error"] or repr(exc)[:300]
                await asyncio.sleep(0.01)
                continue
            if state["measuring"]:
                state["calls"] += 1
                if count and state["calls"] >= count:
                    state["stop"] = True

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    state["calls"] = state["errors"] = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    state["measuring"] = True
    if count:
        while not state["stop"]:  # noqa: ASYNC110  (polling a shared counter)
            await asyncio.sleep(0.05)
    else:
        await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    calls = state["calls"]
    state["stop"] = True
    await asyncio.gather(*tasks, return_exceptions=True)
    await close()
    return {
        "peer": peer + (f"[{transport}]" if transport else ""),
        "concurrency": concurrency,
        "calls": calls,
        "seconds": round(elapsed, 3),
        "calls_per_s": round(calls / elapsed, 1),
        "cpu_ms_per_call": round(1000 * cpu / calls, 3) if calls else None,
        "cpu_utilisation": round(cpu / elapsed, 2),
        "errors": state["errors"],
        "first_error": state["first_error"],
        "peak_rss_mb": round(proc.memory_info().rss / 2**20, 1),
    }


def reset_peak_rss() -> None:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def peak_rss() -> int:
    """Peak RSS of this process since :func:`reset_peak_rss`, in bytes.

    Not ``getrusage().ru_maxrss``: Linux carries that over ``execve`` from the forked parent,
    so a child of a big benchmark process would report the parent's size.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def big(peer: str, endpoint: str, payload: bytes, transport: str, repeat: int) -> Any:
    """Round-trip one big payload ``repeat`` times: seconds per call and peak extra RSS."""
    factory = PEERS[peer]
    if peer == "ours":
        one, close = await factory(endpoint, 1, payload, transport)
    else:
        one, close = await factory(endpoint, 1, payload)
    import gc

    gc.collect()
    # Baseline: libraries imported, client built, the payload itself already in memory.
    rss_before = psutil.Process().memory_info().rss
    reset_peak_rss()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await one()
        times.append(time.perf_counter() - t0)
    peak = peak_rss()
    await close()
    times.sort()
    return {
        "peer": peer,
        "payload_bytes": len(payload),
        "seconds_per_call": round(times[len(times) // 2], 3),
        "peak_extra_rss_mb": round((peak - rss_before) / 2**20, 1),
        "peak_extra_rss_x_payload": round((peak - rss_before) / len(payload), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--payload-bytes", type=int, default=64)
    parser.add_argument("--count", type=int, default=0, help="stop after this many calls")
    parser.add_argument("--transport", default="")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--big", type=int, default=0, help="round trips of one big payload")
    args = parser.parse_args()
    _raise_nofile()
    payload = json.dumps({"data": "x" * max(0, args.payload_bytes - 12)}).encode()
    if args.big:
        print(
            json.dumps(
                asyncio.run(big(args.peer, args.endpoint, payload, args.transport, args.big))
            ),
            flush=True,
        )
        return
    coro = run(
        args.peer,
        args.endpoint,
        args.concurrency,
        args.seconds,
        args.warmup,
        payload,
        args.transport,
        args.count,
    )
    if args.uvloop:
        import uvloop

        result = uvloop.run(coro)
    else:
        result = asyncio.run(coro)
    result["uvloop"] = args.uvloop
    print(json.dumps(result), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
