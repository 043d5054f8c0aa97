"""The benchmark's end-to-end arithmetic: block order, ratio intervals and the verdict."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from benchmarks._stats import (
    E2E_MODES,
    block_order,
    e2e_rows,
    ratio_interval,
    t975,
    targets,
)


def test_each_block_runs_every_mode_twice_in_an_order_and_its_reverse() -> None:
    for block in range(6):
        order = block_order(block)
        assert order == order[::-1]
        assert Counter(order) == {mode: 2 for mode in E2E_MODES}


def test_over_three_blocks_every_mode_takes_every_place_once() -> None:
    places = {mode: sorted(block_order(b).index(mode) for b in range(3)) for mode in E2E_MODES}
    assert places == {mode: [0, 1, 2] for mode in E2E_MODES}
    assert block_order(3) == block_order(0)


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706), (5, 2.571), (12, 2.179), (13, 2.160), (20, 2.086), (30, 2.042), (60, 2.000)],
)
def test_t_quantiles(df: int, expected: float) -> None:
    assert t975(df) == pytest.approx(expected, abs=0.002)


def test_interval_needs_two_blocks() -> None:
    assert ratio_interval([]) is None
    assert ratio_interval([0.95]) is None


def test_interval_is_the_geometric_mean_with_t_on_the_logs() -> None:
    interval = ratio_interval([0.9, 1.0])
    assert interval is not None
    estimate, low, high = interval
    assert estimate == pytest.approx(math.sqrt(0.9))
    assert (low, high) == (pytest.approx(0.48576, abs=1e-4), pytest.approx(1.85276, abs=1e-4))
    four = ratio_interval([0.92, 0.95, 0.93, 0.94])
    assert four == (
        pytest.approx(0.93493, abs=1e-4),
        pytest.approx(0.91462, abs=1e-4),
        pytest.approx(0.95570, abs=1e-4),
    )


def test_identical_blocks_give_an_interval_of_no_width() -> None:
    assert ratio_interval([0.93, 0.93, 0.93]) == pytest.approx((0.93, 0.93, 0.93))


def _batch(block: int, mode: str, elapsed: float, failures: list[str] | None = None) -> Any:
    return {
        "block": block,
        "mode": mode,
        "elapsed": elapsed,
        "failures": failures or [],
        "cpu": {"activity_worker": elapsed / 100, "emulator": 0.0},
    }


def test_rows_compare_each_mode_with_the_floor_block_by_block() -> None:
    # Block 1 is twice as slow for everyone: the ratios per block do not see it.
    batches = [
        _batch(0, "noop", 2.0),
        _batch(0, "noop", 2.0),
        _batch(0, "ours", 2.2),
        _batch(0, "ours", 2.2),
        _batch(0, "ours-nostore", 2.0),
        _batch(0, "ours-nostore", 2.0, ["TimeoutError: x"]),
        _batch(1, "noop", 4.0),
        _batch(1, "noop", 4.0),
        _batch(1, "ours", 4.0),
        _batch(1, "ours", 4.0),
        _batch(1, "ours-nostore", 4.0),
        _batch(1, "ours-nostore", 4.0),
    ]
    rows = {row["mode"]: row for row in e2e_rows(batches, 100)}
    ours = rows["ours"]
    assert ours["workflows"] == 400
    assert ours["seconds"] == pytest.approx(12.4)
    assert ours["workflows_per_s"] == pytest.approx(32.3)
    assert ours["blocks_workflows_per_s"] == [45.5, 25.0]
    assert ours["blocks_vs_floor"] == [pytest.approx(0.909, abs=1e-3), 1.0]
    assert ours["vs_floor"] == pytest.approx(math.sqrt(4.0 / 4.4), abs=1e-3)
    assert ours["vs_floor_ci95"][0] < ours["vs_floor"] < ours["vs_floor_ci95"][1]
    assert ours["cpu_ms_per_workflow_activity_worker"] == pytest.approx(0.31)
    assert rows["ours-nostore"]["failures"] == 1
    assert rows["ours-nostore"]["first_failure"] == "TimeoutError: x"
    assert rows["noop"]["vs_floor"] == 1.0


def _verdict(vs_floor: float, ci: list[float] | None, blocks: int = 6) -> list[str]:
    row = {
        "mode": "ours",
        "vs_floor": vs_floor,
        "vs_floor_ci95": ci,
        "blocks_vs_floor": [vs_floor] * blocks,
    }
    (verdict,) = targets({"temporal": {"e2e": [row], "held": []}})
    return verdict


def test_the_target_is_met_only_when_the_whole_interval_is_at_or_above_it() -> None:
    assert _verdict(0.95, [0.9, 0.99]) == [
        "end-to-end >= 0.9x the no-op floor",
        "0.95x (95% CI 0.90-0.99, 6 blocks)",
        "met",
    ]
    assert _verdict(0.93, [0.87, 0.99])[2] == "**not shown**: the interval spans 0.9x"
    assert _verdict(0.85, [0.8, 0.89])[2] == "**not met**"
    assert _verdict(0.95, None, blocks=1)[1:] == ["0.95x", "**not shown** (one block: no interval)"]
