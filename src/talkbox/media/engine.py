"""The media engine of one process: endpoints, the conferences they belong to, and one clock.

The providers keep the signalling; they ask the engine for an offer, hand it
the page's answer, and hear back when a leg's media is up or lost and who is
speaking. Everything here runs on one event loop with no threads: packets
arrive in the datagram callbacks and one 20 ms timer drives every mixing
conference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from talkbox.events.log_context import ids
from talkbox.media import tones
from talkbox.media.conference import ConferenceMedia
from talkbox.media.endpoint import WebRtcEndpoint
from talkbox.media.ice import restrict_host_candidates
from talkbox.media.opus import FRAME_SAMPLES, SAMPLE_RATE
from talkbox.media.recorder import Recorder
from talkbox.media.rtp_endpoint import RtpEndpoint
from talkbox.media.sdp import Origin, port_of
from talkbox.media.sdp import check as check_sdp
from talkbox.media.tones import SoundName, sound

log = logging.getLogger(__name__)

TICK = FRAME_SAMPLES / SAMPLE_RATE
FORWARDED_SPEAKING_TICKS = 5


@dataclass(frozen=True)
class MediaSettings:
    media_host: str = "127.0.0.1"
    public_address: str | None = None
    ice_servers: tuple[str, ...] = ()
    # Telephone legs: an inclusive range to take RTP ports from (None: any free port), and whether RTP is
    # taken from wherever the first packet comes (trunks behind NAT) rather than only from the SDP's address.
    rtp_ports: tuple[int, int] | None = None
    sip_latch: bool = False


StateSink = Callable[[str, str], None]  # (leg id, "connected" | "lost" | "restarted")
SpeakingSink = Callable[[str, frozenset[str]], None]  # (conference id, leg ids speaking)
DtmfSink = Callable[[str, str, str], None]  # (conference id, leg id, keypad digit)


class Media(Protocol):
    """What a provider asks of the media plane: this engine in-process, or a pool of worker processes.

    `offer`/`accept` are a browser leg (WebRTC); the `rtp_` ones a telephone leg (plain RTP, G.711). An SDP
    the engine cannot use raises ValueError, whose message says why (the signalling answers 488).
    """

    async def offer(self, conference_id: str, leg_id: str) -> str: ...
    async def accept(self, leg_id: str, sdp: str) -> None: ...
    async def rtp_offer(self, conference_id: str, leg_id: str, after: str | None = None) -> str: ...
    async def rtp_answer(self, conference_id: str, leg_id: str, offer: str) -> str: ...
    async def rtp_accept(self, leg_id: str, sdp: str) -> None: ...
    async def rtp_update(self, leg_id: str, offer: str) -> str: ...
    async def send_dtmf(self, leg_id: str, digits: str) -> None: ...
    async def move(self, leg_id: str, conference_id: str) -> None:
        """The leg's endpoint, as it is, into another conference's mix (a transfer out of a larger call)."""
        ...

    def mute(self, conference_id: str, leg_id: str, muted: bool) -> None: ...
    async def start_recording(self, conference_id: str, path: str, tone: str) -> None:
        """Play the named tone (`announcement`, `greeting`, or none: ``), then record the mix to `path`."""
        ...

    async def stop_recording(self, conference_id: str) -> None: ...
    def hold(self, conference_id: str, leg_id: str, held: bool, music: bool) -> None: ...
    def play(self, conference_id: str, leg_id: str, sound: SoundName | None) -> None: ...
    async def drop(self, leg_id: str) -> None: ...
    async def remove(self, conference_id: str, leg_id: str) -> None: ...
    async def close(self) -> None: ...
    async def stats(self) -> dict[str, int]: ...
    async def leg_stats(self, conference_id: str) -> dict[str, dict[str, float | int | bool | None]]:
        """Each leg of the conference as the engine sees it (empty when the conference is not here)."""
        ...


class MediaFactory(Protocol):
    def __call__(self, on_state: StateSink, on_speaking: SpeakingSink, on_dtmf: DtmfSink = ...) -> Media: ...


def no_dtmf(_conference_id: str, _leg_id: str, _digit: str) -> None:
    """For a provider that has no telephones."""


@dataclass
class Placement:
    conference_id: str
    endpoint: WebRtcEndpoint | RtpEndpoint


@dataclass
class MediaEngine:
    on_state: StateSink
    on_speaking: SpeakingSink = lambda _conference, _legs: None
    settings: MediaSettings = field(default_factory=MediaSettings)
    on_dtmf: DtmfSink = no_dtmf
    legs: dict[str, Placement] = field(default_factory=dict)
    conferences: dict[str, ConferenceMedia] = field(default_factory=dict)
    ticks: int = 0
    late_ticks: int = 0
    _tick: asyncio.TimerHandle | None = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        restrict_host_candidates(self.settings.media_host)

    async def offer(self, conference_id: str, leg_id: str) -> str:
        """A fresh endpoint for the leg (replacing any old one, as for a reloaded page) and its SDP offer."""
        await self.drop(leg_id)
        endpoint = WebRtcEndpoint(
            on_packet=lambda _packet, _now: None,
            on_state=lambda _state: None,
            ice_servers=self.settings.ice_servers,
            media_host=self.settings.media_host,
            public_address=self.settings.public_address,
        )
        endpoint.on_state = lambda state: self._state(leg_id, endpoint, state)
        self.legs[leg_id] = Placement(conference_id, endpoint)
        conference = self._conference(conference_id)
        conference.add(leg_id, endpoint.send)
        endpoint.on_packet = lambda packet, now: conference.receive(leg_id, packet, now)
        return await endpoint.offer()

    async def accept(self, leg_id: str, sdp: str) -> None:
        placement = self.legs.get(leg_id)
        if placement is None or not isinstance(placement.endpoint, WebRtcEndpoint):
            raise KeyError(leg_id)
        await placement.endpoint.accept(sdp)

    async def rtp_offer(self, conference_id: str, leg_id: str, after: str | None = None) -> str:
        """A fresh plain-RTP endpoint for a telephone (replacing any old one) and its offer, for a call out.

        `after`, our last description in a dialog another process had: the offer carries on its o= line
        (a re-INVITE's session id stays, its version moves on: RFC 3264 8).
        """
        origin = Origin.of(after) if after is not None else None
        return (await self._rtp_endpoint(conference_id, leg_id, origin=origin)).offer()

    async def rtp_answer(self, conference_id: str, leg_id: str, offer: str) -> str:
        """A fresh endpoint answering a telephone's offer, for a call in; ValueError when nothing in it fits."""
        check_sdp(offer)  # refused before a port is taken or an old endpoint let go
        return (await self._rtp_endpoint(conference_id, leg_id)).answer(offer)

    async def rtp_accept(self, leg_id: str, sdp: str) -> None:
        """The telephone's answer to `rtp_offer` (from a 183, a 200, or again later): the latest wins."""
        self._rtp(leg_id).accept(sdp)

    async def rtp_update(self, leg_id: str, offer: str) -> str:
        """A re-INVITE's offer (hold, unhold, a new address or codec) answered on the leg's existing port."""
        return self._rtp(leg_id).answer(offer)

    async def send_dtmf(self, leg_id: str, digits: str) -> None:
        """Keypad digits to the telephone as RFC 4733 events, one after the other."""
        self._rtp(leg_id).send_digits(digits)

    async def rtp_restore(self, conference_id: str, leg_id: str, ours: str, remote: str | None) -> None:
        """A telephone leg of a worker that died, again on the port of `ours` (our last description) with the
        telephone's latest description: the telephone goes on sending there and never hears of it (a browser can
        offer again; a trunk would need a re-INVITE), and our next description carries on our o= line."""
        port = port_of(ours)
        endpoint = await self._rtp_endpoint(conference_id, leg_id, ports=(port, port + 1), origin=Origin.of(ours))
        if remote is not None:
            endpoint.accept(remote)

    async def move(self, leg_id: str, conference_id: str) -> None:
        """Out of one mix into another: the endpoint stays up (no new offer), and its stream's numbering goes on."""
        placement = self.legs.get(leg_id)
        if placement is None or placement.conference_id == conference_id:
            return  # no endpoint here (its media comes later, into the conference it is on by then), or moved
        old = self.conferences.get(placement.conference_id)
        member = old.take(leg_id) if old is not None else None
        if old is not None:
            self._forget_if_empty(old)
        endpoint = placement.endpoint
        placement.conference_id = conference_id
        new = self._conference(conference_id)
        if member is not None:
            new.give(member)
        else:
            new.add(leg_id, endpoint.send, telephone=isinstance(endpoint, RtpEndpoint))
        endpoint.on_packet = lambda packet, now: new.receive(leg_id, packet, now)
        if isinstance(endpoint, RtpEndpoint):
            endpoint.on_digit = lambda digit: self._digit(conference_id, leg_id, endpoint, digit)

    def mute(self, conference_id: str, leg_id: str, muted: bool) -> None:
        """Also for a leg with no endpoint yet (a resumed leg): the mute waits for it."""
        self._conference(conference_id).mute(leg_id, muted)

    async def start_recording(self, conference_id: str, path: str, tone: str) -> None:
        prompt = tones.named(tone) if tone else tones.silence(0)
        self._conference(conference_id).record(Recorder(Path(path)), prompt)

    async def stop_recording(self, conference_id: str) -> None:
        conference = self.conferences.get(conference_id)
        if conference is not None:
            conference.stop_recording()

    def hold(self, conference_id: str, leg_id: str, held: bool, music: bool) -> None:
        """Like mute, it waits for a leg with no endpoint yet."""
        self._conference(conference_id).hold(leg_id, held, music)

    def play(self, conference_id: str, leg_id: str, name: SoundName | None) -> None:
        """The leg hears `name` (from its start) instead of the call; None: the call again."""
        self._conference(conference_id).play(leg_id, None if name is None else sound(name))

    async def drop(self, leg_id: str) -> None:
        """Close the leg's endpoint; it stays in its conference (a page may offer again)."""
        placement = self.legs.pop(leg_id, None)
        if placement is not None:
            await placement.endpoint.close()

    async def remove(self, conference_id: str, leg_id: str) -> None:
        await self.drop(leg_id)
        conference = self.conferences.get(conference_id)
        if conference is None:
            return
        conference.remove(leg_id)
        self._forget_if_empty(conference)

    def _forget_if_empty(self, conference: ConferenceMedia) -> None:
        if conference.empty and not conference.muted and not conference.held and not conference.sounds:
            conference.stop_recording()
            del self.conferences[conference.conference_id]

    async def close(self) -> None:
        for leg_id in list(self.legs):
            await self.drop(leg_id)
        for conference in self.conferences.values():
            conference.stop_recording()
        self.conferences.clear()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    async def stats(self) -> dict[str, int]:
        """Counters for the benchmarks and the operator: ticks, and packets dropped by kind."""
        totals = {"ticks": self.ticks, "late_ticks": self.late_ticks, "conferences": len(self.conferences)}
        totals["legs"] = len(self.legs)
        for placement in self.legs.values():
            for name, value in vars(placement.endpoint.counters).items():
                totals[name] = totals.get(name, 0) + value
        return totals

    async def leg_stats(self, conference_id: str) -> dict[str, dict[str, float | int | bool | None]]:
        """Per leg: its jitter buffer (delay, target, packets concealed, late and dropped) and its peer's
        receiver reports of what Talkbox sends it (round trip, loss, jitter). A call of two is forwarded
        without a buffer (`buffered` false): then only the peer's reports say anything."""
        conference = self.conferences.get(conference_id)
        if conference is None:
            return {}
        stats: dict[str, dict[str, float | int | bool | None]] = {}
        for leg_id, member in conference.members.items():
            placement = self.legs.get(leg_id)
            quality = placement.endpoint.quality if placement is not None else None
            buffer = member.buffer.stats
            heard = buffer.received + buffer.concealed
            round_trip = quality.round_trip if quality is not None else None
            stats[leg_id] = {
                "buffered": not conference.forwarding,
                "delay_ms": round(buffer.delay_ms, 1),
                "target_ms": round(buffer.target_ms, 1),
                "received": buffer.received,
                "concealed": buffer.concealed,
                "late": buffer.late,
                "dropped": buffer.dropped,
                "loss": round(buffer.concealed / heard, 4) if heard else 0.0,
                "peer_round_trip_ms": round(round_trip * 1000, 1) if round_trip is not None else None,
                "peer_loss": round(quality.fraction_lost, 4) if quality is not None else None,
                "peer_jitter_ms": round(quality.jitter_ms, 1) if quality is not None else None,
            }
        return stats

    # --- inside -------------------------------------------------------------------

    async def _rtp_endpoint(
        self,
        conference_id: str,
        leg_id: str,
        ports: tuple[int, int] | None = None,
        origin: tuple[int, int] | None = None,
    ) -> RtpEndpoint:
        await self.drop(leg_id)
        endpoint = RtpEndpoint(
            on_packet=lambda _packet, _now: None,
            on_state=lambda _state: None,
            host=self.settings.media_host,
            public_address=self.settings.public_address,
            ports=ports or self.settings.rtp_ports,
            latch=self.settings.sip_latch,
            origin=origin,
        )
        await endpoint.open()
        endpoint.on_state = lambda state: self._state(leg_id, endpoint, state)
        endpoint.on_digit = lambda digit: self._digit(conference_id, leg_id, endpoint, digit)
        self.legs[leg_id] = Placement(conference_id, endpoint)
        conference = self._conference(conference_id)
        conference.add(leg_id, endpoint.send, telephone=True)
        endpoint.on_packet = lambda packet, now: conference.receive(leg_id, packet, now)
        return endpoint

    def _rtp(self, leg_id: str) -> RtpEndpoint:
        placement = self.legs.get(leg_id)
        if placement is None or not isinstance(placement.endpoint, RtpEndpoint):
            raise KeyError(leg_id)
        return placement.endpoint

    def _digit(self, conference_id: str, leg_id: str, endpoint: RtpEndpoint, digit: str) -> None:
        placement = self.legs.get(leg_id)
        if placement is not None and placement.endpoint is endpoint:
            self.on_dtmf(conference_id, leg_id, digit)

    def _conference(self, conference_id: str) -> ConferenceMedia:
        conference = self.conferences.get(conference_id)
        if conference is None:
            conference = ConferenceMedia(conference_id, on_speaking=lambda legs: self.on_speaking(conference_id, legs))
            self.conferences[conference_id] = conference
            self._start_clock()
        return conference

    def _state(self, leg_id: str, endpoint: WebRtcEndpoint | RtpEndpoint, state: str) -> None:
        placement = self.legs.get(leg_id)
        if placement is None or placement.endpoint is not endpoint:
            return  # an old endpoint of a leg that has a new one
        self.on_state(leg_id, state)

    def _start_clock(self) -> None:
        if self._tick is None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.time() + TICK
            self._tick = loop.call_at(self._deadline, self._run_tick)

    def _run_tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.ticks += 1
        for conference in list(self.conferences.values()):
            try:
                if conference.forwarding:
                    if self.ticks % FORWARDED_SPEAKING_TICKS == 0:
                        conference.forwarded_speaking(now)
                elif conference.members:
                    conference.tick(now)
            except Exception:
                log.exception(
                    "mixing conference %s failed a tick", conference.conference_id, extra=ids(conference.conference_id)
                )
        if not self.conferences:
            self._tick = None
            return
        self._deadline += TICK
        if self._deadline < now:
            self.late_ticks += 1
            if now - self._deadline > 10 * TICK:
                self._deadline = now + TICK  # fell far behind: resync rather than burst
        self._tick = loop.call_at(self._deadline, self._run_tick)
