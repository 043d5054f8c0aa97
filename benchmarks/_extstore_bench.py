"""A 5 MB round trip through Temporal's external storage: seconds per call and peak RSS.

``python -m benchmarks._extstore_bench [--calls N] [--size BYTES]``

Each call is a workflow that sends a payload of ``--size`` characters to the benchmark
emulator's ``echo`` function (its own process) and gets the same back: the request and the
result each go through the storage driver (a local directory, then moto's S3 server in its
own process), and the history holds references. The worker, the client and the Temporal dev
server's client side run in this process, whose resident memory is sampled every 2 ms; peak
RSS over the baseline (the process after a warm-up call) is reported as a multiple of the
payload, target under 3x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.credentials import Credentials
from temporalio.client import Client
from temporalio.converter import ExternalStorage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from benchmarks._extstore_workflow import RoundTripWorkflow
from temporal_lambda import LambdaClient, LambdaPlugin
from temporal_lambda.storage import local_storage, s3_storage

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CREDS = Credentials("testing", "testing")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _process(cmd: list[str], port: int, ready_path: str = "") -> Iterator[str]:
    """Run ``cmd`` (a server on ``port``) until the block ends; yield its URL."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if ready_path:
                    with urllib.request.urlopen(url + ready_path, timeout=1):
                        break
                else:
                    with socket.create_connection(("127.0.0.1", port), 0.2):
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[2]} did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class _PeakRss:
    """Sample this process's RSS from a thread; remember the highest value."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> _PeakRss:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _run_one(
    env: WorkflowEnvironment, lambda_url: str, storage: ExternalStorage, size: int, calls: int
) -> dict[str, Any]:
    plugin = LambdaPlugin(
        client=LambdaClient(region="us-east-1", endpoint_url=lambda_url, credentials=CREDS),
        idempotency_store=None,
        external_storage=storage,
    )
    client = Client(env.client.service_client, namespace=env.client.namespace, plugins=[plugin])
    queue = f"extstore-bench-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[RoundTripWorkflow]):

        async def call() -> float:
            started = time.perf_counter()
            got = await client.execute_workflow(
                RoundTripWorkflow.run, size, id=f"rt-{uuid.uuid4()}", task_queue=queue
            )
            if got != size:
                raise RuntimeError(f"echo returned {got} characters, not {size}")
            return time.perf_counter() - started

        await call()  # warm-up: connections, sandbox, first storage writes
        baseline = psutil.Process().memory_info().rss
        with _PeakRss() as rss:
            seconds = [await call() for _ in range(calls)]
    over = max(0, rss.peak - baseline)
    return {
        "calls": calls,
        "payload_bytes": size,
        "seconds_per_call_mean": round(sum(seconds) / len(seconds), 4),
        "seconds_per_call_min": round(min(seconds), 4),
        "seconds_per_call_max": round(max(seconds), 4),
        "peak_rss_over_baseline_mb": round(over / 2**20, 1),
        "peak_rss_over_baseline_x_payload": round(over / size, 2),
    }


async def run(size: int, calls: int) -> dict[str, Any]:
    """Run the round trips with each driver and return their figures."""
    from tests.conftest import server_binary

    lambda_port, moto_port = _free_port(), _free_port()
    emulator_cmd = [PY, "-m", "benchmarks._emulator", "--port", str(lambda_port)]
    moto_cmd = [PY, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)]
    with (
        _process(emulator_cmd, lambda_port) as lambda_url,
        _process(moto_cmd, moto_port, "/moto-api/") as moto_url,
        tempfile.TemporaryDirectory(prefix="extstore-bench-") as directory,
    ):
        bucket = "extstore-bench"
        boto3.client(
            "s3",
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=server_binary("temporal"),
            dev_server_log_level="error",
            ui=False,
        )
        try:
            local = await _run_one(
                env, lambda_url, local_storage(Path(directory) / "payloads"), size, calls
            )
            s3 = await _run_one(
                env,
                lambda_url,
                s3_storage(bucket, region="us-east-1", endpoint_url=moto_url, credentials=CREDS),
                size,
                calls,
            )
        finally:
            await env.shutdown()
    return {"extstore_local": local, "extstore_s3_moto": s3}


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--size", type=int, default=5 * 1024 * 1024)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.size, args.calls)), indent=2))


if __name__ == "__main__":
    main()
