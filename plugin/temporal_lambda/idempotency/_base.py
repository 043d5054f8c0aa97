"""What every idempotency store shares: the protocol, the outcome of ``begin``, the checks.

A store keeps one record per idempotency key::

    (none) ──begin──► IN_PROGRESS ──complete──► COMPLETED
                        │    ▲                     │
                 release│    │begin after the      │ expires_at passes
                        ▼    │lease ran out        ▼
                      (none) └─ (taken over)     (none, purged)

Records past their ``expires_at`` are invisible: ``begin`` treats them as absent and
``purge_expired`` deletes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from temporal_lambda._errors import ResultTooLarge, StoreUnavailable

DEFAULT_TTL_SECONDS = 86_400.0
"""How long a record is kept (seconds) unless a store is told otherwise: 24 hours."""
DEFAULT_MAX_RESULT_BYTES = 2_000_000
"""The largest result (bytes) a store keeps unless told otherwise."""
DEFAULT_PURGE_INTERVAL_SECONDS = 300.0
"""How often (seconds) ``begin`` also deletes expired records, unless told otherwise."""
STORE_FILE_NAME = "idempotency.sqlite3"
"""The file name of the default SQLite store."""

IN_PROGRESS = "IN_PROGRESS"
"""Record status: a call holds (or held) the lease and has not stored a result."""
COMPLETED = "COMPLETED"
"""Record status: the call finished and its result is stored."""


@dataclass(frozen=True)
class BeginOutcome:
    """What :meth:`IdempotencyStore.begin` found, and what the caller should do."""

    kind: Literal["acquired", "completed", "in_progress", "mismatch"]
    """``acquired``: run the call, then ``complete`` or ``release``; ``completed``: return
    ``result``; ``in_progress``: another attempt holds a live lease, retry later;
    ``mismatch``: the key was used for a different request."""
    result: bytes | None = None
    """For ``completed``: the stored result document, exactly as it was given."""
    retry_after: float | None = None
    """For ``in_progress``: seconds until the live lease ends."""
    taken_over: bool = False
    """For ``acquired``: the lease was taken over from an earlier attempt whose lease ran out
    (that attempt may or may not have reached Lambda)."""


@runtime_checkable
class IdempotencyStore(Protocol):
    """One record per idempotency key; every transition is atomic.

    Errors: a store that cannot answer raises :class:`StoreUnavailable` (retryable);
    :meth:`complete` raises :class:`ResultTooLarge` (not retryable) for an oversized result.
    """

    async def begin(
        self, key: str, fingerprint: str, *, lease_seconds: float, owner: str
    ) -> BeginOutcome:
        """Claim ``key`` for one attempt, or report why not.

        Args:
            key: The idempotency key.
            fingerprint: :func:`request_fingerprint` of the request; a different one under
                the same key is a ``mismatch``.
            lease_seconds: How long the claim holds before another attempt may take over.
            owner: Who claims it (unique per attempt).

        Returns:
            The outcome.
        """
        ...

    async def complete(self, key: str, owner: str, result: bytes) -> None:
        """Store the result of the call that holds ``key``.

        The result is stored while the record is in progress, whoever holds the lease now
        (the result is real, and of the same call); an existing result is never replaced.
        Without an in-progress record nothing is stored.

        Args:
            key: The idempotency key.
            owner: Who ran the call.
            result: The result document.
        """
        ...

    async def release(self, key: str, owner: str) -> None:
        """Drop ``owner``'s in-progress record after a failed call, so a retry runs again.

        Args:
            key: The idempotency key.
            owner: Who claimed it; another owner's record is left alone.
        """
        ...

    async def purge_expired(self) -> int:
        """Delete every record past its expiry.

        Returns:
            How many records were deleted.
        """
        ...

    async def aclose(self) -> None:
        """Release connections and threads; the store cannot be used afterwards."""
        ...


def request_fingerprint(obj: Any) -> str:
    """Return the SHA-256 (hex) of the canonical JSON of ``obj``.

    Canonical: keys sorted, no whitespace, ASCII only; NaN and infinities are refused.

    Args:
        obj: A JSON-able object, e.g. a dict of the request fields that define the call.

    Returns:
        64 lowercase hex digits.

    Raises:
        TypeError: ``obj`` holds something JSON cannot represent.
        ValueError: ``obj`` holds NaN or an infinity, or a circular reference.
    """
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def default_store_path() -> Path:
    """Return where the default SQLite store lives.

    ``$TEMPORAL_LAMBDA_STATE_DIR``, else ``$XDG_STATE_HOME/temporal-lambda`` (if that is an
    absolute path), else ``~/.local/state/temporal-lambda``; the file is
    ``idempotency.sqlite3``.

    Returns:
        The path of the database file (which may not exist yet).
    """
    state_dir = os.environ.get("TEMPORAL_LAMBDA_STATE_DIR")
    if state_dir:
        return Path(state_dir) / STORE_FILE_NAME
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "temporal-lambda" / STORE_FILE_NAME


async def refuse_oversized(
    store: IdempotencyStore, key: str, owner: str, result: bytes, limit: int
) -> None:
    """Refuse a result over ``limit`` bytes: release ``owner``'s record, then raise.

    Raises:
        ResultTooLarge: ``result`` is over ``limit`` bytes. If the release itself fails the
            record stays until its lease runs out, and this is raised all the same.
    """
    if len(result) <= limit:
        return
    with contextlib.suppress(StoreUnavailable):
        await store.release(key, owner)
    raise ResultTooLarge(len(result), limit)


def validate_settings(ttl_seconds: float, max_result_bytes: int) -> None:
    """Refuse settings no store can honour."""
    if not ttl_seconds > 0:
        raise ValueError(f"ttl_seconds must be positive, not {ttl_seconds!r}")
    if max_result_bytes < 0:
        raise ValueError(f"max_result_bytes must not be negative, not {max_result_bytes!r}")


def validate_lease(lease_seconds: float) -> None:
    """Refuse a lease that is not a positive number of seconds."""
    if not lease_seconds > 0:
        raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
