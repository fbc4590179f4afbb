"""What the Twilio provider remembers of a call, and (several nodes) the same kept in Redis for every node.

A node learns a leg's CallSid the moment it places the call, while the store
learns it only from Twilio's first report, which a node killed in between
never hands on; it learns a conference's ConferenceSid from Twilio's callbacks,
where each recording it asked Twilio for is to be written once Twilio says it is ready, and
which recording of the call a conference's own Twilio recording is.
Kept in Redis too, whichever node handles the conference's next event (the
partition's new owner after a takeover) can hang any leg up, mute it, or adopt
it at once. Each key expires a day after it was last written: a call longer
than that is learnt again from the store and Twilio's REST API, as at boot.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEPT_SECONDS = 24 * 3600


@dataclass
class TwilioLeg:
    conference_id: str
    call_sid: str
    # The client it rings, if it rings one: only that user's pages may reject it.
    user: str | None = None
    answered: bool = False
    # The mute Talkbox wants, and whether Twilio has yet to get it: Participants "only manages
    # active participants of in-progress Conferences", so a mute before that waits for it.
    muted: bool = False
    mute_pending: bool = False
    # The same for the hold (and whether it is with music): a participant's `hold` and `holdUrl`.
    held: bool = False
    hold_music: bool = False
    hold_pending: bool = False


@dataclass
class SharedMemory:
    """The leg -> call and conference -> ConferenceSid maps in Redis. A Redis error is logged and
    taken as "not known": the node's own memory and Twilio's REST API still answer."""

    client: redis.Redis
    prefix: str = "talkbox:twilio:"

    async def leg(self, leg_id: str) -> TwilioLeg | None:
        try:
            text = await self.client.get(f"{self.prefix}leg:{leg_id}")
        except RedisError as error:
            log.warning("reading leg %s's Twilio call from Redis: %s", leg_id, error)
            return None
        return None if text is None else TwilioLeg(**json.loads(text))

    async def keep_leg(self, leg_id: str, leg: TwilioLeg) -> None:
        try:
            await self.client.set(f"{self.prefix}leg:{leg_id}", json.dumps(dataclasses.asdict(leg)), ex=KEPT_SECONDS)
        except RedisError as error:
            log.warning("keeping leg %s's Twilio call in Redis: %s; only this node knows it", leg_id, error)

    async def forget_leg(self, leg_id: str) -> None:
        try:
            await self.client.delete(f"{self.prefix}leg:{leg_id}")
        except RedisError as error:  # it expires by itself
            log.warning("forgetting leg %s's Twilio call in Redis: %s", leg_id, error)

    async def recording(self, recording_id: str) -> str | None:
        """The file a recording Twilio makes is written to, once it is ready (its callback may reach any node)."""
        try:
            path = await self.client.get(f"{self.prefix}recording:{recording_id}")
        except RedisError as error:
            log.warning("reading where recording %s goes from Redis: %s", recording_id, error)
            return None
        return None if path is None else path.decode()

    async def keep_recording(self, recording_id: str, path: str) -> None:
        try:
            await self.client.set(f"{self.prefix}recording:{recording_id}", path, ex=KEPT_SECONDS)
        except RedisError as error:
            log.warning("keeping where recording %s goes in Redis: %s; only this node knows it", recording_id, error)

    async def forget_recording(self, recording_id: str) -> None:
        try:
            await self.client.delete(f"{self.prefix}recording:{recording_id}")
        except RedisError as error:  # it expires by itself
            log.warning("forgetting where recording %s goes in Redis: %s", recording_id, error)

    async def taping(self, conference_id: str) -> str | None:
        """Which recording of the call the conference's own Twilio recording is (its callback names none)."""
        try:
            recording_id = await self.client.get(f"{self.prefix}taping:{conference_id}")
        except RedisError as error:
            log.warning("reading conference %s's recording from Redis: %s", conference_id, error)
            return None
        return None if recording_id is None else recording_id.decode()

    async def keep_taping(self, conference_id: str, recording_id: str) -> None:
        try:
            await self.client.set(f"{self.prefix}taping:{conference_id}", recording_id, ex=KEPT_SECONDS)
        except RedisError as error:
            log.warning("keeping conference %s's recording in Redis: %s; only this node knows it", conference_id, error)

    async def forget_taping(self, conference_id: str) -> None:
        try:
            await self.client.delete(f"{self.prefix}taping:{conference_id}")
        except RedisError as error:  # it expires by itself
            log.warning("forgetting conference %s's recording in Redis: %s", conference_id, error)

    async def conference(self, conference_id: str) -> str | None:
        try:
            sid = await self.client.get(f"{self.prefix}conference:{conference_id}")
        except RedisError as error:
            log.warning("reading conference %s's ConferenceSid from Redis: %s", conference_id, error)
            return None
        return None if sid is None else sid.decode()

    async def keep_conference(self, conference_id: str, sid: str) -> None:
        try:
            await self.client.set(f"{self.prefix}conference:{conference_id}", sid, ex=KEPT_SECONDS)
        except RedisError as error:
            log.warning("keeping conference %s's ConferenceSid in Redis: %s", conference_id, error)

    async def forget_conference(self, conference_id: str) -> None:
        try:
            await self.client.delete(f"{self.prefix}conference:{conference_id}")
        except RedisError as error:
            log.warning("forgetting conference %s's ConferenceSid in Redis: %s", conference_id, error)
