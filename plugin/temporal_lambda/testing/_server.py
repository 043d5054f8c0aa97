"""``LocalLambda``: the emulator's public face, and the uvicorn server that runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from . import _logs
from ._app import EmulatorApp
from ._context import LambdaContext
from ._faults import Faults
from ._records import InvocationRecord, RequestRecord
from ._registry import FunctionConfig

__all__ = ["LocalLambda"]

_DROPPED_MESSAGE = "ASGI callable returned without completing response."


class _QuietDrops(logging.Filter):
    """Hides uvicorn's complaint about the connections ``Faults.drop_next`` cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROPPED_MESSAGE


class LocalLambda:
    """A local, faithful emulator of the Lambda Invoke API, running Python handlers in-process.

    It answers ``Invoke`` (``RequestResponse``, ``Event``, ``DryRun``),
    ``InvokeWithResponseStream`` (``RequestResponse``, ``DryRun``: a handler that is a sync or
    async generator streams the ``bytes``/``str`` chunks it yields as ``PayloadChunk`` events,
    then ``InvokeComplete``) and the deprecated ``InvokeAsync`` with the status codes, headers
    and error documents AWS uses, verifies SigV4 signatures, enforces payload limits, timeouts
    and reserved concurrency, retries and duplicates events like Lambda's async queue, paces
    streams as Lambda does, and can inject faults. The server runs as a
    task in the current event loop::

        async with LocalLambda(async_retry_delays=(0.1, 0.1)) as lam:
            lam.register("echo", lambda event, context: event)
            client = boto3.client("lambda", endpoint_url=lam.endpoint_url, ...)

    Without a server, ``app`` can be mounted with ``httpx.ASGITransport``.

    Args:
        host: The interface to listen on.
        port: The port, or 0 for any free port (see ``endpoint_url``).
        region: The region of the emulated service (requests must be signed for it).
        account_id: The account in ARNs.
        credentials: ``(access key, secret key)`` requests must be signed with, or ``None`` to
            accept any request unsigned.
        async_retry_delays: The waits before the two retries of a failed event (AWS: 1 and 2
            minutes).
        duplicate_event_deliveries: How many times each event is delivered (Lambda's async
            queue is at-least-once).
        stream_throttle: Pace InvokeWithResponseStream answers as Lambda does (the first 6 MB
            at once, then at most 2 MB/s); ``False`` streams at full speed.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        credentials: tuple[str, str] | None = ("testing", "testing"),
        async_retry_delays: tuple[float, float] = (60.0, 120.0),
        duplicate_event_deliveries: int = 1,
        stream_throttle: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.app = EmulatorApp(
            region=region,
            account_id=account_id,
            credentials=credentials,
            async_retry_delays=async_retry_delays,
            duplicate_event_deliveries=duplicate_event_deliveries,
            stream_throttle=stream_throttle,
        )
        self._server: Any = None
        self._serve_task: asyncio.Task[None] | None = None
        self._filter = _QuietDrops()

    # -- functions ------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        handler: Callable[[Any, LambdaContext], Any],
        *,
        timeout: float = 3.0,
        reserved_concurrency: int | None = None,
        memory_mb: int = 128,
        throttle_retry_after: int = 1,
    ) -> None:
        """Create (or replace the ``$LATEST`` of) a function.

        Args:
            name: The bare function name.
            handler: ``handler(event, context)``, sync (run in a thread) or async.
            timeout: Seconds before the invocation fails with ``Sandbox.Timedout``.
            reserved_concurrency: Concurrent executions allowed; more are throttled (429).
            memory_mb: Reported as ``context.memory_limit_in_mb``.
            throttle_retry_after: The ``Retry-After`` seconds sent with a throttle.
        """
        self.app.registry.register(
            FunctionConfig(
                name=name,
                handler=handler,
                timeout=timeout,
                reserved_concurrency=reserved_concurrency,
                memory_mb=memory_mb,
                throttle_retry_after=throttle_retry_after,
            )
        )

    def publish_version(self, name: str) -> str:
        """Snapshot the function's current handler and settings as a new version.

        Returns:
            The version number: ``"1"``, ``"2"``...
        """
        return self.app.registry.publish_version(name)

    def create_alias(self, name: str, alias: str, version: str) -> None:
        """Create or move an alias of a function to ``version`` (a number or ``$LATEST``)."""
        self.app.registry.create_alias(name, alias, version)

    # -- observation ---------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """Fault injection rules."""
        return self.app.faults

    @property
    def invocations(self) -> list[InvocationRecord]:
        """Every request that reached a function (or was rejected), and every event delivery."""
        return self.app.invocations

    def records(self, function: str | None = None) -> list[InvocationRecord]:
        """The invocation records, optionally only those of one bare function name."""
        return [r for r in self.app.invocations if function is None or r.function == function]

    def requests(self) -> list[RequestRecord]:
        """Every HTTP request received, in arrival order, whatever its path or method.

        Unlike :meth:`records` (invocations only), this shows what reached the socket: wrong
        paths, refused signatures, requests whose client went away while sending. Secret
        header values (``Authorization``, ``X-Amz-Security-Token``) are redacted.
        """
        return list(self.app.requests)

    def clear_records(self) -> None:
        """Forget every invocation record and logged request (long-running servers)."""
        self.app.invocations.clear()
        self.app.requests.clear()

    async def wait_for_events(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until all background event work (retries and duplicates too) is finished.

        Raises:
            TimeoutError: Events were still running after ``timeout`` seconds.
        """
        await self.app.wait_for_events(timeout)

    @property
    def endpoint_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("LocalLambda is not started")
        return f"http://{self.host}:{self.port}"

    # -- server --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving in a task of the current event loop.

        Raises:
            RuntimeError: Already started, or the server failed to start.
            ImportError: uvicorn is missing (install ``temporal-lambda[testing]``).
        """
        if self._server is not None:
            raise RuntimeError("LocalLambda is already started")
        import uvicorn

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                # Leave the host's signal handling alone: the owner stops us.
                yield

        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            http="h11",
            lifespan="off",
            log_level="warning",
            timeout_keep_alive=75,
            timeout_graceful_shutdown=5,
        )
        server = _Server(config)
        _logs.install()
        logging.getLogger("uvicorn.error").addFilter(self._filter)
        task = asyncio.get_running_loop().create_task(server.serve())
        while not server.started:
            if task.done():
                logging.getLogger("uvicorn.error").removeFilter(self._filter)
                task.result()
                raise RuntimeError(f"LocalLambda could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        sockets = [s for srv in server.servers for s in srv.sockets]
        self.port = int(sockets[0].getsockname()[1])
        self._server = server
        self._serve_task = task

    async def stop(self) -> None:
        """Abandon queued events and stop the server (idempotent)."""
        await self.app.cancel_events()
        server, task = self._server, self._serve_task
        self._server = self._serve_task = None
        if server is not None and task is not None:
            server.should_exit = True
            await task
        logging.getLogger("uvicorn.error").removeFilter(self._filter)
        _logs.uninstall()

    async def __aenter__(self) -> LocalLambda:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
