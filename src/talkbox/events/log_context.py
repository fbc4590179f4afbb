"""Which conference and leg a log line is about, and the JSON lines that say so (TALKBOX_LOG_FORMAT=json).

The router sets the ids of the event it hands out (`about`), so every line a
handler writes while handling it carries them, in whatever task it spawns
too (asyncio copies the context into a new task). A line about another leg
than the event's names it with `extra=ids(...)`, which wins over the context.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
from collections.abc import Callable
from typing import Any

conference_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("conference_id", default=None)
leg_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("leg_id", default=None)

FIELDS = ("conference_id", "leg_id")


class about:  # noqa: N801 (used as a function: `with about(conference, leg):`)
    """Lines logged inside are about this conference and leg (None leaves what an outer `about` said).

    A class, not a contextlib generator: the router's hot path enters one per command.
    """

    __slots__ = ("_conference", "_leg", "_tokens")

    def __init__(self, conference: str | None, leg: str | None = None) -> None:
        self._conference, self._leg = conference, leg

    def __enter__(self) -> None:
        self._tokens = (
            conference_id.set(self._conference) if self._conference is not None else None,
            leg_id.set(self._leg) if self._leg is not None else None,
        )

    def __exit__(self, *_: object) -> None:
        for token in reversed(self._tokens):
            if token is not None:
                token.var.reset(token)


def about_event(event: object) -> None:
    """From now on in this task, lines are about the event's ids (none: a user's request before its call exists).

    For the router's consumers: each is a task of its own, and the next event's ids replace these.
    """
    fields = vars(event)  # not getattr with a default: a pydantic model raises (slowly) for a field it lacks
    conference_id.set(fields.get("conference_id"))
    leg_id.set(fields.get("leg_id"))


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
