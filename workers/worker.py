"""Production worker: ``python -m workers.worker``.

Runs the example workflows and the Lambda invoke activity on one task queue.

Temporal connection: ``temporalio.envconfig`` — the ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*`` … environment variables and
the profiles of ``temporal.toml`` (``TEMPORAL_CONFIG_FILE``, ``TEMPORAL_PROFILE``,
``--temporal-profile``). With nothing configured it connects to ``localhost:7233``,
namespace ``default``.

AWS: the standard botocore chain (environment, shared config/credentials files with
``AWS_PROFILE`` or ``--aws-profile``, SSO, container and instance roles). Region from
``--region``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else the profile.
``--endpoint-url`` points at another endpoint (an emulator, a VPC endpoint).

Task queue: ``--task-queue``, else ``TEMPORAL_LAMBDA_TASK_QUEUE``, else ``lambda``.

SIGINT / SIGTERM stop polling and wait up to ``--graceful-shutdown-seconds`` for running
Lambda calls to finish before cancelling them (their idempotency keys make the retry that
follows on another worker safe).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker

from temporal_lambda import LambdaClient, LambdaPlugin
from workflows import ALL_WORKFLOWS

DEFAULT_TASK_QUEUE = "lambda"
DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"

log = logging.getLogger("workers.worker")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m workers.worker",
        description="Run a Temporal worker that invokes AWS Lambda functions.",
    )
    parser.add_argument(
        "--task-queue",
        default=os.environ.get("TEMPORAL_LAMBDA_TASK_QUEUE", DEFAULT_TASK_QUEUE),
        help="task queue to poll (env TEMPORAL_LAMBDA_TASK_QUEUE, default %(default)s)",
    )
    parser.add_argument(
        "--temporal-profile",
        default=None,
        help="temporal.toml profile (default: TEMPORAL_PROFILE or 'default')",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (env AWS_REGION / AWS_DEFAULT_REGION, else the profile's)",
    )
    parser.add_argument("--aws-profile", default=None, help="AWS shared-config profile")
    parser.add_argument("--endpoint-url", default=None, help="custom Lambda endpoint URL")
    parser.add_argument(
        "--graceful-shutdown-seconds",
        type=float,
        default=30.0,
        help="how long to wait for in-flight calls on shutdown (default %(default)s)",
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


async def connect_temporal(profile: str | None = None) -> Client:
    """Connect to Temporal as envconfig (environment + temporal.toml) says."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config(profile=profile))
    config.setdefault("target_host", DEFAULT_TEMPORAL_ADDRESS)
    log.info(
        "connecting to Temporal at %s, namespace %s",
        config["target_host"],
        config.get("namespace", "default"),
    )
    return await Client.connect(**config)


def make_plugin(args: argparse.Namespace) -> LambdaPlugin:
    return LambdaPlugin(
        client=LambdaClient(
            region=args.region, endpoint_url=args.endpoint_url, profile=args.aws_profile
        )
    )


async def run(args: argparse.Namespace) -> None:
    client = await connect_temporal(args.temporal_profile)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=ALL_WORKFLOWS,
        plugins=[make_plugin(args)],
        graceful_shutdown_timeout=timedelta(seconds=args.graceful_shutdown_seconds),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info(
            "worker polling task queue %r (region %s%s); Ctrl-C to stop",
            args.task_queue,
            args.region or "from profile",
            f", endpoint {args.endpoint_url}" if args.endpoint_url else "",
        )
        await stop.wait()
        log.info(
            "shutting down: waiting up to %.0f s for in-flight Lambda calls",
            args.graceful_shutdown_seconds,
        )
    log.info("worker stopped")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
