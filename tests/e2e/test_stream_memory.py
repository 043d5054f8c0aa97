"""A 100 MB stream is read and stored in bounded memory, and its spool is private and unlinked.

The emulator runs in its own process (``temporal-lambda emulator --no-stream-throttle``), so
``tracemalloc`` sees only the client's allocations: the stream read off the socket into the
spool, then written from the spool into the local driver as the result's ``Payload``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.credentials import Credentials
from temporalio.api.common.v1 import Payload

from temporal_lambda import LambdaClient
from temporal_lambda._stream import StreamAttempt
from temporal_lambda._stream_result import store_in_local_driver
from temporal_lambda._types import LambdaInvokeRequest
from temporal_lambda.storage import LocalStorageDriver
from tests.support.stream_handlers import MB, streamed

ROOT = Path(__file__).resolve().parent.parent.parent
LISTENING = re.compile(r"^LocalLambda listening on (http://127\.0\.0\.1:\d+)")
SIZE = 100 * MB
BOUND = 64 * MB


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "temporal_lambda.testing",
            "--port",
            "0",
            "--timeout",
            "120",
            "--no-stream-throttle",
            "--handlers",
            "tests.support.stream_handlers",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, ""):
            match = LISTENING.match(line)
            if match:
                found.append(match.group(1))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(30)
    try:
        assert found, "the emulator did not start within 30 s"
        yield found[0]
    finally:
        proc.terminate()
        proc.wait(10)


def test_100mb_stream_is_spooled_and_stored_under_64mb(emulator: str, tmp_path: Path) -> None:
    driver = LocalStorageDriver(tmp_path / "payloads")

    async def stream_and_store() -> tuple[int, dict[str, object], tuple[int, int]]:
        client = LambdaClient(
            region="us-east-1", endpoint_url=emulator, credentials=Credentials("testing", "testing")
        )
        attempt = StreamAttempt(client, LambdaInvokeRequest("chunks", {"size": SIZE}), "key-1")
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        received = await attempt.receive(spool_dir=str(tmp_path))
        spool = os.fstat(received.spool.fileno())
        reference = store_in_local_driver(
            received, "key-1", driver, "default", {"encoding": b"json/plain"}
        )
        peak = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.stop()
        received.spool.close()
        await client.aclose()
        claim = json.loads(reference.payload.data)
        return peak, claim, (spool.st_mode & 0o777, spool.st_nlink)

    peak, claim, (mode, links) = asyncio.run(stream_and_store())
    print(f"peak {peak / MB:.1f} MB over baseline")
    assert peak < BOUND, f"peak {peak / MB:.1f} MB over baseline"
    assert (mode, links) == (0o600, 0)  # private, and never had a name to leave behind
    assert list(tmp_path.iterdir()) == [tmp_path / "payloads"]
    (stored,) = [p for p in (tmp_path / "payloads").rglob("*") if p.is_file()]
    assert stored.name == claim["claimData"]["hash_value"]
    blob = stored.read_bytes()
    assert hashlib.sha256(blob).hexdigest() == stored.name
    fields = json.loads(Payload.FromString(blob).data)
    expected = streamed(SIZE)
    assert fields["payload"] == expected.decode()
    assert (fields["size"], fields["chunks"]) == (SIZE, 100)
    assert fields["sha256"] == hashlib.sha256(expected).hexdigest()
    assert fields["payload_encoding"] == "text"
