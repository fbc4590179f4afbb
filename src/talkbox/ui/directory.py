"""The directory: the people on this Talkbox and how each stands, live on every page allowed to see them.

A person is `offline` (no page open on any node), `online`, `in_call` (a leg
of theirs is connected) or `dnd` (they asked not to be disturbed; it wins over
`in_call`, being what a caller needs to know). Whenever one of those may have
changed (a page opened or closed, a conference changed, do not disturb was set)
the handler works the person's status out again from the store and presence,
and sends it to everyone whose page asked for the directory (on one node the
gateway knows them, `listeners`; with several nodes, every user online, whose
stream reaches their pages on any node). With nobody to tell, nothing is worked
out: a call costs the same with ten thousand idle pages open as with none. A conference's many updates send a person's
status only when it differs from what that conference's updates last sent:
a conference's events are all handled on one node, so that memory is never
another node's stale one.

Who may see whom is the server's to enforce: each message about a person names
them (`Parcel.about`), and the gateway hands it only to the pages whose
`Visibility` includes them. In open mode the directory lists who is online
(names cost nothing there); in token mode everyone who has signed in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from talkbox.events.models import ConferenceUpdated, Event, PresenceChanged, UserSetsPresence
from talkbox.ui.protocol import PersonStatus, PresenceMessage, PresenceStatus
from talkbox.ui.user_streams import Parcel

MAX_LISTED = 1000  # the most people one `presence` snapshot lists; a page of more would be unusable anyway


class People(Protocol):
    """What the directory and history read and write (telephony/book.py on the conference store)."""

    async def names(self) -> list[str]: ...

    async def remember(self, name: str) -> None: ...

    async def dnd(self, name: str) -> bool: ...

    async def set_dnd(self, name: str, on: bool) -> None: ...

    async def in_call(self, name: str) -> bool: ...

    async def calls(self, name: str, before: float | None, limit: int) -> Sequence[Any]: ...

    async def missed(self, name: str) -> int: ...

    async def seen(self, name: str) -> None: ...

    async def leg_stats(self, name: str, conference_id: str) -> dict[str, dict[str, Any]] | None:
        """The media engine's view of each leg, for the conference's chair only (None: not theirs to see)."""
        ...


@dataclass(frozen=True)
class Visibility:
    """Whom a page may see: everyone (None), or the names its token's `directory` claim lists. Always itself."""

    names: frozenset[str] | None = None

    def sees(self, name: str, me: str) -> bool:
        return self.names is None or name == me or name in self.names


@dataclass
class Directory:
    people: People
    is_online: Callable[[str], Awaitable[bool]]
    send: Callable[[Parcel], Awaitable[None]]
    open_mode: bool
    # On one node: the users with a page here that asked for the directory. None with several nodes.
    listeners: Callable[[], Collection[str]] | None = None
    # (conference id, name) -> the status that conference's updates last sent for them, while it goes on.
    _sent: dict[tuple[str, str], PresenceStatus] = field(default_factory=dict, init=False, repr=False)

    handles = (PresenceChanged, ConferenceUpdated, UserSetsPresence)

    async def status(self, name: str) -> PresenceStatus:
        if not await self.is_online(name):
            return "offline"
        if await self.people.dnd(name):
            return "dnd"
        return "in_call" if await self.people.in_call(name) else "online"

    async def snapshot(self, me: str, visibility: Visibility) -> PresenceMessage:
        """Everyone this page may see, for the page that just connected."""
        names = [name for name in await self.people.names() if visibility.sees(name, me)][:MAX_LISTED]
        listed = [PersonStatus(name=name, status=await self.status(name)) for name in names]
        if self.open_mode:
            listed = [person for person in listed if person.status != "offline"]
        return PresenceMessage(people=tuple(listed), complete=True)

    async def handle(self, event: Event) -> None:
        if isinstance(event, PresenceChanged):
            await self._tell(event.user, await self.status(event.user))
        elif isinstance(event, UserSetsPresence):
            await self.people.set_dnd(event.user, event.dnd)
            await self._tell(event.user, await self.status(event.user))
        elif isinstance(event, ConferenceUpdated):
            await self._conference_changed(event)

    async def _conference_changed(self, event: ConferenceUpdated) -> None:
        conference = event.conference
        names = dict.fromkeys(leg.destination for leg in conference.legs if leg.kind == "browser")
        if self.listeners is not None and not self.listeners():
            # What was sent is forgotten, so a page that listens later is told the next change, whatever it is.
            for name in names:
                self._sent.pop((conference.id, name), None)
            return
        for name in names:
            status = await self.status(name)
            key = (conference.id, name)
            if conference.status == "ended":
                self._sent.pop(key, None)
            elif self._sent.get(key) == status:
                continue
            else:
                self._sent[key] = status
            await self._tell(name, status)

    async def _tell(self, name: str, status: PresenceStatus) -> None:
        audience = await self._audience()
        if not audience:
            return
        text = PresenceMessage(people=(PersonStatus(name=name, status=status),), complete=False).model_dump_json()
        for user in audience:
            await self.send(Parcel(user, text, about=name))

    async def _audience(self) -> list[str]:
        if self.listeners is not None:
            return list(self.listeners())
        return [name for name in await self.people.names() if await self.is_online(name)]
