"""Fault injection: fail, throttle, delay or drop the next matching requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from ._spec import ACCOUNT_THROTTLE_REASON, ERROR_STATUS

__all__ = ["FAULT_KINDS", "DelayFault", "DropFault", "FailFault", "Faults"]

DEFAULT_DELAY = 5.0
"""Seconds of a ``delay`` fault given without ``=SECONDS``."""
FAULT_KINDS = {
    "throttle": "answer 429 TooManyRequestsException (Retry-After: 1), as a busy account does",
    "5xx": "answer 500 ServiceException",
    "delay": f"wait SECONDS (delay=SECONDS, default {DEFAULT_DELAY:g}) before handling",
    "drop": "run the function, then cut the connection halfway through its answer",
}
"""The fault kinds :meth:`Faults.inject` (and the command line's ``--fault``) know."""


@dataclass
class FailFault:
    """Answer the next ``remaining`` matching requests with a service error."""

    remaining: int
    function: str | None
    status: int
    code: str
    message: str
    retry_after: float | None
    reason: str | None


@dataclass
class DelayFault:
    """Sleep before handling the next ``remaining`` matching requests."""

    remaining: int
    function: str | None
    seconds: float


@dataclass
class DropFault:
    """Drop the connection mid-response for the next ``remaining`` matching requests."""

    remaining: int
    function: str | None


_F = TypeVar("_F", FailFault, DelayFault, DropFault)


def _take(queue: list[_F], function: str) -> _F | None:
    for fault in queue:
        if fault.remaining > 0 and fault.function in (None, function):
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.remove(fault)
            return fault
    return None


class Faults:
    """Fault injection for :class:`~temporal_lambda.testing.LocalLambda`.

    Each rule counts down once per matching request (``function=None`` matches every function).
    ``fail_next`` and ``delay_next`` act before the function runs, ``drop_next`` when the answer
    is sent.
    """

    def __init__(self) -> None:
        self._fail: list[FailFault] = []
        self._delay: list[DelayFault] = []
        self._drop: list[DropFault] = []

    def fail_next(
        self,
        n: int,
        *,
        status: int = 500,
        code: str = "ServiceException",
        message: str = "Fault injected by LocalLambda.",
        retry_after: float | None = None,
        reason: str | None = None,
        function: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with a service error instead of running them.

        Args:
            n: How many requests to fail.
            status: The HTTP status to answer.
            code: The error code, sent in ``x-amzn-ErrorType``.
            message: The body's ``message``.
            retry_after: If set, sent as the ``Retry-After`` header (seconds).
            reason: If set, sent as the body's ``Reason`` (as with throttles).
            function: Only count requests for this bare function name.
        """
        self._fail.append(FailFault(n, function, status, code, message, retry_after, reason))

    def delay_next(self, n: int, seconds: float, *, function: str | None = None) -> None:
        """Sleep ``seconds`` before handling each of the next ``n`` matching requests.

        Args:
            n: How many requests to delay.
            seconds: The delay.
            function: Only count requests for this bare function name.
        """
        self._delay.append(DelayFault(n, function, seconds))

    def drop_next(self, n: int, *, function: str | None = None) -> None:
        """Run the function, then close the connection halfway through the answer.

        The status line, headers and part of the body are sent, then the connection is closed,
        so the client sees a protocol error after the function already ran.

        Args:
            n: How many requests to drop.
            function: Only count requests for this bare function name.
        """
        self._drop.append(DropFault(n, function))

    def throttle_next(self, n: int, *, retry_after: float = 1, function: str | None = None) -> None:
        """Answer the next ``n`` matching requests with the throttle an account at its limit gets.

        Args:
            n: How many requests to throttle.
            retry_after: The ``Retry-After`` header, in seconds.
            function: Only count requests for this bare function name.
        """
        self.fail_next(
            n,
            status=ERROR_STATUS["TooManyRequestsException"],
            code="TooManyRequestsException",
            message="Rate Exceeded.",
            retry_after=retry_after,
            reason=ACCOUNT_THROTTLE_REASON,
            function=function,
        )

    def inject(
        self, kind: str, n: int = 1, *, seconds: float | None = None, function: str | None = None
    ) -> None:
        """Add a fault by the name of its kind (one of :data:`FAULT_KINDS`).

        Args:
            kind: ``throttle``, ``5xx``, ``delay`` or ``drop``.
            n: How many matching requests it affects.
            seconds: The wait of a ``delay`` (default 5 s); refused for other kinds.
            function: Only count requests for this bare function name.

        Raises:
            ValueError: An unknown kind, a count below 1, or seconds given to a kind that
                takes none.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
        if n < 1:
            raise ValueError(f"a fault's count must be at least 1, not {n}")
        if seconds is not None and kind != "delay":
            raise ValueError(f"a {kind} fault takes no seconds")
        if kind == "throttle":
            self.throttle_next(n, function=function)
        elif kind == "5xx":
            self.fail_next(n, function=function)
        elif kind == "delay":
            self.delay_next(n, DEFAULT_DELAY if seconds is None else seconds, function=function)
        else:
            self.drop_next(n, function=function)

    def clear(self) -> None:
        """Forget every pending fault."""
        self._fail.clear()
        self._delay.clear()
        self._drop.clear()

    def take_fail(self, function: str) -> FailFault | None:
        """Consume one ``fail_next`` rule matching ``function``, if any."""
        return _take(self._fail, function)

    def take_delay(self, function: str) -> DelayFault | None:
        """Consume one ``delay_next`` rule matching ``function``, if any."""
        return _take(self._delay, function)

    def take_drop(self, function: str) -> DropFault | None:
        """Consume one ``drop_next`` rule matching ``function``, if any."""
        return _take(self._drop, function)
