"""Handlers the benchmark emulator serves (all ``async def``: no thread per invocation)."""

from __future__ import annotations

import asyncio
from typing import Any


async def echo(event: Any, context: Any) -> Any:
    """Return the event unchanged."""
    return event


async def noop(event: Any, context: Any) -> Any:
    """Return a constant small answer."""
    return {"ok": True}


_released = asyncio.Event()
_released.set()


async def sleep(event: Any, context: Any) -> Any:
    """Sleep ``event["seconds"]`` seconds, then, with ``"barrier": true``, until released."""
    await asyncio.sleep(float(event.get("seconds", 60)))
    if event.get("barrier"):
        await _released.wait()
    return {"slept": event.get("seconds", 60)}


async def arm(event: Any, context: Any) -> Any:
    """Hold every ``barrier`` call after its sleep until :func:`release` is invoked."""
    _released.clear()
    return {"armed": True}


async def release(event: Any, context: Any) -> Any:
    """Let the held ``barrier`` calls answer."""
    _released.set()
    return {"released": True}


_BLOCK = (b"0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ_\n" * 16_132)[
    :1_048_576
]


async def stream(event: Any, context: Any) -> Any:
    """Stream ``event["size"]`` bytes of text in 1 MiB chunks (InvokeWithResponseStream)."""
    size = int(event["size"])
    for start in range(0, size, len(_BLOCK)):
        yield _BLOCK[: min(len(_BLOCK), size - start)]


HANDLERS = {
    "echo": echo,
    "noop": noop,
    "sleep": sleep,
    "arm": arm,
    "release": release,
    "stream": stream,
}
