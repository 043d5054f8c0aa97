"""A benchmark worker process: ``python -m benchmarks._worker --mode MODE ...``.

``--mode workflows`` runs the benchmark workflows only; ``ours``, ``ours-nostore``, ``noop`` and
``boto3`` run one kind of activity only, so the activity worker's RSS and CPU are the calls' own.

Prints ``ready`` once polling, then runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import signal
import sys
import threading

import botocore.credentials
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks._emulator import raise_nofile
from benchmarks._workflows import WORKFLOWS


@activity.defn(name="noop_activity")
async def noop_activity(seconds: float) -> float:
    """Return at once (the Temporal floor)."""
    return 0.0


def make_boto3_activity(endpoint: str, threads: int) -> object:
    """Build a hand-written boto3 activity: blocking invoke, heartbeats from a helper thread."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "lambda",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            max_pool_connections=threads,
            read_timeout=905,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )

    @activity.defn(name="boto3_invoke")
    def boto3_invoke(seconds: float) -> float:
        done = threading.Event()
        heartbeat = activity.heartbeat

        def beat() -> None:
            while not done.wait(3.0):
                heartbeat()

        import contextvars

        ctx = contextvars.copy_context()
        beater = threading.Thread(target=ctx.run, args=(beat,), daemon=True)
        beater.start()
        try:
            response = client.invoke(
                FunctionName="sleep",
                Payload=json.dumps({"seconds": seconds, "barrier": True}).encode(),
            )
            return float(json.loads(response["Payload"].read())["slept"])
        finally:
            done.set()

    return boto3_invoke


async def main() -> None:
    """Run the worker until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=[*sorted(WORKFLOWS), "workflows"], required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--max-concurrent", type=int, default=1000)
    args = parser.parse_args()
    raise_nofile()
    plugins = []
    activities: list[object] = []
    workflows: list[type] = []
    executor = None
    runner: dict[str, object] = {}
    if args.mode == "workflows":
        workflows = list(set(WORKFLOWS.values()))
        # A workflow-only worker has no LambdaPlugin, so pass the package through the
        # sandbox ourselves, as the plugin does. Without it, ``temporal_lambda._types`` is not
        # in the sandbox's ``sys.modules`` and decoding ``LambdaInvokeResult`` (annotations
        # are strings under ``from __future__ import annotations``) fails in
        # ``typing.get_type_hints`` with ``NameError: name 'Any' is not defined``.
        from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

        from temporal_lambda._plugin import PASSTHROUGH_MODULES

        runner["workflow_runner"] = SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        )
    elif args.mode == "noop":
        activities.append(noop_activity)
    elif args.mode.startswith("ours"):
        from temporal_lambda import LambdaClient, LambdaPlugin

        plugins.append(
            LambdaPlugin(
                client=LambdaClient(
                    region="us-east-1",
                    endpoint_url=args.endpoint,
                    credentials=botocore.credentials.Credentials("testing", "testing"),
                ),
                **({"idempotency_store": None} if args.mode == "ours-nostore" else {}),
            )
        )
    elif args.mode == "boto3":
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=args.max_concurrent)
        activities.append(make_boto3_activity(args.endpoint, args.max_concurrent))
    client = await Client.connect(args.target, namespace=args.namespace)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=workflows,
        activities=activities,  # type: ignore[arg-type]
        activity_executor=executor,
        plugins=plugins,
        max_concurrent_activities=max(1, args.max_concurrent),
        max_concurrent_activity_task_polls=20,
        max_concurrent_workflow_task_polls=10,
        max_concurrent_workflow_tasks=200,
        **runner,  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with worker:
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    # The worker has shut down cleanly. Skip the interpreter's finalization: the SDK's Rust
    # threads may still call into Python during it, which aborts the process with "Fatal
    # Python error: PyGILState_Release" (temporalio/sdk-python#300); it did so after about
    # one benchmark worker in six, in among the suite's output.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
