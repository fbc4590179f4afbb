"""Messages for a user's pages on any node: one outbox stream per user, numbered, replayed on reconnect.

With several nodes, the node that handles an event is seldom the one holding
the sockets of the users it concerns. So the gateway does not write to sockets
directly: it appends each message to the user's stream (`outbox:USER`), whose
entry ids are the user's own sequence numbers (`0-N`, from `seq:USER`). Every
node reads the streams of the users it has sockets for, from the oldest
sequence one of its sockets has yet to see, and hands each message to those
sockets (the gateway skips what a socket has had).

A page that reconnects, to any node, says the last sequence it saw (`since`):
it is sent what it missed, or, when that was trimmed away (MAXLEN), told to
`resync`; the snapshot on connect then brings it up to date. Pub/sub would be
simpler and is at most once: a message published while the page's node was
between reads is gone (docs/architecture.md, "Several nodes").

The reader blocks on one connection of its own; a socket opening wakes it
through this node's `wake` stream, so a new user is read at once, not at the
end of the block.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEEP = 500  # messages per user kept for replay
EXPIRE_MS = 3600 * 1000  # a user gone an hour has nothing worth replaying
BLOCK_MS = 1000

# One sequence number per message, the entry's id made from it: numbered and appended in one step.
_APPEND = """
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '0-' .. n, 'm', ARGV[1], 'l', ARGV[2], 'a', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return n
"""


@dataclass(frozen=True)
class Parcel:
    """One message for every page of `user`, and the legs it tells them of (leg id -> conference id).

    `about`: the person a directory message is about; only pages allowed to see them get it.
    """

    user: str
    text: str
    legs: tuple[tuple[str, str], ...] = ()
    about: str | None = None


@dataclass(frozen=True)
class Watch:
    """Where a new socket starts: the last sequence it counts as seen, and whether it missed what is gone."""

    seen: int
    gap: bool


@dataclass
class UserStreams:
    client: redis.Redis
    reader_client: redis.Redis  # blocking reads only: a connection of its own
    node_id: str
    prefix: str = "talkbox:"
    cursors: dict[str, int] = field(default_factory=dict)  # user -> last sequence read for this node's sockets
    _wake_id: bytes | None = None  # the last wake read; None until the reader has made its first

    def _outbox(self, user: str) -> str:
        return f"{self.prefix}outbox:{user}"

    def _sequence(self, user: str) -> str:
        return f"{self.prefix}seq:{user}"

    @property
    def _wake(self) -> str:
        return f"{self.prefix}wake:{self.node_id}"

    async def send(self, parcel: Parcel) -> int:
        """Append for every node to read; the user's sequence number it got."""
        legs = json.dumps(parcel.legs, separators=(",", ":"))
        return await self.client.eval(
            _APPEND,
            2,
            self._outbox(parcel.user),
            self._sequence(parcel.user),
            parcel.text,
            legs,
            KEEP,
            EXPIRE_MS,
            parcel.about or "",
        )

    async def watch(self, user: str, since: int | None) -> Watch:
        """A socket of `user` opened here: read their stream for it from `since` (or from now)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self._sequence(user))
        pipe.xrange(self._outbox(user), count=1)
        latest, oldest = await pipe.execute()
        # No await from here to the return: the reader cannot slip an entry between the count and the cursor.
        top = int(latest or 0)
        first = _sequence_of(oldest[0][0]) if oldest else top + 1
        gap = since is not None and since < top and first > since + 1
        seen = top if since is None or gap or since > top else since
        self.cursors[user] = min(self.cursors.get(user, seen), seen)
        return Watch(seen, gap)

    async def wake(self) -> None:
        """Cut the reader's block short, so it reads the streams it was just given."""
        await self.client.xadd(self._wake, {"w": "1"}, maxlen=10, approximate=True)

    async def close(self) -> None:
        """The reader's own connection; the shared client is the composition root's."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.reader_client.aclose(), 2.0)

    def unwatch(self, user: str) -> None:
        self.cursors.pop(user, None)

    async def run(self, deliver: Callable[[Parcel, int], None]) -> None:
        """This node's reader: every new message of a watched user, in order, to `deliver`."""
        while True:
            try:
                if self._wake_id is None:
                    self._wake_id = await self.client.xadd(self._wake, {"w": "1"}, maxlen=10, approximate=True)
                await self._read_once(deliver)
            except RedisError as error:
                log.warning("reading the users' streams: %s; trying again", error)
                await asyncio.sleep(0.5)

    async def _read_once(self, deliver: Callable[[Parcel, int], None]) -> None:
        streams: dict[Any, Any] = {self._wake: self._wake_id}
        streams |= {self._outbox(user): f"0-{seen}" for user, seen in self.cursors.items()}
        reply = await self.reader_client.xread(streams, block=BLOCK_MS, count=200)
        for stream, entries in reply or ():
            name = stream.decode()
            if name == self._wake:
                self._wake_id = entries[-1][0]
                continue
            user = name[len(self._outbox("")) :]
            for entry_id, fields in entries:
                sequence = _sequence_of(entry_id)
                if user in self.cursors:
                    self.cursors[user] = max(self.cursors[user], sequence)
                legs = tuple((leg, conference) for leg, conference in json.loads(fields[b"l"]))
                about = fields.get(b"a", b"").decode() or None
                deliver(Parcel(user, fields[b"m"].decode(), legs, about), sequence)


def _sequence_of(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[1])


def with_sequence(text: str, sequence: int) -> str:
    """The message as a page gets it: its JSON object with `seq` first, without parsing it again."""
    return f'{{"seq":{sequence},{text[1:]}'
