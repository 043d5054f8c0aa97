"""The command line: ``python -m temporal_lambda.testing``, also ``temporal-lambda emulator``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from ._faults import FAULT_KINDS
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
    # As `python -m` does: modules are found from the working directory, also when this runs
    # as the `temporal-lambda emulator` console script (whose sys.path starts at its bin/).
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
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


def _alias(spec: str) -> tuple[str, str, str]:
    """Read one ``--alias NAME:ALIAS=VERSION`` into ``(name, alias, version)``."""
    target, sep, version = spec.partition("=")
    name, colon, alias = target.partition(":")
    if not (sep and colon and name and alias and version):
        raise SystemExit(f"--alias {spec}: expected NAME:ALIAS=VERSION, e.g. echo:live=1")
    return name, alias, version


def _fault(spec: str) -> tuple[str | None, str, int, float | None]:
    """Read one ``--fault NAME:KIND[:COUNT]`` into ``(function or None, kind, count, seconds)``."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise SystemExit(f"--fault {spec}: expected NAME:KIND[:COUNT], e.g. echo:throttle:2")
    kind, _, seconds_text = parts[1].partition("=")
    if kind not in FAULT_KINDS:
        raise SystemExit(f"--fault {spec}: unknown kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    seconds: float | None = None
    if seconds_text:
        if kind != "delay":
            raise SystemExit(f"--fault {spec}: only delay takes =SECONDS")
        try:
            seconds = float(seconds_text)
        except ValueError:
            raise SystemExit(
                f"--fault {spec}: {seconds_text!r} is not a number of seconds"
            ) from None
    count_text = parts[2] if len(parts) == 3 else "1"
    if not count_text.isdigit() or int(count_text) < 1:
        raise SystemExit(f"--fault {spec}: COUNT must be a whole number of at least 1")
    return (None if parts[0] == "*" else parts[0]), kind, int(count_text), seconds


def _configure(lam: LocalLambda, args: argparse.Namespace) -> list[str]:
    """Register, publish, alias and inject as the arguments say; return what to print."""
    for spec in args.handlers:
        for name, handler in _load(spec).items():
            lam.register(name, handler, timeout=args.timeout)
    lines: list[str] = []
    for name in args.publish:
        try:
            version = lam.publish_version(name)
        except KeyError:
            raise SystemExit(f"--publish {name}: no function named {name!r} is served") from None
        lines.append(f"published {name} version {version}")
    for spec in args.alias:
        name, alias, version = _alias(spec)
        try:
            lam.create_alias(name, alias, version)
        except (KeyError, ValueError) as exc:
            raise SystemExit(f"--alias {spec}: {exc.args[0]}") from None
        lines.append(f"alias {name}:{alias} -> {version}")
    for spec in args.fault:
        function, kind, count, seconds = _fault(spec)
        lam.faults.inject(kind, count, seconds=seconds, function=function)
        lines.append(f"fault {function or '*'}: {kind} x{count}")
    return lines


async def _serve(args: argparse.Namespace) -> None:
    credentials = None if args.no_auth else (args.access_key, args.secret_key)
    lam = LocalLambda(
        host=args.host,
        port=args.port,
        region=args.region,
        credentials=credentials,
        async_retry_delays=(args.retry_delay, args.retry_delay * 2),
        stream_throttle=not args.no_stream_throttle,
    )
    lines = _configure(lam, args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await lam.start()
    for line in lines:
        print(line, flush=True)
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
            "Local AWS Lambda emulator: serves your handlers behind the Lambda Invoke, "
            "InvokeWithResponseStream and InvokeAsync APIs "
            "(SigV4-checked unless --no-auth) until SIGINT or SIGTERM. Point a client at the "
            "printed endpoint, e.g. LambdaPlugin(client=LambdaClient(endpoint_url=...))."
        ),
        epilog=(
            "examples: --handlers functions.handlers:HANDLERS (a dict of name -> handler); "
            "--handlers myapp.lambdas:handler (one handler, function name 'handler'); "
            "--handlers charge-card=myapp.payments:charge (one handler named 'charge-card'); "
            "--publish echo --alias echo:live=1 (version 1 and an alias on it); "
            "--fault echo:throttle:2 --fault '*:delay=1.5' (echo's next two requests "
            "throttled, and the next request of any function waits 1.5 s first)"
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
    parser.add_argument(
        "--no-stream-throttle",
        action="store_true",
        help="stream InvokeWithResponseStream answers at full speed (Lambda sends the first "
        "6 MB at once, then at most 2 MB/s)",
    )
    parser.add_argument(
        "--publish",
        action="append",
        default=[],
        metavar="NAME",
        help="publish a version of NAME's handler and settings (versions count 1, 2...; "
        "repeat the option for more)",
    )
    parser.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="NAME:ALIAS=VERSION",
        help="point ALIAS of NAME at VERSION ($LATEST or a published number), after --publish",
    )
    kinds = "; ".join(f"{kind}: {what}" for kind, what in FAULT_KINDS.items())
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME:KIND[:COUNT]",
        help=f"inject a fault into the next COUNT (default 1) requests for NAME (* for every "
        f"function). KIND is {kinds}",
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
