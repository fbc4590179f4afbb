"""Events a handler could not take even after its retries: logged, and kept to be looked at.

The router hands each event to each handler at least once and retries one that
raises, but only a few times: a handler that keeps failing on an event must not
hold up the rest of that conference's events for ever. What it gave up on
lands here, so that nothing is lost silently (GET /api/dead-letters shows them).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from talkbox.events import Event, partition_key

log = logging.getLogger(__name__)

ERROR_CHARS = 300


@dataclass(frozen=True)
class DeadLetter:
    """One event one handler gave up on. No payload: an event can carry SDP and names."""

    event_type: str
    key: str
    handler: str
    error: str
    attempts: int
    at: float

    def as_json(self) -> dict[str, str | int | float]:
        return {
            "event_type": self.event_type,
            "key": self.key,
            "handler": self.handler,
            "error": self.error,
            "attempts": self.attempts,
            "at": self.at,
        }


@dataclass
class DeadLetters:
    """The last `keep` dead letters, newest last, and how many there have been in all."""

    keep: int = 100
    clock: Callable[[], float] = time.time
    total: int = 0
    _letters: deque[DeadLetter] = field(default_factory=deque)

    def add(self, event: Event, handler: str, error: BaseException, attempts: int) -> DeadLetter:
        letter = DeadLetter(
            event_type=event.type,
            key=partition_key(event),
            handler=handler,
            error=f"{type(error).__name__}: {error}"[:ERROR_CHARS],
            attempts=attempts,
            at=self.clock(),
        )
        self._letters.append(letter)
        while len(self._letters) > self.keep:
            self._letters.popleft()
        self.total += 1
        log.error(
            "dead letter: %s gave up on %s (%s) after %d attempts: %s",
            handler,
            letter.event_type,
            letter.key,
            attempts,
            letter.error,
            exc_info=error,
        )
        return letter

    def recent(self, limit: int | None = None) -> list[DeadLetter]:
        """Newest first: the one that just went wrong is the one someone is looking for."""
        letters = list(reversed(self._letters))
        return letters if limit is None else letters[: max(limit, 0)]
