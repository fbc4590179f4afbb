"""The conference store on Redis, shared by every node of a deployment.

The same contract as the SQLite store (telephony/store.py): a change and the
input that caused it are written in one MULTI/EXEC, or not at all
(StoreUnavailable, and the handler's backlog keeps it). Who is on which live
conference is an index kept in the same transaction, so `active_for(user)`
reads one set instead of scanning every conference.

Keys, under the prefix: `conference:ID` (the JSON), `log:ID` (its causes, in
order), `active` (ids of live conferences), `user:NAME` (ids of the live
conferences NAME has a live leg on), `quarantine` (rows that could not be read),
`person:NAME` (do not disturb and when their history was last seen), `people` (their names),
`calls:NAME` (their calls' conference ids, scored by start) and `call:NAME` (conference id -> record);
`recording:ID` (a recording's JSON), `recordings:NAME` (the ids NAME owns, scored by
when they started), `voicemail-off` (the users who turned voicemail off).
The Redis client belongs to the composition root, which closes it.

A write made while the router hands an event of the Redis bus to a handler is
fenced (events/fence.py): one Lua call checks the partition's lease is still
the one the event was read under (else NotOwner, nothing written), makes the
write and marks the delivery applied by that handler, all in one step.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from talkbox.events.fence import MARK_SECONDS, NotOwner, current
from talkbox.telephony.model import Conference
from talkbox.telephony.people import HISTORY_KEEP, CallRecord, Person, record_from_json, record_to_json
from talkbox.telephony.recordings import Recording, newest_first, recording_from_json, recording_to_json
from talkbox.telephony.store import StoreUnavailable, dumps, from_json, to_json

log = logging.getLogger(__name__)

# One Redis command, its arguments as strings.
Command = tuple[str, ...]

# A fenced write: only under the lease the event was read under, and marked applied in the same step.
# (The keys it writes are named in ARGV, not KEYS: one Redis, never a cluster.)
_FENCED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for _, command in ipairs(cjson.decode(ARGV[2])) do redis.call(unpack(command)) end
redis.call('HSET', KEYS[2], ARGV[3], '1')
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""


@dataclass
class RedisStore:
    client: redis.Redis
    prefix: str = "talkbox:"
    keep_calls: int = HISTORY_KEEP
    _fenced: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._fenced = self.client.register_script(_FENCED)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def get(self, conference_id: str) -> Conference | None:
        data = await self._reading(self.client.get(self._key("conference", conference_id)))
        return None if data is None else await self._read(conference_id, data)

    async def put(self, conference: Conference, cause: dict[str, Any]) -> None:
        users = {leg.destination for leg in conference.legs}
        commands: list[Command] = [
            ("SET", self._key("conference", conference.id), to_json(conference)),
            ("RPUSH", self._key("log", conference.id), dumps(cause)),
            ("SREM" if conference.ended else "SADD", self._key("active"), conference.id),
        ]
        for user in users:
            live = not conference.ended and conference.live_leg_of(user) is not None
            commands.append(("SADD" if live else "SREM", self._key("user", user), conference.id))
        await self._writing(commands, f"the change to {conference.id}")

    async def active(self) -> list[Conference]:
        return await self._load(await self._reading(self.client.smembers(self._key("active"))))

    async def active_for(self, user: str) -> list[Conference]:
        found = await self._load(await self._reading(self.client.smembers(self._key("user", user))))
        return [c for c in found if not c.ended and c.live_leg_of(user) is not None]

    async def events_of(self, conference_id: str) -> list[dict[str, Any]]:
        """The logged causes of one conference, oldest first."""
        return [json.loads(cause) for cause in await self.client.lrange(self._key("log", conference_id), 0, -1)]

    async def put_recording(self, recording: Recording) -> None:
        before = await self.recording(recording.id)
        commands: list[Command] = [("SET", self._key("recording", recording.id), recording_to_json(recording))]
        for owner in before.owners if before is not None else ():
            if owner not in recording.owners:
                commands.append(("ZREM", self._key("recordings", owner), recording.id))
        for owner in recording.owners:
            commands.append(("ZADD", self._key("recordings", owner), repr(recording.started_at), recording.id))
        await self._writing(commands, f"recording {recording.id}")

    async def recording(self, recording_id: str) -> Recording | None:
        data = await self._reading(self.client.get(self._key("recording", recording_id)))
        return None if data is None else self._recording(data)

    async def recordings_of(self, user: str) -> list[Recording]:
        ids = await self._reading(self.client.zrange(self._key("recordings", user), 0, -1))
        if not ids:
            return []
        rows = await self._reading(self.client.mget([self._key("recording", i.decode()) for i in ids]))
        found = [self._recording(data) for data in rows if data is not None]
        return newest_first([r for r in found if r is not None and user in r.owners])

    async def delete_recording(self, recording_id: str) -> None:
        before = await self.recording(recording_id)
        commands: list[Command] = [("DEL", self._key("recording", recording_id))]
        for owner in before.owners if before is not None else ():
            commands.append(("ZREM", self._key("recordings", owner), recording_id))
        await self._writing(commands, f"deleting recording {recording_id}")

    async def voicemail_on(self, user: str) -> bool:
        return not await self._reading(self.client.sismember(self._key("voicemail-off"), user))

    async def set_voicemail(self, user: str, on: bool) -> None:
        command = ("SREM" if on else "SADD", self._key("voicemail-off"), user)
        await self._writing([command], f"{user}'s voicemail setting")

    @staticmethod
    def _recording(data: bytes) -> Recording | None:
        try:
            return recording_from_json(data)
        except ValueError as error:
            log.error("a recording in Redis cannot be read (%s): skipped", " ".join(str(error).split())[:300])
            return None

    async def person(self, name: str) -> Person | None:
        fields = await self._reading(self.client.hgetall(self._key("person", name)))
        return _person(name, fields) if fields else None

    async def put_person(self, person: Person) -> None:
        person_key = self._key("person", person.name)
        await self._writing(
            [
                ("HSET", person_key, "dnd", str(int(person.dnd)), "history_seen", repr(person.history_seen)),
                ("SADD", self._key("people"), person.name),
            ]
        )

    async def people(self) -> list[Person]:
        names = sorted(n.decode() for n in await self._reading(self.client.smembers(self._key("people"))))
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self._key("person", name))
        rows = await self._reading(pipe.execute())
        return [_person(name, fields) for name, fields in zip(names, rows, strict=True) if fields]

    async def put_calls(self, records: Sequence[CallRecord]) -> None:
        commands: list[Command] = []
        for record in records:
            commands.append(("HSET", self._key("call", record.user), record.conference_id, record_to_json(record)))
            commands.append(("ZADD", self._key("calls", record.user), repr(record.started_at), record.conference_id))
        await self._writing(commands)
        for user in {record.user for record in records}:
            await self._trim(user)

    async def _trim(self, user: str) -> None:
        """Forget all but the user's newest calls (after the write: a trim that fails loses nothing kept)."""
        old = await self._reading(self.client.zrange(self._key("calls", user), 0, -(self.keep_calls + 1)))
        if old:
            ids = tuple(i.decode() for i in old)
            await self._writing([("ZREM", self._key("calls", user), *ids), ("HDEL", self._key("call", user), *ids)])

    async def call_of(self, user: str, conference_id: str) -> CallRecord | None:
        data = await self._reading(self.client.hget(self._key("call", user), conference_id))
        return None if data is None else record_from_json(data)

    async def calls_of(self, user: str, before: float | None, limit: int) -> list[CallRecord]:
        top = "+inf" if before is None else f"({before!r}"
        ids = await self._reading(self.client.zrevrangebyscore(self._key("calls", user), top, "-inf", 0, limit))
        return await self._records(user, ids)

    async def missed_since(self, user: str, since: float) -> int:
        ids = await self._reading(self.client.zrangebyscore(self._key("calls", user), f"({since!r}", "+inf"))
        return sum(1 for record in await self._records(user, ids) if record.missed)

    async def _records(self, user: str, ids: list[bytes]) -> list[CallRecord]:
        if not ids:
            return []
        rows = await self._reading(self.client.hmget(self._key("call", user), ids))
        return [record_from_json(data) for data in rows if data is not None]

    async def _writing(self, commands: list[Command], what: str = "a change to people or calls") -> None:
        """All of `commands` or none: under the fence of the event being handled, if any (NotOwner when its lease
        is gone), else in one MULTI/EXEC."""
        fence = current()
        try:
            if fence is None:
                transaction = self.client.pipeline(transaction=True)
                for command in commands:
                    transaction.execute_command(*command)
                await transaction.execute()
                return
            written = await self._fenced(
                keys=[fence.lease_key, fence.applied_key],
                args=[fence.lease, json.dumps(commands), fence.handler, MARK_SECONDS],
            )
        except RedisError as error:
            raise StoreUnavailable(f"Redis did not take {what}: {error}") from error
        if not written:
            raise NotOwner(f"the lease {fence.lease} is no longer this node's")

    def close(self) -> None:
        """Nothing of its own to close: the client is the composition root's."""

    async def _load(self, ids: set[bytes]) -> list[Conference]:
        names = sorted(i.decode() for i in ids)
        if not names:
            return []
        rows = await self._reading(self.client.mget([self._key("conference", name) for name in names]))
        loaded = [await self._read(name, data) for name, data in zip(names, rows, strict=True) if data is not None]
        return [conference for conference in loaded if conference is not None]

    async def _reading(self, command: Any) -> Any:
        try:
            return await command
        except RedisError as error:
            raise StoreUnavailable(f"Redis could not be read: {error}") from error

    async def _read(self, conference_id: str, data: bytes) -> Conference | None:
        """A stored conference, or None when it cannot be read: then it is quarantined, so one bad one stops nothing."""
        try:
            return from_json(data)
        except ValueError as error:
            why = " ".join(str(error).split())[:300]
            entry = json.dumps({"data": data.decode(errors="replace"), "error": why, "at": time.time()})
            transaction = self.client.pipeline(transaction=True)
            transaction.hset(self._key("quarantine"), conference_id, entry)
            transaction.delete(self._key("conference", conference_id))
            transaction.srem(self._key("active"), conference_id)
            await transaction.execute()
            log.error("conference %r in Redis cannot be read (%s): moved to its quarantine hash", conference_id, why)
            return None


def _person(name: str, fields: dict[bytes, bytes]) -> Person:
    return Person(name, fields.get(b"dnd") == b"1", float(fields.get(b"history_seen", b"0")))
