"""The benchmark's suites: client throughput, end to end, held calls, big payloads.

Each suite starts the processes it measures (the emulator, client peers, workers, dev servers)
and returns its raw measurements; ``benchmarks._stats`` turns them into figures and
``benchmarks._report`` into tables. Every figure is measured in one run, on one machine,
against the same emulator process (``benchmarks._emulator``) over loopback; each client peer
runs in its own process, so "CPU ms per call" is the client process's own CPU time, never the
emulator's. See ``benchmarks/README.md`` for the method.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil

from benchmarks._stats import E2E_FLOOR, E2E_MODES, block_order, e2e_rows

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WORKFLOW_QUEUE = "bench-workflows"
E2E_WARMUP = 50
"""Workflows each mode runs before a block's batches (its worker's code paths, the server's
task queue)."""


def log(message: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> dict[str, Any]:
    """Describe the machine the run is on."""
    lscpu = ""
    with contextlib.suppress(Exception):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
        platform.processor(),
    )
    versions = {}
    for name in ("httpx", "aiohttp", "botocore", "aiobotocore", "boto3", "temporalio", "uvicorn"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


@contextlib.contextmanager
def emulator(*, auth: bool = False) -> Iterator[tuple[str, psutil.Process]]:
    """Run the benchmark emulator in its own process; yield its URL and process."""
    port = free_port()
    cmd = [PY, "-m", "benchmarks._emulator", "--port", str(port), "--http", "httptools"]
    cmd += ["--uvloop"] + (["--auth"] if auth else [])
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def run_peer(
    peer: str,
    endpoint: str,
    emu: psutil.Process,
    *,
    concurrency: int,
    seconds: float,
    warmup: float = 1.0,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    """Run one client peer in its own process; add the emulator's CPU use meanwhile."""
    cmd = [PY, "-m", "benchmarks._peers", peer, "--endpoint", endpoint]
    cmd += ["--concurrency", str(concurrency), "--seconds", str(seconds)]
    cmd += ["--warmup", str(warmup)] + (extra or [])
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    time.sleep(warmup + 1.0)  # imports + warm-up: sample the emulator over the measured window
    cpu0, t0 = sum(emu.cpu_times()[:2]), time.monotonic()
    out, _ = proc.communicate(timeout=seconds + warmup + 120)
    emu_cpu = (sum(emu.cpu_times()[:2]) - cpu0) / max(1e-9, time.monotonic() - t0)
    if proc.returncode != 0:
        raise RuntimeError(f"{peer} failed: {out}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["emulator_cpu_utilisation"] = round(emu_cpu, 2)
    log(
        f"  {result['peer']:<24} c={concurrency:<4} {result['calls_per_s']:>8} calls/s "
        f"{result['cpu_ms_per_call']} ms CPU/call, emulator {emu_cpu:.2f} CPU, "
        f"errors {result['errors']}"
    )
    return result


# -- 1. client throughput ------------------------------------------------------------------


def client_throughput(quick: bool) -> dict[str, Any]:
    """Calls/s and client CPU per call for every peer at concurrency 1, 64 and 512."""
    rows: list[dict[str, Any]] = []
    levels = [64] if quick else [1, 64, 512]
    peers = (
        ["ours", "aiobotocore"]
        if quick
        else ["raw-aiohttp", "ours", "aiobotocore", "boto3-threads"]
    )
    seconds = 4.0 if quick else 3.0
    with emulator() as (endpoint, emu):
        for concurrency in levels:
            for peer in peers:
                rows.append(
                    run_peer(
                        peer,
                        endpoint,
                        emu,
                        concurrency=concurrency,
                        seconds=seconds,
                        warmup=2.0 if concurrency >= 512 else 1.0,
                    )
                )
        if not quick:
            # Before/after of the transport choice, and uvloop, at c=64.
            rows.append(
                run_peer(
                    "ours",
                    endpoint,
                    emu,
                    concurrency=64,
                    seconds=3.0,
                    extra=["--transport", "httpx-default"],
                )
            )
            rows.append(
                run_peer(
                    "ours",
                    endpoint,
                    emu,
                    concurrency=64,
                    seconds=3.0,
                    extra=["--transport", "httpx-aiohttp"],
                )
            )
            rows.append(run_peer("raw-httpx", endpoint, emu, concurrency=64, seconds=3.0))
            rows.append(
                run_peer("ours", endpoint, emu, concurrency=64, seconds=3.0, extra=["--uvloop"])
            )
            rows.append(
                run_peer(
                    "aiobotocore", endpoint, emu, concurrency=64, seconds=3.0, extra=["--uvloop"]
                )
            )
    if not quick:
        # The same client against an emulator that verifies every SigV4 signature.
        with emulator(auth=True) as (endpoint, emu):
            row = run_peer("ours", endpoint, emu, concurrency=64, seconds=3.0)
            row["peer"] = "ours (emulator verifies SigV4)"
            rows.append(row)
    return {"rows": rows}


# -- 2, 3. through Temporal ----------------------------------------------------------------


class Worker:
    """A worker process (``benchmarks._worker``)."""

    def __init__(
        self, mode: str, target: str, endpoint: str, max_concurrent: int, task_queue: str = ""
    ) -> None:
        self.task_queue = task_queue or f"bench-{mode}-{uuid.uuid4().hex[:8]}"
        cmd = [PY, "-m", "benchmarks._worker", "--mode", mode, "--target", target]
        cmd += ["--task-queue", self.task_queue, "--endpoint", endpoint]
        cmd += ["--max-concurrent", str(max_concurrent)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"worker {mode} did not start: {line!r}")
        self.ps = psutil.Process(self.proc.pid)

    def rss(self) -> int:
        """Resident set size of the worker process, bytes."""
        return int(self.ps.memory_info().rss)

    def connections_to(self, port: int) -> int:
        """Established TCP connections from the worker to ``port``."""
        return sum(
            1
            for c in self.ps.net_connections(kind="tcp")
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        )

    def stop(self) -> None:
        """Stop the worker."""
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def run_workflows(
    client: Any,
    mode: str,
    task_queue: str,
    count: int,
    seconds: float,
    window: int,
    *,
    tag: str = "",
) -> tuple[float, list[str]]:
    """Run ``count`` workflows, at most ``window`` in flight; return seconds and failures.

    Workflow ids are ``{task_queue}-{tag}-{i}``: ``tag`` tells apart the batches of one queue.
    """
    from benchmarks._workflows import WORKFLOWS

    workflow = WORKFLOWS[mode]
    gate = asyncio.Semaphore(window)
    waiters = asyncio.Semaphore(min(window, 400))
    failures: list[str] = []

    async def one(i: int) -> None:
        async with gate:
            try:
                # Start, then wait for the result under a second, smaller gate: every waiting
                # ``result()`` is a long poll on the server, and the dev server refuses more
                # than ``frontend.namespaceCount`` of them ("namespace concurrent poller limit").
                handle = await client.start_workflow(
                    workflow.run,  # type: ignore[attr-defined]
                    {"seconds": seconds, "queue": task_queue},
                    id=f"{task_queue}-{tag}-{i}",
                    task_queue=WORKFLOW_QUEUE,
                    # A workflow task that keeps failing must fail the run, not hang it.
                    execution_timeout=datetime.timedelta(seconds=seconds + 900),
                )
                if seconds:
                    await asyncio.sleep(seconds)
                async with waiters:
                    await handle.result()
            except Exception as exc:
                cause = exc
                while cause.__cause__ is not None:
                    cause = cause.__cause__
                failures.append(f"{type(cause).__name__}: {cause}"[:200])

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - t0, failures


def cpu_seconds(proc: psutil.Process | None) -> float:
    """User + system CPU seconds of ``proc`` (0 when unknown or gone)."""
    if proc is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        return float(sum(proc.cpu_times()[:2]))
    return 0.0


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr meanwhile, for a child process to inherit.

    The SDK starts the dev server with our stdout and no option to change it, and the server
    prints a banner (and its error log) there; the suite's stdout is its tables.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.asynccontextmanager
async def dev_server() -> AsyncIterator[tuple[str, Any, psutil.Process | None, Worker]]:
    """A fresh dev server with the benchmark's workflow worker; yield target, client, both.

    Every end-to-end block and held-call step gets its own server: one server slows down as
    it accumulates histories (figures in ``benchmarks/README.md``).
    """
    from temporalio.client import Client
    from temporalio.testing import WorkflowEnvironment

    temporal = ROOT / ".venv" / "bin" / "temporal"
    with stdout_to_stderr():
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal) if temporal.exists() else None,
            ui=False,
            dev_server_log_level="error",
            # Long polls per namespace (default 1,200): the workers' pollers and our waiters.
            dev_server_extra_args=["--dynamic-config-value", "frontend.namespaceCount=20000"],
        )
    try:
        target = env.client.service_client.config.target_host
        client = await Client.connect(target)
        server = next(
            (p for p in psutil.Process().children(recursive=True) if "temporal" in p.name()),
            None,
        )
        workflow_worker = Worker("workflows", target, "-", 0, task_queue=WORKFLOW_QUEUE)
        try:
            yield target, client, server, workflow_worker
        finally:
            workflow_worker.stop()
    finally:
        await env.shutdown()


