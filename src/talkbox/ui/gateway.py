"""The websocket gateway: page messages become events; events for a user become
messages to every socket that user has open, on this node or (with Redis) any.

Alone, a node hands each message straight to its sockets. With Redis
(`streams`), it appends it to the user's outbox stream instead, and every node
hands what it reads there to its own sockets of that user (ui/user_streams.py).
Either way a message goes out with the legs it names, so the node holding the
page learns which conference each of the page's legs is on, and puts the
page's answers for a leg in that conference's partition of the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from talkbox.events.bus import BusUnavailable
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
    MissedCalls,
    PresenceChanged,
    RecordingsChanged,
    SpeakingChanged,
    StateSent,
    UserAddsParticipant,
    UserCompletesTransfer,
    UserHangsUp,
    UserHoldsLeg,
    UserMutesLeg,
    UserRecords,
    UserRejoins,
    UserRemovesParticipant,
    UserRequestsCall,
    UserSendsDigits,
    UserSetsPresence,
    UserTransfers,
)
from talkbox.ui.client_address import ClientAddresses
from talkbox.ui.directory import Directory, Visibility
from talkbox.ui.identity import Identity, IdentityError
from talkbox.ui.limits import Limits, RateLimit
from talkbox.ui.outbox import Outbox
from talkbox.ui.presence import Presence
from talkbox.ui.protocol import (
    Add,
    Answer,
    Call,
    CallEntry,
    CloseCode,
    CompleteTransferMessage,
    ConferenceMessage,
    Digit,
    DirectoryRequest,
    DtmfMessage,
    Error,
    HangUpMessage,
    HistoryPage,
    HistoryRequest,
    HistorySeen,
    HoldMessage,
    IceServer,
    LegFailed,
    LegStats,
    LegStatsMessage,
    LegStatsRequest,
    Missed,
    MuteMessage,
    Offer,
    PageMessage,
    RecordingsChangedMessage,
    RecordMessage,
    Refused,
    Reject,
    RejoinMessage,
    Remove,
    Resume,
    Resync,
    Retrying,
    ServerMessage,
    SetPresence,
    Speaking,
    Synced,
    TransferMessage,
    Welcome,
    parse_frame,
)
from talkbox.ui.shared_limits import SharedRateLimit
from talkbox.ui.turn import no_turn
from talkbox.ui.user_streams import Parcel, UserStreams, with_sequence

log = logging.getLogger(__name__)

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
    """One open socket: whose it is, where from, its outbox, its own message budget and whom it may see."""

    user: str
    address: str
    outbox: Outbox
    messages: RateLimit
    visibility: Visibility = field(default_factory=Visibility)
    # Asked for the directory (`directory`): from then on it is sent who changed.
    listening: bool = False
    # News of people that came while its snapshot was being read: sent after it, being newer.
    held: list[str] | None = None
    # Told it is rate limited at most once a second per message type: a storm's answer is no storm.
    told: RateLimit = field(default_factory=lambda: RateLimit(1, window=1.0))
    seen: int = 0  # the last sequence of the user's stream it was sent (with Redis)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Gateway:
    publish: Callable[[Event], Awaitable[None]]
    identity: Identity
    provider_name: str
    directory: Directory
    # TURN for the user's pages (ui/turn.py), none by default.
    ice_servers: Callable[[str], list[IceServer]] = no_turn
    addresses: ClientAddresses = field(default_factory=ClientAddresses)
    max_message_bytes: int = 16 * 1024
    limits: Limits = field(default_factory=Limits)
    sockets: dict[str, dict[WebSocket, Connection]] = field(default_factory=lambda: defaultdict(dict))
    listeners: dict[str, frozenset[str]] = field(default_factory=dict)  # conference id -> users on live legs
    # Per address, how many sockets each name has open from it.
    per_address: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # With Redis: messages go through the users' outbox streams, to sockets on any node.
    streams: UserStreams | None = None
    presence: Presence | None = None  # with Redis: who is online on any node
    shared_calls: SharedRateLimit | None = None  # with Redis: the calls budget, counted on every node
    # With Redis and the built-in engine: a new call's id, chosen so that its media lands on the least-loaded node.
    place: Callable[[], Awaitable[str]] | None = None
    # Stopping (SIGTERM with several nodes): new sockets are refused with 503, so a balancer tries another node.
    draining: bool = False
    legs: dict[str, dict[str, str]] = field(default_factory=dict)  # user -> their legs here -> conference id
    # User -> how many of their sockets here asked for the directory: whom a change of someone's status is for.
    listening: Counter[str] = field(default_factory=Counter)
    calls: RateLimit = field(init=False)
    messages: RateLimit = field(init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False, repr=False)

    handles = (
        ConferenceUpdated,
        LegOffered,
        CallRefused,
        ChangeNotSaved,
        SpeakingChanged,
        DigitPressed,
        RecordingsChanged,
        StateSent,
        MissedCalls,
    )

    def __post_init__(self) -> None:
        self.calls = RateLimit(self.limits.max_calls_per_minute)
        self.messages = RateLimit(self.limits.max_user_messages_per_second, window=1.0)

    def start(self) -> None:
        if self.streams is not None:
            self._tasks.append(asyncio.create_task(self.streams.run(self.deliver)))
        if self.presence is not None:
            self._tasks.append(asyncio.create_task(self.presence.beat()))

    def move_pages(self, within: float, uniform: Callable[[float, float], float] = random.uniform) -> None:
        """Draining: close every page's socket at its own moment within `within` seconds, so that they
        reconnect to the other nodes spread out rather than all at once; their media is not touched."""
        for connections in self.sockets.values():
            for websocket in list(connections):
                self._tasks.append(asyncio.create_task(_close_later(websocket, uniform(0.0, within))))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # bounded: a read cut short must not hang the shutdown
            await asyncio.wait(self._tasks, timeout=2.0)
        self._tasks = []
        if self.streams is not None:
            await self.streams.close()

    async def endpoint(self, websocket: WebSocket) -> None:
        if self.draining:
            await websocket.send_denial_response(PlainTextResponse("this node is stopping", status_code=503))
            return
        try:
            signed_in = self.identity.signed_in(websocket.query_params.get("client_name"), offered_token(websocket))
        except IdentityError as error:
            await _close_at_once(websocket, CloseCode.UNAUTHORIZED, str(error))
            return
        user = signed_in.user
        address = self.addresses.of(websocket)
        refusal = self._refusal(user, address)
        if refusal is not None:
            await _close_at_once(websocket, CloseCode.TOO_MANY_SOCKETS, refusal)
            return
        # Counted before the first await: hundreds opened at once cannot all slip under the cap.
        connection = Connection(
            user,
            address,
            Outbox(websocket, self.limits.max_queued_messages),
            RateLimit(self.limits.max_messages_per_second, window=1.0),
            Visibility(signed_in.directory),
        )
        self.sockets[user][websocket] = connection
        self.per_address[address][user] += 1
        # Queued before the first await: from here on anything for the user (their other tab's `synced`, which
        # comes through their stream with Redis) reaches this socket too, and the page must read `welcome` first.
        # The state the presence brings follows it (ui/outbox.py keeps the order).
        self._send(connection, Welcome(user=user, provider=self.provider_name, ice_servers=self.ice_servers(user)))
        online = False
        sender: asyncio.Task[None] | None = None
        try:
            if self.presence is not None and not await self.presence.add(
                user, connection.id, self.limits.max_sockets_per_user
            ):
                message = f"at most {self.limits.max_sockets_per_user} connections per user, on all nodes"
                await _close_at_once(websocket, CloseCode.TOO_MANY_SOCKETS, message)
                return
            await websocket.accept(subprotocol=chosen_subprotocol(websocket))
            await self.directory.people.remember(user)  # listed in the directory from the first sign-in
            sender = asyncio.create_task(connection.outbox.run())
            if self.streams is not None:
                await self._watch(connection, _since(websocket))
            await self.publish(PresenceChanged(user=user, online=True))
            online = True
            await self._serve(websocket, connection)
        except WebSocketDisconnect:
            pass
        except RedisError as error:  # with several nodes: presence or the user's stream out of reach
            log.warning("closing a new socket: Redis is out of reach (%s)", error)
            reason = "Talkbox cannot reach Redis; reconnect shortly"
            with contextlib.suppress(Exception):
                if websocket.application_state == WebSocketState.CONNECTING:
                    await _close_at_once(websocket, CloseCode.TRY_AGAIN, reason)
                else:
                    await websocket.close(code=CloseCode.TRY_AGAIN, reason=reason)
        finally:
            if sender is not None:
                sender.cancel()
            self._forget(connection, websocket)
            if self.presence is not None:
                with contextlib.suppress(RedisError):  # then it stops counting with this node's heartbeat
                    await self.presence.remove(user, connection.id)
            if online:
                with contextlib.suppress(BusUnavailable):  # the bus is gone too: nobody left to tell
                    await self.publish(PresenceChanged(user=user, online=False))

    async def _listen(self, connection: Connection) -> None:
        """The directory this page may see and its missed calls; then who changes, as they do.

        Only for pages that ask: a client that shows no directory is not sent its chatter.
        """
        if not connection.listening:
            self.listening[connection.user] += 1
        connection.listening, connection.held = True, []
        try:
            self._send(connection, await self.directory.snapshot(connection.user, connection.visibility))
        finally:
            held, connection.held = connection.held, None
        for text in held:
            connection.outbox.put(text)
        self._send(connection, Missed(count=await self.directory.people.missed(connection.user)))

    async def _watch(self, connection: Connection, since: int | None) -> None:
        """Read the user's stream for this socket: from `since` (what the page missed), else from now."""
        assert self.streams is not None
        watch = await self.streams.watch(connection.user, since)
        connection.seen = watch.seen
        if watch.gap:
            self._send(connection, Resync())
        await self.streams.wake()

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
        if connection.listening:
            self.listening[user] -= 1
            if self.listening[user] <= 0:
                del self.listening[user]
        if not self.sockets[user]:
            del self.sockets[user]
            self.legs.pop(user, None)
            if self.streams is not None:
                self.streams.unwatch(user)
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
        limited = await self._rate_limited(connection, kind, message)
        if limited is not None:
            if connection.told.allow(kind):
                self._send(connection, limited)
        elif isinstance(message, Error):
            self._send(connection, message)
        elif isinstance(message, HistoryRequest | HistorySeen | DirectoryRequest | LegStatsRequest):
            await self._read(connection, message)
        else:
            try:
                event = to_event(connection.user, message, self.legs.get(connection.user, {}))
                if self.place is not None and isinstance(event, UserRequestsCall):
                    event = event.model_copy(update={"conference_id": await self.place()})
                await self.publish(event)
            except BusUnavailable as error:
                log.warning("%s", error)
                self._send(connection, Error(code="unavailable", message="Talkbox could not take that now. Try again."))

    async def _read(
        self, connection: Connection, message: HistoryRequest | HistorySeen | DirectoryRequest | LegStatsRequest
    ) -> None:
        """Answered here, to the page that asked: reads of the user's own data, in no conference's order."""
        people = self.directory.people
        try:
            if isinstance(message, LegStatsRequest):
                await self._leg_stats(connection, message.conference_id)
                return
            if isinstance(message, DirectoryRequest):
                await self._listen(connection)
                return
            if isinstance(message, HistorySeen):
                await people.seen(connection.user)
                await self.send(Parcel(connection.user, Missed(count=0).model_dump_json()))
                return
            found = await people.calls(connection.user, message.before, message.limit)
        except Exception as error:  # the store out of reach (Redis, a full disk): the page may ask again
            log.warning("reading the directory or a history for a page: %s", error)
            self._send(connection, Error(code="unavailable", message="Talkbox could not read that now. Try again."))
            return
        calls = [CallEntry.model_validate(call) for call in found]
        before = calls[-1].started_at if len(calls) == message.limit else None
        self._send(connection, HistoryPage(calls=tuple(calls), before=before))

    async def _leg_stats(self, connection: Connection, conference_id: str) -> None:
        legs = await self.directory.people.leg_stats(connection.user, conference_id)
        if legs is None:
            message = "Only the chairperson of a call going on can see how each leg sounds to Talkbox"
            self._send(connection, Refused(code="not_chair", message=message))
            return
        stats = tuple(LegStats(leg_id=leg_id, **values) for leg_id, values in legs.items())
        self._send(connection, LegStatsMessage(conference_id=conference_id, legs=stats))

    async def _rate_limited(self, connection: Connection, kind: str, message: PageMessage | Error) -> Error | None:
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
        if isinstance(message, Call | Add | TransferMessage) and not await self._call_allowed(connection.user):
            return _rate_limited(f"at most {limits.max_calls_per_minute} calls a minute")
        return None

    async def _call_allowed(self, user: str) -> bool:
        """With several nodes, one budget for all of a user's pages wherever they are."""
        if self.shared_calls is None:
            return self.calls.allow(user)
        try:
            return await self.shared_calls.allow(user)
        except RedisError:
            return True  # the publish that follows fails too, and the page is told to try again

    async def handle(self, event: Event) -> None:
        """Never waits on a socket: each message is queued for that socket's own sender."""
        if isinstance(event, ConferenceUpdated):
            # Alone, a user with no socket here gets nothing: the message is not even made (API calls often).
            users = event.users if self.streams is not None else [u for u in event.users if self.sockets.get(u)]
            text = ConferenceMessage(conference=event.conference).model_dump_json() if users else ""
            for user in users:
                legs = tuple((leg.id, event.conference.id) for leg in event.conference.legs if leg.destination == user)
                await self.send(Parcel(user, text, legs))
            self._remember_listeners(event.conference)
        elif isinstance(event, SpeakingChanged):
            text = Speaking(conference_id=event.conference_id, legs=event.legs).model_dump_json()
            for user in self.listeners.get(event.conference_id, ()):
                await self.send(Parcel(user, text))
        elif isinstance(event, DigitPressed):
            text = Digit(conference_id=event.conference_id, leg_id=event.leg_id, digit=event.digit).model_dump_json()
            for user in self.listeners.get(event.conference_id, ()):
                await self.send(Parcel(user, text))
        elif isinstance(event, LegOffered):
            offer = Offer(
                conference_id=event.conference_id,
                leg_id=event.leg_id,
                caller=event.caller,
                sdp=event.sdp,
                auto_answer=event.auto_answer,
            )
            await self.send(Parcel(event.user, offer.model_dump_json(), ((event.leg_id, event.conference_id),)))
        elif isinstance(event, CallRefused):
            await self.send(Parcel(event.user, Refused(code=event.code, message=event.message).model_dump_json()))
        elif isinstance(event, RecordingsChanged):
            text = RecordingsChangedMessage(kind=event.kind, caller=event.caller).model_dump_json()
            for user in event.users:
                await self.send(Parcel(user, text))
        elif isinstance(event, StateSent):
            await self.send(Parcel(event.user, Synced(conferences=event.conference_ids).model_dump_json()))
        elif isinstance(event, ChangeNotSaved):
            message = Retrying(conference_id=event.conference_id, request=event.request, message=event.message)
            await self.send(Parcel(event.user, message.model_dump_json()))
        elif isinstance(event, MissedCalls):
            await self.send(Parcel(event.user, Missed(count=event.count).model_dump_json()))

    def _remember_listeners(self, conference: ConferenceView) -> None:
        """Who hears who is speaking: the users on a live leg, from the conference's latest frame."""
        live = {leg.destination for leg in conference.legs if leg.status not in TERMINAL_STATUSES}
        if conference.status == "ended" or not live:
            self.listeners.pop(conference.id, None)
        else:
            self.listeners[conference.id] = frozenset(live)

    async def send(self, parcel: Parcel) -> None:
        """To every socket of the user: here, or through their stream to every node."""
        if self.streams is None:
            self.deliver(parcel, None)
        else:
            await self.streams.send(parcel)

    def deliver(self, parcel: Parcel, sequence: int | None) -> None:
        """To this node's sockets of the user; a numbered message only to those that have not had it."""
        connections = self.sockets.get(parcel.user)
        if not connections:
            return
        if parcel.legs:
            self.legs.setdefault(parcel.user, {}).update(parcel.legs)
        text = parcel.text if sequence is None else with_sequence(parcel.text, sequence)
        for connection in connections.values():
            if parcel.about is not None and not (
                connection.listening and connection.visibility.sees(parcel.about, parcel.user)
            ):
                connection.seen = max(connection.seen, sequence or 0)  # not this page's to know
            elif parcel.about is not None and connection.held is not None:
                if sequence is None or sequence > connection.seen:
                    connection.seen = max(connection.seen, sequence or 0)
                    connection.held.append(text)
            elif sequence is None:
                connection.outbox.put(text)
            elif sequence > connection.seen:
                connection.seen = sequence
                connection.outbox.put(text)

    def _send(self, connection: Connection, message: ServerMessage) -> None:
        connection.outbox.put(message.model_dump_json())


