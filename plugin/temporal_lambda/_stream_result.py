"""How a spooled stream reaches the workflow: inline, or through the client's external storage.

A :class:`~temporal_lambda._types.LambdaStreamResult` carries the streamed bytes as text (or
base64). Which way it crosses Temporal depends on its size and the worker's client:

- **inline**, when it is under the external storage's ``payload_size_threshold`` (or there is
  no external storage and it fits Temporal's payload limit): the spool is read into memory
  and the result returned as any activity result;
- **streamed into the local driver** (``LocalStorageDriver`` as the client's only driver, no
  payload codec, a JSON payload converter): the result's ``Payload`` is written from the
  spool to a file under the driver's root, block by block, and the activity returns the
  storage reference itself (``RawValue``), so the worker never holds the stream in memory.
  The workflow's converter reads the reference as it reads any: the workflow gets the whole
  result, and the history holds a reference of a few hundred bytes;
- **through the SDK**, for any other external storage (S3, a codec, a driver selector): the
  result is built in memory and returned, and the SDK's external storage stores it (memory
  then grows with the stream);
- **refused**, over Temporal's payload limit with no external storage:
  ``Lambda.ResultTooLargeForTemporal``, before the spool is read.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import ExternalStorageReference
from temporalio.common import RawValue
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    JSONProtoPayloadConverter,
    PayloadConverter,
)

from temporal_lambda._errors import LambdaResultTooLargeError
from temporal_lambda._sizes import payload_size, payloads_size
from temporal_lambda._stream import Received
from temporal_lambda._types import LambdaStreamResult, PayloadEncoding
from temporal_lambda.storage import LocalStorageDriver

__all__ = ["BLOCK", "Delivery", "inline_result", "plan", "store_in_local_driver"]

BLOCK = 3 * 262_144
"""Bytes read from the spool at a time (a multiple of 3, so base64 blocks join cleanly)."""
_JSON = b"json/plain"
_REFERENCES = JSONProtoPayloadConverter()


class Delivery:
    """Where a stream of a given size goes (see the module docstring)."""

    INLINE = "inline"
    LOCAL_DRIVER = "local-driver"
    SDK_STORAGE = "sdk-storage"


def plan(
    size: int,
    function_name: str,
    request_id: str | None,
    *,
    data_converter: DataConverter | None,
    payload_converter: PayloadConverter,
    payload_limit: int,
) -> tuple[str, LocalStorageDriver | None, dict[str, bytes]]:
    """Decide how a stream of ``size`` bytes reaches the workflow.

    Returns:
        The :class:`Delivery`, the local driver to write to (for ``LOCAL_DRIVER``), and the
        ``Payload`` metadata of the payload converter's JSON (for ``LOCAL_DRIVER``).

    Raises:
        LambdaResultTooLargeError: no external storage, and ``size`` is over
            ``payload_limit``.
    """
    storage = data_converter.external_storage if data_converter is not None else None
    if storage is None:
        if size > payload_limit:
            raise _too_large(function_name, request_id, size, payload_limit)
        return Delivery.INLINE, None, {}
    if size < storage.payload_size_threshold:
        return Delivery.INLINE, None, {}
    assert data_converter is not None
    driver = _only_local_driver(storage)
    metadata = _json_metadata(payload_converter)
    if driver is None or data_converter.payload_codec is not None or metadata is None:
        return Delivery.SDK_STORAGE, None, {}
    return Delivery.LOCAL_DRIVER, driver, metadata


def inline_result(received: Received, key: str) -> LambdaStreamResult:
    """Read the spool into a result (text if the bytes are UTF-8, else base64)."""
    received.spool.seek(0)
    data = received.spool.read()
    result = _result(received, key, hashlib.sha256(data).hexdigest() if data else None)
    if data:
        try:
            result.payload = data.decode("utf-8")
            result.payload_encoding = PayloadEncoding.TEXT.value
        except UnicodeDecodeError:
            result.payload = base64.b64encode(data).decode("ascii")
            result.payload_encoding = PayloadEncoding.BASE64.value
    return result


def check_inline(
    result: LambdaStreamResult,
    payload_converter: PayloadConverter,
    function_name: str,
    payload_limit: int,
    storage: ExternalStorage | None,
) -> None:
    """Refuse an inline result Temporal would refuse (no external storage, over the limit).

    Text escaped by JSON can grow past the limit though the bytes were under it.
    """
    if storage is not None:
        return
    size = payloads_size(map(payload_size, payload_converter.to_payloads([result])))
    if size > payload_limit:
        raise _too_large(function_name, result.request_id, size, payload_limit)


def store_in_local_driver(
    received: Received,
    key: str,
    driver: LocalStorageDriver,
    namespace: str,
    metadata: dict[str, bytes],
) -> RawValue:
    """Write the result's ``Payload`` from the spool into ``driver``; return its reference.

    Blocking (run it in a thread). Three passes over files, never the stream in memory:
    the spool to the JSON-escaped text (or base64) in a scratch file, computing the
    stream's sha256; then the serialised ``Payload`` (its metadata, the ``data`` field's
    tag and length, the result's JSON around the text) to a ``0600`` file in the driver's
    root, computing its sha256; then a rename to its content-addressed key.
    """
    with tempfile.TemporaryFile(dir=driver.root) as text:
        encoding, digest = _escaped(received.spool, text)
        result = _result(received, key, digest)
        result.payload_encoding = encoding
        fields = {name: value for name, value in vars(result).items() if name != "payload"}
        head = json.dumps(fields, separators=(",", ":"))[:-1].encode() + b',"payload":"'
        tail = b'"}'
        length = len(head) + text.tell() + len(tail)
        prefix = Payload(metadata=metadata).SerializeToString() + b"\x12" + _varint(length)
        fd, temp = tempfile.mkstemp(dir=driver.root, prefix=".tmp-")
        try:
            blob = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for piece in (prefix, head):
                    blob.update(piece)
                    out.write(piece)
                text.seek(0)
                while block := text.read(BLOCK):
                    blob.update(block)
                    out.write(block)
                blob.update(tail)
                out.write(tail)
                out.flush()
                os.fsync(out.fileno())
            claim = driver.adopt(namespace, Path(temp), blob.hexdigest())
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    reference = _REFERENCES.to_payload(
        ExternalStorageReference(driver_name=driver.name(), claim_data=claim.claim_data)
    )
    assert reference is not None
    reference.external_payloads.add().size_bytes = len(prefix) + length
    return RawValue(reference)


def _escaped(spool: IO[bytes], out: IO[bytes]) -> tuple[str, str]:
    """Write the spool as the inside of a JSON string to ``out``; return encoding and sha256.

    UTF-8 text is written as its JSON escape; bytes that are not UTF-8 make it start over
    as base64 (which needs no escape).
    """
    spool.seek(0)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := spool.read(BLOCK):
            digest.update(block)
            text = decoder.decode(block)
            if text:
                out.write(json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8"))
        decoder.decode(b"", final=True)
        return PayloadEncoding.TEXT.value, digest.hexdigest()
    except UnicodeDecodeError:
        pass
    spool.seek(0)
    out.seek(0)
    out.truncate()
    digest = hashlib.sha256()
    while block := spool.read(BLOCK):
        digest.update(block)
        out.write(base64.b64encode(block))
    return PayloadEncoding.BASE64.value, digest.hexdigest()


def _result(received: Received, key: str, digest: str | None) -> LambdaStreamResult:
    return LambdaStreamResult(
        status_code=received.status_code,
        idempotency_key=key,
        size=received.size,
        chunks=received.chunks,
        sha256=digest,
        executed_version=received.executed_version,
        request_id=received.request_id,
        log_tail=received.log_tail,
    )


def _only_local_driver(storage: ExternalStorage) -> LocalStorageDriver | None:
    """The storage's driver, if it always stores with one ``LocalStorageDriver``."""
    if storage.driver_selector is not None or len(storage.drivers) != 1:
        return None
    driver = storage.drivers[0]
    return driver if isinstance(driver, LocalStorageDriver) else None


def _json_metadata(converter: PayloadConverter) -> dict[str, bytes] | None:
    """The metadata the converter gives a result, if it writes the fields' JSON object."""
    (probe,) = converter.to_payloads([LambdaStreamResult(status_code=200, idempotency_key="k")])
    if probe.metadata.get("encoding") != _JSON:
        return None
    try:
        decoded: Any = json.loads(probe.data)
    except ValueError:
        return None
    if not isinstance(decoded, dict) or decoded.get("idempotency_key") != "k":
        return None
    return dict(probe.metadata)


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint of ``value``."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _too_large(
    function_name: str, request_id: str | None, size: int, limit: int
) -> LambdaResultTooLargeError:
    return LambdaResultTooLargeError(
        f"Lambda function {function_name} streamed a response (request id {request_id}) of "
        f"{size} bytes, over Temporal's payload limit of {limit} bytes, and the worker's "
        "client has no external storage. Not retried, since a retry would run the function "
        "again: pass LambdaPlugin(external_storage=...) to Client.connect (e.g. "
        "temporal_lambda.storage.s3_storage or local_storage) to receive large streams",
        size=size,
        limit=limit,
        request_id=request_id,
    )
