"""Unit tests of the example Lambda handlers (plain calls with a fake context)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from functions import HANDLER_NAMES, HANDLERS, PaymentDeclined, ShippingUnavailable
from functions import handlers as h

KEY = "tl-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1"


def ctx(key: str | None = KEY, version: str = "$LATEST") -> Any:
    client_context = None if key is None else SimpleNamespace(custom={"idempotency_key": key})
    return SimpleNamespace(
        client_context=client_context, aws_request_id="req-1", function_version=version
    )


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    h.reset()
    yield
    h.reset()


def test_registry_names_match() -> None:
    assert set(HANDLERS) == set(HANDLER_NAMES)
    for name, target in HANDLER_NAMES.items():
        module, attr = target.split(".")
        assert module == "handlers"
        assert getattr(h, attr) is HANDLERS[name]


def test_key_from_client_context_then_event() -> None:
    assert h.idempotency_key({}, ctx()) == KEY
    assert h.idempotency_key({"idempotency_key": "tl-evt"}, ctx(None)) == "tl-evt"
    assert h.idempotency_key({}, ctx(None)) is None
    assert h.idempotency_key([1, 2], ctx(None)) is None


def test_reserve_is_idempotent_and_release_forgets(capsys: pytest.CaptureFixture[str]) -> None:
    event = {"order_id": "7", "items": [{"sku": "a", "quantity": 1}]}
    first = HANDLERS["reserve-inventory"](event, ctx())
    again = HANDLERS["reserve-inventory"](event, ctx())
    assert first == {
        "reservation_id": "res-7-AAAAAAAAAAA1",
        "idempotency_key": KEY,
        "replay": False,
    }
    assert again == {**first, "replay": True}
    assert f"key={KEY}" in capsys.readouterr().out
    released = HANDLERS["release-inventory"]({"reservation_id": "res-7-AAAAAAAAAAA1"}, ctx())
    assert released["released"] is True
    assert h.RESERVATIONS == {}
    assert (
        HANDLERS["release-inventory"]({"reservation_id": "res-7-AAAAAAAAAAA1"}, ctx())["released"]
        is False
    )


def test_charge_declines_over_limit_and_for_declined_card() -> None:
    with pytest.raises(PaymentDeclined, match="exceeds the limit of 1000"):
        HANDLERS["charge-card"]({"order_id": "1", "amount": 1000.01, "card": "4242"}, ctx())
    with pytest.raises(PaymentDeclined, match="declined"):
        HANDLERS["charge-card"]({"order_id": "1", "amount": 5, "card": "declined"}, ctx())
    assert h.CHARGES == {}


def test_charge_then_refund() -> None:
    charged = HANDLERS["charge-card"](
        {"order_id": "1", "amount": 1000, "card": "4242"}, ctx(version="1")
    )
    assert charged == {
        "charge_id": "ch-1-AAAAAAAAAAA1",
        "amount": 1000,
        "idempotency_key": KEY,
        "version": "1",
    }
    refunded = HANDLERS["refund-card"]({"charge_id": "ch-1-AAAAAAAAAAA1", "amount": 1000}, ctx())
    assert refunded == {"charge_id": "ch-1-AAAAAAAAAAA1", "refunded": True, "idempotency_key": KEY}
    assert h.CHARGES["ch-1-AAAAAAAAAAA1"]["refunded"] is True


def test_ship() -> None:
    shipped = HANDLERS["ship-order"]({"order_id": "9", "address": "1 Main St"}, ctx())
    assert shipped == {"tracking_number": "trk-9-AAAAAAAAAAA1", "idempotency_key": KEY}
    with pytest.raises(ShippingUnavailable, match="'nowhere'"):
        HANDLERS["ship-order"]({"order_id": "9", "address": "nowhere"}, ctx())


def test_enrich_item() -> None:
    assert HANDLERS["enrich-item"]({"index": 3, "item": "kiwi"}, ctx()) == {
        "index": 3,
        "item": "kiwi",
        "upper": "KIWI",
        "length": 4,
    }


def test_send_notification_records_event_key(capsys: pytest.CaptureFixture[str]) -> None:
    event = {"to": "a@b.c", "message": "hi", "idempotency_key": "tl-evt"}
    assert HANDLERS["send-notification"](event, ctx(None)) is None
    assert [{**event, "request_id": "req-1"}] == h.NOTIFICATIONS
    assert "key=tl-evt" in capsys.readouterr().out


def test_slow_report(capsys: pytest.CaptureFixture[str]) -> None:
    result = HANDLERS["slow-report"]({"seconds": 0.05}, ctx())
    assert result["rows"] == 5
    assert result["idempotency_key"] == KEY
    assert 0.05 <= result["elapsed_seconds"] < 1.0
    assert "slow-report done" in capsys.readouterr().out
