"""What may cross Temporal: JSON values only, nested at most 256 deep, within the payload limit.

Sandbox-safe (the workflow helper imports it): pure Python, no I/O.

Temporal's JSON converter turns ``bytes`` into a list of numbers, a ``set`` into a list and a
``datetime`` into an ISO string; a request over the server's payload limit fails the workflow
task again and again, and one nested thousands deep raises ``RecursionError`` in the converter,
so the workflow hangs until it times out. :func:`check_json_value` refuses all of these inside
the workflow, before anything is scheduled, in one iterative walk that also returns an upper
bound of the value's encoded size.

Accepted, exactly: ``dict`` with ``str`` keys, ``list`` and ``tuple`` (sent as a JSON array),
``str``, ``int``, finite ``float``, ``bool`` and ``None``, and subclasses of these (a ``StrEnum``
member is sent as its string). Everything else is refused, naming where it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

DEFAULT_PAYLOAD_LIMIT = 2 * 1024 * 1024
"""Temporal's default blob size error limit (the server's ``limit.blobSize.error``), 2 MiB.

Temporal refuses a larger payload (an activity's input or result) with ``PayloadsTooLarge``.
The SDK core reads the namespace's own limit when a worker starts but the Python SDK does not
pass it on, so the plugin takes it as an option (``LambdaPlugin(payload_limit=...)``)."""

UNLIMITED_PAYLOAD = 2**62
"""The limit workflows check requests against when the client has external storage: Temporal
then keeps only references to large payloads, so no size is refused in the workflow (the
activity still refuses a body over Lambda's own limits before sending)."""

MAX_PAYLOAD_DEPTH = 256
"""Containers (objects and arrays) may be nested at most this deep.

Far beyond what real events use, and well inside what JSON parsers accept (Python's
recursion limit of 1,000, Jackson's default of 1,000 levels, the Lambda runtimes'); deeper
values raise ``RecursionError`` in Temporal's converter."""

ENCODING_OVERHEAD = 2048
"""Bytes added to the walk's bound for the request's other fields' names and punctuation and
the payload's metadata (``encoding: json/plain``) and framing; they take under 700."""

_ACCEPTED = "only JSON values (dict with str keys, list, str, int, float, bool, None) can be sent"
_INT_BOUND = 10**18
"""Integers strictly inside ±10**18 are at most 19 digits and a sign."""
_FLOAT_CHARS = 24
"""The longest ``repr`` of a finite float (``-2.2250738585072014e-308``)."""


MAX_TASK_REQUESTS = 4 * 1024 * 1024 - 256 * 1024
"""Most encoded request bytes :func:`~temporal_lambda.workflow.invoke_lambda` schedules in one
workflow task: 3.75 MiB.

A workflow task's completion carries every activity it schedules in one gRPC message, and
gRPC refuses a message over 4 MiB (its default, which Temporal's server keeps): the workflow
is then terminated (``GrpcMessageTooLarge``), with nothing it can catch. The 256 KiB left
over is for the workflow's other commands (timers, child workflows, its own result)."""

CODEC_MARGIN = 0.01
"""The share of a limit kept free when it is estimated through a payload codec."""


@dataclass(frozen=True)
class PayloadLimits:
    """What the workflow checks requests against, in bytes before the payload codec.

    Attributes:
        request: The largest request (its ``Payloads``, encoded by the payload converter).
        task: The most request bytes scheduled by one workflow task.
    """

    request: int
    task: int


DEFAULT_LIMITS = PayloadLimits(DEFAULT_PAYLOAD_LIMIT, MAX_TASK_REQUESTS)
"""A worker without the plugin, or without a codec: Temporal's defaults."""
UNLIMITED = PayloadLimits(UNLIMITED_PAYLOAD, UNLIMITED_PAYLOAD)
"""A client with external storage: Temporal keeps small references to large payloads."""

_active: dict[tuple[str, str | None], tuple[PayloadLimits, ...]] = {}
"""The limits of each running worker (``(namespace, task_queue)``) and replayer
(``(namespace, None)``). Replaced, never changed in place: workflow threads read it."""


def limits_through_codec(
    limit: int, samples: tuple[tuple[int, int], tuple[int, int]]
) -> PayloadLimits:
    """Estimate the limits before a payload codec from two measured encodings through it.

    The codec's growth is taken as linear (``encoded = slope * size + intercept``), which
    holds for base64 wrapping, encryption (a fixed header and tag) and compression (random
    bytes do not compress, so they measure its worst case). A request is allowed when its
    estimated encoded size fits the limit less :data:`CODEC_MARGIN`; a codec whose growth is
    not roughly linear makes this an estimate only.

    Args:
        limit: The namespace's payload limit, after the codec.
        samples: Two ``(size before, size after)`` pairs, of different sizes.

    Returns:
        The request and per-task limits before the codec (never above the ones without it).
    """
    (small, small_encoded), (large, large_encoded) = samples
    slope = (large_encoded - small_encoded) / (large - small)
    if slope <= 0:
        return PayloadLimits(limit, MAX_TASK_REQUESTS)
    intercept = max(0.0, small_encoded - slope * small)

    def before(after: int) -> int:
        return max(1, min(after, int((after * (1 - CODEC_MARGIN) - intercept) / slope)))

    return PayloadLimits(before(limit), before(MAX_TASK_REQUESTS))


@contextmanager
def registered_limits(
    namespace: str, task_queue: str | None, limits: PayloadLimits
) -> Iterator[None]:
    """Make ``limits`` the ones workflows of this queue check, while the block runs.

    The plugin registers a worker's limits for its lifetime (``task_queue`` its queue), and
    a replayer's (``None``: any queue of the namespace) for the replay: a worker or replayer
    that stopped leaves nothing behind, so a later one in the process checks its own. When
    several running on one queue differ (one client with external storage, one without),
    the smallest applies, so none lets through what another's server would refuse.

    Args:
        namespace: The worker's namespace.
        task_queue: The worker's task queue; ``None`` for a replayer.
        limits: The limits, in bytes before the codec.
    """
    key = (namespace, task_queue)
    _active[key] = (*_active.get(key, ()), limits)
    try:
        yield
    finally:
        remaining = list(_active.get(key, ()))
        remaining.remove(limits)
        if remaining:
            _active[key] = tuple(remaining)
        else:
            _active.pop(key, None)


def payload_limits(namespace: str, task_queue: str) -> PayloadLimits:
    """Return the limits of a workflow's namespace and task queue.

    Those of the running workers of its queue, else of the running replayers of its
    namespace, else :data:`DEFAULT_LIMITS`; the smallest of each when several run.
    """
    active = _active.get((namespace, task_queue)) or _active.get((namespace, None))
    if not active:
        return DEFAULT_LIMITS
    return PayloadLimits(min(x.request for x in active), min(x.task for x in active))


def payloads_size(sizes: Iterable[int]) -> int:
    """Return the size of a ``Payloads`` message holding payloads of the given encoded sizes.

    What Temporal compares with its limit, computed without building the message (which
    would copy every payload): each one is a field tag, a varint length and its bytes.

    Args:
        sizes: Each payload's size (:func:`payload_size`).
    """
    return sum(_field(size) for size in sizes)


def _field(length: int) -> int:
    """Bytes of a length-delimited protobuf field (numbers below 16): tag, varint, content."""
    return 2 + length + (length.bit_length() - 1) // 7 if length else 2


def payload_size(payload: Any) -> int:
    """Return ``payload.ByteSize()`` of a ``temporalio.api.common.v1.Payload``, without its cost.

    protobuf's ``ByteSize()`` walks the data, so its cost grows with the payload; the size of
    a payload of metadata and data is a sum of field lengths. A payload with external
    references (not made by this package) is measured by ``ByteSize()``.
    """
    if len(payload.external_payloads):
        return int(payload.ByteSize())
    total = _field(len(payload.data)) if payload.data else 0
    for key, value in payload.metadata.items():
        total += _field(_field(len(key.encode())) + _field(len(value)))
    return total


def _str_bound(text: str) -> int:
    """Upper bound of ``json.dumps(text)`` (``ensure_ascii``): 6 bytes an ASCII char, 12 otherwise.

    An ASCII character is written as itself, as a two-character escape or as a six-character
    ``u00XX`` escape; any other code point as one ``uXXXX`` escape or a surrogate pair of
    them. Without ``ensure_ascii`` a code point takes at most 4 bytes of UTF-8, under either
    bound.
    """
    return 2 + (6 if text.isascii() else 12) * len(text)


def json_bound(value: Any, max_depth: int = MAX_PAYLOAD_DEPTH) -> int | None:
    """Return an upper bound of the compact JSON encoding of ``value``, or ``None`` if refused.

    The walk is iterative (an explicit stack), so no depth makes it recurse. The bound holds for
    Temporal's default JSON converter (compact separators, ``ensure_ascii``); an integer of 19
    digits or more makes it ``2**62`` so that the caller encodes to find the exact size.

    Args:
        value: The value to check.
        max_depth: How deep containers may be nested.

    Returns:
        The bound in bytes, or ``None`` when ``value`` holds something not accepted (see the
        module docstring); :func:`describe_refusal` then says what and where.
    """
    total = 0
    stack: list[tuple[Any, int]] = [([value], 0)]
    while stack:
        container, depth = stack.pop()
        if type(container) is dict or isinstance(container, dict):
            items: Any = container.values()
            for key in container:
                if type(key) is not str and not isinstance(key, str):
                    return None
                total += 2 + _str_bound(key)
        else:
            items = container
        total += 2 + len(container)
        for item in items:
            kind = type(item)
            if kind is str:
                total += 2 + (6 if item.isascii() else 12) * len(item)
            elif kind is int:
                total += 20 if -_INT_BOUND < item < _INT_BOUND else 2**62
            elif kind is dict or kind is list or kind is tuple:
                if depth >= max_depth:
                    return None
                stack.append((item, depth + 1))
            elif item is None or kind is bool:
                total += 5
            elif kind is float:
                if item - item != 0.0:  # NaN or infinity
                    return None
                total += _FLOAT_CHARS
            elif isinstance(item, str):
                total += _str_bound(item)
            elif isinstance(item, int):
                total += 20 if -_INT_BOUND < item < _INT_BOUND else 2**62
            elif isinstance(item, float):
                if item - item != 0.0:
                    return None
                total += _FLOAT_CHARS
            elif isinstance(item, (dict, list, tuple)):
                if depth >= max_depth:
                    return None
                stack.append((item, depth + 1))
            else:
                return None
    return total - 3  # the wrapping list's brackets and slot


def describe_refusal(value: Any, name: str, max_depth: int = MAX_PAYLOAD_DEPTH) -> str:
    """Say what in ``value`` :func:`json_bound` refused, and where, e.g. ``payload['items'][2]``.

    Makes the same checks as :func:`json_bound`, as iteratively, in document order and keeping
    paths (slower, so it runs only after a refusal).

    Args:
        value: The value :func:`json_bound` returned ``None`` for.
        name: What the value is called in the message (``payload``, ``client_context``).
        max_depth: The depth :func:`json_bound` was given.

    Returns:
        The message.
    """
    stack: list[tuple[Any, str, int]] = [(value, name, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, str):
            continue
        if isinstance(item, int):
            continue
        if isinstance(item, float):
            if item - item != 0.0:
                return f"{path} is {item!r}; JSON has no NaN or infinity, so {_ACCEPTED}"
            continue
        if isinstance(item, (dict, list, tuple)):
            if depth >= max_depth:
                return (
                    f"{name} nests containers more than {max_depth} deep; "
                    f"at most {max_depth} levels can be sent"
                )
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        return (
                            f"{path} has a key of type {key.__class__.__name__}; "
                            f"JSON object keys must be str, and {_ACCEPTED}"
                        )
                children = [(child, f"{path}[{key!r}]") for key, child in item.items()]
            else:
                children = [(child, f"{path}[{index}]") for index, child in enumerate(item)]
            stack.extend((child, where, depth + 1) for child, where in reversed(children))
            continue
        # __class__, not type(): the workflow sandbox wraps some values (datetime) in proxies
        return f"{path} is {item.__class__.__name__}; {_ACCEPTED}"
    return f"{name} cannot be sent"  # pragma: no cover (only called after a refusal)
