"""The people and their history as the page's directory reads them (ui/directory.py's `People`), on the store."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from talkbox.telephony.history import missed_count
from talkbox.telephony.people import Person
from talkbox.telephony.store import ConferenceStore, StoreUnavailable

log = logging.getLogger(__name__)

MediaView = Callable[[str], Awaitable[dict[str, dict[str, Any]]]]  # conference id -> each leg as the engine sees it


@dataclass
class PeopleBook:
    store: ConferenceStore
    # The built-in engine's view of a conference's legs; None where the provider carries the media (Twilio).
    media_view: MediaView | None = None
    clock: Callable[[], float] = field(default=time.time)

    async def names(self) -> list[str]:
        return [person.name for person in await self.store.people()]

    async def remember(self, name: str) -> None:
        """Best effort: a store that cannot take it (a full disk) must not keep anyone from signing in."""
        try:
            if await self.store.person(name) is None:
                await self.store.put_person(Person(name))
        except StoreUnavailable as error:
            log.warning("could not add a person to the directory: %s", error)

    async def dnd(self, name: str) -> bool:
        person = await self.store.person(name)
        return person is not None and person.dnd

    async def set_dnd(self, name: str, on: bool) -> None:
        await self.store.put_person(replace(await self._person(name), dnd=on))

    async def in_call(self, name: str) -> bool:
        """Connected on a call: a leg of theirs is in progress (ringing is not being in a call)."""
        for conference in await self.store.active_for(name):
            leg = conference.live_leg_of(name)
            if leg is not None and leg.status == "in-progress":
                return True
        return False

    async def calls(self, name: str, before: float | None, limit: int) -> list[dict[str, Any]]:
        """Their records as the page's `history` lists them: whose they are goes without saying."""
        records = await self.store.calls_of(name, before, limit)
        return [{key: value for key, value in asdict(record).items() if key != "user"} for record in records]

    async def missed(self, name: str) -> int:
        return await missed_count(self.store, name)

    async def seen(self, name: str) -> None:
        await self.store.put_person(replace(await self._person(name), history_seen=self.clock()))

    async def leg_stats(self, name: str, conference_id: str) -> dict[str, dict[str, Any]] | None:
        """For the chair of a conference, while on it (nothing once off it); None for anyone else, or no conference.

        The page asks every few seconds: an ask that crosses the call's end gets no legs, not a refusal that
        the page would show in place of how the call ended.
        """
        conference = await self.store.get(conference_id)
        if conference is None:
            return None
        chair = conference.chair
        if chair.destination != name or chair.kind != "browser":
            return None
        if conference.ended or chair.ended or self.media_view is None:
            return {}
        return await self.media_view(conference_id)

    async def _person(self, name: str) -> Person:
        return await self.store.person(name) or Person(name)
