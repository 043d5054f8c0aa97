"""Lambda functions for the fault matrix, with side effects that survive a process's death.

Two functions, both writing their side effect to a :class:`FileLedger` (one JSON line per
effect, appended and closed each time, so a SIGKILL of the worker or of the emulator never
loses or invents an entry):

* ``plain``: NOT idempotent: every invocation appends an entry. Only the plugin's own
  idempotency store can keep it to one effect per call.
* ``record-payment``: :mod:`functions.idempotent_payments` (Powertools ``@idempotent``,
  SQLite persistence), so a repeat of the same key replays the first receipt.

``python -m tests.support.fault_emulator --port P --ledger PATH --powertools-db PATH
[--journal PATH]`` serves both
in a process of its own (for the case that kills and restarts the emulator) and prints
``READY``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from functions.idempotent_payments import FUNCTION_NAME as PAYMENT_FUNCTION
from functions.idempotent_payments import make_handler
from functions.powertools_persistence import SQLitePersistenceLayer
from temporal_lambda.testing import LambdaContext, LocalLambda
from tests.support.emulator_keys import context_key

PLAIN_FUNCTION = "plain"
PAYMENT = {"account": "acct-7", "amount": 1250, "currency": "EUR"}
"""A payment ``record-payment`` accepts."""

Handler = Callable[[Any, LambdaContext], Any]


class FileLedger:
    """A list-like ledger kept in a file: what :func:`make_handler` appends its effects to.

    Args:
        path: The JSON-lines file.
        delay: Seconds each ``append`` takes before it writes (a long side effect, e.g. a
            slow payment provider); settable between calls.
    """

    def __init__(self, path: Path, delay: float = 0.0) -> None:
        self.path = path
        self.delay = delay
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({**entry, "pid": os.getpid(), "at": time.time()}) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def keys(self) -> list[str | None]:
        return [entry.get("idempotency_key") for entry in self.entries()]

    def __len__(self) -> int:
        return len(self.entries())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.entries())


def plain_handler(ledger: FileLedger) -> Handler:
    """A function that is NOT idempotent: one ledger entry per invocation."""

    def plain(event: Any, context: LambdaContext) -> dict[str, Any]:
        key = context_key(context)
        if key is None and isinstance(event, dict):
            key = event.get("idempotency_key")
        ledger.append({"idempotency_key": key, "request_id": context.aws_request_id})
        return {"request_id": context.aws_request_id, "idempotency_key": key}

    return plain


def payment_handler(persistence_db: Path, ledger: FileLedger) -> Handler:
    """``record-payment`` from :mod:`functions.idempotent_payments`, on a file ledger."""
    return make_handler(SQLitePersistenceLayer(persistence_db), ledger=ledger)  # type: ignore[arg-type]


def journaled(name: str, handler: Handler, journal: Path | None) -> Handler:
    """Note each invocation's start (function, key, process) in ``journal``, then run it."""
    if journal is None:
        return handler

    def wrapper(event: Any, context: LambdaContext) -> Any:
        line = {"function": name, "idempotency_key": context_key(context), "pid": os.getpid()}
        with journal.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        return handler(event, context)

    return wrapper


def register_all(
    lam: LocalLambda,
    ledger: FileLedger,
    persistence_db: Path,
    *,
    timeout: float = 30.0,
    journal: Path | None = None,
) -> None:
    """Register ``plain`` and ``record-payment`` on ``lam``, both writing to ``ledger``."""
    handlers = {
        PLAIN_FUNCTION: plain_handler(ledger),
        PAYMENT_FUNCTION: payment_handler(persistence_db, ledger),
    }
    for name, handler in handlers.items():
        lam.register(name, journaled(name, handler, journal), timeout=timeout)


async def _serve(args: argparse.Namespace) -> None:
    lam = LocalLambda(port=args.port, credentials=("testing", "testing"))
    register_all(
        lam,
        FileLedger(Path(args.ledger), delay=args.delay),
        Path(args.powertools_db),
        timeout=args.timeout,
        journal=Path(args.journal) if args.journal else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await lam.start()
    print(f"READY {lam.endpoint_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await lam.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fault_emulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--powertools-db", required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per side effect")
    parser.add_argument("--timeout", type=float, default=30.0, help="function timeout")
    parser.add_argument("--journal", help="JSON-lines file noting each invocation's start")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
