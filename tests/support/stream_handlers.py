"""Streaming handlers shared by the stream tests, the memory test's emulator process and the
benchmark: text of a known size, in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MB = 1024 * 1024
UNIT = b"0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQRSTUVWXYZ_\n"


def text_bytes(size: int) -> bytes:
    """Deterministic ASCII text of exactly ``size`` bytes."""
    return (UNIT * (size // len(UNIT) + 1))[:size]


def streamed(size: int, chunk: int = MB) -> bytes:
    """What :func:`chunks` streams for ``size`` and ``chunk``."""
    block = text_bytes(chunk)
    return b"".join(block[: min(chunk, size - start)] for start in range(0, size, chunk))


def chunks(event: Any, context: Any) -> Iterator[bytes]:
    """Stream ``size`` bytes of text in chunks of ``chunk`` bytes (made one at a time)."""
    size, chunk = int(event["size"]), int(event.get("chunk", MB))
    block = text_bytes(chunk)
    for start in range(0, size, chunk):
        yield block[: min(chunk, size - start)]
    print("streamed", size)


HANDLERS = {"chunks": chunks}
