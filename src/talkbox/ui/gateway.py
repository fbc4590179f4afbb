"""The websocket gateway: page messages become events; events for a user become
messages to every socket that user has open."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.websockets import WebSocket, WebSocketDisconnect

from talkbox.events.models import (
    TERMINAL_STATUSES,
    CallRefused,
    ChangeNotSaved,
    ClientAnsweredLeg,
    ClientLegFailed,
    ClientRejectedLeg,
    ClientResumesLeg,
    ConferenceUpdated,
    ConferenceView,
    DigitPressed,
    Event,
    LegOffered,
    PresenceChanged,
    SpeakingChanged,
    UserAddsParticipant,
    UserHangsUp,
    UserMutesLeg,
    UserRejoins,
    UserRemovesParticipant,
    UserRequestsCall,
)
from talkbox.ui.client_address import ClientAddresses
from talkbox.ui.identity import Identity, IdentityError
from talkbox.ui.limits import Limits, RateLimit
from talkbox.ui.outbox import Outbox
from talkbox.ui.protocol import (
    Add,
    Answer,
    Call,
    ConferenceMessage,
    Digit,
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
    Speaking,
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


@dataclass
class Connection:
    """One open socket: whose it is, where from, its outbox and its own message budget."""

    user: str
    address: str
    outbox: Outbox
    messages: RateLimit
    # Told it is rate limited at most once a second per message type: a storm's answer is no storm.
    told: RateLimit = field(default_factory=lambda: RateLimit(1, window=1.0))


@dataclass
class Gateway:
    publish: Callable[[Event], Awaitable[None]]
    identity: Identity
    provider_name: str
    addresses: ClientAddresses = field(default_factory=ClientAddresses)
    max_message_bytes: int = 16 * 1024
    limits: Limits = field(default_factory=Limits)
    sockets: dict[str, dict[WebSocket, Connection]] = field(default_factory=lambda: defaultdict(dict))
    listeners: dict[str, frozenset[str]] = field(default_factory=dict)  # conference id -> users on live legs
    # Per address, how many sockets each name has open from it.
    per_address: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    calls: RateLimit = field(init=False)
    messages: RateLimit = field(init=False)

    handles = (ConferenceUpdated, LegOffered, CallRefused, ChangeNotSaved, SpeakingChanged, DigitPressed)

    def __post_init__(self) -> None:
        self.calls = RateLimit(self.limits.max_calls_per_minute)
        self.messages = RateLimit(self.limits.max_user_messages_per_second, window=1.0)

    async def endpoint(self, websocket: WebSocket) -> None:
        try:
            user = self.identity.user_for(websocket.query_params.get("client_name"), offered_token(websocket))
        except IdentityError as error:
            await _close_at_once(websocket, CLOSE_UNAUTHORISED, str(error))
            return
        address = self.addresses.of(websocket)
        refusal = self._refusal(user, address)
        if refusal is not None:
            await _close_at_once(websocket, CLOSE_TOO_MANY_SOCKETS, refusal)
            return
        # Counted before the first await: hundreds opened at once cannot all slip under the cap.
        connection = Connection(
            user,
            address,
            Outbox(websocket, self.limits.max_queued_messages),
            RateLimit(self.limits.max_messages_per_second, window=1.0),
        )
        self.sockets[user][websocket] = connection
        self.per_address[address][user] += 1
        online = False
        sender: asyncio.Task[None] | None = None
        try:
            await websocket.accept(subprotocol=chosen_subprotocol(websocket))
            sender = asyncio.create_task(connection.outbox.run())
            # Queued first: the state the presence brings (ui/outbox.py keeps the order) follows it.
            self._send(connection, Welcome(user=user, provider=self.provider_name))
            await self.publish(PresenceChanged(user=user, online=True))
            online = True
            await self._serve(websocket, connection)
        except WebSocketDisconnect:
            pass
        finally:
            if sender is not None:
                sender.cancel()
            self._forget(connection, websocket)
            if online:
                await self.publish(PresenceChanged(user=user, online=False))

    def _refusal(self, user: str, address: str) -> str | None:
        """Why this socket may not be opened, if it may not.

        The per-user cap holds in both modes. The per-address cap holds in open
        mode only, and never against a name that already has a socket open from
        that address. In token mode every name is proven, so an address says
        nothing about who is behind it: a whole office behind one NAT, or every
        user behind a proxy, would be locked out together by the tabs of a few.
        In open mode names cost nothing and the address is all that bounds one
        machine; a page making up names can then fill its address's slots for
        new names, but cannot push out the users already connected from there
        (their reloads and new tabs still get in, up to the per-user cap).
        Tokens are the fix for anyone who needs more than that.
        """
        if len(self.sockets.get(user, ())) >= self.limits.max_sockets_per_user:
            return f"at most {self.limits.max_sockets_per_user} connections per user"
        names = self.per_address.get(address)
        if self.identity.mode != "open" or names is None or names[user] > 0:
            return None
        if names.total() >= self.limits.max_sockets_per_address:
            return f"at most {self.limits.max_sockets_per_address} connections per address"
        return None

    def _forget(self, connection: Connection, websocket: WebSocket) -> None:
        """Undo what admitting the socket counted, so the tables never grow with names seen."""
        user, address = connection.user, connection.address
        self.sockets[user].pop(websocket, None)
        if not self.sockets[user]:
            del self.sockets[user]
        names = self.per_address[address]
        names[user] -= 1
        if names[user] <= 0:
            del names[user]
        if not names:
            del self.per_address[address]

    async def _serve(self, websocket: WebSocket, connection: Connection) -> None:
        """Every frame gets an answer; only the client going away ends the loop."""
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000))
            text = frame.get("text")
            if text is None:  # a binary frame: not ours to guess at
                self._send(connection, Error(code="not_text", message="frames must be JSON text, not binary"))
                continue
            await self._receive(connection, text)

    async def _receive(self, connection: Connection, text: str) -> None:
        message = parse_frame(text, self.max_message_bytes)
        # Frames that fail to parse are counted too: answering them is work.
        kind = "invalid" if isinstance(message, Error) else message.type
        limited = self._rate_limited(connection, kind, message)
        if limited is not None:
            if connection.told.allow(kind):
                self._send(connection, limited)
        elif isinstance(message, Error):
            self._send(connection, message)
        else:
            await self.publish(to_event(connection.user, message))

    def _rate_limited(self, connection: Connection, kind: str, message: PageMessage | Error) -> Error | None:
        """The answer to a frame past one of its sender's budgets, or None to go ahead.

        Every type has its own budget, per socket and per user (all their sockets
        together), so a storm of one kind cannot crowd out a hang-up; calls and
        adds also have their own per-minute budget, being what costs others most.
        """
        limits = self.limits
        if not connection.messages.allow(kind):
            return _rate_limited(f"at most {limits.max_messages_per_second} {kind!r} messages a second per page")
        if not self.messages.allow((connection.user, kind)):
            return _rate_limited(f"at most {limits.max_user_messages_per_second} {kind!r} messages a second per user")
        if isinstance(message, Call | Add) and not self.calls.allow(connection.user):
            return _rate_limited(f"at most {limits.max_calls_per_minute} calls a minute")
        return None

    async def handle(self, event: Event) -> None:
        """Never waits on a socket: each message is queued for that socket's own sender."""
        if isinstance(event, ConferenceUpdated):
            message: ServerMessage = ConferenceMessage(conference=event.conference)
            for user in event.users:
                self.send_to(user, message)
            self._remember_listeners(event.conference)
        elif isinstance(event, SpeakingChanged):
            speaking = Speaking(conference_id=event.conference_id, legs=event.legs)
            for user in self.listeners.get(event.conference_id, ()):
                self.send_to(user, speaking)
        elif isinstance(event, DigitPressed):
            digit = Digit(conference_id=event.conference_id, leg_id=event.leg_id, digit=event.digit)
            for user in self.listeners.get(event.conference_id, ()):
                self.send_to(user, digit)
        elif isinstance(event, LegOffered):
            self.send_to(
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
            self.send_to(event.user, Refused(code=event.code, message=event.message))
        elif isinstance(event, ChangeNotSaved):
            message = Retrying(conference_id=event.conference_id, request=event.request, message=event.message)
            self.send_to(event.user, message)

    def _remember_listeners(self, conference: ConferenceView) -> None:
        """Who hears who is speaking: the users on a live leg, from the conference's latest frame."""
        live = {leg.destination for leg in conference.legs if leg.status not in TERMINAL_STATUSES}
        if conference.status == "ended" or not live:
            self.listeners.pop(conference.id, None)
        else:
            self.listeners[conference.id] = frozenset(live)

    def send_to(self, user: str, message: ServerMessage) -> None:
        connections = self.sockets.get(user)
        if not connections:
            return
        text = message.model_dump_json()
        for connection in connections.values():
            connection.outbox.put(text)

    def _send(self, connection: Connection, message: ServerMessage) -> None:
        connection.outbox.put(message.model_dump_json())


def _rate_limited(message: str) -> Error:
    return Error(code="rate_limited", message=f"Too many requests: {message}. Wait a moment and try again.")


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
