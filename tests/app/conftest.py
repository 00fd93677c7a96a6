"""Fixtures shared by the service's tests that drive real processes."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.logs import configure


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A client patient enough for streams of real processes (restarts, outages, leases)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
        yield client


#: The loggers ``app.logs.configure`` sets up, restored after a test that configured them.
SAVED = ("", "sse_starlette", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON lines as ``python -m app`` writes them, into a buffer; logging restored after."""
    loggers = [logging.getLogger(name or None) for name in SAVED]
    saved = [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    stream = io.StringIO()
    configure("info", json_lines=True)
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        for lg, (level, handlers, propagate) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
