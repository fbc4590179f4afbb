"""Under which ownership the router is handling an event: what makes a store write and its delivery one step.

With several nodes, a handler's write must be refused once the node lost the
partition the event came from (a frozen node waking up after its successor
moved the conference on), and it must say, in its own transaction, that this
handler applied this delivery: so a delivery handed out again (its node died
before acknowledging it) skips the handlers that wrote, and changes nothing.

The router sets the fence around each handler (`fenced`); the store reads it
(`current`) when it writes. A context variable, like the log context, because
the handler in between must not learn which bus it runs on: its signature is
`handle(event)` on every bus. On the in-process bus there is none, and a store
writes as it always did.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

_current: contextvars.ContextVar[Fence | None] = contextvars.ContextVar("fence", default=None)

# How long a handler's mark outlives its write, should the acknowledgement (which deletes it) never come.
MARK_SECONDS = 24 * 3600


class NotOwner(Exception):
    """This node lost the partition the event came from: the handler's write was refused, nothing of it stored."""


@dataclass(frozen=True)
class Fence:
    """A delivery's lease, and where a handler's write marks it applied (Redis keys, the bus's naming)."""

    lease_key: str
    # The lease's value when the event was read (`node:epoch`): a write is refused once it holds another.
    lease: str
    # A hash of the handlers that wrote under this delivery; the fenced acknowledgement deletes it.
    applied_key: str
    handler: str = ""


def current() -> Fence | None:
    """The fence of the delivery being handled in this task, if the bus has any."""
    return _current.get()


class fenced:  # noqa: N801 (used as a function: `with fenced(fence):`)
    """A handler's writes inside are made under `fence` (None: unfenced, as on the in-process bus)."""

    __slots__ = ("_fence", "_token")

    def __init__(self, fence: Fence | None) -> None:
        self._fence = fence

    def __enter__(self) -> None:
        self._token = _current.set(self._fence)

    def __exit__(self, *_exc: object) -> None:
        _current.reset(self._token)
