"""Every serving process runs with the tuned garbage collector: the single process of
``python -m app`` and each worker of ``--workers N`` (their factory)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
import uvicorn

from app import __main__ as entry
from app import application
from app.application import GC_THRESHOLDS, from_environment


@pytest.fixture(autouse=True)
def default_gc() -> Iterator[None]:
    """Start from CPython's thresholds; leave the test process as it was."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_python_m_app_tunes_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[bool] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: served.append(True))
    monkeypatch.setattr(entry, "configure", lambda *a, **k: None)  # the test's logging stays
    monkeypatch.delenv("REDIS_URL", raising=False)
    entry.main(["--port", "0"])
    assert served == [True]
    assert gc.get_threshold() == GC_THRESHOLDS


def test_each_worker_tunes_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(application, "configure", lambda *a, **k: None)
    from_environment()
    assert gc.get_threshold() == GC_THRESHOLDS
