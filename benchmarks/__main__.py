"""Run the benchmark suite: ``python -m benchmarks`` (full, < 10 min) or ``--quick`` (CI, < 60 s).

Every figure is measured in this one run, on one machine, against the same emulator process
(``benchmarks._emulator``: LocalLambda's app under uvicorn + httptools + uvloop, signatures not
verified, see the README for why) over loopback. Each client peer runs in its own process, so
"CPU ms per call" is the client process's own CPU time, never the emulator's.

Prints markdown tables and writes ``benchmarks/results.json``. ``--quick`` exits 1 when this
client's throughput at concurrency 64 is below 0.8x aiobotocore's.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RESULTS = Path(__file__).resolve().parent / "results.json"
QUICK_RATIO = 0.8
WORKFLOW_QUEUE = "bench-workflows"


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
    it accumulates histories (on 2 cores, the same no-op run went from 52 to 33 workflows/s
    within a minute).
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


E2E_MODES = ("noop", "ours", "ours-nostore")
E2E_FLOOR = "noop"
E2E_WARMUP = 50
"""Workflows each mode runs before a block's batches (its worker's code paths, the server's
task queue)."""
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179)
"""Student's t, two-sided 95%, for 1 to 12 degrees of freedom."""


def block_order(block: int) -> list[str]:
    """The modes' batches in ``block``: a rotation of ``E2E_MODES``, then the same reversed.

    Reversing cancels a linear drift within the block; rotating puts every mode in every
    place once per ``len(E2E_MODES)`` blocks.
    """
    k = block % len(E2E_MODES)
    first = [*E2E_MODES[k:], *E2E_MODES[:k]]
    return first + first[::-1]


def t975(df: int) -> float:
    """Student's t quantile for a two-sided 95% interval with ``df`` degrees of freedom."""
    if df <= len(_T975):
        return _T975[df - 1]
    # Cornish-Fisher expansion around the normal quantile: within 0.002 from 13 on.
    return 1.96 + 2.3724 / df + 2.8227 / df**2


def ratio_interval(ratios: list[float]) -> tuple[float, float, float] | None:
    """Geometric mean of ``ratios`` and its 95% confidence interval (t on the logs).

    Returns:
        ``(estimate, low, high)``, or ``None`` for fewer than two ratios.
    """
    if len(ratios) < 2:
        return None
    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    half = t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


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


