"""Run the emulator standalone: ``python -m temporal_lambda.testing --handlers mod:HANDLERS``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
from collections.abc import Sequence
from typing import Any

from ._server import LocalLambda


def _load(spec: str) -> dict[str, Any]:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    handlers = getattr(module, attr or "HANDLERS")
    if not isinstance(handlers, dict):
        raise SystemExit(f"{spec} is not a dict of name -> handler")
    return handlers


async def _serve(args: argparse.Namespace) -> None:
    credentials = None if args.no_auth else (args.access_key, args.secret_key)
    lam = LocalLambda(
        host=args.host,
        port=args.port,
        region=args.region,
        credentials=credentials,
        async_retry_delays=(args.retry_delay, args.retry_delay * 2),
    )
    for spec in args.handlers:
        for name, handler in _load(spec).items():
            lam.register(name, handler, timeout=args.timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await lam.start()
    names = ", ".join(lam.app.registry.names()) or "(none)"
    print(f"LocalLambda listening on {lam.endpoint_url} — functions: {names}", flush=True)
    try:
        await stop.wait()
    finally:
        await lam.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m temporal_lambda.testing", description="Local AWS Lambda emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument(
        "--handlers",
        nargs="*",
        default=[],
        metavar="MODULE:ATTR",
        help="a module's dict of function name -> handler (ATTR defaults to HANDLERS)",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="function timeout, seconds")
    parser.add_argument("--access-key", default="testing")
    parser.add_argument("--secret-key", default="testing")
    parser.add_argument("--no-auth", action="store_true", help="do not verify signatures")
    parser.add_argument(
        "--retry-delay", type=float, default=60.0, help="first async retry delay, seconds"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
