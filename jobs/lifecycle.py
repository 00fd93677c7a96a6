"""One shape for the parts that run in the background while the service lives."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Lifecycle:
    """An async context manager over :meth:`open` and :meth:`aclose`: ``async with part:``
    opens it, and closes it however the block ends. Subclasses override both (each does
    nothing here)."""

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