def _rate_limited(message: str) -> Error:
    return Error(code="rate_limited", message=f"Too many requests: {message}. Wait a moment and try again.")


async def _close_later(websocket: WebSocket, delay: float) -> None:
    await asyncio.sleep(delay)
    with contextlib.suppress(Exception):  # it may have gone by itself meanwhile
        await websocket.close(code=CloseCode.MOVING, reason="this Talkbox node is stopping; reconnect")


async def _close_at_once(websocket: WebSocket, code: int, reason: str) -> None:
    """Accepted first, so the page sees why: a refused handshake reaches it as a bare 1006."""
    await websocket.accept(subprotocol=chosen_subprotocol(websocket))
    await websocket.close(code=code, reason=reason[:120])


def _since(websocket: WebSocket) -> int | None:
    """The last sequence the page saw before it reconnected (`?since=N`), if it says."""
    value = websocket.query_params.get("since", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def to_event(user: str, message: PageMessage, legs: dict[str, str] | None = None) -> Event:
    """The user comes from the socket's identity, never from the message.

    `legs` are the user's legs this node has told their pages of: a message about
    one of them names its conference, so it is handled in that conference's order.
    """
    legs = legs or {}
    if isinstance(message, Call):
        return UserRequestsCall(user=user, to=message.to.strip())
    if isinstance(message, HangUpMessage):
        return UserHangsUp(user=user, conference_id=message.conference_id)
    if isinstance(message, Answer):
        return ClientAnsweredLeg(
            user=user, leg_id=message.leg_id, conference_id=legs.get(message.leg_id), sdp=message.sdp
        )
    if isinstance(message, Reject):
        return ClientRejectedLeg(user=user, leg_id=message.leg_id, conference_id=legs.get(message.leg_id))
    if isinstance(message, LegFailed):
        return ClientLegFailed(
            user=user, leg_id=message.leg_id, conference_id=legs.get(message.leg_id), reason=message.reason
        )
    if isinstance(message, Add):
        return UserAddsParticipant(user=user, conference_id=message.conference_id, to=message.to.strip())
    if isinstance(message, Remove):
        return UserRemovesParticipant(user=user, conference_id=message.conference_id, leg_id=message.leg_id)
    if isinstance(message, MuteMessage):
        return UserMutesLeg(user=user, conference_id=message.conference_id, leg_id=message.leg_id, muted=message.muted)
    if isinstance(message, HoldMessage):
        return UserHoldsLeg(user=user, conference_id=message.conference_id, leg_id=message.leg_id, held=message.held)
    if isinstance(message, CompleteTransferMessage):
        return UserCompletesTransfer(user=user, conference_id=message.conference_id, leg_id=message.leg_id)
    if isinstance(message, Resume):
        return ClientResumesLeg(user=user, leg_id=message.leg_id, conference_id=legs.get(message.leg_id))
    if isinstance(message, RecordMessage):
        return UserRecords(user=user, conference_id=message.conference_id, on=message.on)
    if isinstance(message, TransferMessage):
        return UserTransfers(
            user=user, conference_id=message.conference_id, to=message.to.strip(), party=message.leg_id
        )
    if isinstance(message, DtmfMessage):
        return UserSendsDigits(user=user, conference_id=message.conference_id, digits=message.digits)
    if isinstance(message, SetPresence):
        return UserSetsPresence(user=user, dnd=message.status == "dnd")
    assert isinstance(message, RejoinMessage)
    return UserRejoins(user=user, conference_id=message.conference_id)
