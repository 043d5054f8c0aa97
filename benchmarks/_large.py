"""The large-payload phases of the suite: external storage round trips and a streamed response.

``extstore``: a workflow sends a 5 MiB string to the emulator's ``echo`` and gets it back,
so the request and the result each go through the storage driver (a local directory, then
moto's S3 server in its own process) and the history holds references. The activity worker
runs in its own process (``benchmarks._extstore_worker``), sampled every 2 ms from here: its
peak RSS over its baseline (after a warm-up call) is the per-worker figure, target under 3x
the payload. The workflow worker and the client run in this process, sampled the same way.

``stream``: a 100 MiB InvokeWithResponseStream answer from the benchmark emulator
(unthrottled, 1 MiB chunks), read by each peer of ``benchmarks._stream_peer`` in its own
process, the peers taking turns round by round: MB/s and peak RSS over baseline, ours
(``LambdaClient`` + the activity's stream path) against aiobotocore's
``invoke_with_response_stream``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import psutil
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from benchmarks._extstore_worker import CREDS, storage_from
from benchmarks._extstore_workflow import RoundTripWorkflow
from benchmarks._stream_peer import PeakRss
from benchmarks._suites import PY, ROOT, emulator, free_port, log
from temporal_lambda import LambdaClient, LambdaPlugin

MB = 1024 * 1024
STREAM_PEERS = ("ours", "ours-stored", "aiobotocore", "aiobotocore-file")


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 server in its own process; yield its URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [PY, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.list_buckets()
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def activity_worker(
    env: WorkflowEnvironment, queue: str, lambda_url: str, storage: str
) -> Iterator[psutil.Process]:
    """The activity worker in its own process, until the block ends."""
    target = env.client.service_client.config.target_host
    proc = subprocess.Popen(
        [
            *(PY, "-m", "benchmarks._extstore_worker"),
            *(target, env.client.namespace, queue, lambda_url, storage),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the activity worker did not start: {line!r}")
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


async def _round_trips(
    env: WorkflowEnvironment,
    lambda_url: str,
    storage: str,
    driver: str,
    size: int,
    calls: int,
) -> dict[str, Any]:
    plugin = LambdaPlugin(
        client=LambdaClient(region="us-east-1", endpoint_url=lambda_url, credentials=CREDS),
        idempotency_store=None,
        external_storage=storage_from(storage),
    )
    client = Client(env.client.service_client, namespace=env.client.namespace, plugins=[plugin])
    workflows, activities = f"rt-wf-{uuid.uuid4()}", f"rt-act-{uuid.uuid4()}"
    with activity_worker(env, activities, lambda_url, storage) as worker_proc:
        async with Worker(client, task_queue=workflows, workflows=[RoundTripWorkflow]):

            async def call() -> float:
                started = time.perf_counter()
                got = await client.execute_workflow(
                    RoundTripWorkflow.run,
                    args=[size, activities],
                    id=f"rt-{uuid.uuid4()}",
                    task_queue=workflows,
                )
                if got != size:
                    raise RuntimeError(f"echo returned {got} characters, not {size}")
                return time.perf_counter() - started

            await call()  # warm-up: connections, sandbox, first storage writes
            here = psutil.Process()
            worker_base, here_base = worker_proc.memory_info().rss, here.memory_info().rss
            with PeakRss(worker_proc) as worker_rss, PeakRss(here) as here_rss:
                seconds = [await call() for _ in range(calls)]
    worker_over = max(0, worker_rss.peak - worker_base)
    here_over = max(0, here_rss.peak - here_base)
    return {
        "driver": driver,
        "calls": calls,
        "payload_bytes": size,
        "seconds_per_call_mean": round(statistics.mean(seconds), 3),
        "seconds_per_call_min": round(min(seconds), 3),
        "seconds_per_call_max": round(max(seconds), 3),
        "activity_worker_peak_rss_mb": round(worker_over / MB, 1),
        "activity_worker_x_payload": round(worker_over / size, 2),
        "workflow_process_peak_rss_mb": round(here_over / MB, 1),
        "workflow_process_x_payload": round(here_over / size, 2),
    }


def extstore(calls: int = 10, size: int = 5 * MB) -> list[dict[str, Any]]:
    """Run the round trips with each driver; one row per driver."""
    from tests.conftest import server_binary

    async def run(lambda_url: str, moto_url: str, directory: str) -> list[dict[str, Any]]:
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
            local = await _round_trips(
                env, lambda_url, f"local:{directory}/payloads", "local directory", size, calls
            )
            s3 = await _round_trips(
                env, lambda_url, f"s3:{moto_url}:{bucket}", "moto S3 server", size, calls
            )
        finally:
            await env.shutdown()
        return [local, s3]

    with (
        emulator() as (lambda_url, _proc),
        moto_server() as moto_url,
        tempfile.TemporaryDirectory(prefix="extstore-bench-") as directory,
    ):
        return asyncio.run(run(lambda_url, moto_url, directory))


def stream(size: int = 100 * MB, rounds: int = 3, runs: int = 3) -> list[dict[str, Any]]:
    """Read the same streamed response with each peer, ``rounds`` turns of ``runs`` reads."""
    seen: dict[str, list[dict[str, Any]]] = {peer: [] for peer in STREAM_PEERS}
    with emulator() as (url, _proc):
        for round_ in range(rounds):
            order = STREAM_PEERS if round_ % 2 == 0 else tuple(reversed(STREAM_PEERS))
            for peer in order:
                done = subprocess.run(
                    [
                        *(PY, "-m", "benchmarks._stream_peer", peer, url, str(size)),
                        *("--runs", str(runs)),
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=True,
                )
                seen[peer].append(json.loads(done.stdout.strip().splitlines()[-1]))
                log(f"   stream {peer}: {seen[peer][-1]}")
    rows = []
    for peer, results in seen.items():
        speeds = [speed for result in results for speed in result["mb_per_s"]]
        rows.append(
            {
                "peer": peer,
                "size_mb": size // MB,
                "reads": len(speeds),
                "mb_per_s_median": round(statistics.median(speeds), 1),
                "mb_per_s_min": min(speeds),
                "mb_per_s_max": max(speeds),
                "peak_rss_over_baseline_mb": max(r["peak_rss_over_baseline_mb"] for r in results),
            }
        )
    return rows
