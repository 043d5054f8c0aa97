"""The external-storage benchmark's activity worker, in its own process.

``python -m benchmarks._extstore_worker TARGET NAMESPACE QUEUE LAMBDA_URL STORAGE`` where
STORAGE is ``local:DIRECTORY`` or ``s3:ENDPOINT_URL:BUCKET``. Runs the plugin's activities on
QUEUE (no workflows) until terminated; prints ``ready`` once polling, so the suite can sample
this process's RSS alone: the per-worker figure of a 5 MB round trip.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from botocore.credentials import Credentials
from temporalio.client import Client
from temporalio.converter import ExternalStorage
from temporalio.worker import Worker

from temporal_lambda import LambdaClient, LambdaPlugin
from temporal_lambda.storage import local_storage, s3_storage

CREDS = Credentials("testing", "testing")


def storage_from(spec: str) -> ExternalStorage:
    """``local:DIR`` or ``s3:URL:BUCKET`` (the URL has a colon of its own)."""
    kind, _, rest = spec.partition(":")
    if kind == "local":
        return local_storage(rest)
    url, _, bucket = rest.rpartition(":")
    return s3_storage(bucket, region="us-east-1", endpoint_url=url, credentials=CREDS)


async def main() -> None:
    """Serve the activity until SIGTERM."""
    target, namespace, queue, lambda_url, storage = sys.argv[1:6]
    plugin = LambdaPlugin(
        client=LambdaClient(region="us-east-1", endpoint_url=lambda_url, credentials=CREDS),
        idempotency_store=None,
        external_storage=storage_from(storage),
    )
    client = await Client.connect(target, namespace=namespace, plugins=[plugin])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Worker(client, task_queue=queue):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
