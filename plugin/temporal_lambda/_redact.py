"""Keep credentials and signatures out of every message, detail and log line we emit.

Two leaks are closed here:

- A server (a 403 front door, a proxy's 502 page) may echo the request's headers in its
  body, and the body becomes the error's message. :func:`scrub_error` removes, in place,
  the secrets the call was signed with (secret access key, session token) and anything
  shaped like a SigV4 ``Authorization`` value, ``Signature=``, ``Credential=`` or
  ``X-Amz-Security-Token`` value, from the error, its details and its cause chain. It runs
  at the one place errors leave the client (transport errors) and the activity (just
  before ``to_application_error``).
- botocore's ``SigV4Auth.add_auth`` logs the canonical request (with the session token),
  the string to sign and the signature at DEBUG on the ``botocore.auth`` logger; a
  credential refresh (STS, SSO) logs its signed request and the response carrying the new
  secrets at DEBUG on ``botocore.endpoint``/``botocore.parsers``. :func:`quiet_signing`
  (and :func:`call_quietly`, for a refresh run in a thread) marks the span of our own
  signing and credential resolution in a context variable, and a filter on each of
  :data:`QUIET_LOGGERS` drops their records below WARNING inside the span: other botocore
  users in the process keep their debug output. The check is one context-variable read per
  record, and only when such a logger is enabled for the record's level.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["QUIET_LOGGERS", "REDACTED", "call_quietly", "quiet_signing", "scrub", "scrub_error"]

REDACTED = "[redacted]"
"""What stands in place of a removed secret."""

_MIN_SECRET = 8
"""Shorter strings are not treated as secrets (they would redact ordinary words)."""

# Generic shapes of signing material, whatever the credentials were.
_PATTERNS = (
    # The whole value of an Authorization header: ``Authorization: AWS4-HMAC-SHA256 ...``,
    # ``"authorization": "..."``, up to the end of the line or the quote.
    re.compile(r"""(?i)(authorization["']?\s*[:=]\s*["']?)[^\r\n"'<>]+"""),
    re.compile(r"(?i)(AWS4-HMAC-SHA256\s+)[^\r\n\"'<>]+"),
    re.compile(r"(?i)(x-amz-security-token[\"']?\s*[:=]\s*[\"']?)[^\s\"'<>&,;]+"),
    re.compile(r"(?i)(x-amz-signature[\"']?\s*[:=]\s*[\"']?)[^\s\"'<>&,;]+"),
    re.compile(r"(?i)(signature[\"']?\s*[:=]\s*[\"']?)[0-9a-f]{16,}"),
    re.compile(r"(?i)(credential[\"']?\s*[:=]\s*[\"']?)[^\s\"'<>&,;]+"),
)

_T = TypeVar("_T")

_signing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "temporal_lambda_signing", default=False
)


QUIET_LOGGERS = (
    "botocore.auth",
    "botocore.credentials",
    "botocore.endpoint",
    "botocore.hooks",
    "botocore.httpsession",
    "botocore.parsers",
    "botocore.retryhandler",
    "botocore.utils",
    "urllib3.connectionpool",
)
"""Loggers whose records below WARNING are dropped while we sign or resolve credentials."""


class _DuringOurSigning(logging.Filter):
    """Drop debug and info records emitted while we sign (see :func:`quiet_signing`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not _signing.get()


_FILTER = _DuringOurSigning()
for _name in QUIET_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


@contextmanager
def quiet_signing() -> Iterator[None]:
    """Silence botocore's signing debug output for the code run inside this block.

    Only this thread's (or task's) records are dropped: a context variable marks the span.
    """
    token = _signing.set(True)
    try:
        yield
    finally:
        _signing.reset(token)


def call_quietly(function: Callable[[], _T]) -> _T:
    """Call ``function`` inside :func:`quiet_signing` (for ``asyncio.to_thread``)."""
    with quiet_signing():
        return function()


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` without the given secrets and without any signing material.

    Args:
        text: A message, detail or log text.
        secrets: Exact strings to remove (secret keys, session tokens, signatures); those
            shorter than 8 characters are ignored.

    Returns:
        The text, each secret and each signing value replaced by ``[redacted]``.
    """
    for secret in secrets:
        if len(secret) >= _MIN_SECRET and secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def _scrub_value(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, list):
        return [_scrub_value(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(_scrub_value(item, secrets) for item in value)
    if isinstance(value, dict):
        return {key: _scrub_value(item, secrets) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _scrub_value(getattr(value, f.name), secrets) for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    return value


def scrub_error(error: BaseException, secrets: Iterable[str] = ()) -> BaseException:
    """Scrub ``error`` in place: its message, its attributes (the details) and its causes.

    Every string in the exception's ``args`` and attributes (including dataclasses, lists
    and dicts of them) goes through :func:`scrub`; so do the ``args`` of each exception in
    the ``__cause__``/``__context__`` chain. A chained exception whose text still shows a
    secret (its ``__str__`` is built from other state) is cut from the chain.

    Args:
        error: The exception about to leave the package.
        secrets: The exact secrets the call used (see :func:`scrub`).

    Returns:
        ``error`` itself, for convenience.
    """
    known = tuple(secrets)
    error.args = tuple(_scrub_value(arg, known) for arg in error.args)
    for name, value in list(vars(error).items()):
        if not name.startswith("__"):
            setattr(error, name, _scrub_value(value, known))
    current: BaseException = error
    seen = {id(error)}
    while True:
        nxt = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        if nxt is None or id(nxt) in seen:
            return error
        seen.add(id(nxt))
        nxt.args = tuple(_scrub_value(arg, known) for arg in nxt.args)
        if scrub(str(nxt), known) != str(nxt):
            current.__cause__ = None
            current.__suppress_context__ = True
            return error
        current = nxt
