"""Keep credentials and signatures out of every message, detail and log line we emit.

Two leaks are closed here:

- A server (a 403 front door, a proxy's 502 page) may echo the request's headers in its
  body, and the body becomes the error's message. :func:`scrub` removes the secrets the
  call was signed with (secret access key, session token: verbatim, base64-encoded, or cut
  at the end of a text) and anything shaped like a SigV4 ``Authorization`` value,
  ``Signature=``, ``Credential=`` or ``X-Amz-Security-Token`` value. It runs first on the
  texts read from an error answer (:mod:`temporal_lambda._response`), before any of them
  is bounded, so no cut splits a secret and the bounds count the scrubbed text; then
  :func:`scrub_error` scrubs the error, its details and its cause chain where errors leave
  the attempt and the activity (scrubbing a scrubbed text changes nothing).
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

import base64
import contextvars
import dataclasses
import functools
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

_AWS4_VALUE = (
    r"Credential=[^\s,\"'<>]*(?:,\s*SignedHeaders=[^\s,\"'<>]*)?(?:,\s*Signature=[0-9a-fA-F]*)?"
)
"""The rest of a SigV4 ``Authorization`` value after its algorithm: credential scope, signed
headers and signature (commas and spaces included, nothing after the signature)."""
_TOKEN = r"[^\s\"'<>&,;]+"
"""One value: up to the next space, quote, angle bracket or separator."""

# Generic shapes of signing material, whatever the credentials were. Each stops at the end
# of the value it names, so the words after it (a function's own, a note of ours) are kept.
_PATTERNS = (
    # An Authorization header's value: ``Authorization: AWS4-HMAC-SHA256 Credential=...,
    # SignedHeaders=..., Signature=...``, ``"authorization": "Bearer ..."``,
    # ``HTTP_AUTHORIZATION=...``.
    re.compile(
        r"""(?i)((?:http_)?authorization["']?\s*[:=]\s*["']?)"""
        rf"(?:AWS4-HMAC-SHA256\s+{_AWS4_VALUE}|(?:Bearer|Basic|Digest|AWS)\s+{_TOKEN}|{_TOKEN})"
    ),
    re.compile(rf"(?i)(AWS4-HMAC-SHA256\s+)(?:{_AWS4_VALUE}|{_TOKEN})"),
    re.compile(rf"""(?i)((?:http_)?x[-_]amz[-_]security[-_]token["']?\s*[:=]\s*["']?){_TOKEN}"""),
    re.compile(rf"""(?i)(x[-_]amz[-_]signature["']?\s*[:=]\s*["']?){_TOKEN}"""),
    re.compile(r"""(?i)(signature["']?\s*[:=]\s*["']?)[0-9a-f]{16,}"""),
    re.compile(rf"""(?i)(credential["']?\s*[:=]\s*["']?){_TOKEN}"""),
)

_CUT_MARKER = re.compile(r"(?:…(?: \[truncated from \d+ characters\])?)?\Z")
"""A cut's trailing marker (``…``, or ours with the original size), looked past at the end."""
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_URL_SAFE = str.maketrans("+/", "-_")
_MIN_ENCODED = 16
"""Shorter base64 forms of a secret are not looked for (they would match ordinary text)."""

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

    Each secret is removed verbatim, base64-encoded (at each of the three byte alignments a
    secret can have inside encoded data, in the standard and URL-safe alphabets: a proxy's
    request dump, a log line), and as a fragment where the text was cut: a text ending with
    the head of a secret (before a trailing ``…`` marker) or starting with its tail, 8
    characters or more. Then the generic signing patterns (:data:`_PATTERNS`) are replaced.
    Scrubbing a scrubbed text changes nothing, so it may run at every layer.

    Args:
        text: A message, detail or log text.
        secrets: Exact strings to remove (secret keys, session tokens, signatures); those
            shorter than 8 characters are ignored.

    Returns:
        The text, each secret and each signing value replaced by ``[redacted]``.
    """
    known = [secret for secret in secrets if len(secret) >= _MIN_SECRET]
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for secret in known:
        for form in _encoded_forms(secret):
            if form in text:
                text = _replace_encoded(text, form)
        text = _replace_fragments(text, secret)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


@functools.lru_cache(maxsize=64)
def _encoded_forms(secret: str) -> tuple[str, ...]:
    """The base64 characters that encode ``secret`` alone, at byte offsets 0, 1 and 2.

    Inside encoded data the secret's first byte may start a 3-byte group or be its second or
    third byte; the characters that also encode a neighbouring byte are left out, so each
    form is what any encoding of any text holding the secret contains.
    """
    raw = secret.encode()
    forms: list[str] = []
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode()
        form = encoded[-(-4 * offset // 3) : 8 * (offset + len(raw)) // 6]
        if len(form) >= _MIN_ENCODED:
            forms.extend(dict.fromkeys((form, form.translate(_URL_SAFE))))
    return tuple(forms)


def _replace_encoded(text: str, form: str) -> str:
    """Replace each ``form`` in ``text``, widened to whole 4-character groups of its base64 run.

    Widening keeps what is left of the run decodable (a reader decoding the rest sees no
    error, and no partial character of the secret).
    """
    start = text.find(form)
    while start >= 0:
        run = start
        while run > 0 and text[run - 1] in _BASE64_CHARS:
            run -= 1
        end = start + len(form)
        run_end = end
        while run_end < len(text) and text[run_end] in _BASE64_CHARS:
            run_end += 1
        head = run + (start - run) // 4 * 4
        tail = min(run_end, run + -(-(end - run) // 4) * 4)
        text = text[:head] + REDACTED + text[tail:]
        start = text.find(form, head + len(REDACTED))
    return text


def _replace_fragments(text: str, secret: str) -> str:
    """Redact the head of ``secret`` ending ``text`` and the tail of it starting ``text``.

    What a cut leaves of a secret that straddled it (a body read up to a cap, a message
    bounded before it was scrubbed). The longest such fragment of 8 characters or more goes.
    """
    marker = _CUT_MARKER.search(text, max(0, len(text) - 64))
    stop = marker.start() if marker is not None else len(text)
    for size in range(min(len(secret) - 1, stop), _MIN_SECRET - 1, -1):
        if text.endswith(secret[:size], 0, stop):
            text = text[: stop - size] + REDACTED + text[stop:]
            break
    for size in range(min(len(secret) - 1, len(text)), _MIN_SECRET - 1, -1):
        if text.startswith(secret[-size:]):
            text = REDACTED + text[size:]
            break
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
