"""Limits on what one page, one user and one address may cost the server."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    """From settings: bad input (a page opening sockets, dialling or muting in a loop) costs its sender only."""

    max_sockets_per_user: int = 20
    # Open mode only: a name costs nothing there, so one page could claim a new one for every socket.
    max_sockets_per_address: int = 200
    max_calls_per_minute: int = 30
    # Frames of one type in any second: from one socket, and from all of one user's sockets together.
    max_messages_per_second: int = 10
    max_user_messages_per_second: int = 20
    # Messages one socket may fall behind before it is closed as too slow (ui/outbox.py).
    max_queued_messages: int = 256


@dataclass
class RateLimit:
    """At most `limit` requests per key in any `window` seconds (a sliding window).

    Exact where it matters: a user sees the same limit however their requests
    fall across minute boundaries. A key with nothing in its window is
    forgotten (at most once a window, so the sweep costs O(1) a request
    amortised), so the table cannot grow with every key ever seen.
    """

    limit: int
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _times: dict[Hashable, deque[float]] = field(default_factory=dict)
    _swept: float = float("-inf")

    def allow(self, key: Hashable) -> bool:
        now = self.clock()
        if now - self._swept >= self.window:
            self._forget_idle(now)
        times = self._times.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        self._swept = now
        for key in [k for k, times in self._times.items() if not times or times[-1] <= now - self.window]:
            del self._times[key]
