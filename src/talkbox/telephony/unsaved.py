"""Changes the store would not take yet (a full disk), kept in order until it does.

One queue per conference. While a conference has one, each new change to it is
decided against the latest unsaved state and queued behind the others, so the
store receives that conference's changes in the order they happened.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from talkbox.telephony.model import Conference
from talkbox.telephony.rules import Command

FIRST_RETRY_SECONDS = 0.2
LAST_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class Unsaved:
    """A decided change, and the commands that must wait until it is stored."""

    conference: Conference
    cause: dict[str, Any]
    held: tuple[Command, ...]


@dataclass
class Backlog:
    _queues: dict[str, deque[Unsaved]] = field(default_factory=dict)
    _tries: dict[str, int] = field(default_factory=dict)

    def __contains__(self, conference_id: object) -> bool:
        return conference_id in self._queues

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def conferences(self) -> list[str]:
        return list(self._queues)

    def add(self, change: Unsaved) -> None:
        self._queues.setdefault(change.conference.id, deque()).append(change)

    def latest(self, conference_id: str) -> Conference:
        """The state after every unsaved change: what the next change is decided against."""
        return self._queues[conference_id][-1].conference

    def first(self, conference_id: str) -> Unsaved | None:
        queue = self._queues.get(conference_id)
        return queue[0] if queue else None

    def saved(self, conference_id: str) -> None:
        """The first change was stored; once none is left, the retries start afresh."""
        queue = self._queues[conference_id]
        queue.popleft()
        if not queue:
            del self._queues[conference_id]
            self._tries.pop(conference_id, None)

    def next_delay(self, conference_id: str) -> float:
        """Seconds before the next try: doubling from FIRST to LAST_RETRY_SECONDS while the store refuses."""
        tries = self._tries.get(conference_id, 0)
        self._tries[conference_id] = tries + 1
        return min(LAST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2**tries)
