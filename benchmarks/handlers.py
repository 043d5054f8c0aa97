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


async def sleep(event: Any, context: Any) -> Any:
    """Sleep ``event["seconds"]`` seconds, then answer."""
    await asyncio.sleep(float(event.get("seconds", 60)))
    return {"slept": event.get("seconds", 60)}


HANDLERS = {"echo": echo, "noop": noop, "sleep": sleep}
