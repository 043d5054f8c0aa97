"""Example Lambda handlers for the temporal-lambda examples.

Every handler is a plain ``def handler(event, context)`` that runs unchanged on AWS Lambda
(Python 3.11+ runtime) and in :class:`temporal_lambda.testing.LocalLambda`.

Deploying to AWS: zip this one file and create one function per entry of
:data:`HANDLER_NAMES`, each with the same zip and its own handler string, e.g.::

    zip handlers.zip handlers.py
    aws lambda create-function --function-name charge-card --runtime python3.12 \
        --handler handlers.charge_card --zip-file fileb://handlers.zip --role "$ROLE_ARN"
    aws lambda publish-version --function-name charge-card
    aws lambda create-alias --function-name charge-card --name live --function-version 1

``slow-report`` needs a timeout above the longest report you ask for (e.g. 30 s);
the others are fine with the default 3 s.

How the idempotency key arrives: for synchronous (``RequestResponse``) calls the plugin
puts it in the client context (``context.client_context.custom["idempotency_key"]``);
for ``Event`` calls, which carry no client context, it adds ``event["idempotency_key"]``.
Each handler prints it and echoes it so the examples can show it reached the function.

State is deliberately simple: module-level dicts, which live as long as the execution
environment (one container on AWS, the whole process in the emulator). Each handler
treats a repeat of the same idempotency key as a replay and answers as it did the first
time, which is what a Powertools ``@idempotent`` handler would do with a real store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

IDEMPOTENCY_FIELD = "idempotency_key"

RESERVATIONS: dict[str, dict[str, Any]] = {}
"""Open inventory reservations, by reservation id."""
CHARGES: dict[str, dict[str, Any]] = {}
"""Card charges, by charge id (``refunded`` flips to true on refund)."""
SHIPMENTS: dict[str, dict[str, Any]] = {}
"""Shipments, by tracking number."""
NOTIFICATIONS: list[dict[str, Any]] = []
"""Notifications "sent" (appended in arrival order)."""

CHARGE_LIMIT = 1000
"""Amounts above this are declined."""


class PaymentDeclined(Exception):
    """The card was declined; retrying will not help."""


class ShippingUnavailable(Exception):
    """No carrier serves the address; retrying will not help."""


def idempotency_key(event: Any, context: Any) -> str | None:
    """Return the idempotency key the caller sent, wherever it was put."""
    client_context = getattr(context, "client_context", None)
    custom = getattr(client_context, "custom", None) if client_context is not None else None
    if isinstance(custom, dict) and custom.get(IDEMPOTENCY_FIELD):
        return str(custom[IDEMPOTENCY_FIELD])
    if isinstance(event, dict) and event.get(IDEMPOTENCY_FIELD):
        return str(event[IDEMPOTENCY_FIELD])
    return None


def _request_id(context: Any) -> str:
    return str(getattr(context, "aws_request_id", "local"))


def _short(key: str | None) -> str:
    return (key or "no-key")[-12:]


def reserve_inventory(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reserve the order's items; the same key returns the same reservation."""
    key = idempotency_key(event, context)
    reservation_id = f"res-{event['order_id']}-{_short(key)}"
    replay = reservation_id in RESERVATIONS
    if not replay:
        RESERVATIONS[reservation_id] = {
            "order_id": event["order_id"],
            "items": list(event.get("items", [])),
            "idempotency_key": key,
        }
    print(
        f"reserve-inventory order={event['order_id']} items={len(event.get('items', []))} "
        f"reservation={reservation_id} key={key} replay={replay}"
    )
    return {"reservation_id": reservation_id, "idempotency_key": key, "replay": replay}


