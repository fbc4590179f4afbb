"""What the call rules need from a telephony provider.

A provider carries out commands and reports what happens to legs by publishing
LegStatusChanged on the bus; it never calls back into telephony.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from talkbox.events.models import LegKind
from talkbox.telephony.rules import (
    DialLeg,
    HangUpLeg,
    HoldLeg,
    MoveLeg,
    MuteLeg,
    PlayToLeg,
    SendDigits,
    StartRecording,
    StopRecording,
)


@dataclass(frozen=True)
class ResumeLeg:
    """At boot, for each leg the store has live: the provider's memory of it died with the process."""

    conference_id: str
    leg_id: str
    destination: str
    status: str
    muted: bool
    # The provider's own id for the leg (Twilio's CallSid), if a report ever carried one.
    provider_id: str | None = None
    # The sequence number of the last report the rules accepted for the leg.
    sequence: int = 0
    kind: LegKind = "browser"
    held: bool = False
    hold_music: bool = False


class Provider(Protocol):
    name: str

    async def dial(self, command: DialLeg) -> None: ...

    async def hang_up(self, command: HangUpLeg) -> None: ...

    async def mute(self, command: MuteLeg) -> None:
        """Leave the leg's audio out of (or back in) what the others hear."""
        ...

    async def start_recording(self, command: StartRecording, path: str) -> None:
        """Record the conference's mix to `path` (Ogg/Opus), after the announcement or the voicemail greeting.

        A voicemail also ends the caller's leg (`voicemail-full`) once the longest message has been left.
        """
        ...

    async def stop_recording(self, command: StopRecording) -> None: ...

    async def resume_recording(self, command: StartRecording, path: str) -> None:
        """After a restart: a recording that was running. Ours go on in the same file; Twilio's never stopped."""
        ...

    async def hold(self, command: HoldLeg) -> None:
        """Leave the leg out of the mix and give it music on hold (or nothing), or bring it back."""
        ...

    async def play(self, command: PlayToLeg) -> None:
        """Give the leg a sound (ringback while its transfer rings) instead of the call, or the call back."""
        ...

    async def send_digits(self, command: SendDigits) -> None:
        """Keypad digits to a telephone leg."""
        ...

    async def move(self, command: MoveLeg) -> None:
        """The leg, live, on to another conference (a transfer out of a larger call): its reports may still name
        the first (the rules hand them on), but what it hears and says is the other's from now on."""
        ...

    async def resume(self, command: ResumeLeg) -> None:
        """After a restart: take back a leg that was live, or end it with a reason."""
        ...

    async def close(self) -> None:
        """Let go of every leg without ending any: the next boot resumes them."""
        ...


@dataclass
class Sequence:
    """A provider's report numbers: microseconds of wall time, made unique, so they keep growing across restarts."""

    last: int = 0

    def next(self) -> int:
        self.last = max(self.last + 1, time.time_ns() // 1000)
        return self.last
