"""The websocket gateway: page messages become events; events for a user become
messages to every socket that user has open."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from talkbox.events.models import (
    CallRefused,
    ClientAnsweredLeg,
    ClientLegFailed,
    ClientRejectedLeg,
    ClientResumesLeg,
    ConferenceUpdated,
    Event,
    LegOffered,
    PresenceChanged,
    UserAddsParticipant,
    UserHangsUp,
    UserMutesLeg,
    UserRejoins,
    UserRemovesParticipant,
    UserRequestsCall,
)
from talkbox.ui.identity import Identity, IdentityError
from talkbox.ui.protocol import (
    PAGE_MESSAGE_TYPES,
    Add,
    Answer,
    Call,
    ConferenceMessage,
    Error,
    HangUpMessage,
    LegFailed,
    MuteMessage,
    Offer,
    PageMessage,
    Refused,
    Reject,
    RejoinMessage,
    Remove,
    Resume,
    ServerMessage,
    Welcome,
    page_message,
)

log = logging.getLogger(__name__)

CLOSE_UNAUTHORISED = 4401


@dataclass
class Gateway:
    publish: Callable[[Event], Awaitable[None]]
    identity: Identity
    provider_name: str
    max_message_bytes: int = 16 * 1024
    sockets: dict[str, set[WebSocket]] = field(default_factory=lambda: defaultdict(set))

    handles = (ConferenceUpdated, LegOffered, CallRefused)

    async def endpoint(self, websocket: WebSocket) -> None:
        try:
            user = self.identity.user_for(
                websocket.query_params.get("client_name"), websocket.query_params.get("token")
            )
        except IdentityError as error:
            # Accepted first, so the page sees why: a refused handshake reaches it as a bare 1006.
            await websocket.accept()
            await websocket.close(code=CLOSE_UNAUTHORISED, reason=str(error)[:120])
            return
        await websocket.accept()
        self.sockets[user].add(websocket)
        await self.publish(PresenceChanged(user=user, online=True))
        try:
            await self._send(websocket, Welcome(user=user, provider=self.provider_name))
            while True:
                text = await websocket.receive_text()
                await self._receive(websocket, user, text)
        except WebSocketDisconnect:
            pass
        finally:
            self.sockets[user].discard(websocket)
            if not self.sockets[user]:
                del self.sockets[user]
            await self.publish(PresenceChanged(user=user, online=False))

    async def _receive(self, websocket: WebSocket, user: str, text: str) -> None:
        if len(text.encode()) > self.max_message_bytes:
            await self._send(
                websocket, Error(code="too_large", message=f"messages are capped at {self.max_message_bytes} bytes")
            )
            return
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            await self._send(websocket, Error(code="invalid_json", message="a message must be a JSON object"))
            return
        if not isinstance(raw, dict) or raw.get("type") not in PAGE_MESSAGE_TYPES:
            kind = raw.get("type") if isinstance(raw, dict) else None
            await self._send(websocket, Error(code="unknown_type", message=f"unknown message type {kind!r}"[:200]))
            return
        try:
            message = page_message.validate_python(raw)
        except ValidationError as error:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
            await self._send(websocket, Error(code="invalid_message", message=details[:300]))
            return
        await self.publish(to_event(user, message))

    async def handle(self, event: Event) -> None:
        if isinstance(event, ConferenceUpdated):
            for user in event.users:
                await self.send_to(user, ConferenceMessage(conference=event.conference))
        elif isinstance(event, LegOffered):
            await self.send_to(
                event.user,
                Offer(
                    conference_id=event.conference_id,
                    leg_id=event.leg_id,
                    caller=event.caller,
                    sdp=event.sdp,
                    auto_answer=event.auto_answer,
                ),
            )
        elif isinstance(event, CallRefused):
            await self.send_to(event.user, Refused(code=event.code, message=event.message))

    async def send_to(self, user: str, message: ServerMessage) -> None:
        for websocket in list(self.sockets.get(user, ())):
            await self._send(websocket, message)

    async def _send(self, websocket: WebSocket, message: ServerMessage) -> None:
        try:
            await websocket.send_text(message.model_dump_json())
        except Exception:  # the socket went away mid-send; its endpoint cleans up
            log.debug("dropped a message to a closing socket", exc_info=True)


def to_event(user: str, message: PageMessage) -> Event:
    """The user comes from the socket's identity, never from the message."""
    if isinstance(message, Call):
        return UserRequestsCall(user=user, to=message.to.strip())
    if isinstance(message, HangUpMessage):
        return UserHangsUp(user=user, conference_id=message.conference_id)
    if isinstance(message, Answer):
        return ClientAnsweredLeg(user=user, leg_id=message.leg_id, sdp=message.sdp)
    if isinstance(message, Reject):
        return ClientRejectedLeg(user=user, leg_id=message.leg_id)
    if isinstance(message, LegFailed):
        return ClientLegFailed(user=user, leg_id=message.leg_id, reason=message.reason)
    if isinstance(message, Add):
        return UserAddsParticipant(user=user, conference_id=message.conference_id, to=message.to.strip())
    if isinstance(message, Remove):
        return UserRemovesParticipant(user=user, conference_id=message.conference_id, leg_id=message.leg_id)
    if isinstance(message, MuteMessage):
        return UserMutesLeg(user=user, conference_id=message.conference_id, leg_id=message.leg_id, muted=message.muted)
    if isinstance(message, Resume):
        return ClientResumesLeg(user=user, leg_id=message.leg_id)
    assert isinstance(message, RejoinMessage)
    return UserRejoins(user=user, conference_id=message.conference_id)
