"""Logging set-up of the server: text or JSON lines, each with the RPC's request id.

The request id is the caller's `x-request-id` metadata, or a fresh one; it is
bound for the duration of the RPC by the error interceptor and appears in the
INTERNAL status a caller sees, so a user's report leads to the log line.
Tokens and other credentials are never logged.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


_format = "text"


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Sends logs to stderr as text or JSON lines (called once, by the command line).

    With "json", Python warnings go through the log too, and `announce` and `fail`
    write JSON: every line the server writes is one JSON object.
    """
    global _format
    _format = log_format
    logging.captureWarnings(log_format == "json")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _json_line(level: int, message: str, **fields: object) -> str:
    record = logging.LogRecord("asktell.server", level, __file__, 0, message, None, None)
    record.request_id = "-"
    entry = json.loads(JsonFormatter().format(record))
    entry.update(fields)
    return json.dumps(entry)


def announce(message: str, **fields: object) -> None:
    """One line on stdout that scripts wait for and parse ("asktell serving on HOST:PORT").

    A JSON object (the log's fields, `message` and `fields`) when the log format is json.
    """
    line = _json_line(logging.INFO, message, **fields) if _format == "json" else message
    print(line, flush=True)


def fail(message: str) -> None:
    """One line on stderr for a server that cannot start: JSON when the log format is json."""
    line = _json_line(logging.ERROR, message) if _format == "json" else message
    print(line, file=sys.stderr, flush=True)
