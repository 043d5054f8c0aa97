"""A hostile InvokeWithResponseStream server on 127.0.0.1: whatever frames a test hands it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType

from aiohttp import web

from temporal_lambda.testing._eventstream import payload_chunks

Frames = Callable[[], Iterator[bytes]]


def frames_of(data: bytes) -> bytes:
    """The ``PayloadChunk`` message(s) carrying ``data``, as the emulator encodes them."""
    return b"".join(payload_chunks(data))


class HostileStream:
    """Answer every request 200 with the frames ``frames()`` yields (made lazily), then close.

    No signature check, no ``InvokeComplete`` unless the frames hold one. Counts the requests
    and the bytes written; stops writing when the client goes away.
    """

    def __init__(self, frames: Frames) -> None:
        self._frames = frames
        self.requests = 0
        self.sent = 0
        self._runner: web.AppRunner | None = None
        self.endpoint_url = ""

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        await request.read()
        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "application/vnd.amazon.eventstream",
                "x-amzn-RequestId": f"hostile-{self.requests}",
            },
        )
        await response.prepare(request)
        try:
            for frame in self._frames():
                await response.write(frame)
                self.sent += len(frame)
        except (ConnectionResetError, ConnectionError):
            return response
        return response

    async def __aenter__(self) -> HostileStream:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
