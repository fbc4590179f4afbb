"""Where conferences live between events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from talkbox.telephony.model import Conference


class ConferenceStore(Protocol):
    async def get(self, conference_id: str) -> Conference | None: ...

    async def put(self, conference: Conference) -> None: ...

    async def active_for(self, user: str) -> list[Conference]:
        """Conferences still going in which `user` has a live leg."""
        ...


@dataclass
class MemoryStore:
    conferences: dict[str, Conference] = field(default_factory=dict)

    async def get(self, conference_id: str) -> Conference | None:
        return self.conferences.get(conference_id)

    async def put(self, conference: Conference) -> None:
        self.conferences[conference.id] = conference

    async def active_for(self, user: str) -> list[Conference]:
        return [
            conference
            for conference in self.conferences.values()
            if not conference.ended and conference.live_leg_of(user) is not None
        ]
