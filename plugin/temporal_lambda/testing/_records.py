"""What the emulator remembers about each invocation, raw as it was received."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ._context import decode_client_context

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
    client_context: str | None = None
    """The ``X-Amz-Client-Context`` header as received (base64 of a JSON object), even for an
    ``Event`` (whose handler never sees it) or a request refused before it ran."""
    payload: bytes = field(default=b"", repr=False)
    """The request body as received."""

    def client_context_json(self) -> dict[str, Any] | None:
        """The client context decoded (``custom``, ``env``, ``client``).

        Returns:
            ``None`` when there was none, or it was not base64 of a JSON object.
        """
        return None if self.client_context is None else decode_client_context(self.client_context)

    def payload_json(self) -> Any:
        """The payload decoded from JSON, or ``None`` when it was empty or not JSON."""
        if not self.payload.strip():
            return None
        try:
            return json.loads(self.payload)
        except ValueError:
            return None
