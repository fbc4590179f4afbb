"""Talkbox's SIP side on loopback sockets, with the real rules, handler, bus and router around it.

Two collaborators stand in for what these signalling tests do not look at:
- `Pages`: the browsers, as the built-in provider reports them (they ring, then
  accept, reject or never answer, as the test says). Real pages calling real
  telephones are the e2e tests' (tests/e2e/test_sip_audio.py).
- `SdpMedia`: the media plane's SDP for RTP legs, fixed text; it records what it is
  handed. The real plain-RTP legs are the media engine's, tested in tests/media.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from talkbox.events import InProcessBus
from talkbox.events.models import ConferenceUpdated, Event, LegStatusChanged
from talkbox.providers.sip.book import CallBook, MemoryBook
from talkbox.providers.sip.provider import SipProvider
from talkbox.providers.sip.settings import SipSettings
from talkbox.providers.sip.stack import SipStack
from talkbox.providers.sip.transactions import Timers
from talkbox.router import Router
from talkbox.telephony.handler import CallHandler
from talkbox.telephony.provider import ResumeLeg, Sequence
from talkbox.telephony.rules import DialLeg, HangUpLeg, HoldLeg, MuteLeg
from talkbox.telephony.store import ConferenceStore, MemoryStore

FAST = Timers(t1=0.05, t2=0.4, t4=0.5, d=0.5)


def sdp(port: int = 40000) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    )


@dataclass
class SdpMedia:
    accepted: list[tuple[str, str]] = field(default_factory=list)
    updated: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    muted: list[tuple[str, bool]] = field(default_factory=list)
    held: list[tuple[str, bool, bool]] = field(default_factory=list)  # (leg, held, with music)
    refuse_offers: bool = False

    async def rtp_offer(self, conference_id: str, leg_id: str, after: str | None = None) -> str:
        return sdp(41000)

    async def rtp_answer(self, conference_id: str, leg_id: str, offer_sdp: str) -> str:
        if self.refuse_offers or "PCMU" not in offer_sdp and "PCMA" not in offer_sdp:
            raise ValueError("no common codec")
        return sdp(42000)

    async def rtp_accept(self, leg_id: str, answer_sdp: str) -> None:
        self.accepted.append((leg_id, answer_sdp))

    async def rtp_update(self, leg_id: str, offer_sdp: str) -> str:
        self.updated.append((leg_id, offer_sdp))
        return sdp(42000).replace("a=rtpmap:0", "a=recvonly\r\na=rtpmap:0") if "sendonly" in offer_sdp else sdp(42000)

    def mute(self, conference_id: str, leg_id: str, muted: bool) -> None:
        self.muted.append((leg_id, muted))

    def hold(self, conference_id: str, leg_id: str, held: bool, music: bool) -> None:
        self.held.append((leg_id, held, music))

    async def remove(self, conference_id: str, leg_id: str) -> None:
        self.removed.append(leg_id)


@dataclass
class Pages:
    """Browser users: each rings when dialled, then does what `answers` says (accept, reject, or nothing)."""

    publish: Any
    answers: dict[str, str] = field(default_factory=dict)
    dialled: list[DialLeg] = field(default_factory=list)
    hung_up: list[HangUpLeg] = field(default_factory=list)
    sequence: Sequence = field(default_factory=Sequence)
    name: str = "pages"

    async def dial(self, command: DialLeg) -> None:
        self.dialled.append(command)
        await self._report(command.conference_id, command.leg_id, "ringing")
        answer = "accept" if command.auto_answer else self.answers.get(command.destination, "accept")
        if answer == "accept":
            await self._report(command.conference_id, command.leg_id, "in-progress")
        elif answer == "reject":
            await self._report(command.conference_id, command.leg_id, "busy", "rejected")

    async def hang_up(self, command: HangUpLeg) -> None:
        self.hung_up.append(command)
        await self._report(command.conference_id, command.leg_id, "completed", command.reason)

    async def mute(self, command: MuteLeg) -> None: ...

    async def hold(self, command: HoldLeg) -> None: ...

    async def resume(self, command: ResumeLeg) -> None: ...

    async def close(self) -> None: ...

    async def _report(self, conference_id: str, leg_id: str, status: str, reason: str | None = None) -> None:
        await self.publish(
            LegStatusChanged(
                conference_id=conference_id,
                leg_id=leg_id,
                status=status,  # type: ignore[arg-type]
                sequence=self.sequence.next(),
                reason=reason,
            )
        )


@dataclass
class SipSide:
    stack: SipStack
    provider: SipProvider
    calls: CallHandler
    pages: Pages
    media: SdpMedia
    bus: InProcessBus
    events: list[Event]

    @property
    def udp(self) -> tuple[str, int]:
        return self.stack.transports.local["udp"]

    @property
    def tcp(self) -> tuple[str, int]:
        return self.stack.transports.local["tcp"]

    def conferences(self) -> list[Any]:
        return [e.conference for e in self.events if isinstance(e, ConferenceUpdated)]

    def last_conference(self) -> Any:
        return self.conferences()[-1]

    async def wait_for(self, condition: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)

    def leg_status(self, destination: str) -> tuple[str, str | None] | None:
        for conference in reversed(self.conferences()):
            for leg in conference.legs:
                if leg.destination == destination:
                    return (leg.status, leg.end_reason)
        return None


@contextlib.asynccontextmanager
async def sip_side(
    timers: Timers = FAST,
    answers: dict[str, str] | None = None,
    *,
    book: CallBook | None = None,
    store: ConferenceStore | None = None,
    **settings: Any,
) -> AsyncIterator[SipSide]:
    """Talkbox's SIP side with stand-in pages; `book` and `store` shared by two of them are one server restarted."""
    options = {"listen": ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], "ring": ("alice", "bob"), "allow": ["127.0.0.0/8"]}
    sip_settings = SipSettings(**{**options, **settings})
    bus = InProcessBus()
    events: list[Event] = []
    seen = _Recorder(events)
    stack = SipStack(sip_settings, timers=timers)
    media = SdpMedia()
    provider = SipProvider(sip_settings, stack.ua, media, bus.publish, ring_timeout=2.0, book=book or MemoryBook())
    pages = Pages(bus.publish, answers or {})
    providers = {"browser": pages, "sip": provider}
    calls = CallHandler(store or MemoryStore(), providers, bus.publish, ring=sip_settings.ring)
    router = Router(bus, handlers=(seen, provider, calls), size=2, attempts=1)
    router.start()
    await stack.start()
    try:
        yield SipSide(stack, provider, calls, pages, media, bus, events)
    finally:
        await provider.close()
        await stack.close()
        await router.stop()


@dataclass
class _Recorder:
    events: list[Event]
    handles: tuple[type, ...] = (object,)

    async def handle(self, event: Event) -> None:
        self.events.append(event)
