"""Logging set-up: what ``python -m app`` logs, and what it keeps out of the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app.logs import configure

SAVED = ("", "anthropic", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``configure`` rewires process-wide loggers; put them back for the other tests."""
    loggers = [logging.getLogger(name or None) for name in SAVED]
    saved = [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for lg, (level, handlers, propagate) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate


@pytest.mark.usefixtures("restore_logging")
def test_debug_logging_leaves_out_the_sdks_request_bodies() -> None:
    # At debug level the anthropic SDK logs each request's options, prompt included.
    configure("debug", json_lines=True)
    assert logging.getLogger().isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("anthropic").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("anthropic").isEnabledFor(logging.INFO)


@pytest.mark.usefixtures("restore_logging")
def test_quieter_levels_apply_to_the_sdk_too() -> None:
    configure("warning", json_lines=False)
    assert not logging.getLogger("anthropic").isEnabledFor(logging.INFO)