def release_inventory(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Release a reservation; releasing an unknown or released one is a no-op."""
    key = idempotency_key(event, context)
    released = RESERVATIONS.pop(event["reservation_id"], None) is not None
    print(f"release-inventory reservation={event['reservation_id']} released={released} key={key}")
    return {"reservation_id": event["reservation_id"], "released": released, "idempotency_key": key}


def charge_card(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Charge the card; raises PaymentDeclined over the limit or for card "declined"."""
    key = idempotency_key(event, context)
    amount = event["amount"]
    card = event.get("card", "")
    version = getattr(context, "function_version", "$LATEST")
    print(f"charge-card order={event['order_id']} amount={amount} version={version} key={key}")
    if card == "declined":
        raise PaymentDeclined(f"card ending {card[-4:]} was declined")
    if amount > CHARGE_LIMIT:
        raise PaymentDeclined(f"amount {amount} exceeds the limit of {CHARGE_LIMIT}")
    charge_id = f"ch-{event['order_id']}-{_short(key)}"
    CHARGES.setdefault(
        charge_id,
        {"order_id": event["order_id"], "amount": amount, "refunded": False},
    )
    return {"charge_id": charge_id, "amount": amount, "idempotency_key": key, "version": version}


def refund_card(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Refund a charge; refunding twice refunds once."""
    key = idempotency_key(event, context)
    charge = CHARGES.get(event["charge_id"])
    already = bool(charge and charge["refunded"])
    if charge is not None:
        charge["refunded"] = True
    print(
        f"refund-card charge={event['charge_id']} amount={event.get('amount')} "
        f"already_refunded={already} key={key}"
    )
    return {"charge_id": event["charge_id"], "refunded": True, "idempotency_key": key}


def ship_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Ship the reserved items; raises ShippingUnavailable for address "nowhere"."""
    key = idempotency_key(event, context)
    print(f"ship-order order={event['order_id']} address={event.get('address')} key={key}")
    if event.get("address") == "nowhere":
        raise ShippingUnavailable(f"no carrier delivers to {event.get('address')!r}")
    tracking = f"trk-{event['order_id']}-{_short(key)}"
    SHIPMENTS.setdefault(tracking, {"order_id": event["order_id"], "address": event["address"]})
    return {"tracking_number": tracking, "idempotency_key": key}


def enrich_item(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Transform one fan-out item: upper-case it and count its characters."""
    item = str(event["item"])
    print(f"enrich-item index={event.get('index')} item={item!r}")
    return {"index": event.get("index"), "item": item, "upper": item.upper(), "length": len(item)}


def send_notification(event: dict[str, Any], context: Any) -> None:
    """Pretend to send a notification (an ``Event`` target: nobody reads the result)."""
    key = idempotency_key(event, context)
    NOTIFICATIONS.append({**event, "request_id": _request_id(context)})
    print(f"send-notification to={event.get('to')} message={event.get('message')!r} key={key}")


def slow_report(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Build a "report" slowly: sleep ``seconds`` (default 5), logging progress."""
    seconds = float(event.get("seconds", 5))
    key = idempotency_key(event, context)
    print(f"slow-report start seconds={seconds} key={key}")
    started = time.monotonic()
    remaining = seconds
    while remaining > 0:
        time.sleep(min(1.0, remaining))
        remaining = seconds - (time.monotonic() - started)
        print(f"slow-report progress {min(seconds, seconds - remaining):.1f}/{seconds:.1f}s")
    elapsed = time.monotonic() - started
    print(f"slow-report done in {elapsed:.1f}s")
    return {
        "rows": int(seconds * 100),
        "elapsed_seconds": round(elapsed, 2),
        "idempotency_key": key,
    }


HANDLER_NAMES: dict[str, str] = {
    "reserve-inventory": "handlers.reserve_inventory",
    "release-inventory": "handlers.release_inventory",
    "charge-card": "handlers.charge_card",
    "refund-card": "handlers.refund_card",
    "ship-order": "handlers.ship_order",
    "enrich-item": "handlers.enrich_item",
    "send-notification": "handlers.send_notification",
    "slow-report": "handlers.slow_report",
}
"""Function name → AWS handler string (when deployed from a zip of this file)."""

HANDLERS: dict[str, Callable[[Any, Any], Any]] = {
    "reserve-inventory": reserve_inventory,
    "release-inventory": release_inventory,
    "charge-card": charge_card,
    "refund-card": refund_card,
    "ship-order": ship_order,
    "enrich-item": enrich_item,
    "send-notification": send_notification,
    "slow-report": slow_report,
}
"""Function name → handler, for :meth:`LocalLambda.register`."""


def reset() -> None:
    """Forget all in-memory state (for tests and repeated demo runs)."""
    RESERVATIONS.clear()
    CHARGES.clear()
    SHIPMENTS.clear()
    NOTIFICATIONS.clear()
