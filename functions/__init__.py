"""Example Lambda handlers, runnable in the emulator and deployable to AWS.

See :mod:`functions.handlers` for how to deploy them.
"""

from functions.handlers import (
    HANDLER_NAMES,
    HANDLERS,
    PaymentDeclined,
    ShippingUnavailable,
    idempotency_key,
    reset,
)

__all__ = [
    "HANDLERS",
    "HANDLER_NAMES",
    "PaymentDeclined",
    "ShippingUnavailable",
    "idempotency_key",
    "reset",
]
