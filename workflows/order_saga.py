"""OrderSaga: reserve → charge → ship, compensating in reverse on failure.

Every step is one Lambda invocation. Each carries an idempotency key that is stable across
retries of that step, so a retried charge never charges twice. Business failures the
functions raise (``PaymentDeclined``, ``ShippingUnavailable``) are listed as
non-retryable: they fail the step at once and start the compensations.

Compensations run newest first (refund, then release) with the default, unbounded retry
policy: once the order has failed, undoing what was done must eventually succeed.
The workflow returns an :class:`OrderResult` saying what happened rather than failing, so
callers can read the outcome; raise instead if your callers prefer a failed workflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from temporal_lambda.workflow import invoke_lambda

BUSINESS_ERRORS = ("PaymentDeclined", "ShippingUnavailable")
"""Function error types that mean "no", not "try again"."""


@dataclass
class OrderItem:
    sku: str
    quantity: int


@dataclass
class OrderInput:
    order_id: str
    items: list[OrderItem]
    amount: float
    card: str
    address: str
    charge_qualifier: str | None = None
    """Version or alias of ``charge-card`` to call (e.g. ``"live"``)."""
    function_timeout_seconds: float = 10.0
    """The functions' configured timeout; bounds each attempt."""


@dataclass
class StepFailure:
    step: str
    error_type: str
    message: str
    request_id: str | None = None


@dataclass
class OrderResult:
    order_id: str
    status: str
    """``"completed"``, or ``"compensated"`` when a step failed and was undone."""
    reservation_id: str | None = None
    charge_id: str | None = None
    charged_version: str | None = None
    tracking_number: str | None = None
    failure: StepFailure | None = None
    compensations: list[str] = field(default_factory=list)
    """The compensating functions that ran, in the order they ran."""
    idempotency_keys: dict[str, str] = field(default_factory=dict)
    """Step → the key the function received."""


def describe_failure(step: str, err: BaseException) -> StepFailure:
    """Turn the error a failed step raised into a :class:`StepFailure`."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        details: dict[str, Any] = {}
        if cause.details and isinstance(cause.details[0], dict):
            details = cause.details[0]
        return StepFailure(
            step=step,
            error_type=cause.type or "ApplicationError",
            message=cause.message,
            request_id=details.get("request_id"),
        )
    return StepFailure(step=step, error_type=type(cause).__name__, message=str(cause))


@workflow.defn
class OrderSaga:
    @workflow.run
    async def run(self, order: OrderInput) -> OrderResult:
        result = OrderResult(order_id=order.order_id, status="running")
        timeout = timedelta(seconds=order.function_timeout_seconds)
        compensations: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        step = "reserve-inventory"
        try:
            reserved = await invoke_lambda(
                "reserve-inventory",
                {
                    "order_id": order.order_id,
                    "items": [{"sku": i.sku, "quantity": i.quantity} for i in order.items],
                },
                function_timeout=timeout,
            )
            result.reservation_id = reserved.payload["reservation_id"]
            result.idempotency_keys[step] = reserved.idempotency_key
            reservation_id = result.reservation_id
            compensations.append(
                (
                    "release-inventory",
                    lambda: invoke_lambda(
                        "release-inventory",
                        {"order_id": order.order_id, "reservation_id": reservation_id},
                        function_timeout=timeout,
                    ),
                )
            )

            step = "charge-card"
            charged = await invoke_lambda(
                "charge-card",
                {"order_id": order.order_id, "amount": order.amount, "card": order.card},
                qualifier=order.charge_qualifier,
                non_retryable_function_errors=BUSINESS_ERRORS,
                function_timeout=timeout,
            )
            result.charge_id = charged.payload["charge_id"]
            result.charged_version = charged.executed_version
            result.idempotency_keys[step] = charged.idempotency_key
            charge_id = result.charge_id
            compensations.append(
                (
                    "refund-card",
                    lambda: invoke_lambda(
                        "refund-card",
                        {
                            "order_id": order.order_id,
                            "charge_id": charge_id,
                            "amount": order.amount,
                        },
                        function_timeout=timeout,
                    ),
                )
            )

            step = "ship-order"
            shipped = await invoke_lambda(
                "ship-order",
                {
                    "order_id": order.order_id,
                    "reservation_id": reservation_id,
                    "address": order.address,
                },
                non_retryable_function_errors=BUSINESS_ERRORS,
                function_timeout=timeout,
            )
            result.tracking_number = shipped.payload["tracking_number"]
            result.idempotency_keys[step] = shipped.idempotency_key
        except (ActivityError, asyncio.CancelledError) as err:
            result.failure = describe_failure(step, err)
            workflow.logger.warning(
                "Order %s failed at %s (%s), compensating",
                order.order_id,
                step,
                result.failure.error_type,
            )
            for name, compensate in reversed(compensations):
                await compensate()
                result.compensations.append(name)
            result.status = "compensated"
            if isinstance(err, asyncio.CancelledError):
                raise
            return result
        result.status = "completed"
        return result
