"""Logging set-up for ``python -m app``: human-readable text on a terminal, JSON lines otherwise.

Structured fields travel as ``extra=`` on the log call (``job_id``, ``status``...); the JSON
formatter writes them as top-level keys. Three more come from the context: ``request_id`` (set
by ``app.middleware.RequestEdge`` for each request), ``job_id`` (set by the routes as soon as
they know the job) and ``owner`` (``jobs.joblog``: set once the job's owner is established).
A job's run is a task created while its first attach is handled, so it inherits them all:
every line of a job's life carries its id, its owner and the id of the request that started
it. Nothing logged anywhere in this service carries a token, a ticket, a secret or a
job's input text.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from jobs import tracing
from jobs.joblog import owner

#: The request being handled (``X-Request-ID``), for every log line written while it is.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
#: The job a request (or a run) is about.
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``job_id`` and the job's ``owner`` from the context to each record
    (an explicit ``extra=`` wins), and, inside a span (tracing on), ``trace_id`` and
    ``span_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("request_id", request_id), ("job_id", job_id), ("owner", owner)):
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        ids = tracing.current_ids()
        if ids is not None and not hasattr(record, "trace_id"):
            record.trace_id, record.span_id = ids
        return True


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


#: What could break a text line or fake one: control characters (C0, DEL, C1: CR and LF
#: among them) and Unicode's line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


class TextFormatter(logging.Formatter):
    """One readable line: time, level, logger, message, then the job and request ids.

    A line is one line whatever it quotes: a path such as ``/x%0A12:00:00 CRITICAL ...``
    must not write a second, forged one, so control characters are escaped (``\\n``,
    ``\\u001b``). A traceback, added after the line, keeps its own lines.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        ids = [
            f"{label}={value}"
            for label, value in (
                ("job", getattr(record, "job_id", None)),
                ("owner", getattr(record, "owner", None)),
                ("req", getattr(record, "request_id", None)),
            )
            if value
        ]
        line = f"{line} [{' '.join(ids)}]" if ids else line
        return _CONTROL.sub(_escape, line)


def configure(level: str, *, json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # At debug level sse-starlette logs every chunk it sends (the output, which may quote the
    # input). Backends quiet their own SDKs' loggers likewise (see jobs.backends).
    logging.getLogger("sse_starlette").setLevel(max(root.level, logging.INFO))
    # uvicorn's loggers propagate to ours; its access log is replaced by app.access.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