def e2e_rows(batches: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """One row per mode: throughput, per-block ratio to the floor with its interval, CPU."""
    blocks = sorted({b["block"] for b in batches})
    elapsed: dict[tuple[str, int], float] = collections.defaultdict(float)
    for b in batches:
        elapsed[b["mode"], b["block"]] += b["elapsed"]
    rows = []
    for mode in E2E_MODES:
        measured = [b for b in batches if b["mode"] == mode]
        failures = [f for b in measured for f in b["failures"]]
        total = count * len(measured)
        seconds = sum(b["elapsed"] for b in measured)
        per_block = [elapsed[E2E_FLOOR, k] / elapsed[mode, k] for k in blocks]
        interval = ratio_interval(per_block)
        row: dict[str, Any] = {
            "mode": mode,
            "workflows": total,
            "seconds": round(seconds, 2),
            "workflows_per_s": round(total / seconds, 1),
            "blocks_workflows_per_s": [
                round(total / len(blocks) / elapsed[mode, k], 1) for k in blocks
            ],
            "blocks_vs_floor": [round(r, 3) for r in per_block],
            "vs_floor": round(interval[0], 3) if interval else round(per_block[0], 3),
            "vs_floor_ci95": [round(interval[1], 3), round(interval[2], 3)] if interval else None,
            "failures": len(failures),
            "first_failure": failures[0] if failures else "",
        }
        for name in measured[0]["cpu"]:
            row[f"cpu_ms_per_workflow_{name}"] = round(
                1000 * sum(b["cpu"][name] for b in measured) / total, 2
            )
        log(f"  e2e {mode}: {row}")
        rows.append(row)
    return rows


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
        for mode, steps in (("ours", held_steps), ("boto3", boto3_steps)):
            for n in steps:
                async with dev_server() as (target, client, _server, _workflows):
                    out["held"].append(await held(client, mode, n, target, endpoint, port, hold))
    return out


async def held(
    client: Any, mode: str, n: int, target: str, endpoint: str, port: int, hold: float = 60.0
) -> dict[str, Any]:
    """N concurrent invocations of at least 60 s on one worker, heartbeat timeout 10 s.

    The dev server starts ~25 workflows/s on 2 cores, so N = 2,000 takes longer to start
    than one 60 s call lasts. Each call therefore sleeps its 60 s and then waits at the
    emulator's barrier, which is released once all N are in flight at once (or after a
    deadline): every call lasts at least 60 s, and the RSS is sampled with all N held.
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


# -- report ----------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def find(rows: list[dict[str, Any]], peer: str, concurrency: int) -> dict[str, Any] | None:
    """The row of ``peer`` (exact name, default event loop) at ``concurrency``."""
    for row in rows:
        if row["peer"] == peer and row["concurrency"] == concurrency and not row["uvloop"]:
            return row
    return None


def targets(results: dict[str, Any]) -> list[list[str]]:
    """Each target of the suite: what was asked, what this run measured, met or not."""
    out: list[list[str]] = []

    def add(target: str, measured: str, met: bool) -> None:
        out.append([target, measured, "met" if met else "**not met**"])

    rows = results.get("client", {}).get("rows", [])
    for concurrency in (64, 512):
        ours, abc = find(rows, "ours", concurrency), find(rows, "aiobotocore", concurrency)
        if ours and abc:
            add(
                f"calls/s >= aiobotocore at c={concurrency}",
                f"{ours['calls_per_s']:,.0f} vs {abc['calls_per_s']:,.0f}",
                ours["calls_per_s"] >= abc["calls_per_s"],
            )
            add(
                f"CPU/call <= aiobotocore at c={concurrency}",
                f"{ours['cpu_ms_per_call']} vs {abc['cpu_ms_per_call']} ms",
                ours["cpu_ms_per_call"] <= abc["cpu_ms_per_call"],
            )
    ours_e2e = next(
        (r for r in results.get("temporal", {}).get("e2e", []) if r["mode"] == "ours"), None
    )
    if ours_e2e:
        ci = ours_e2e["vs_floor_ci95"]
        blocks = len(ours_e2e["blocks_vs_floor"])
        measured = f"{ours_e2e['vs_floor']:.2f}x"
        if ci is None:
            verdict = "**not shown** (one block: no interval)"
        else:
            measured += f" (95% CI {ci[0]:.2f}-{ci[1]:.2f}, {blocks} blocks)"
            verdict = (
                "met"
                if ci[0] >= 0.9
                else "**not met**"
                if ci[1] < 0.9
                else "**not shown**: the interval spans 0.9x"
            )
        out.append(["end-to-end >= 0.9x the no-op floor", measured, verdict])
    held_ok = [
        r
        for r in results.get("temporal", {}).get("held", [])
        if r["mode"] == "ours" and r["failures"] == 0 and r["heartbeat_timeouts"] == 0
    ]
    if results.get("temporal", {}).get("held"):
        best = max(held_ok, key=lambda r: r["n"], default=None)
        add(
            "N >= 2,000 held 60 s calls, no heartbeat timeout, < 150 KB RSS each",
            "none held" if best is None else f"N={best['n']}, {best['rss_kb_per_held_call']} KB",
            best is not None and best["n"] >= 2000 and best["rss_kb_per_held_call"] < 150,
        )
    big = next((r for r in results.get("big", []) if r["peer"] == "ours"), None)
    if big:
        add(
            "5 MiB round trip peak RSS < 4x the payload",
            f"{big['peak_extra_rss_x_payload']}x",
            big["peak_extra_rss_x_payload"] < 4,
        )
    return out


def report(results: dict[str, Any]) -> str:
    """Render the results as markdown."""
    m = results["machine"]
    parts = [
        f"Machine: {m['cpus']} CPU ({m['cpu_model']}), {m['memory_gb']} GB, "
        f"Python {m['python']}, {m['platform']}; {m['date']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
        "### 1. Client throughput (emulator in its own process, loopback, 64-byte JSON payload)",
        "",
    ]
    rows = results.get("client", {}).get("rows", [])
    body = []
    for row in rows:
        ours = find(rows, "ours", row["concurrency"])
        abc = find(rows, "aiobotocore", row["concurrency"])
        ratio = ""
        if abc and row["calls_per_s"] and abc["calls_per_s"]:
            ratio = f"{row['calls_per_s'] / abc['calls_per_s']:.2f}x"
        del ours
        body.append(
            [
                row["peer"] + (" +uvloop" if row["uvloop"] else ""),
                row["concurrency"],
                f"{row['calls_per_s']:,.0f}",
                ratio,
                row["cpu_ms_per_call"],
                row["emulator_cpu_utilisation"],
                row["errors"],
            ]
        )
    parts.append(
        table(
            [
                "client",
                "concurrency",
                "calls/s",
                "vs aiobotocore",
                "client CPU ms/call",
                "emulator CPU (cores)",
                "errors",
            ],
            body,
        )
    )
    raw = [r for r in rows if r["peer"] == "raw-aiohttp" and not r["uvloop"]]
    if raw:
        top = max(raw, key=lambda r: r["calls_per_s"])
        fastest = max(
            (r for r in rows if r["peer"].startswith("ours")), key=lambda r: r["calls_per_s"]
        )
        parts += [
            "",
            f"Emulator ceiling: {top['calls_per_s']:,.0f} calls/s (raw aiohttp, no signing, "
            f"c={top['concurrency']}, emulator at {top['emulator_cpu_utilisation']} cores), "
            f"{top['calls_per_s'] / fastest['calls_per_s']:.1f}x the fastest run of this client: "
            "the emulator is not what limits the SDK rows.",
        ]
    if "temporal" in results:
        e2e = results["temporal"]["e2e"]
        parts += [
            "",
            "### 2. End-to-end: workflows -> activity, one worker per mode, "
            "the modes taking turns on a fresh dev server per block",
            "",
        ]

        def vs_floor(r: dict[str, Any]) -> str:
            if r["mode"] == E2E_FLOOR:
                return "1.00x"
            ci = r["vs_floor_ci95"]
            blocks = ", ".join(f"{x:.2f}" for x in r["blocks_vs_floor"])
            interval = f"{ci[0]:.2f}-{ci[1]:.2f}; " if ci else ""
            return f"{r['vs_floor']:.2f}x ({interval}blocks {blocks})"

        parts.append(
            table(
                [
                    "activity",
                    "workflows",
                    "workflows/s (blocks)",
                    "vs no-op floor (95% CI; per block)",
                    "CPU ms/workflow: activity worker",
                    "workflow worker",
                    "dev server",
                    "emulator",
                    "failures",
                ],
                [
                    [
                        {
                            "ours": "invoke_lambda (default SQLite idempotency store)",
                            "ours-nostore": "invoke_lambda (idempotency_store=None)",
                            "noop": "no-op activity (floor)",
                        }[r["mode"]],
                        r["workflows"],
                        f"{r['workflows_per_s']} "
                        f"({', '.join(map(str, r['blocks_workflows_per_s']))})",
                        vs_floor(r),
                        r["cpu_ms_per_workflow_activity_worker"],
                        r["cpu_ms_per_workflow_workflow_worker"],
                        r["cpu_ms_per_workflow_dev_server"],
                        r["cpu_ms_per_workflow_emulator"],
                        r["failures"],
                    ]
                    for r in e2e
                ],
            )
        )
        parts += [
            "",
            "### 3. Held 60 s synchronous calls on one worker (heartbeat_timeout=10s, one attempt)",
            "",
        ]
        parts.append(
            table(
                [
                    "activity",
                    "N",
                    "completed",
                    "failures",
                    "heartbeat timeouts",
                    "peak in-flight conns",
                    "RSS baseline MB",
                    "RSS peak MB",
                    "RSS KB/held call",
                    "all N in flight after s",
                    "worker CPU ms/call",
                    "wall s",
                ],
                [
                    [
                        "invoke_lambda" if r["mode"] == "ours" else "boto3 in threads",
                        r["n"],
                        r["completed"],
                        r["failures"],
                        r["heartbeat_timeouts"],
                        r["peak_in_flight_connections"],
                        r["rss_baseline_mb"],
                        r["rss_peak_mb"],
                        r["rss_kb_per_held_call"],
                        r["all_held_after_s"],
                        round(1000 * r["worker_cpu_s"] / max(1, r["n"]), 1),
                        r["seconds"],
                    ]
                    for r in results["temporal"]["held"]
                ],
            )
        )
    if "big" in results:
        parts += ["", "### 4. 5 MiB request + 5 MiB response, one call at a time", ""]
        parts.append(
            table(
                ["client", "s/call", "peak extra RSS MB", "x payload"],
                [
                    [
                        r["peer"],
                        r["seconds_per_call"],
                        r["peak_extra_rss_mb"],
                        r["peak_extra_rss_x_payload"],
                    ]
                    for r in results["big"]
                ],
            )
        )
    verdicts = targets(results)
    if verdicts and not results.get("quick"):
        parts += ["", "### Targets", "", table(["target", "this run", ""], verdicts)]
    return "\n".join(parts)


def main() -> None:
    """Run the suite."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="CI check: c=64, ours vs aiobotocore")
    parser.add_argument("--held", default="2000", help="held-call steps (ours)")
    parser.add_argument("--held-boto3", default="1000", help="held-call steps (boto3 threads)")
    parser.add_argument("--hold-seconds", type=float, default=60.0)
    parser.add_argument("--e2e", type=int, default=150, help="workflows per e2e batch (0: no e2e)")
    parser.add_argument(
        "--e2e-blocks", type=int, default=6, help="e2e blocks (each: two batches per mode)"
    )
    parser.add_argument("--skip", default="", help="comma list of: client,temporal,big")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    started = time.monotonic()
    skip = set(filter(None, args.skip.split(",")))
    if args.quick and "client" in skip:
        parser.error("--quick checks the client rows: it cannot skip client")
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    if "client" not in skip:
        log("1. client throughput")
        results["client"] = client_throughput(args.quick)
    if not args.quick:
        if "temporal" not in skip:
            log("2-3. end-to-end and held calls")
            steps = [int(s) for s in args.held.split(",") if s]
            boto3_steps = [int(s) for s in args.held_boto3.split(",") if s]
            results["temporal"] = asyncio.run(
                through_temporal(args.e2e, args.e2e_blocks, steps, boto3_steps, args.hold_seconds)
            )
        if "big" not in skip:
            log("4. big payloads")
            results["big"] = big_payloads()
    results["suite_seconds"] = round(time.monotonic() - started, 1)
    print(report(results))
    print(f"\nsuite time: {results['suite_seconds']} s")
    if not args.quick or args.output != str(RESULTS):
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    if args.quick:
        rows = results["client"]["rows"]
        ours, abc = find(rows, "ours", 64), find(rows, "aiobotocore", 64)
        assert ours is not None and abc is not None
        ratio = ours["calls_per_s"] / abc["calls_per_s"]
        errors = ours["errors"] + abc["errors"]
        verdict = "OK" if ratio >= QUICK_RATIO and errors == 0 else "FAIL"
        print(
            f"\nquick check: ours/aiobotocore at c=64 = {ratio:.2f} "
            f"(minimum {QUICK_RATIO}), errors {errors}: {verdict}"
        )
        sys.exit(0 if verdict == "OK" else 1)


if __name__ == "__main__":
    main()