async def e2e_block(
    block: int, endpoint: str, emu: psutil.Process, count: int
) -> list[dict[str, Any]]:
    """One block: every mode's worker on one fresh dev server, batches in ``block_order``."""
    async with dev_server() as (target, client, server, workflow_worker):
        workers = {mode: Worker(mode, target, endpoint, 1000) for mode in E2E_MODES}
        batches: list[dict[str, Any]] = []
        try:
            for mode, worker in workers.items():
                await run_workflows(
                    client, mode, worker.task_queue, E2E_WARMUP, 0, E2E_WARMUP, tag="warm"
                )
            for turn, mode in enumerate(block_order(block)):
                procs = {
                    "dev_server": server,
                    "workflow_worker": workflow_worker.ps,
                    "activity_worker": workers[mode].ps,
                    "emulator": emu if mode != E2E_FLOOR else None,
                }
                cpu0 = {name: cpu_seconds(proc) for name, proc in procs.items()}
                elapsed, failures = await run_workflows(
                    client, mode, workers[mode].task_queue, count, 0, min(count, 200), tag=str(turn)
                )
                cpu = {name: cpu_seconds(proc) - cpu0[name] for name, proc in procs.items()}
                log(f"  e2e block {block} {mode}: {count / elapsed:.1f} workflows/s")
                batches.append(
                    {
                        "block": block,
                        "mode": mode,
                        "elapsed": elapsed,
                        "failures": failures,
                        "cpu": cpu,
                    }
                )
        finally:
            for worker in workers.values():
                worker.stop()
    return batches


