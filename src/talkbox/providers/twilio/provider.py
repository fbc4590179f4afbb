"""Twilio as the provider: the rules' commands become REST calls on the official client.

What happens to a call comes back through Twilio's webhooks (the callbacks
package), which publish LegStatusChanged. This provider listens to those events
too, but only to learn what it needs to address calls later: whether a leg has
been answered (to cancel or complete it) and the conference's ConferenceSid (to
mute a participant). The rules never see a CallSid they did not get in an event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientError
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from talkbox.events.models import (
    TERMINAL_STATUSES,
    ClientLegFailed,
    ClientRejectedLeg,
    ConferenceStatusChanged,
    Event,
    IncomingPhoneCall,
    LegStatus,
    LegStatusChanged,
)
from talkbox.events.names import is_client_name
from talkbox.providers.twilio.settings import TwilioSettings
from talkbox.providers.twilio.twiml import CALL_EVENTS, Webhooks
from talkbox.telephony.rules import DialLeg, HangUpLeg, MuteLeg

log = logging.getLogger(__name__)

# Reports the provider makes itself (a call Twilio refused to place, a leg it never
# placed) come after anything Twilio could still say about that leg.
OWN_REPORT_SEQUENCE = 1_000_000_000
# What a REST request can fail with: Twilio refused, or Twilio could not be reached.
TWILIO_ERRORS = (TwilioRestException, ClientError, TimeoutError)
# Twilio's own limits on a call's ring timeout.
MIN_TIMEOUT, MAX_TIMEOUT = 5, 600


@dataclass
class TwilioLeg:
    conference_id: str
    call_sid: str
    # The client it rings, if it rings one: only that user's pages may reject it.
    user: str | None = None
    answered: bool = False


@dataclass
class TwilioProvider:
    settings: TwilioSettings
    publish: Callable[[Event], Awaitable[None]]
    # Builds the REST client inside the running loop, on first use.
    make_client: Callable[[], Client]
    ring_timeout: float = 30.0
    name: str = "twilio"
    legs: dict[str, TwilioLeg] = field(default_factory=dict)
    conferences: dict[str, str] = field(default_factory=dict)
    _client: Client | None = None

    handles = (IncomingPhoneCall, LegStatusChanged, ConferenceStatusChanged, ClientRejectedLeg, ClientLegFailed)

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self.make_client()
        return self._client

    @property
    def webhooks(self) -> Webhooks:
        return Webhooks(self.settings.public_url)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()  # type: ignore[attr-defined]
            self._client = None

    # --- commands from the rules -----------------------------------------------

    async def dial(self, command: DialLeg) -> None:
        try:
            call = await self.client.calls.create_async(**self.call_parameters(command))
        except TWILIO_ERRORS as error:
            # Refused (an invalid number, no permission to call that country) or unreachable.
            log.warning("Twilio would not place leg %s: %s", command.leg_id, error)
            await self._report(command.conference_id, command.leg_id, "failed", "unavailable")
            return
        user = command.destination if is_client_name(command.destination) else None
        self.legs[command.leg_id] = TwilioLeg(command.conference_id, call.sid, user)

    def call_parameters(self, command: DialLeg) -> dict[str, Any]:
        """The arguments of calls.create for one leg."""
        webhooks = self.webhooks
        if is_client_name(command.destination):
            # Custom parameters the page's Voice SDK reads from call.customParameters.
            parameters = {
                "conference_id": command.conference_id,
                "leg_id": command.leg_id,
                "caller": command.caller,
                "auto_answer": "true" if command.auto_answer else "false",
            }
            to = f"client:{command.destination}?{urlencode(parameters)}"
            caller = f"client:{command.caller}" if is_client_name(command.caller) else self.settings.caller_id
        else:
            to, caller = command.destination, self.settings.caller_id
        return {
            "to": to,
            "from_": caller,
            "url": webhooks.voice(command.conference_id, command.leg_id),
            "method": "POST",
            "status_callback": webhooks.status(command.conference_id, command.leg_id),
            "status_callback_event": list(CALL_EVENTS),
            "status_callback_method": "POST",
            "timeout": max(MIN_TIMEOUT, min(MAX_TIMEOUT, round(self.ring_timeout))),
        }

    async def hang_up(self, command: HangUpLeg) -> None:
        leg = self.legs.get(command.leg_id)
        if leg is None:
            # Never placed, or Twilio has already reported its end: tell the rules it is over.
            await self._report(command.conference_id, command.leg_id, "canceled", command.reason)
            return
        status = "in-progress" if leg.answered else await self._update(leg.call_sid, "canceled")
        # "canceled" does nothing to a call answered meanwhile; then it must be completed.
        if status is None or status == "in-progress":
            await self._update(leg.call_sid, "completed")

    async def mute(self, command: MuteLeg) -> None:
        leg = self.legs.get(command.leg_id)
        conference_sid = None
        if leg is not None:
            conference_sid = self.conferences.get(command.conference_id) or await self._find_conference(
                command.conference_id
            )
        if leg is None or conference_sid is None:
            log.warning("cannot mute leg %s: not in a Twilio conference yet", command.leg_id)
            return
        try:
            await self.client.conferences(conference_sid).participants(leg.call_sid).update_async(muted=command.muted)
        except TWILIO_ERRORS as error:
            log.warning("Twilio would not mute leg %s: %s", command.leg_id, error)

    # --- what Twilio reported, through the callbacks ----------------------------

    async def handle(self, event: Event) -> None:
        if isinstance(event, IncomingPhoneCall):
            self.legs[event.leg_id] = TwilioLeg(event.conference_id, event.provider_id, answered=True)
        elif isinstance(event, (ClientRejectedLeg, ClientLegFailed)):
            await self._refused(event)
        elif isinstance(event, LegStatusChanged):
            leg = self.legs.get(event.leg_id)
            if leg is None:
                return
            if event.status in TERMINAL_STATUSES:
                del self.legs[event.leg_id]
            elif event.status == "in-progress":
                leg.answered = True
        elif isinstance(event, ConferenceStatusChanged):
            if event.status == "conference-end":
                self.conferences.pop(event.conference_id, None)
            else:
                self.conferences[event.conference_id] = event.provider_id

    async def _refused(self, event: ClientRejectedLeg | ClientLegFailed) -> None:
        """A page declined a leg over the websocket (as with the built-in engine), not through the SDK.

        Twilio would only ever call that "canceled", so the provider reports
        what the page said itself; Twilio's own report, coming later, is ignored.
        """
        leg = self.legs.get(event.leg_id)
        if leg is None or leg.user != event.user or leg.answered:
            return
        if await self._update(leg.call_sid, "canceled") == "in-progress":
            return  # another page of the same user took it meanwhile
        if isinstance(event, ClientRejectedLeg):
            await self._report(leg.conference_id, event.leg_id, "busy", "rejected")
        else:
            await self._report(leg.conference_id, event.leg_id, "failed", event.reason)

    # --- helpers -----------------------------------------------------------------

    async def _update(self, call_sid: str, status: str) -> str | None:
        """Ask Twilio to end a call; the call's status afterwards, or None if Twilio refused."""
        try:
            call = await self.client.calls(call_sid).update_async(status=status)
        except TWILIO_ERRORS as error:
            log.info("Twilio did not set call %s %s: %s", call_sid, status, error)
            return None
        return call.status.value if hasattr(call.status, "value") else str(call.status)

    async def _find_conference(self, conference_id: str) -> str | None:
        """The ConferenceSid, when its callback has not reached us yet: look it up by name."""
        try:
            found = await self.client.conferences.list_async(friendly_name=conference_id, status="in-progress", limit=1)
        except TWILIO_ERRORS as error:
            log.warning("Twilio conference lookup failed: %s", error)
            return None
        if not found:
            return None
        self.conferences[conference_id] = found[0].sid
        return found[0].sid

    async def _report(self, conference_id: str, leg_id: str, status: LegStatus, reason: str) -> None:
        await self.publish(
            LegStatusChanged(
                conference_id=conference_id, leg_id=leg_id, status=status, sequence=OWN_REPORT_SEQUENCE, reason=reason
            )
        )
