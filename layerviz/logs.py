"""Log lines as JSON objects or as text, both on stderr (``settings.LOGGING``).

A record may carry an event's fields as ``extra={"fields": {...}}`` (``images/ingest_log``):
in JSON they are keys of the line's object, in text ``key=value`` pairs after the message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


class JSONFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    the record's fields, and ``exception`` (its traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # ASCII only: a control character or a hostile name in a field cannot reach a
        # terminal or break a line; default=str for dates and paths.
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        pairs = " ".join(
            f"{key}={json.dumps(value, default=str)}" for key, value in _fields(record).items()
        )
        return f"{text} {pairs}" if pairs else text
