"""The websocket gateway: page messages become events; events for a user become
messages to every socket that user has open."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.websockets import WebSocket, WebSocketDisconnect

from talkbox.events.models import (
    CallRefused,
    ChangeNotSaved,
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
from talkbox.ui.client_address import ClientAddresses
from talkbox.ui.identity import Identity, IdentityError
from talkbox.ui.protocol import (
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
    Retrying,
    ServerMessage,
    Welcome,
    parse_frame,
)

log = logging.getLogger(__name__)

CLOSE_UNAUTHORISED = 4401
CLOSE_TOO_MANY_SOCKETS = 4429
# The page offers Talkbox's subprotocol, and its token as a second one: a URL ends
# up in access logs and proxies' logs, a handshake header does not (docs/protocol.md).
SUBPROTOCOL = "talkbox"
TOKEN_SUBPROTOCOL = "talkbox.token."


def offered_token(websocket: WebSocket) -> str | None:
    """The token from the subprotocols, else from `?token=` (for clients that cannot set headers)."""
    for protocol in websocket.scope.get("subprotocols", ()):
        if protocol.startswith(TOKEN_SUBPROTOCOL):
            return protocol[len(TOKEN_SUBPROTOCOL) :]
    return websocket.query_params.get("token")


def chosen_subprotocol(websocket: WebSocket) -> str | None:
    """A browser that offered subprotocols drops a socket that names none back."""
    return SUBPROTOCOL if SUBPROTOCOL in websocket.scope.get("subprotocols", ()) else None


@dataclass(frozen=True)
class Limits:
    """Per-user limits on bad input (a page opening sockets or dialling in a loop), from settings."""

    max_sockets_per_user: int = 20
    # In open mode one page could claim a new name for every socket: the address caps that too.
    max_sockets_per_address: int = 200
    max_calls_per_minute: int = 30


@dataclass
class RateLimit:
    """At most `limit` requests per user in any `window` seconds (a sliding window)."""

    limit: int
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _times: dict[str, deque[float]] = field(default_factory=dict)

    def allow(self, user: str) -> bool:
        now = self.clock()
        if len(self._times) > 1024:
            self._forget_idle(now)
        times = self._times.setdefault(user, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        """Users with nothing in the window: so the table cannot grow with every name ever seen."""
        for user in [u for u, times in self._times.items() if not times or times[-1] <= now - self.window]:
            del self._times[user]


@dataclass
class Gateway:
    publish: Callable[[Event], Awaitable[None]]
    identity: Identity
    provider_name: str
    addresses: ClientAddresses = field(default_factory=ClientAddresses)
    max_message_bytes: int = 16 * 1024
    limits: Limits = field(default_factory=Limits)
    sockets: dict[str, set[WebSocket]] = field(default_factory=lambda: defaultdict(set))
    per_address: Counter[str] = field(default_factory=Counter)
    calls: RateLimit = field(init=False)

    handles = (ConferenceUpdated, LegOffered, CallRefused, ChangeNotSaved)

    def __post_init__(self) -> None:
        self.calls = RateLimit(self.limits.max_calls_per_minute)

    async def endpoint(self, websocket: WebSocket) -> None:
        try:
            user = self.identity.user_for(websocket.query_params.get("client_name"), offered_token(websocket))
        except IdentityError as error:
            await _close_at_once(websocket, CLOSE_UNAUTHORISED, str(error))
            return
        address = self.addresses.of(websocket)
        if self.per_address[address] >= self.limits.max_sockets_per_address:
            limit = self.limits.max_sockets_per_address
            await _close_at_once(websocket, CLOSE_TOO_MANY_SOCKETS, f"at most {limit} connections per address")
            return
        if len(self.sockets.get(user, ())) >= self.limits.max_sockets_per_user:
            limit = self.limits.max_sockets_per_user
            await _close_at_once(websocket, CLOSE_TOO_MANY_SOCKETS, f"at most {limit} connections per user")
            return
        # Counted before the first await: hundreds opened at once cannot all slip under the cap.
        self.sockets[user].add(websocket)
        self.per_address[address] += 1
        online = False
        try:
            await websocket.accept(subprotocol=chosen_subprotocol(websocket))
            await self.publish(PresenceChanged(user=user, online=True))
            online = True
            await self._send(websocket, Welcome(user=user, provider=self.provider_name))
            await self._serve(websocket, user)
        except WebSocketDisconnect:
            pass
        finally:
            self._forget(user, address, websocket)
            if online:
                await self.publish(PresenceChanged(user=user, online=False))

    def _forget(self, user: str, address: str, websocket: WebSocket) -> None:
        """Undo what admitting the socket counted, so the tables never grow with names seen."""
        self.sockets[user].discard(websocket)
        if not self.sockets[user]:
            del self.sockets[user]
        self.per_address[address] -= 1
        if self.per_address[address] <= 0:
            del self.per_address[address]

    async def _serve(self, websocket: WebSocket, user: str) -> None:
        """Every frame gets an answer; only the client going away ends the loop."""
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000))
            text = frame.get("text")
            if text is None:  # a binary frame: not ours to guess at
                await self._send(websocket, Error(code="not_text", message="frames must be JSON text, not binary"))
                continue
            await self._receive(websocket, user, text)

    async def _receive(self, websocket: WebSocket, user: str, text: str) -> None:
        message = parse_frame(text, self.max_message_bytes)
        if isinstance(message, Error):
            await self._send(websocket, message)
            return
        if isinstance(message, Call | Add) and not self.calls.allow(user):
            limit = self.limits.max_calls_per_minute
            await self._send(websocket, Refused(code="rate_limited", message=f"at most {limit} calls a minute"))
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
        elif isinstance(event, ChangeNotSaved):
            message = Retrying(conference_id=event.conference_id, request=event.request, message=event.message)
            await self.send_to(event.user, message)

    async def send_to(self, user: str, message: ServerMessage) -> None:
        for websocket in list(self.sockets.get(user, ())):
            await self._send(websocket, message)

    async def _send(self, websocket: WebSocket, message: ServerMessage) -> None:
        try:
            await websocket.send_text(message.model_dump_json())
        except Exception:  # the socket went away mid-send; its endpoint cleans up
            log.debug("dropped a message to a closing socket", exc_info=True)


async def _close_at_once(websocket: WebSocket, code: int, reason: str) -> None:
    """Accepted first, so the page sees why: a refused handshake reaches it as a bare 1006."""
    await websocket.accept(subprotocol=chosen_subprotocol(websocket))
    await websocket.close(code=code, reason=reason[:120])


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
