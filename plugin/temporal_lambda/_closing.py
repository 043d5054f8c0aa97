"""``async with`` for objects that hold connections: :meth:`AsyncClosing.aclose` on the way out."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class AsyncClosing(abc.ABC):
    """``async with obj:`` closes ``obj`` when the block ends (the client and the stores)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections and threads."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
