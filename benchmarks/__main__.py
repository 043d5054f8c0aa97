"""Run the benchmark suite: ``python -m benchmarks`` (full, < 10 min) or ``--quick`` (CI, < 60 s).

The command line only: the suites are in ``benchmarks._suites``, the arithmetic in
``benchmarks._stats``, the tables in ``benchmarks._report``, the method in
``benchmarks/README.md``. Prints markdown tables and writes ``benchmarks/results.json``.
``--quick`` exits 1 when this client's throughput at concurrency 64 is below 0.8x aiobotocore's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._large import extstore, stream
from benchmarks._report import report
from benchmarks._stats import QUICK_RATIO, quick_check
from benchmarks._suites import big_payloads, client_throughput, log, machine, through_temporal

RESULTS = Path(__file__).resolve().parent / "results.json"
PHASES = ("client", "temporal", "big", "extstore", "stream")
"""The suite's phases, in the order they run (``--only`` / ``--skip`` select them)."""


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
    parser.add_argument("--skip", default="", help=f"comma list of: {','.join(PHASES)}")
    parser.add_argument(
        "--only", default="", help=f"comma list of the phases to run: {','.join(PHASES)}"
    )
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    started = time.monotonic()
    skip = set(filter(None, args.skip.split(",")))
    only = set(filter(None, args.only.split(",")))
    if unknown := (skip | only) - set(PHASES):
        parser.error(
            f"unknown phase(s): {', '.join(sorted(unknown))} (phases: {', '.join(PHASES)})"
        )
    if only:
        skip |= set(PHASES) - only
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
        if "extstore" not in skip:
            log("5. 5 MiB round trips through external storage")
            results["extstore"] = extstore()
        if "stream" not in skip:
            log("6. a 100 MiB streamed response")
            results["stream"] = stream()
    results["suite_seconds"] = round(time.monotonic() - started, 1)
    print(report(results))
    print(f"\nsuite time: {results['suite_seconds']} s")
    if not args.quick or args.output != str(RESULTS):
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    if args.quick:
        ratio, errors, ok = quick_check(results)
        verdict = "OK" if ok else "FAIL"
        print(
            f"\nquick check: ours/aiobotocore at c=64 = {ratio:.2f} "
            f"(minimum {QUICK_RATIO}), errors {errors}: {verdict}"
        )
        sys.exit(0 if verdict == "OK" else 1)


if __name__ == "__main__":
    main()
