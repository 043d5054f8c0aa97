"""A storage driver that keeps payloads as files in one directory (one host).

Layout, content-addressed like the S3 driver's keys (and namespace-scoped the same way)::

    <root>/                          0700, refused if group or others may enter it,
                                     or if another user owns it
      v0/ns/<namespace>/d/sha256/<sha256 of the serialised payload>     files 0600

Identical payloads share one file. Writes are atomic (a ``0600`` temporary file in the same
directory, flushed, then renamed over the name), so a reader never sees half a payload and a
crash leaves at most a ``.tmp-*`` file behind. Storing a payload that is already there checks
the file (size and sha256; a damaged one is rewritten) and refreshes its modification time:
clean-up by age (:meth:`LocalStorageDriver.expire`, or the equivalent
``find <root> -type f -mmin +<minutes> -delete``) only removes what no recent store wrote or
re-wrote.

A file may be removed only once no workflow needs it: after the namespace's retention period
plus the longest time a workflow runs. Until then its history holds the reference, and a
worker that replays the workflow (after a restart or a cache eviction) reads it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import stat
import string
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from temporal_lambda.storage._errors import STORAGE_ERROR, STORAGE_NOT_FOUND, StorageError

__all__ = ["LOCAL_DRIVER_NAME", "LocalStorageDriver"]

LOCAL_DRIVER_NAME = "temporal_lambda.local"
"""Default name (and the type) of :class:`LocalStorageDriver`, recorded in each reference."""
_SAFE = frozenset(string.ascii_letters + string.digits + "-_")
_KEY = re.compile(r"v0/ns/[A-Za-z0-9_%-]{1,200}/d/sha256/[0-9a-f]{64}")
"""What a key this driver wrote looks like; anything else in a claim is refused unread."""
_TEMP_PREFIX = ".tmp-"


def _segment(value: str | None) -> str:
    """Percent-encode ``value`` into a file-name segment (never ``.``/``..``), ``null`` if empty.

    Over 200 characters once encoded (Linux allows 255 bytes per name), the segment is the
    value's sha256 instead, so every namespace still gets its own directory.
    """
    if not value:
        return "null"
    encoded = "".join(
        chr(byte) if chr(byte) in _SAFE else f"%{byte:02X}" for byte in value.encode("utf-8")
    )
    return encoded if len(encoded) <= 200 else hashlib.sha256(value.encode()).hexdigest()


def _holds(path: Path, size: int, digest: str) -> bool:
    """Tell whether the file at ``path`` exists with ``size`` bytes whose sha256 is ``digest``."""
    try:
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size != size:
                return False
            hashed = hashlib.file_digest(file, "sha256")
    except FileNotFoundError:
        return False
    return hashed.hexdigest() == digest


def _claim(namespace: str, digest: str) -> tuple[str, StorageDriverClaim]:
    """The key of a payload of sha256 ``digest`` in ``namespace``'s segment, and its claim."""
    key = f"v0/ns/{namespace}/d/sha256/{digest}"
    return key, StorageDriverClaim(
        claim_data={"key": key, "hash_algorithm": "sha256", "hash_value": digest}
    )


