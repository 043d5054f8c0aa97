"""Per-invocation capture of a handler's prints and log records, safe under concurrency.

A context variable holds the current invocation's buffer. ``sys.stdout`` is wrapped by a proxy
that writes to that buffer when one is set (and to the real stream otherwise), and a handler on
the root logger copies records into it in the Lambda runtime's format. Context variables follow
``asyncio`` tasks and ``asyncio.to_thread``, so concurrent invocations never mix their logs.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any, TextIO

__all__ = ["LogBuffer", "capture", "install", "release", "uninstall"]


class LogBuffer:
    """The log lines of one invocation."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        """Append text."""
        self.parts.append(text)

    def text(self) -> str:
        """Everything written so far."""
        return "".join(self.parts)


_current: contextvars.ContextVar[LogBuffer | None] = contextvars.ContextVar(
    "temporal_lambda_testing_log", default=None
)


class _StdoutProxy:
    """Stands in for ``sys.stdout``: the current invocation's buffer, else the real stream."""

    def __init__(self, wrapped: TextIO) -> None:
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        buffer = _current.get()
        if buffer is None:
            return self.wrapped.write(text)
        buffer.write(text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self.wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class _LambdaLogHandler(logging.Handler):
    """Copies records emitted during an invocation into its buffer, as the runtime formats them."""

    def emit(self, record: logging.LogRecord) -> None:
        buffer = _current.get()
        if buffer is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        millis = int(record.msecs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the invocation
            message = str(record.msg)
        buffer.write(
            f"[{record.levelname}]\t{stamp}.{millis:03d}Z\t{buffer.request_id}\t{message}\n"
        )


_handler = _LambdaLogHandler()


def install() -> None:
    """Wrap ``sys.stdout`` (again, if something replaced it) and add the logging handler."""
    if not isinstance(sys.stdout, _StdoutProxy):
        sys.stdout = _StdoutProxy(sys.stdout)
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)


def uninstall() -> None:
    """Undo :func:`install`: restore ``sys.stdout`` and remove the logging handler."""
    if isinstance(sys.stdout, _StdoutProxy):
        sys.stdout = sys.stdout.wrapped
    logging.getLogger().removeHandler(_handler)


def capture(buffer: LogBuffer | None) -> contextvars.Token[LogBuffer | None]:
    """Send the current context's prints and log records to ``buffer`` (installing if needed)."""
    install()
    return _current.set(buffer)


def release(token: contextvars.Token[LogBuffer | None]) -> None:
    """Stop capturing in the current context."""
    _current.reset(token)
