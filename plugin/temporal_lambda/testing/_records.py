"""What the emulator remembers about each request."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["InvocationRecord"]


@dataclass
class InvocationRecord:
    """One request that reached a function (or was rejected), or one background delivery."""

    api: str
    """``"Invoke"`` or ``"InvokeAsync"``."""
    function: str
    """The bare function name."""
    qualifier: str | None
    """The qualifier, from ``?Qualifier=`` or the name's suffix."""
    invocation_type: str
    """``RequestResponse``, ``Event`` or ``DryRun``."""
    idempotency_key: str | None
    """Client context ``custom["idempotency_key"]`` (sync) or ``payload["idempotency_key"]``."""
    request_id: str
    """The ``x-amzn-RequestId`` answered (kept across async retries, as Lambda does)."""
    received_at: float
    """``time.monotonic()`` when the request (or background delivery) started."""
    status_code: int = 0
    """The HTTP status answered; 200 for background deliveries; 499 if the client went away."""
    error_code: str | None = None
    """The service error code, or the function's ``errorType``."""
    delivery: int = 1
    """1 for the first delivery of an event, 2.. for async retries and duplicates."""
    client_disconnected: bool = False
    """The client went away before the answer was sent."""
    tenant_id: str | None = None
    """The ``X-Amz-Tenant-Id`` header."""
    durable_execution_name: str | None = None
    """The ``X-Amz-Durable-Execution-Name`` header."""
