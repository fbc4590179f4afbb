"""The shell around the rules: load, decide, store, then act."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from talkbox.events.models import (
    ConferenceUpdated,
    Event,
    IncomingPhoneCall,
    LegStatusChanged,
    PresenceChanged,
    UserAddsParticipant,
    UserHangsUp,
    UserMutesLeg,
    UserRejoins,
    UserRemovesParticipant,
    UserRequestsCall,
)
from talkbox.events.names import is_client_name
from talkbox.telephony.provider import Provider, ResumeLeg
from talkbox.telephony.rules import (
    AddParticipant,
    Command,
    DialLeg,
    HangUp,
    HangUpLeg,
    IncomingCall,
    Mute,
    MuteLeg,
    Publish,
    Rejoin,
    RemoveParticipant,
    RuleInput,
    StartCall,
    decide,
)
from talkbox.telephony.store import ConferenceStore, active_for

log = logging.getLogger(__name__)

def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@dataclass
class CallHandler:
    store: ConferenceStore
    provider: Provider
    publish: Callable[[Event], Awaitable[None]]
    max_legs: int = 10
    # The clients a call from a telephone rings (TALKBOX_TWILIO_RING with Twilio).
    ring: tuple[str, ...] = ()

    handles = (
        UserRequestsCall,
        IncomingPhoneCall,
        UserHangsUp,
        UserAddsParticipant,
        UserRemovesParticipant,
        UserMutesLeg,
        UserRejoins,
        LegStatusChanged,
        PresenceChanged,
    )

    async def recover(self) -> None:
        """At boot: hand every live leg the store knows back to the provider."""
        for conference in await self.store.active():
            for leg in conference.live_legs():
                await self.provider.resume(
                    ResumeLeg(
                        conference.id, leg.id, leg.destination, leg.status, leg.muted, leg.provider_id, leg.sequence
                    )
                )

    async def handle(self, event: Event) -> None:
        if isinstance(event, PresenceChanged):
            if event.online:
                await self._send_state(event.user)
            return
        if isinstance(event, UserRequestsCall):
            await self._apply(None, await self._start_call(event))
            return
        given = self._rule_input(event)
        if given is not None:
            await self._apply(event.conference_id, given)  # type: ignore[union-attr]

    def _rule_input(self, event: Event) -> RuleInput | None:
        if isinstance(event, UserHangsUp):
            return HangUp(event.user)
        if isinstance(event, UserAddsParticipant):
            return AddParticipant(event.user, event.to, new_id("l"), self.max_legs)
        if isinstance(event, UserRemovesParticipant):
            return RemoveParticipant(event.user, event.leg_id)
        if isinstance(event, UserMutesLeg):
            return Mute(event.user, event.leg_id, event.muted)
        if isinstance(event, UserRejoins):
            return Rejoin(event.user, new_id("l"))
        if isinstance(event, LegStatusChanged):
            return event
        if isinstance(event, IncomingPhoneCall):
            ring = tuple((new_id("l"), name) for name in self.ring)
            return IncomingCall(event.conference_id, event.leg_id, event.caller, event.provider_id, ring)
        return None

    async def _start_call(self, event: UserRequestsCall) -> StartCall:
        return StartCall(
            conference_id=new_id("c"),
            chair_leg_id=new_id("l"),
            callee_leg_id=new_id("l"),
            caller=event.user,
            to=event.to,
            caller_in_call=bool(await active_for(self.store, event.user)),
        )

    async def _apply(self, conference_id: str | None, given: RuleInput) -> None:
        before = await self.store.get(conference_id) if conference_id else None
        decision = decide(before, given)
        if decision.conference is not None and decision.conference != before:
            # Stored before acting, so a crash never leaves a leg the store does not know.
            await self.store.put(decision.conference, describe(given))
        for command in decision.commands:
            # Each command on its own: the state is stored, so a retry of this event would
            # decide nothing new, and a command that raised would never be carried out.
            try:
                await self._carry_out(command)
            except Exception:
                log.exception("could not carry out %s", command)
                if isinstance(command, DialLeg):
                    await self._report_failed(command)

    async def _carry_out(self, command: Command) -> None:
        if isinstance(command, Publish):
            await self.publish(command.event)
        elif isinstance(command, DialLeg):
            await self._dial(command)
        elif isinstance(command, HangUpLeg):
            await self.provider.hang_up(command)
        elif isinstance(command, MuteLeg):
            await self.provider.mute(command)

    async def _report_failed(self, command: DialLeg) -> None:
        """A leg the provider could not place must not wait in the conference for ever."""
        await self.publish(
            LegStatusChanged(
                conference_id=command.conference_id,
                leg_id=command.leg_id,
                status="failed",
                sequence=time.time_ns() // 1000,
                reason="provider-error",
            )
        )

    async def _send_state(self, user: str) -> None:
        """A page that (re)connects gets every conference its user is on, or may rejoin."""
        for conference in await self.store.active():
            if user in conference.members():
                await self.publish(ConferenceUpdated(conference=conference.view(), users=(user,)))

    async def _dial(self, command: DialLeg) -> None:
        """Someone already on another call is busy, whatever the provider would say."""
        if not command.auto_answer and is_client_name(command.destination):
            elsewhere = [c for c in await active_for(self.store, command.destination) if c.id != command.conference_id]
            if elsewhere:
                await self.publish(
                    LegStatusChanged(
                        conference_id=command.conference_id,
                        leg_id=command.leg_id,
                        status="busy",
                        sequence=1,
                        reason="in-another-call",
                    )
                )
                return
        await self.provider.dial(command)


def describe(given: RuleInput) -> dict[str, Any]:
    """A rule input as plain data for the event log."""
    if dataclasses.is_dataclass(given):
        return {"input": type(given).__name__, **dataclasses.asdict(given)}
    return given.model_dump(mode="json")
