"""The SIP provider: telephone legs over a trunk, their audio in the built-in media plane as plain RTP.

Calls in: an INVITE the user agent let through (from the trunk or TALKBOX_SIP_ALLOW)
becomes IncomingPhoneCall. The telephone hears ringing (180) while the ring group
(or the client it named) rings; the first browser to accept makes it a 200, with
the media plane's SDP answer. When nobody takes it, the rules hang the leg up and
the telephone gets a final refusal instead (480, 486, 487).

Calls out: a page's number becomes an INVITE to the trunk with the media plane's
offer: 180/183 are ringing (an SDP in them is early media), 200 is in progress,
and each failure has its status and reason (`OUTCOMES`). A trunk's 401/407 is
answered once with the credentials.

Either side ends a call with BYE. An answered call's dialog is kept in the call book
(`book`): after a restart, or on the node that takes over a drained or dead node's
calls, the call is taken up again with a re-INVITE carrying new media and this
process's Contact. A call still ringing when its process went ends as `server-restart`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sipmessage import URI, Address, Request, Response

from talkbox.events.log_context import ids
from talkbox.events.models import (
    ConferenceUpdated,
    DigitPressed,
    Event,
    IncomingPhoneCall,
    LegHoldChanged,
    LegStatus,
    LegStatusChanged,
)
from talkbox.events.names import is_client_name
from talkbox.media import sdp
from talkbox.media.engine import Media
from talkbox.providers.sip.book import CallBook, KeptCall, MemoryBook
from talkbox.providers.sip.dialog import Dialog, target_of
from talkbox.providers.sip.message import ALLOW, new_call_id, new_tag, response, tag_of
from talkbox.providers.sip.settings import SipSettings
from talkbox.providers.sip.transactions import ClientTransaction, ServerTransaction
from talkbox.providers.sip.transport import Peer
from talkbox.providers.sip.ua import UserAgent
from talkbox.telephony.provider import ResumeLeg, Sequence
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

log = logging.getLogger(__name__)

SDP = "application/sdp"
# A final response to our INVITE, as the status and reason the page shows.
OUTCOMES: dict[int, tuple[LegStatus, str]] = {
    403: ("failed", "forbidden"),
    404: ("failed", "not-found"),
    408: ("no-answer", "timeout"),
    480: ("no-answer", "unavailable"),
    484: ("failed", "address-incomplete"),
    486: ("busy", "rejected"),
    487: ("canceled", "caller-canceled"),
    488: ("failed", "media"),
    503: ("failed", "unavailable"),
    600: ("busy", "rejected"),
    603: ("busy", "rejected"),
}
# Why Talkbox hangs up a telephone that was never answered, as what the telephone is told.
REFUSALS = {"caller-canceled": 487, "answered-elsewhere": 487, "rejected": 486, "timeout": 480}
NUMBER_USER = re.compile(r"\+?[0-9]+")


@dataclass
class SipCall:
    conference_id: str
    leg_id: str
    incoming: bool
    invite: Request
    peer: Peer
    server: ServerTransaction | None = None  # theirs, until answered
    client: ClientTransaction | None = None  # ours, until a final response
    dialog: Dialog | None = None
    # Our latest description in the call: the answer to their offer sent with our 200, or our own offer.
    answer_sdp: str = ""
    ringing: bool = False
    ended: bool = False
    cancel_sent: bool = False
    authenticated: bool = False
    late_offer: bool = False  # a call in whose INVITE had no SDP: the answer comes in the ACK
    held: bool = False  # the telephone put us on hold (a re-INVITE with sendonly, inactive or c=0.0.0.0)
    early_sdp: str | None = None
    # A call in: the To tag of every response we send to its INVITE.
    local_tag: str = field(default_factory=new_tag)
    timer: asyncio.TimerHandle | None = None


@dataclass
class SipProvider:
    settings: SipSettings
    ua: UserAgent
    media: Media
    publish: Callable[[Event], Awaitable[None]]
    ring_timeout: float = 30.0
    name: str = "sip"
    calls: dict[str, SipCall] = field(default_factory=dict)  # leg id -> call
    book: CallBook = field(default_factory=MemoryBook)
    # A call coming in gets its media here at once: with several nodes, an id in a partition this node owns.
    new_conference_id: Callable[[], str] = field(default=lambda: _new_id("c"))
    sequence: Sequence = field(default_factory=Sequence)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # The provider learns from the rules' updates when a browser took a call from a telephone, and plays the
    # keys a page's user sends to the telephones of their call.
    handles = (ConferenceUpdated,)

    def __post_init__(self) -> None:
        self.ua.core = self

    @property
    def trunk(self) -> Peer | None:
        """Where calls out go: the trunk's address as resolved when SIP started."""
        return self.ua.trunk

    # --- the Provider interface ----------------------------------------------------

    async def dial(self, command: DialLeg) -> None:
        await self._report(command.conference_id, command.leg_id, "initiated")
        trunk = self.settings.trunk_uri
        if command.caller_kind != "browser" or not self.settings.may_dial(command.destination):
            # Only a page's user dials out, and only numbers the operator allows: toll fraud starts here.
            await self._report(command.conference_id, command.leg_id, "failed", "not-allowed")
            return
        if trunk is None or self.trunk is None or len(self.calls) >= self.settings.max_calls:
            await self._report(command.conference_id, command.leg_id, "failed", "unavailable")
            return
        offer = await self.media.rtp_offer(command.conference_id, command.leg_id)
        invite = self._invite(command.destination, trunk, offer)
        call = SipCall(command.conference_id, command.leg_id, False, invite, self.trunk)
        self.calls[command.leg_id] = call
        self._send_invite(call, invite)
        call.timer = asyncio.get_running_loop().call_later(self.ring_timeout, self._ring_timeout, call)

    async def hang_up(self, command: HangUpLeg) -> None:
        call = self.calls.get(command.leg_id)
        if call is None or call.ended:
            await self._report(command.conference_id, command.leg_id, "canceled", command.reason)
            return
        if call.incoming and call.dialog is None:
            await self._refuse(call, REFUSALS.get(command.reason, 480), "completed", command.reason)
        elif call.dialog is not None:
            await self._bye(call, command.reason)
        else:
            self._cancel(call, command.reason)

    async def mute(self, command: MuteLeg) -> None:
        self.media.mute(command.conference_id, command.leg_id, command.muted)

    async def start_recording(self, command: StartRecording, path: str) -> None:
        """A call a telephone chairs (it called in): the shared media records it, with the announcement."""
        await self.media.start_recording(command.conference_id, path, "announcement")

    async def stop_recording(self, command: StopRecording) -> None:
        await self.media.stop_recording(command.conference_id)

    async def resume_recording(self, command: StartRecording, path: str) -> None:
        await self.start_recording(command, path)

    async def hold(self, command: HoldLeg) -> None:
        """The telephone hears the music (or silence) in its RTP: no re-INVITE, so any trunk copes."""
        self.media.hold(command.conference_id, command.leg_id, command.held, command.music)

    async def play(self, command: PlayToLeg) -> None:
        self.media.play(command.conference_id, command.leg_id, command.sound)

    async def move(self, command: MoveLeg) -> None:
        """The same dialog and RTP port, in another conference's mix: the telephone hears of nothing."""
        call = self.calls.get(command.leg_id)
        if call is not None:
            call.conference_id = command.then.conference_id
            await self._keep(call)
        await self.media.move(command.leg_id, command.then.conference_id)

    async def send_digits(self, command: SendDigits) -> None:
        """As RFC 4733 events in the call's RTP; a telephone that took no telephone-event hears none."""
        try:
            await self.media.send_dtmf(command.leg_id, command.digits)
        except (KeyError, ValueError) as error:  # no media for it yet, or it offered no telephone-event
            log.info("digits for leg %s not sent: %s", command.leg_id, error)

    async def resume(self, command: ResumeLeg) -> None:
        """Take an answered call up again: a re-INVITE with our new media and Contact (`_taken_up` has the rest)."""
        kept = await self.book.kept(command.leg_id) if command.status == "in-progress" else None
        if kept is None or command.leg_id in self.calls:
            # A ringing call's transaction died with the process; a call never kept cannot be addressed.
            await self.book.forget(command.leg_id)
            await self._report(command.conference_id, command.leg_id, "failed", "server-restart")
            return
        dialog = kept.dialog
        dialog.contact = self.ua.contact(dialog.peer.protocol)
        self.media.mute(command.conference_id, command.leg_id, command.muted)
        if command.held:
            self.media.hold(command.conference_id, command.leg_id, True, command.hold_music)
        offer = await self.media.rtp_offer(command.conference_id, command.leg_id, after=kept.ours)
        invite = dialog.request("INVITE", self.ua.via(dialog.peer.protocol), body=offer.encode(), content_type=SDP)
        invite.headers.set("Allow", ALLOW)
        call = SipCall(kept.conference_id, kept.leg_id, kept.incoming, invite, dialog.peer, dialog=dialog)
        call.held, call.answer_sdp = kept.held, offer
        self.calls[call.leg_id] = call
        await self._keep(call)  # the CSeq moved on
        call.client = self.ua.send(invite, call.peer, lambda answer: self._taken_up(call, answer))

    def _taken_up(self, call: SipCall, answer: Response) -> None:
        """The telephone's answer to the re-INVITE that takes its call up again."""
        if answer.code < 200 or call.ended:
            return
        dialog = call.dialog
        assert dialog is not None
        if answer.code >= 300:
            retry = None if call.authenticated else self.ua.authorized(call.invite, answer)
            if retry is None:  # 481: the telephone let the call go meanwhile; 408: it is gone
                self._spawn(self._ended(call, "failed", "server-restart"))
                return
            call.authenticated = True
            dialog.local_cseq = retry.cseq.sequence
            call.invite = retry
            call.client = self.ua.send(retry, call.peer, lambda again: self._taken_up(call, again))
            return
        self.ua.send_ack(dialog.ack(call.invite.cseq.sequence, self.ua.via(call.peer.protocol)), call.peer)
        if call.client is None:
            return  # a 2xx again: its ACK is all it wants
        call.client = None
        dialog.remote_target = target_of(answer) or dialog.remote_target
        self._spawn(self._resumed(call, answer.body.decode(errors="replace")))

    async def _resumed(self, call: SipCall, answer_sdp: str) -> None:
        await self._accept_sdp(call, answer_sdp)
        if answer_sdp:
            await self._held(call, sdp.remote(sdp.parse(answer_sdp))[1].held)
        await self._keep(call)
        log.info("SIP leg %s taken up again", call.leg_id, extra=ids(call.conference_id, call.leg_id))

    async def close(self) -> None:
        """Let go of every answered call (the next boot, or another node, takes it up) unless the book forgets
        them with the process: then each ends with a BYE, and the telephone never waits on dead air."""
        for call in list(self.calls.values()):
            if call.dialog is not None:
                if not self.book.durable:
                    self._send_bye(call)
            elif call.incoming and call.server is not None:
                call.server.respond(response(call.invite, 503, to_tag=new_tag()))
            call.ended = True
        for task in list(self._tasks):
            task.cancel()
        self.ua.close()
        self.calls.clear()

    async def handle(self, event: Event) -> None:
        """A browser answered a call from a telephone: now the telephone gets its 200."""
        if not isinstance(event, ConferenceUpdated):
            return
        view = event.conference
        for leg in view.legs:
            call = self.calls.get(leg.id)
            if call is None or not call.incoming or call.dialog is not None or call.ended:
                continue
            if any(other.id != leg.id and other.status == "in-progress" for other in view.legs):
                self._accept(call)

    # --- media reports -------------------------------------------------------------

    def media_dtmf(self, conference_id: str, leg_id: str, digit: str) -> None:
        """A key pressed on the telephone (RFC 4733): for the pages of the call to show."""
        if leg_id in self.calls:
            self._spawn(self.publish(DigitPressed(conference_id=conference_id, leg_id=leg_id, digit=digit)))

    def media_state(self, leg_id: str, state: str) -> None:
        call = self.calls.get(leg_id)
        if call is None or call.ended or call.dialog is None or state != "lost":
            return  # before the answer a telephone may well send nothing: its ringing ends by the rules
        # No RTP from the telephone for too long: the far end is gone without a BYE.
        self._spawn(self._bye(call, "lost"))

    # --- calls in (the Core the user agent hands requests to) ------------------------

    def invite(self, request: Request, transaction: ServerTransaction, peer: Peer) -> None:
        self._spawn(self._incoming(request, transaction, peer))

    async def _incoming(self, request: Request, transaction: ServerTransaction, peer: Peer) -> None:
        if len(self.calls) >= self.settings.max_calls:
            transaction.respond(response(request, 503, to_tag=new_tag()))
            return
        content_type = request.headers.get("Content-Type", "") or ""
        if request.body and not content_type.lower().startswith(SDP):
            transaction.respond(response(request, 415, to_tag=new_tag()))
            return
        target = _ring_target(request.uri, self.settings.username)
        if target is None and not self.settings.ring:
            transaction.respond(response(request, 480, to_tag=new_tag()))
            return
        call = SipCall(self.new_conference_id(), _new_id("l"), True, request, peer, server=transaction)
        call.late_offer = not request.body
        try:
            if call.late_offer:
                # No SDP in the INVITE (a late offer, 13.2.1): our offer goes in the 200, their answer in the ACK.
                call.answer_sdp = await self.media.rtp_offer(call.conference_id, call.leg_id)
            else:
                call.answer_sdp = await self.media.rtp_answer(call.conference_id, call.leg_id, request.body.decode())
        except (ValueError, UnicodeDecodeError):
            transaction.respond(response(request, 488, to_tag=new_tag()))
            await self.media.remove(call.conference_id, call.leg_id)
            return
        if transaction.answered:
            await self.media.remove(call.conference_id, call.leg_id)
            return  # canceled while the media was set up
        self.calls[call.leg_id] = call
        transaction.respond(response(request, 180, to_tag=call.local_tag))
        await self.publish(
            IncomingPhoneCall(
                conference_id=call.conference_id,
                leg_id=call.leg_id,
                caller=_caller(request),
                provider_id=request.call_id,
                kind="sip",
                to=target,
            )
        )

    def _accept(self, call: SipCall) -> None:
        assert call.server is not None
        contact = self.ua.contact(call.peer.protocol)
        answer = response(call.invite, 200, to_tag=call.local_tag, body=call.answer_sdp.encode(), content_type=SDP)
        answer.headers.set("Contact", contact)
        answer.headers.set("Allow", ALLOW)
        record_route = call.invite.headers.getlist("Record-Route")
        if record_route:
            answer.headers.setlist("Record-Route", list(record_route))  # the proxies stay on the path (12.1.1)
        call.dialog = Dialog.as_uas(call.invite, call.local_tag, call.peer, contact)
        self.ua.answer_invite(call.server, answer)
        self._spawn(self._keep(call))

    def canceled(self, transaction: ServerTransaction) -> None:
        call = next((c for c in self.calls.values() if c.server is transaction), None)
        transaction.respond(response(transaction.request, 487, to_tag=call.local_tag if call else new_tag()))
        if call is not None and not call.ended:
            self._spawn(self._ended(call, "completed", "caller-canceled"))

    def acknowledged(self, request: Request) -> None:
        """The ACK of our 200: after a late offer it carries the telephone's answer."""
        call = self._by_dialog(request.call_id)
        if call is None or not call.late_offer or call.ended:
            return
        call.late_offer = False
        if not request.body:
            self._spawn(self._bye(call, "media"))  # an ACK without the answer we asked for: no media to speak
            return
        self._spawn(self._accept_sdp(call, request.body.decode(errors="replace")))

    def not_acknowledged(self, request: Request) -> None:
        call = self._by_dialog(request.call_id)
        if call is not None and not call.ended:
            self._spawn(self._bye(call, "media"))

    def in_dialog(self, request: Request, transaction: ServerTransaction, peer: Peer) -> None:
        call = self._by_dialog(request.call_id, tag_of(request.headers["To"]), tag_of(request.headers["From"]))
        if call is None or call.dialog is None:
            transaction.respond(response(request, 481))
            return
        if request.cseq.sequence <= call.dialog.remote_cseq and request.method != "ACK":
            transaction.respond(response(request, 500, phrase="Server Internal Error (CSeq out of order)"))
            return
        call.dialog.remote_cseq = request.cseq.sequence
        if request.method == "BYE":
            transaction.respond(response(request, 200))
            self._spawn(self._ended(call, "completed", "hung-up"))
        elif request.method == "INVITE":
            self._spawn(self._reinvite(call, request, transaction))
        else:
            refusal = response(request, 405)
            refusal.headers.set("Allow", ALLOW)
            transaction.respond(refusal)

    async def _reinvite(self, call: SipCall, request: Request, transaction: ServerTransaction) -> None:
        """Hold and unhold from the telephone: the media plane answers the new offer."""
        assert call.dialog is not None
        if not request.body:
            answer_sdp = call.answer_sdp  # an offerless re-INVITE: our current session again
        else:
            try:
                answer_sdp = await self.media.rtp_update(call.leg_id, request.body.decode())
            except (ValueError, UnicodeDecodeError, KeyError):
                transaction.respond(response(request, 488))
                return
        call.answer_sdp = answer_sdp
        answer = response(request, 200, body=answer_sdp.encode(), content_type=SDP)
        answer.headers.set("Contact", call.dialog.contact)
        self.ua.answer_invite(transaction, answer)
        if request.body:
            await self._held(call, sdp.remote(sdp.parse(request.body.decode()))[1].held)

    async def _held(self, call: SipCall, held: bool) -> None:
        """The telephone's own hold shows on the pages like any other; the rules tell the media."""
        if held != call.held:
            call.held = held
            await self._keep(call)
            await self.publish(LegHoldChanged(conference_id=call.conference_id, leg_id=call.leg_id, held=held))

    # --- calls out --------------------------------------------------------------------

    def _invite(self, number: str, trunk: URI, offer: str) -> Request:
        host = trunk.host + (f":{trunk.port}" if trunk.port else "")
        protocol = self.settings.trunk_protocol
        user = self.settings.caller_id or self.settings.username or "talkbox"
        invite = self.ua.new_request(
            "INVITE",
            URI.parse(f"{trunk.scheme}:{number}@{host}"),
            protocol,
            from_=f"<sip:{user}@{trunk.host}>;tag={new_tag()}",
            to=f"<sip:{number}@{trunk.host}>",
            call_id=new_call_id(trunk.host),
        )
        invite.headers.set("Contact", self.ua.contact(protocol))
        invite.headers.set("Allow", ALLOW)
        invite.headers.set("Content-Type", SDP)
        invite.body = offer.encode()
        return invite

    def _send_invite(self, call: SipCall, invite: Request) -> None:
        call.invite = invite
        call.client = self.ua.send(invite, call.peer, lambda answer: self._progress(call, answer))

    def _progress(self, call: SipCall, answer: Response) -> None:
        if 200 <= answer.code < 300:
            self._answered(call, answer)
            return
        if call.ended:
            if answer.code < 200:
                self._send_cancel(call)  # hung up before the trunk said a word: now it may be canceled
            return
        if answer.code < 200:
            if answer.code > 100:
                self._spawn(self._ringing(call, answer))
            return
        retry = None if call.authenticated else self.ua.authorized(call.invite, answer)
        if retry is not None:
            call.authenticated = True
            self._send_invite(call, retry)
            return
        status, reason = OUTCOMES.get(answer.code, ("failed", "unavailable"))
        self._spawn(self._ended(call, status, reason))

    async def _ringing(self, call: SipCall, answer: Response) -> None:
        if answer.body and answer.body.decode(errors="replace") != call.early_sdp:
            call.early_sdp = answer.body.decode(errors="replace")
            await self._accept_sdp(call, call.early_sdp)  # early media: the carrier's tones and announcements
        if not call.ringing:
            call.ringing = True
            await self._report(call.conference_id, call.leg_id, "ringing")

    def _answered(self, call: SipCall, answer: Response) -> None:
        ack_peer = call.peer
        dialog = Dialog.as_uac(call.invite, answer, call.peer, self.ua.contact(call.peer.protocol))
        ack = dialog.ack(call.invite.cseq.sequence, self.ua.via(call.peer.protocol))
        self.ua.send_ack(ack, ack_peer)  # for every 2xx that comes, first or again
        if call.dialog is not None:
            if dialog.key != call.dialog.key:
                # A fork answered too: that leg is not wanted (RFC 3261 13.2.2.4).
                bye = dialog.request("BYE", self.ua.via(call.peer.protocol))
                self.ua.send(bye, call.peer, lambda _answer: None)
            return
        if call.ended:
            self._send_bye_on(dialog, call.peer)  # the 200 crossed our CANCEL: end it properly
            return
        call.dialog = dialog
        self._spawn(self._connected(call, answer))

    async def _connected(self, call: SipCall, answer: Response) -> None:
        self._disarm(call)
        call.answer_sdp = call.invite.body.decode()  # our offer: the description a re-INVITE carries on from
        body = answer.body.decode(errors="replace")
        if body and body != call.early_sdp:
            await self._accept_sdp(call, body)
        await self._keep(call)
        await self._report(call.conference_id, call.leg_id, "in-progress")

    async def _accept_sdp(self, call: SipCall, sdp: str) -> None:
        try:
            await self.media.rtp_accept(call.leg_id, sdp)
        except (ValueError, KeyError):
            log.warning(
                "unusable SDP from the trunk for leg %s", call.leg_id, extra=ids(call.conference_id, call.leg_id)
            )

    def _ring_timeout(self, call: SipCall) -> None:
        call.timer = None
        if not call.ended and call.dialog is None:
            self._cancel(call, "timeout")

    def _cancel(self, call: SipCall, reason: str) -> None:
        """Stop ringing the telephone: the leg ends now; a 200 that crosses the CANCEL gets ACK and BYE."""
        self._send_cancel(call)
        status: LegStatus = "no-answer" if reason == "timeout" else "canceled"
        self._spawn(self._ended(call, status, reason))

    def _send_cancel(self, call: SipCall) -> None:
        # CANCEL only once a provisional came (9.1); until then `_progress` waits for one.
        client = call.client
        if call.cancel_sent or client is None or client.state != "proceeding":
            return
        call.cancel_sent = True
        cancel = Request("CANCEL", call.invite.uri)
        cancel.headers.set("Via", call.invite.headers.getlist("Via")[0])
        for name in ("From", "To", "Call-ID"):
            cancel.headers.set(name, call.invite.headers[name])
        cancel.headers.set("CSeq", f"{call.invite.cseq.sequence} CANCEL")
        self.ua.send(cancel, call.peer, lambda _answer: None)

    # --- ending -------------------------------------------------------------------------

    async def _refuse(self, call: SipCall, code: int, status: LegStatus, reason: str) -> None:
        if call.server is not None:
            call.server.respond(response(call.invite, code, to_tag=call.local_tag))
        await self._ended(call, status, reason)

    async def _bye(self, call: SipCall, reason: str) -> None:
        if call.ended:
            return
        self._send_bye(call)
        await self._ended(call, "completed", reason)

    def _send_bye(self, call: SipCall) -> None:
        if call.dialog is not None:
            self._send_bye_on(call.dialog, call.peer)

    def _send_bye_on(self, dialog: Dialog, peer: Peer) -> None:
        bye = dialog.request("BYE", self.ua.via(peer.protocol))
        self.ua.send(bye, peer, lambda _answer: None)

    async def _ended(self, call: SipCall, status: LegStatus, reason: str | None) -> None:
        if call.ended:
            return
        call.ended = True
        self._disarm(call)
        self.calls.pop(call.leg_id, None)
        if call.dialog is not None:
            await self.book.forget(call.leg_id)
        await self.media.remove(call.conference_id, call.leg_id)
        await self._report(call.conference_id, call.leg_id, status, reason)

    # --- inside ---------------------------------------------------------------------------

    def _by_dialog(self, call_id: str, local: str | None = None, remote: str | None = None) -> SipCall | None:
        for call in self.calls.values():
            dialog = call.dialog
            if dialog is None or dialog.call_id != call_id:
                continue
            if local is None or (dialog.local_tag == local and dialog.remote_tag == remote):
                return call
        return None

    async def _keep(self, call: SipCall) -> None:
        if call.dialog is not None and not call.ended:
            await self.book.keep(
                KeptCall(call.conference_id, call.leg_id, call.incoming, call.dialog, call.answer_sdp, call.held)
            )

    def _disarm(self, call: SipCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP call handling failed", exc_info=task.exception())

    async def _report(self, conference_id: str, leg_id: str, status: LegStatus, reason: str | None = None) -> None:
        await self.publish(
            LegStatusChanged(
                conference_id=conference_id,
                leg_id=leg_id,
                status=status,
                sequence=self.sequence.next(),
                reason=reason,
            )
        )


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def _ring_target(uri: URI, account: str | None) -> str | None:
    """The client an INVITE names (sip:bob@...), or None for the ring group: the number, our trunk account
    (carriers put it in the Request-URI of a registered line), or a user that is no client name."""
    user = uri.user or ""
    if NUMBER_USER.fullmatch(user) or user == account or not is_client_name(user):
        return None
    return user


def _caller(request: Request) -> str:
    """Who is calling, as the page shows it: the asserted identity if the trunk gives one, else From."""
    for value in (request.headers.get("P-Asserted-Identity"), request.headers.get("From")):
        if not value:
            continue
        try:
            uri = Address.parse(value.split(",")[0].strip()).uri
        except ValueError:
            continue
        user = uri.user or ""
        if user:
            return user if not re.fullmatch(r"[0-9]{7,15}", user) else f"+{user}"
    return "unknown"
