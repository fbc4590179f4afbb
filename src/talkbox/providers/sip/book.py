"""Where an answered SIP call's dialog is kept, so that the call outlives the process that answered it.

A restarted server, or the node that takes a drained or dead node's calls, reads the
dialog here and takes the call up with a re-INVITE of its own: new media, its own
Contact (a target refresh, RFC 3261 12.2), the same tags, the next CSeq. The telephone
never hangs up. One node keeps its book in its database file, several in Redis.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError
from sipmessage import URI

from talkbox.providers.sip.dialog import Dialog
from talkbox.providers.sip.transport import Peer

log = logging.getLogger(__name__)

KEPT_SECONDS = 24 * 3600  # in Redis: a call longer than a day is not taken up after a move


@dataclass
class KeptCall:
    conference_id: str
    leg_id: str
    incoming: bool
    dialog: Dialog
    ours: str  # our last description in the dialog: a re-INVITE's offer carries on its o= line
    held: bool = False  # the telephone's own hold

    def to_json(self) -> str:
        dialog = dataclasses.asdict(self.dialog)
        dialog["remote_target"] = str(self.dialog.remote_target)
        return json.dumps({**dataclasses.asdict(self), "dialog": dialog})

    @classmethod
    def from_json(cls, text: str | bytes) -> KeptCall:
        data = json.loads(text)
        dialog = data.pop("dialog")
        dialog["remote_target"] = URI.parse(dialog["remote_target"])
        dialog["peer"] = Peer(**dialog["peer"])
        return cls(**data, dialog=Dialog(**dialog))


class CallBook(Protocol):
    # False: nothing kept outlives the process, so stopping ends each call with a BYE instead.
    durable: bool

    async def keep(self, call: KeptCall) -> None: ...

    async def kept(self, leg_id: str) -> KeptCall | None: ...

    async def forget(self, leg_id: str) -> None: ...


@dataclass
class MemoryBook:
    """A server without a database file: its calls end with it."""

    calls: dict[str, str] = dataclasses.field(default_factory=dict)
    durable: bool = False

    async def keep(self, call: KeptCall) -> None:
        self.calls[call.leg_id] = call.to_json()

    async def kept(self, leg_id: str) -> KeptCall | None:
        text = self.calls.get(leg_id)
        return None if text is None else KeptCall.from_json(text)

    async def forget(self, leg_id: str) -> None:
        self.calls.pop(leg_id, None)


class SqliteBook:
    """A table of its own in the server's database file (WAL, as the conference store has it)."""

    durable = True

    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS sip_calls (leg_id TEXT PRIMARY KEY, data TEXT NOT NULL)")

    async def keep(self, call: KeptCall) -> None:
        self.db.execute("INSERT OR REPLACE INTO sip_calls (leg_id, data) VALUES (?, ?)", (call.leg_id, call.to_json()))

    async def kept(self, leg_id: str) -> KeptCall | None:
        row = self.db.execute("SELECT data FROM sip_calls WHERE leg_id = ?", (leg_id,)).fetchone()
        return None if row is None else _read(leg_id, row[0])

    async def forget(self, leg_id: str) -> None:
        self.db.execute("DELETE FROM sip_calls WHERE leg_id = ?", (leg_id,))


@dataclass
class RedisBook:
    """For several nodes: whichever node takes the conference's partition reads it. A Redis error is logged and
    taken as "not kept": the call then ends when its media moves, as it did before calls were kept."""

    client: redis.Redis
    prefix: str = "talkbox:sip:call:"
    durable: bool = True

    async def keep(self, call: KeptCall) -> None:
        try:
            await self.client.set(self.prefix + call.leg_id, call.to_json(), ex=KEPT_SECONDS)
        except RedisError as error:
            log.warning("keeping SIP leg %s's dialog in Redis: %s; it ends if its node goes", call.leg_id, error)

    async def kept(self, leg_id: str) -> KeptCall | None:
        try:
            text = await self.client.get(self.prefix + leg_id)
        except RedisError as error:
            log.warning("reading SIP leg %s's dialog from Redis: %s", leg_id, error)
            return None
        return None if text is None else _read(leg_id, text)

    async def forget(self, leg_id: str) -> None:
        try:
            await self.client.delete(self.prefix + leg_id)
        except RedisError as error:  # it expires by itself
            log.warning("forgetting SIP leg %s's dialog in Redis: %s", leg_id, error)


def _read(leg_id: str, text: str | bytes) -> KeptCall | None:
    try:
        return KeptCall.from_json(text)
    except (ValueError, TypeError, KeyError) as error:  # written by another version: that call cannot be taken up
        log.warning("SIP leg %s's kept dialog is unreadable (%s)", leg_id, error)
        return None
