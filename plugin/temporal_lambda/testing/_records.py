"""What the emulator remembers about each invocation, raw as it was received."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ._context import decode_client_context

__all__ = ["REDACTED", "InvocationRecord", "RequestRecord", "redacted"]

REDACTED = "[REDACTED]"
"""What stands in the request log for a secret header's value."""
_SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token"})


@dataclass
class InvocationRecord:
    """One request that reached a function (or was rejected), or one background delivery."""

    api: str
    """``"Invoke"``, ``"InvokeWithResponseStream"`` or ``"InvokeAsync"``."""
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


@dataclass
class RequestRecord:
    """One HTTP request the emulator received, whatever its path or method, and its answer."""

    method: str
    """The HTTP method."""
    path: str
    """The path as sent, still percent-encoded (``/2015-03-31/functions/fn%3Alive/...``)."""
    query: str
    """The raw query string, without ``?``."""
    headers: list[tuple[str, str]]
    """Every header in the order received, names lower-cased; the values of ``authorization``
    and ``x-amz-security-token`` are replaced by ``"[REDACTED]"``."""
    body_size: int
    """Bytes of body received."""
    received_at: float
    """``time.monotonic()`` when the request arrived."""
    request_id: str
    """The ``x-amzn-RequestId`` answered (also the :class:`InvocationRecord`'s, if any)."""
    status: int | None = None
    """The HTTP status answered, or ``None`` while (or if) nothing was answered."""
    answered_at: float | None = None
    """``time.monotonic()`` when the status line was sent."""
    client_disconnected: bool = False
    """The client went away before the answer was complete."""

    def header(self, name: str) -> str | None:
        """The first value of a header (any case), or ``None``."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)


def redacted(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers with the values of secret ones (credentials, session tokens) replaced."""
    return [(k, REDACTED if k in _SECRET_HEADERS else v) for k, v in headers]
