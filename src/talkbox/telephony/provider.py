"""What the call rules need from a telephony provider.

A provider carries out commands and reports what happens to legs by publishing
LegStatusChanged on the bus; it never calls back into telephony.
"""

from __future__ import annotations

from typing import Protocol

from talkbox.telephony.rules import DialLeg, HangUpLeg, MuteLeg


class Provider(Protocol):
    name: str

    async def dial(self, command: DialLeg) -> None: ...

    async def hang_up(self, command: HangUpLeg) -> None: ...

    async def mute(self, command: MuteLeg) -> None:
        """Leave the leg's audio out of (or back in) what the others hear."""
        ...
