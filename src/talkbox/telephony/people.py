"""What Talkbox keeps about each person, apart from their calls: do not disturb, and the history they have seen.

And the record of each call in a person's history (telephony/history.py writes them),
kept by the conference store next to the conferences (telephony/store.py, redis_store.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import TypeAdapter

# Calls kept per person: older ones are forgotten as new ones come, so a history never grows without end.
HISTORY_KEEP = 1000

Direction = Literal["incoming", "outgoing"]
# How a call went for one person, in the history's words; None while it goes on.
Outcome = Literal["answered", "missed", "rejected", "unanswered", "busy", "canceled", "failed"]


@dataclass(frozen=True)
class Person:
    """Someone who has signed in to this Talkbox (the directory lists them)."""

    name: str
    dnd: bool = False
    # When they last looked at their history (epoch seconds): missed calls after it are new.
    history_seen: float = 0.0


@dataclass(frozen=True)
class CallRecord:
    """One call in one person's history: written on the call's first ring, completed when it ends."""

    user: str
    conference_id: str
    direction: Direction
    peers: tuple[str, ...]  # who else: the caller of an incoming call, everyone called on an outgoing one
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: Outcome | None = None
    end_reason: str | None = None

    @property
    def missed(self) -> bool:
        return self.outcome == "missed"


_record = TypeAdapter(CallRecord)


def record_to_json(record: CallRecord) -> str:
    return json.dumps(asdict(record), separators=(",", ":"))


def record_from_json(text: str | bytes) -> CallRecord:
    return _record.validate_json(text)
