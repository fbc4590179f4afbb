"""One socket's outgoing messages: a bounded queue, sent by the socket's own task.

The router hands a message for a user to every socket of that user. If that
meant awaiting each socket's send, one page that stops reading (a stuck tab, a
hostile client, a dead network path whose TCP window is shut) would hold up the
router worker, and with it every conference hashed to that worker. So a
message is only ever put on the socket's queue, which never waits; the
socket's sender task does the waiting. A socket that falls `capacity` messages
behind is too slow to be worth catching up: it is closed with CloseCode.TOO_SLOW,
and its page reconnects and is sent the whole state again (the snapshot on
connect), which is all it needs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from starlette.websockets import WebSocket

from talkbox.ui.protocol import CloseCode

log = logging.getLogger(__name__)


@dataclass
class Outbox:
    """A list and one sender task per socket, not an asyncio.Queue and three tasks: ten thousand idle pages
    hold ten thousand of these (bench/README.md, "Idle pages").

    A list, not a deque, and a future made only while the sender waits, not an asyncio.Event: an empty deque
    holds a block of 64 slots (0.6 KiB), and so does the Event's deque of waiters. Taking the first of at most
    `capacity` frames from a list costs nothing worth the difference.
    """

    websocket: WebSocket
    capacity: int = 256
    _frames: list[str] = field(default_factory=list)
    _wake: asyncio.Future[None] | None = None
    _overflowed: bool = False
    _sender: asyncio.Task[None] | None = None

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    def put(self, text: str) -> None:
        """Queue one frame; never waits. Past the capacity the socket is given up on, not the frame."""
        if self._overflowed:
            return
        if len(self._frames) < self.capacity:
            self._frames.append(text)
            if self._wake is not None and not self._wake.done():
                self._wake.set_result(None)
            return
        log.warning("closing a socket that fell %d messages behind", self.capacity)
        self._overflowed = True
        self._frames.clear()
        # The sender may be stuck in a send the page never reads: stopped, it closes the socket instead.
        if self._sender is not None:
            self._sender.cancel()

    async def run(self) -> None:
        """The socket's sender: in order, one at a time, until the socket goes or falls too far behind."""
        self._sender = asyncio.current_task()
        try:
            while not self._overflowed:
                if not self._frames:
                    self._wake = asyncio.get_running_loop().create_future()
                    await self._wake
                    self._wake = None
                    continue
                await self.websocket.send_text(self._frames.pop(0))
        except asyncio.CancelledError:
            if not self._overflowed:
                raise  # the endpoint stopping us: its socket is gone
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # our own stop, from put()
        except Exception:  # the socket went away mid-send; its endpoint cleans up
            log.debug("stopped sending to a closed socket", exc_info=True)
            return
        await self._close_too_slow()

    async def _close_too_slow(self) -> None:
        """Delivered once the page reads its backlog; a page that never does keeps only its own slot.

        The close waits for the socket to be writable like any frame, so it runs
        here, in the socket's own task, and the endpoint's receive loop sees the
        disconnect when the page answers it (or drops the connection).
        """
        try:
            await self.websocket.close(code=CloseCode.TOO_SLOW, reason="too slow to read its messages; reconnect")
        except Exception:
            log.debug("could not close a slow socket", exc_info=True)
