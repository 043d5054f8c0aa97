"""Render the suite's results as the markdown tables it prints."""

from __future__ import annotations

from typing import Any

from benchmarks._stats import E2E_FLOOR, find, targets


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    """Render the results as markdown."""
    m = results["machine"]
    parts = [
        f"Machine: {m['cpus']} CPU ({m['cpu_model']}), {m['memory_gb']} GB, "
        f"Python {m['python']}, {m['platform']}; {m['date']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
    ]
    rows = results.get("client", {}).get("rows", [])
    if rows:
        parts += [
            "### 1. Client throughput (emulator in its own process, loopback, 64-byte JSON "
            "payload)",
            "",
        ]
    body = []
    for row in rows:
        abc = find(rows, "aiobotocore", row["concurrency"])
        ratio = ""
        if abc and row["calls_per_s"] and abc["calls_per_s"]:
            ratio = f"{row['calls_per_s'] / abc['calls_per_s']:.2f}x"
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
    if rows:
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
    if "extstore" in results:
        parts += [
            "",
            "### 5. 5 MiB round trip through external storage (request and result stored), "
            "the activity worker in its own process",
            "",
        ]
        parts.append(
            table(
                [
                    "driver",
                    "s/call mean (min-max)",
                    "activity worker: peak RSS over baseline MB",
                    "x payload",
                    "workflow worker + client process MB",
                    "x payload",
                ],
                [
                    [
                        r["driver"],
                        f"{r['seconds_per_call_mean']} "
                        f"({r['seconds_per_call_min']}-{r['seconds_per_call_max']})",
                        r["activity_worker_peak_rss_mb"],
                        r["activity_worker_x_payload"],
                        r["workflow_process_peak_rss_mb"],
                        r["workflow_process_x_payload"],
                    ]
                    for r in results["extstore"]
                ],
            )
        )
    if "stream" in results:
        rows = results["stream"]
        abc = next((r for r in rows if r["peer"] == "aiobotocore"), None)
        parts += [
            "",
            "### 6. A 100 MiB InvokeWithResponseStream answer (emulator unthrottled, "
            "1 MiB chunks), each reader in its own process",
            "",
        ]
        parts.append(
            table(
                ["reader", "reads", "MB/s median (min-max)", "vs aiobotocore", "peak RSS MB"],
                [
                    [
                        {
                            "ours": "ours: LambdaClient + stream path to the spool",
                            "ours-stored": "ours: + result written into the local driver",
                            "aiobotocore": "aiobotocore invoke_with_response_stream "
                            "(chunks counted, dropped)",
                            "aiobotocore-file": "aiobotocore, chunks written to a file",
                        }[r["peer"]],
                        r["reads"],
                        f"{r['mb_per_s_median']} ({r['mb_per_s_min']}-{r['mb_per_s_max']})",
                        f"{r['mb_per_s_median'] / abc['mb_per_s_median']:.2f}x" if abc else "",
                        r["peak_rss_over_baseline_mb"],
                    ]
                    for r in rows
                ],
            )
        )
    verdicts = targets(results)
    if verdicts and not results.get("quick"):
        parts += ["", "### Targets", "", table(["target", "this run", ""], verdicts)]
    return "\n".join(parts)
