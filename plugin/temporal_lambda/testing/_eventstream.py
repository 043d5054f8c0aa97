"""Encoding ``application/vnd.amazon.eventstream`` messages, as InvokeWithResponseStream sends them.

A message is a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes), the
headers, the payload, and a CRC32 of everything before it. Every header here is a string
(type 7: a 1-byte name length, the name, the type, a 2-byte value length, the value). The
emulator writes its own frames (it shares no code with the client, which reads them with
its own decoder); tests read them with botocore's parser.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32

from ._spec import INVOKE_COMPLETE, PAYLOAD_CHUNK

__all__ = ["MAX_FRAME_PAYLOAD", "encode", "invoke_complete", "payload_chunks"]

MAX_FRAME_PAYLOAD = 1_048_576
"""Largest payload the emulator puts in one ``PayloadChunk``; a bigger chunk is split (the
format allows 16 MB, botocore's reader 24 MB; smaller frames pace the throttle evenly)."""
_STRING = 7


def encode(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message."""
    encoded = bytearray()
    for name, value in headers:
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        encoded += struct.pack(">B", len(raw_name)) + raw_name
        encoded += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + bytes(encoded) + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def _event(event_type: str, content_type: str, payload: bytes) -> bytes:
    headers = [
        (":event-type", event_type),
        (":content-type", content_type),
        (":message-type", "event"),
    ]
    return encode(headers, payload)


def payload_chunks(data: bytes) -> list[bytes]:
    """``PayloadChunk`` messages carrying ``data`` (one, unless it is over the frame size)."""
    pieces = [data[i : i + MAX_FRAME_PAYLOAD] for i in range(0, len(data), MAX_FRAME_PAYLOAD)]
    return [_event(PAYLOAD_CHUNK, "application/octet-stream", piece) for piece in pieces]


def invoke_complete(
    error_code: str | None = None, error_details: str | None = None, log_result: str | None = None
) -> bytes:
    """The ``InvokeComplete`` message that ends a stream (fields left out when ``None``)."""
    fields = {"ErrorCode": error_code, "ErrorDetails": error_details, "LogResult": log_result}
    document = {k: v for k, v in fields.items() if v is not None}
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return _event(INVOKE_COMPLETE, "application/json", body)