class LocalStorageDriver(StorageDriver):
    """Keep externally stored payloads as files under one directory.

    For one host (the demo, tests, a single worker machine): every worker and client that
    reads a reference must see the same directory. For a fleet, use S3
    (:func:`temporal_lambda.storage.s3_storage`).

    Args:
        root: The directory; created ``0700`` if missing. An existing one must be this
            user's and not open to group or others (payloads are the workflow's data).
        driver_name: The name recorded in each reference; every process that reads the
            references must register a driver under the same name.

    Raises:
        ValueError: ``root`` exists and is not a directory, group or others may use it, or
            another user owns it.
    """

    def __init__(self, root: str | os.PathLike[str], *, driver_name: str = LOCAL_DRIVER_NAME):
        self._root = Path(root)
        self._name = driver_name
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = self._root.stat()
        mode = status.st_mode
        if not stat.S_ISDIR(mode):
            raise ValueError(f"external storage root {self._root} is not a directory")
        if mode & 0o077:
            raise ValueError(
                f"external storage root {self._root} is open to group or others "
                f"(mode {stat.S_IMODE(mode):04o}); payloads are private: chmod 700 it"
            )
        owner = status.st_uid
        if owner != os.getuid():
            raise ValueError(
                f"external storage root {self._root} is owned by uid {owner}, not by this "
                f"process's user (uid {os.getuid()}): its owner could read and replace "
                "payloads; use a directory of your own"
            )

    @property
    def root(self) -> Path:
        """The directory payloads are kept in."""
        return self._root

    def name(self) -> str:
        """Return the name recorded in each reference."""
        return self._name

    def type(self) -> str:
        """Return the driver type, the same for every instance."""
        return LOCAL_DRIVER_NAME

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        """Write each payload to its content-addressed file and return its claim.

        The writes run in a thread: a 6 MB payload written and flushed would stall the
        event loop, and with it every other activity and workflow task of the worker.
        """
        target = context.target
        namespace = _segment(target.namespace if target is not None else None)
        blobs = [payload.SerializeToString() for payload in payloads]
        return await asyncio.to_thread(self._store_all, namespace, blobs)

    def _store_all(self, namespace: str, blobs: list[bytes]) -> list[StorageDriverClaim]:
        claims = []
        for blob in blobs:
            digest = hashlib.sha256(blob).hexdigest()
            key, claim = _claim(namespace, digest)
            self._write(self._root / key, blob, digest)
            claims.append(claim)
        return claims

    def adopt(self, namespace: str | None, temp: Path, digest: str) -> StorageDriverClaim:
        """Move a serialised payload already written under :attr:`root` to its key.

        For a payload too large to hold in memory (a streamed Lambda response): the caller
        writes the serialised ``Payload`` to a ``0600`` temporary file in :attr:`root`
        (same file system, so this is a rename), flushed, with its sha256. A payload already
        stored (checked as :meth:`_write` checks it) keeps its file, its time refreshed, and
        ``temp`` is removed; a damaged copy is replaced by ``temp``.

        Args:
            namespace: The namespace it is stored for.
            temp: The temporary file, in :attr:`root`.
            digest: Hex sha256 of its content.

        Returns:
            The claim, as :meth:`store` returns it.
        """
        key, claim = _claim(_segment(namespace), digest)
        path = self._root / key
        if _holds(path, temp.stat().st_size, digest):
            os.utime(path)
            temp.unlink()
            return claim
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(temp, path)
        return claim

    def _write(self, path: Path, blob: bytes, digest: str) -> None:
        """Write ``blob`` at ``path`` atomically, unless the file there already holds it.

        A file already at the content key is checked (size, then sha256) before it is
        trusted: one damaged copy (a disk fault, a half restore, an operator's copy) would
        otherwise be the reference of every later store of the same bytes, each failing
        when read. The right file has its time refreshed; a wrong one is replaced, as
        atomically as a new one is written.
        """
        if _holds(path, len(blob), digest):
            os.utime(path)
            return
        directory = path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=_TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(blob)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """Read each claimed payload back, checking its sha256.

        Raises:
            StorageError: ``Lambda.ExternalStorage.NotFound`` when the file is gone
                (expired, deleted, or another directory); ``Lambda.ExternalStorage.Error``
                for a claim this driver did not write or a file whose content changed.
        """
        return await asyncio.to_thread(self._retrieve_all, list(claims))

    def _retrieve_all(self, claims: list[StorageDriverClaim]) -> list[Payload]:
        payloads = []
        for claim in claims:
            key = claim.claim_data.get("key", "")
            expected = claim.claim_data.get("hash_value", "")
            if not _KEY.fullmatch(key) or claim.claim_data.get("hash_algorithm") != "sha256":
                raise StorageError(
                    f"not a reference of the local storage driver: {dict(claim.claim_data)!r}",
                    error_type=STORAGE_ERROR,
                    retryable=False,
                )
            path = self._root / key
            try:
                blob = path.read_bytes()
            except FileNotFoundError:
                raise StorageError(
                    f"stored payload {key} is not in {self._root} (removed by clean-up, "
                    "or this worker uses another directory)",
                    error_type=STORAGE_NOT_FOUND,
                    retryable=False,
                ) from None
            if hashlib.sha256(blob).hexdigest() != expected:
                raise StorageError(
                    f"stored payload {key} in {self._root} does not match its sha256",
                    error_type=STORAGE_ERROR,
                    retryable=False,
                )
            payload = Payload()
            payload.ParseFromString(blob)
            payloads.append(payload)
        return payloads

    def expire(self, older_than: timedelta) -> int:
        """Remove the payloads (and stale temporary files) not written for ``older_than``.

        Run it from a scheduled job (it is synchronous: it walks the directory); choose
        ``older_than`` longer than the namespace's retention plus the longest workflow run,
        since a removed payload can no longer be read by a replay.

        Args:
            older_than: How long since a payload was last stored.

        Returns:
            How many files were removed.
        """
        if older_than <= timedelta(0):
            raise ValueError(f"older_than must be positive, got {older_than}")
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for directory, _dirs, files in os.walk(self._root):
            for name in files:
                path = Path(directory, name)
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed
