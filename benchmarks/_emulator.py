"""The benchmark emulator: LocalLambda's ASGI app in its own process, tuned to hold thousands.

``python -m benchmarks._emulator --port P [--auth] [--http h11|httptools] [--uvloop]``

LocalLambda's own server is built for tests (h11, default backlog); the benchmark needs a
server that is *not* the bottleneck, so this runs the very same :class:`EmulatorApp` under
uvicorn with a large backlog, no concurrency limit and the fastest parser available.
"""

from __future__ import annotations

import argparse
import resource
import sys

from benchmarks.handlers import HANDLERS
from temporal_lambda.testing import LocalLambda


def raise_nofile(target: int = 65536) -> int:
    """Raise the soft RLIMIT_NOFILE as far as the hard limit allows; return the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth", action="store_true", help="verify SigV4 signatures")
    parser.add_argument("--http", default="auto")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    raise_nofile()
    import uvicorn

    lam = LocalLambda(
        port=args.port,
        credentials=("testing", "testing") if args.auth else None,
        stream_throttle=False,  # the stream benchmark reads 100 MB at full speed
    )
    for name, handler in HANDLERS.items():
        lam.register(name, handler, timeout=args.timeout)
    app = lam.app

    async def bench_app(scope, receive, send):  # type: ignore[no-untyped-def]
        # The emulator keeps a record per request; the benchmark makes millions.
        await app(scope, receive, send)
        if len(app.requests) > 10_000:
            lam.clear_records()

    uvicorn.run(
        bench_app,
        host="127.0.0.1",
        port=args.port,
        http=args.http,
        loop="uvloop" if args.uvloop else "asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=8192,
        timeout_keep_alive=300,
        limit_concurrency=None,
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
