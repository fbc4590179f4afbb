"""Which conference and leg a log line is about, and the JSON lines that say so (TALKBOX_LOG_FORMAT=json).

The router sets the ids of the event it hands out (`about`), so every line a
handler writes while handling it carries them, in whatever task it spawns
too (asyncio copies the context into a new task). A line about another leg
than the event's names it with `extra=ids(...)`, which wins over the context.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

conference_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("conference_id", default=None)
leg_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("leg_id", default=None)

FIELDS = ("conference_id", "leg_id")


@contextlib.contextmanager
def about(conference: str | None, leg: str | None = None) -> Iterator[None]:
    """Lines logged inside are about this conference and leg (None leaves what an outer `about` said)."""
    tokens = [var.set(value) for var, value in ((conference_id, conference), (leg_id, leg)) if value is not None]
    try:
        yield
    finally:
        for token in reversed(tokens):
            token.var.reset(token)


def about_event(event: object) -> contextlib.AbstractContextManager[None]:
    """`about` the ids an event carries, if any (a user's request before its conference exists has none)."""
    return about(getattr(event, "conference_id", None), getattr(event, "leg_id", None))


def ids(conference: str | None = None, leg: str | None = None) -> dict[str, str]:
    """`extra=` for a line about a conference or leg the context does not name."""
    return {name: value for name, value in zip(FIELDS, (conference, leg), strict=True) if value is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids it is about, and any traceback.

    `clean` is applied to the message and traceback text before encoding (app/logs.py redacts secrets with it).
    """

    def __init__(self, clean: Callable[[str], str] = lambda text: text) -> None:
        super().__init__()
        self.clean = clean

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.clean(record.getMessage()),
        }
        for name, var in (("conference_id", conference_id), ("leg_id", leg_id)):
            value = getattr(record, name, None) or var.get()
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.clean(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)
