"""Structured logs: one JSON object per line, each carrying the request id it belongs to.

``configure_logging(level, json=True)`` installs the handler on the root logger; the
CLI calls it when serving. Nothing here configures logging at import time, so a
library user's own logging setup is left alone.

Invariants
- The request id of the request being served lives in the context variable
  ``REQUEST_ID`` (set by ``ObservabilityMiddleware``); every record logged while it
  is set carries it as ``request_id``, including records from other libraries
  (stamped by the handler's ``RequestIdFilter``, read by ``JsonFormatter`` as a
  fallback when a record reaches it unstamped).
- A JSON line always has ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``
  and ``message``; the record's ``extra`` fields are added as they are (values that
  JSON cannot hold, such as ``Decimal``, become strings, never floats).
- Stack traces (``exc``) are written to the log only; the API never returns them.
- ``configure_logging`` is idempotent: calling it again replaces the handler it
  installed before instead of adding a second one.
"""

from __future__ import annotations

import json as _json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

#: The id of the request being served in this context, or ``None`` outside a request.
REQUEST_ID: ContextVar[str | None] = ContextVar("spotlab_request_id", default=None)

#: Attributes every ``LogRecord`` has; anything else on a record came from ``extra``.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_NOT_EXTRA = _STANDARD_ATTRIBUTES | {"request_id", "color_message"}  # uvicorn adds an ANSI-coloured copy
_HANDLER_MARK = "_spotlab_handler"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def current_request_id() -> str | None:
    """The request id of the request being served, or ``None`` outside a request."""
    return REQUEST_ID.get()


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _NOT_EXTRA and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":"))


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the context it was logged in (``missing`` outside a request).

    Filters run where the record is logged, so the id is right even if the record is
    formatted later or elsewhere (a queue handler).
    """

    def __init__(self, missing: str | None = None) -> None:
        super().__init__()
        self.missing = missing

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get() or self.missing
        return True


def configure_logging(level: int | str = "INFO", json: bool = True, stream: TextIO | None = None) -> logging.Handler:
    """Send all logs at ``level`` and above to ``stream`` (stderr) as JSON lines, or as text if not ``json``.

    Returns the installed handler. Replaces a handler installed by an earlier call.
    Run uvicorn with ``log_config=None`` and ``access_log=False`` so that its loggers
    propagate here and ``spotlab.access`` is the only access log.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RequestIdFilter(missing=None if json else "-"))
    handler.setFormatter(JsonFormatter() if json else _text_formatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


def _text_formatter() -> logging.Formatter:
    formatter = logging.Formatter(_TEXT_FORMAT)
    formatter.converter = _utc_timetuple
    return formatter


def _utc_timetuple(seconds: float | None):
    return datetime.fromtimestamp(seconds or 0, UTC).timetuple()


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
