"""The emulator's command line: ``python -m temporal_lambda.testing --handlers MODULE[:ATTR]``."""

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
    """Read one ``--handlers`` value into ``{function name: handler}``.

    ``[NAME=]MODULE[:ATTR]``: ``ATTR`` (default ``HANDLERS``) is either a dict of function name
    -> handler, or one handler, registered as ``NAME`` (default: ``ATTR`` itself).
    """
    name, sep, target = spec.rpartition("=")
    if not sep:
        name, target = "", spec
    module_name, _, attr = target.partition(":")
    attr = attr or "HANDLERS"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"--handlers {spec}: cannot import {module_name!r}: {exc}") from exc
    try:
        handlers = getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"--handlers {spec}: module {module_name!r} has no {attr!r}") from None
    if isinstance(handlers, dict):
        if name:
            raise SystemExit(f"--handlers {spec}: NAME= names one handler, {attr!r} is a dict")
        return handlers
    if callable(handlers):
        return {name or attr: handlers}
    raise SystemExit(
        f"--handlers {spec}: {attr!r} is neither a handler nor a dict of name -> handler"
    )


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
        prog="python -m temporal_lambda.testing",
        description=(
            "Local AWS Lambda emulator: serves your handlers behind the Lambda Invoke API "
            "(SigV4-checked unless --no-auth) until SIGINT or SIGTERM. Point a client at the "
            "printed endpoint, e.g. LambdaPlugin(endpoint_url=...)."
        ),
        epilog=(
            "examples: --handlers functions.handlers:HANDLERS (a dict of name -> handler); "
            "--handlers myapp.lambdas:handler (one handler, function name 'handler'); "
            "--handlers charge-card=myapp.payments:charge (one handler named 'charge-card')"
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=9001, help="port to listen on (0: any free)")
    parser.add_argument("--region", default="us-east-1", help="region requests are signed for")
    parser.add_argument(
        "--handlers",
        nargs="*",
        default=[],
        metavar="[NAME=]MODULE[:ATTR]",
        help="functions to serve: ATTR (default HANDLERS) is a dict of function name -> "
        "handler, or one handler(event, context), named NAME or else ATTR",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="function timeout, seconds")
    parser.add_argument("--access-key", default="testing", help="access key requests must use")
    parser.add_argument("--secret-key", default="testing", help="secret key requests must use")
    parser.add_argument("--no-auth", action="store_true", help="do not verify signatures")
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=60.0,
        help="first retry delay of a failed Event, seconds (the second is twice as long)",
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
