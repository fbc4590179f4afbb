"""The shell around the rules: load, decide, store, then act."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from talkbox.events.models import Event, LegStatusChanged, UserHangsUp, UserRequestsCall
from talkbox.telephony.provider import Provider
from talkbox.telephony.rules import DialLeg, HangUp, HangUpLeg, Publish, RuleInput, StartCall, decide
from talkbox.telephony.store import ConferenceStore


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@dataclass
class CallHandler:
    store: ConferenceStore
    provider: Provider
    publish: Callable[[Event], Awaitable[None]]

    handles = (UserRequestsCall, UserHangsUp, LegStatusChanged)

    async def handle(self, event: Event) -> None:
        if isinstance(event, UserRequestsCall):
            conference_id, given = None, await self._start_call(event)
        elif isinstance(event, UserHangsUp):
            conference_id, given = event.conference_id, HangUp(event.user)
        elif isinstance(event, LegStatusChanged):
            conference_id, given = event.conference_id, event
        else:
            return
        await self._apply(conference_id, given)

    async def _start_call(self, event: UserRequestsCall) -> StartCall:
        return StartCall(
            conference_id=new_id("c"),
            chair_leg_id=new_id("l"),
            callee_leg_id=new_id("l"),
            caller=event.user,
            to=event.to,
            caller_in_call=bool(await self.store.active_for(event.user)),
        )

    async def _apply(self, conference_id: str | None, given: RuleInput) -> None:
        before = await self.store.get(conference_id) if conference_id else None
        decision = decide(before, given)
        if decision.conference is not None and decision.conference != before:
            # Stored before acting, so a crash never leaves a leg the store does not know.
            await self.store.put(decision.conference)
        for command in decision.commands:
            if isinstance(command, Publish):
                await self.publish(command.event)
            elif isinstance(command, DialLeg):
                await self.provider.dial(command)
            elif isinstance(command, HangUpLeg):
                await self.provider.hang_up(command)
