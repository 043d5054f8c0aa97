"""One streamed-response reader in its own process.

``python -m benchmarks._stream_peer PEER URL SIZE [--runs N]``

Reads ``SIZE`` bytes streamed by the benchmark emulator's ``stream`` function (1 MiB chunks,
no throttle) with InvokeWithResponseStream, ``--runs`` times, and prints one JSON line: MB/s
of each run and the process's peak RSS over its baseline (sampled every 2 ms from a thread;
the baseline is taken after a warm-up stream of 1 MiB, so imports and connections are in it).

Peers:

- ``ours``: ``LambdaClient`` + the activity's stream path (``_stream.StreamAttempt``: the event
  stream parsed by botocore's ``EventStreamBuffer``, chunks written to a spool file);
- ``ours-stored``: the same, then the result's ``Payload`` written from the spool into a
  ``LocalStorageDriver`` (what the activity does for a large stream with local storage);
- ``aiobotocore``: ``invoke_with_response_stream`` and ``async for event in EventStream``,
  each chunk's length counted and the chunk dropped (the least a caller can do);
- ``aiobotocore-file``: the same, each chunk written to a temporary file (what keeping a
  large stream without holding it in memory costs a caller).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024


class PeakRss:
    """Sample a process's RSS (default: this one) every 2 ms from a thread; keep the highest."""

    def __init__(self, proc: psutil.Process | None = None) -> None:
        self._proc = proc if proc is not None else psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> PeakRss:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def ours(url: str, size: int, runs: int, stored: bool) -> dict[str, Any]:
    """Our client's stream path (and, with ``stored``, the write into the local driver)."""
    from botocore.credentials import Credentials

    from temporal_lambda import LambdaClient
    from temporal_lambda._stream import StreamAttempt
    from temporal_lambda._stream_result import store_in_local_driver
    from temporal_lambda._types import LambdaInvokeRequest
    from temporal_lambda.storage import LocalStorageDriver

    client = LambdaClient(
        region="us-east-1", endpoint_url=url, credentials=Credentials("testing", "testing")
    )
    directory = tempfile.mkdtemp(prefix="stream-bench-")
    driver = LocalStorageDriver(Path(directory) / "payloads")

    async def one(n: int) -> int:
        attempt = StreamAttempt(client, LambdaInvokeRequest("stream", {"size": n}), "bench-key")
        received = await attempt.receive(spool_dir=directory)
        try:
            if stored:
                reference = await asyncio.to_thread(
                    store_in_local_driver,
                    received,
                    "bench-key",
                    driver,
                    "bench",
                    {"encoding": b"json/plain"},
                )
                assert reference.payload.ByteSize() < 1024
            return received.size
        finally:
            received.spool.close()

    await one(MB)
    return await _measure(lambda: one(size), size, runs)


async def aiobotocore_peer(url: str, size: int, runs: int, to_file: bool) -> dict[str, Any]:
    """Read the stream with aiobotocore's ``invoke_with_response_stream``, every event."""
    import aiobotocore.session
    from aiobotocore.config import AioConfig

    session = aiobotocore.session.get_session()
    config = AioConfig(retries={"max_attempts": 1}, read_timeout=300)
    async with session.create_client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    ) as client:

        async def one(n: int) -> int:
            response = await client.invoke_with_response_stream(
                FunctionName="stream", Payload=json.dumps({"size": n}).encode()
            )
            got, complete = 0, False
            with tempfile.TemporaryFile() as spool:
                async for event in response["EventStream"]:
                    if "PayloadChunk" in event:
                        data = event["PayloadChunk"]["Payload"]
                        got += len(data)
                        if to_file:
                            spool.write(data)
                    elif "InvokeComplete" in event:
                        complete = not event["InvokeComplete"].get("ErrorCode")
            if not complete:
                raise RuntimeError("the stream did not complete")
            return got

        await one(MB)
        return await _measure(lambda: one(size), size, runs)


async def _measure(one: Any, size: int, runs: int) -> dict[str, Any]:
    baseline = psutil.Process().memory_info().rss
    seconds = []
    with PeakRss() as rss:
        for _ in range(runs):
            started = time.perf_counter()
            got = await one()
            seconds.append(time.perf_counter() - started)
            if got != size:
                raise RuntimeError(f"read {got} bytes, not {size}")
    return {
        "mb_per_s": [round(size / MB / s, 1) for s in seconds],
        "peak_rss_over_baseline_mb": round(max(0, rss.peak - baseline) / MB, 1),
        "cpu_s": round(sum(os.times()[:2]), 2),
    }


def main() -> None:
    """Print one JSON line of figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["ours", "ours-stored", "aiobotocore", "aiobotocore-file"])
    parser.add_argument("url")
    parser.add_argument("size", type=int)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.peer.startswith("aiobotocore"):
        to_file = args.peer == "aiobotocore-file"
        result = asyncio.run(aiobotocore_peer(args.url, args.size, args.runs, to_file))
    else:
        result = asyncio.run(ours(args.url, args.size, args.runs, args.peer == "ours-stored"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