async def through_temporal(
    e2e_count: int, e2e_blocks: int, held_steps: list[int], boto3_steps: list[int], hold: float
) -> Any:
    """End-to-end throughput (2) and held 60-second calls (3), each on fresh dev servers."""
    from benchmarks._emulator import raise_nofile

    raise_nofile()
    out: dict[str, Any] = {"e2e": [], "held": []}
    with emulator() as (endpoint, emu):
        port = int(endpoint.rsplit(":", 1)[1])
        if e2e_count and e2e_blocks:
            batches = []
            for block in range(e2e_blocks):
                batches += await e2e_block(block, endpoint, emu, e2e_count)
            out["e2e"] = e2e_rows(batches, e2e_count)
            for row in out["e2e"]:
                log(f"  e2e {row['mode']}: {row}")
        for mode, steps in (("ours", held_steps), ("boto3", boto3_steps)):
            for n in steps:
                async with dev_server() as (target, client, _server, _workflows):
                    out["held"].append(await held(client, mode, n, target, endpoint, port, hold))
    return out


async def held(
    client: Any, mode: str, n: int, target: str, endpoint: str, port: int, hold: float = 60.0
) -> dict[str, Any]:
    """N concurrent invocations of at least 60 s on one worker, heartbeat timeout 10 s.

    On a small machine the dev server takes longer to start N = 2,000 workflows than one 60 s
    call lasts. Each call therefore sleeps its 60 s and then waits at the emulator's barrier,
    which is released once all N are in flight at once (or after a deadline): every call lasts
    at least 60 s, and the RSS is sampled with all N held.
    """
    from benchmarks._workflows import ATTEMPT_MARGIN

    log(f"  held: {mode} N={n} ...")
    worker = Worker(mode, target, endpoint, n + 50)
    try:
        await run_workflows(client, mode, worker.task_queue, 20, 0, 20)  # warm-up
        baseline = worker.rss()
        cpu0 = sum(worker.ps.cpu_times()[:2])
        await asyncio.to_thread(invoke_emulator, endpoint, "arm")
        task = asyncio.create_task(run_workflows(client, mode, worker.task_queue, n, hold, n))
        peak_rss, peak_conns, t0 = baseline, 0, time.monotonic()
        all_held_after: float | None = None
        # Release by then in any case, two minutes before the first calls' start-to-close
        # timeout (``hold + ATTEMPT_MARGIN``), so that they still finish inside it.
        deadline = t0 + hold + ATTEMPT_MARGIN.total_seconds() - 120
        released = False
        while not task.done():
            await asyncio.sleep(2.0)
            if released:
                continue
            conns = await asyncio.to_thread(worker.connections_to, port)
            if conns >= peak_conns:
                peak_conns = conns
                peak_rss = max(peak_rss, worker.rss())
            if conns >= n or time.monotonic() > deadline:
                if conns >= n:
                    all_held_after = time.monotonic() - t0
                await asyncio.to_thread(invoke_emulator, endpoint, "release")
                released = True
        elapsed, failures = await task
        cpu = sum(worker.ps.cpu_times()[:2]) - cpu0
    finally:
        worker.stop()
        with contextlib.suppress(Exception):
            invoke_emulator(endpoint, "release")
    heartbeat_timeouts = sum("heartbeat" in f.lower() for f in failures)
    row = {
        "mode": mode,
        "n": n,
        "completed": n - len(failures),
        "failures": len(failures),
        "heartbeat_timeouts": heartbeat_timeouts,
        "first_failure": failures[0] if failures else "",
        "peak_in_flight_connections": peak_conns,
        "all_held_after_s": None if all_held_after is None else round(all_held_after, 1),
        "seconds": round(elapsed, 1),
        "rss_baseline_mb": round(baseline / 2**20, 1),
        "rss_peak_mb": round(peak_rss / 2**20, 1),
        # Per call actually in flight when the peak was sampled.
        "rss_kb_per_held_call": round((peak_rss - baseline) / 1024 / max(1, peak_conns), 1),
        "worker_cpu_s": round(cpu, 1),
    }
    log(f"  held: {row}")
    return row


def invoke_emulator(endpoint: str, function: str) -> None:
    """Invoke one of the emulator's control functions (unsigned: the emulator does not check)."""
    import urllib.request

    url = f"{endpoint}/2015-03-31/functions/{function}/invocations"
    with urllib.request.urlopen(urllib.request.Request(url, data=b"{}"), timeout=10) as answer:
        answer.read()


# -- 4. big payloads -----------------------------------------------------------------------


def big_payloads() -> list[dict[str, Any]]:
    """One 5 MB request with a 5 MB response: seconds per call, peak extra RSS."""
    rows = []
    with emulator() as (endpoint, _emu):
        for peer in ("raw-aiohttp", "ours", "aiobotocore", "boto3-threads"):
            cmd = [PY, "-m", "benchmarks._peers", peer, "--endpoint", endpoint]
            cmd += ["--big", "3", "--payload-bytes", str(5 * 1024 * 1024)]
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            log(f"  big: {row}")
            rows.append(row)
    return rows
