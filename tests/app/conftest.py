"""Fixtures shared by the service's tests that drive real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A client patient enough for streams of real processes (restarts, outages, leases)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
        yield client
