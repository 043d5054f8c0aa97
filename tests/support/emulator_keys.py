"""The plugin's idempotency-key convention, read out of what LocalLambda received.

The emulator records requests raw (client context header, payload) and knows nothing of the
plugin; the tests, which do, read the key here: a synchronous call carries it in the client
context's ``custom``, an ``Event``, ``DryRun`` or InvokeAsync call in the payload.
"""

from __future__ import annotations

from typing import Any

from temporal_lambda.testing import InvocationRecord, LambdaContext

FIELD = "idempotency_key"
"""Where the plugin puts the key (its default ``idempotency_field``)."""


def _key(source: Any) -> str | None:
    key = source.get(FIELD) if isinstance(source, dict) else None
    return key if isinstance(key, str) else None


def record_key(record: InvocationRecord) -> str | None:
    """The key the caller sent with the request ``record`` saw, if any."""
    if record.invocation_type == "RequestResponse":
        context = record.client_context_json()
        return _key(context.get("custom") if context is not None else None)
    return _key(record.payload_json())


def context_key(context: LambdaContext) -> str | None:
    """The key the plugin sent in the client context (synchronous calls), as a handler sees it."""
    return _key(context.client_context.custom if context.client_context else None)
