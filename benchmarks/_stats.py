"""The benchmark's arithmetic: block order, ratio intervals, per-mode rows and target verdicts.

Pure functions over the suite's measurements (no processes, no I/O), so that tests can check
the statistics that decide whether a target is met.
"""

from __future__ import annotations

import collections
import math
import statistics
from typing import Any

QUICK_RATIO = 0.8
"""``--quick`` fails below this ratio of our calls/s to aiobotocore's at concurrency 64."""
E2E_MODES = ("noop", "ours", "ours-nostore")
E2E_FLOOR = "noop"
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
        rows.append(row)
    return rows


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
    for row in results.get("extstore", []):
        add(
            f"5 MiB external-storage round trip ({row['driver']}): activity worker peak RSS "
            "< 3x the payload",
            f"{row['activity_worker_x_payload']}x",
            row["activity_worker_x_payload"] < 3,
        )
    streams = {row["peer"]: row for row in results.get("stream", [])}
    if "ours" in streams and "aiobotocore" in streams:
        ours, abc = streams["ours"], streams["aiobotocore"]
        add(
            "100 MiB stream: MB/s >= aiobotocore's (medians)",
            f"{ours['mb_per_s_median']} vs {abc['mb_per_s_median']}",
            ours["mb_per_s_median"] >= abc["mb_per_s_median"],
        )
        add(
            "100 MiB stream: peak RSS < 64 MB over baseline",
            f"{ours['peak_rss_over_baseline_mb']} MB",
            ours["peak_rss_over_baseline_mb"] < 64,
        )
    return out


def quick_check(results: dict[str, Any]) -> tuple[float, int, bool]:
    """The CI check of ``--quick``: our calls/s over aiobotocore's at concurrency 64.

    Returns:
        ``(ratio, errors, ok)``: ``ok`` when the ratio is at least ``QUICK_RATIO`` and neither
        peer had an error.
    """
    rows = results["client"]["rows"]
    ours, abc = find(rows, "ours", 64), find(rows, "aiobotocore", 64)
    assert ours is not None and abc is not None
    ratio = ours["calls_per_s"] / abc["calls_per_s"]
    errors = ours["errors"] + abc["errors"]
    return ratio, errors, ratio >= QUICK_RATIO and errors == 0
