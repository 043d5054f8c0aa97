"""The demo's scenarios, run on the demo's own embedded set-up, with what the demo used to check.

``workers.demo.local_target`` starts its dev server and LocalLambda with the example functions;
each test runs one scenario of ``workers.scenarios`` there and asserts on its outcome.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from functions import handlers as fn_state
from workers import scenarios
from workers.demo import local_target, running_worker
from workers.scenarios import (
    ITEMS,
    REPORT_HEARTBEAT_TIMEOUT,
    REPORT_SECONDS,
    RETRY_AFTER,
    SCENARIOS,
    Target,
)

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture(scope="module")
async def target() -> AsyncIterator[Target]:
    async with local_target() as t, running_worker(t):
        yield t


@pytest.fixture
def said() -> list[str]:
    return []


def test_the_demo_runs_every_scenario_in_order() -> None:
    assert [fn for _, fn in SCENARIOS] == [
        scenarios.saga_success,
        scenarios.saga_declined,
        scenarios.saga_ship_failure,
        scenarios.fan_out,
        scenarios.notify,
        scenarios.throttle,
        scenarios.long_report,
    ]


async def test_order_completes_through_the_live_alias(target: Target, said: list[str]) -> None:
    out = await scenarios.saga_success(target, said.append)
    res = out.result
    assert res.status == "completed"
    assert res.tracking_number is not None
    assert res.compensations == []
    assert res.charged_version == "1"
    key = res.idempotency_keys.get("reserve-inventory", "")
    assert key.startswith("tl-")
    assert out.stored_reservation_key == key
    assert said[0].startswith("status=completed ")


async def test_a_declined_card_is_not_retried_and_releases_the_reservation(
    target: Target, said: list[str]
) -> None:
    out = await scenarios.saga_declined(target, said.append)
    res, f = out.result, out.result.failure
    assert res.status == "compensated"
    assert f is not None
    assert (f.step, f.error_type) == ("charge-card", "PaymentDeclined")
    assert "exceeds the limit" in f.message
    assert res.compensations == ["release-inventory"]
    assert out.charge_calls == 1
    assert out.reservation_gone is True


async def test_a_failed_shipping_refunds_then_releases(target: Target, said: list[str]) -> None:
    out = await scenarios.saga_ship_failure(target, said.append)
    res, f = out.result, out.result.failure
    assert f is not None
    assert (f.step, f.error_type) == ("ship-order", "ShippingUnavailable")
    assert res.compensations == ["refund-card", "release-inventory"]
    assert out.refunded is True
    assert fn_state.CHARGES[res.charge_id or ""]["refunded"] is True


async def test_fan_out_keeps_order_and_its_bound(target: Target, said: list[str]) -> None:
    out = await scenarios.fan_out(target, said.append)
    res = out.result
    assert [x["item"] for x in res.results] == ITEMS
    assert [x["upper"] for x in res.results] == [i.upper() for i in ITEMS]
    assert 1 <= res.max_in_flight <= scenarios.FAN_OUT_CONCURRENCY
    assert out.invocations == len(ITEMS)


async def test_dry_run_then_an_event_whose_key_reaches_the_function(
    target: Target, said: list[str]
) -> None:
    out = await scenarios.notify(target, said.append)
    assert out.result.dry_run_status == 204
    assert out.result.status_code == 202
    assert out.result.idempotency_key is not None
    assert out.key_seen == out.result.idempotency_key


async def test_throttles_wait_for_retry_after_under_one_key(
    target: Target, said: list[str]
) -> None:
    out = await scenarios.throttle(target, said.append)
    assert out is not None
    assert out.statuses == [429, 429, 200]
    assert len(out.gaps) == 2
    assert all(gap >= RETRY_AFTER for gap in out.gaps), out.gaps
    # One activity, retried: its last attempt (3) is the one the history records.
    assert out.first_activity_attempt == 3
    key = out.result.idempotency_keys.get("reserve-inventory")
    assert key is not None
    assert out.keys_seen == {key}
    assert out.result.status == "completed"


async def test_a_long_call_is_kept_alive_by_heartbeats(target: Target, said: list[str]) -> None:
    out = await scenarios.long_report(target, said.append)
    assert out.seconds >= 2 * REPORT_HEARTBEAT_TIMEOUT
    assert out.result.payload.get("rows") == int(REPORT_SECONDS * 100)
    assert out.heartbeats >= 2
    assert out.attempts == [1]
    assert out.timeouts == 0
    assert any("slow-report done" in line for line in out.log_tail)
    assert out.invocations == 1
