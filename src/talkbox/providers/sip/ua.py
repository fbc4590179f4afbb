"""The user agent core: messages to transactions, requests to the owner of calls, OPTIONS answered.

Below it the transports (bytes) and transactions (retransmissions); above it a
`Core` (the SIP provider) that decides about calls. What it does itself:
- matches requests and responses to transactions (RFC 3261 17.1.3, 17.2.3);
- answers what needs no call: OPTIONS, CANCEL of an unknown INVITE (481), any
  other method (405), a malformed request (400), an INVITE from an address that
  may not call (403);
- retransmits a 2xx to an INVITE until its ACK arrives (13.3.1.4), and ACKs
  every 2xx to an INVITE of ours, however often it comes;
- answers digest challenges: a request challenged with 401 or 407 is sent again
  once with credentials (22.2).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sipmessage import URI, Request, Response

from talkbox.providers.sip import digest
from talkbox.providers.sip.access import Access
from talkbox.providers.sip.message import (
    ALLOW,
    Malformed,
    branch_of,
    can_answer,
    finish,
    new_branch,
    new_tag,
    parse,
    response,
    tag_of,
)
from talkbox.providers.sip.transactions import ClientTransaction, ServerTransaction, Timers
from talkbox.providers.sip.transport import Peer, Transports

log = logging.getLogger(__name__)


class Core(Protocol):
    """What the user agent hands up: the calls' business."""

    def invite(self, request: Request, transaction: ServerTransaction, peer: Peer) -> None:
        """A new INVITE (no To tag) from an address that may call; 100 Trying has been sent."""

    def in_dialog(self, request: Request, transaction: ServerTransaction, peer: Peer) -> None:
        """A request with a To tag: BYE, a re-INVITE, INFO...; unknown dialogs are the core's to 481."""

    def acknowledged(self, request: Request) -> None:
        """The ACK of a 2xx we sent (it may carry the answer to a late offer)."""

    def canceled(self, transaction: ServerTransaction) -> None:
        """The caller gave up on an INVITE not yet answered; the core sends the 487."""

    def not_acknowledged(self, request: Request) -> None:
        """A 2xx we sent was never ACKed: the call must end (BYE)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass
class _Unacked:
    data: bytes
    peer: Peer
    request: Request
    interval: float
    handle: asyncio.TimerHandle | None = None
    deadline: float = 0.0


@dataclass
class UserAgent:
    transports: Transports
    access: Access
    core: Core | None = None
    timers: Timers = field(default_factory=Timers)
    credentials: Credentials | None = None
    # The host put in Via and Contact; the listening address unless a public one is set.
    advertise: str | None = None
    # Where calls out and REGISTER go: the trunk's address, resolved at start.
    trunk: Peer | None = None
    clients: dict[tuple[str, str], ClientTransaction] = field(default_factory=dict)
    servers: dict[tuple[str, str, str], ServerTransaction] = field(default_factory=dict)
    _unacked: dict[tuple[str, int], _Unacked] = field(default_factory=dict)
    malformed: int = 0
    refused: int = 0

    def __post_init__(self) -> None:
        self.transports.unreachable = self._unreachable

    def _unreachable(self, peer: Peer) -> None:
        for transaction in list(self.clients.values()):
            if transaction.peer == peer:
                transaction.transport_failed()  # a 503 of its own for the owner (RFC 3261 8.1.3.1)

    # --- addresses ----------------------------------------------------------------

    def sent_by(self, protocol: str) -> str:
        host, port = self.transports.local.get(protocol, next(iter(self.transports.local.values())))  # type: ignore[call-overload]
        host = self.advertise or host
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def via(self, protocol: str) -> str:
        return f"SIP/2.0/{protocol.upper()} {self.sent_by(protocol)}"

    def contact(self, protocol: str, user: str = "talkbox") -> str:
        transport = f";transport={protocol}" if protocol != "udp" else ""
        return f"<sip:{user}@{self.sent_by(protocol)}{transport}>"

    # --- in -------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer) -> None:
        try:
            message = parse(data)
        except Malformed as error:
            self.malformed += 1
            request = can_answer(data)
            if request is not None:
                self.transports.send(finish(response(request, 400, phrase=f"Bad Request ({error})")), peer)
            return
        if isinstance(message, Request):
            self._request(message, peer)
        else:
            self._response(message)

    def _request(self, request: Request, peer: Peer) -> None:
        branch, sent_by = branch_of(request), _sent_by(request)
        if request.method == "ACK":
            invite = self.servers.get((branch, sent_by, "INVITE"))
            if invite is not None and invite.state in ("completed", "confirmed"):
                invite.acknowledged()  # of our non-2xx final response
            else:
                self._acked(request)
            return
        known = self.servers.get((branch, sent_by, request.method))
        if known is not None:
            known.retransmitted()
            return
        transaction = self._server(request, peer)
        required = [option.strip() for option in (request.headers.get("Require") or "").split(",") if option.strip()]
        if required and request.method not in ("CANCEL", "ACK"):
            # We support no extension (100rel, timer...): say which, rather than half-work (8.2.2.3).
            refusal = response(request, 420, to_tag=_random_tag())
            refusal.headers.set("Unsupported", ", ".join(required))
            transaction.respond(refusal)
            return
        if request.method == "CANCEL":
            self._cancel(request, transaction, branch, sent_by)
        elif request.method == "OPTIONS":
            transaction.respond(self._options(request))
        elif tag_of(request.headers["To"]):
            if request.method == "INVITE":
                transaction.respond(response(request, 100))
            self._core().in_dialog(request, transaction, peer)
        elif request.method == "INVITE":
            transaction.respond(response(request, 100))
            if not self.access.may_call(peer.host):
                self.refused += 1
                log.info("SIP INVITE from %s refused: not the trunk, nor TALKBOX_SIP_ALLOW", peer.host)
                transaction.respond(response(request, 403, to_tag=_random_tag()))
                return
            self._core().invite(request, transaction, peer)
        elif request.method == "BYE":
            transaction.respond(response(request, 481, to_tag=_random_tag()))
        else:
            refusal = response(request, 405, to_tag=_random_tag())
            refusal.headers.set("Allow", ALLOW)
            transaction.respond(refusal)

    def _server(self, request: Request, peer: Peer) -> ServerTransaction:
        key = (branch_of(request), _sent_by(request), request.method)
        transaction = ServerTransaction(
            request,
            peer,
            self.transports.send,
            self.timers,
            on_terminated=lambda _t: self.servers.pop(key, None),
        )
        self.servers[key] = transaction
        return transaction

    def _cancel(self, cancel: Request, transaction: ServerTransaction, branch: str, sent_by: str) -> None:
        invite = self.servers.get((branch, sent_by, "INVITE"))
        if invite is None or invite.answered:
            transaction.respond(response(cancel, 481 if invite is None else 200, to_tag=_random_tag()))
            return
        transaction.respond(response(cancel, 200))
        self._core().canceled(invite)

    def _options(self, request: Request) -> Response:
        answer = response(request, 200, to_tag=_random_tag())
        answer.headers.set("Allow", ALLOW)
        answer.headers.set("Accept", "application/sdp")
        return answer

    def _response(self, answer: Response) -> None:
        key = (branch_of(answer), answer.cseq.method)
        transaction = self.clients.get(key)
        if transaction is not None:
            transaction.received(answer)
        # Anything else is late: a 2xx resent after timer M (64*T1 of absorbing them) ended its
        # transaction, or a response to nothing of ours. Dropped.

    def _core(self) -> Core:
        assert self.core is not None, "the user agent has no core"
        return self.core

    # --- 2xx to INVITEs, until ACKed (13.3.1.4) ----------------------------------------

    def answer_invite(self, transaction: ServerTransaction, answer: Response) -> None:
        transaction.respond(answer)
        if not 200 <= answer.code < 300:
            return
        request = transaction.request
        unacked = _Unacked(finish(answer), transaction.peer, request, self.timers.t1)
        unacked.deadline = asyncio.get_running_loop().time() + 64 * self.timers.t1
        key = (request.call_id, request.cseq.sequence)
        self._stop_resending(key)
        self._unacked[key] = unacked
        self._resend_later(key, unacked)

    def _resend_later(self, key: tuple[str, int], unacked: _Unacked) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= unacked.deadline:
            self._unacked.pop(key, None)
            self._core().not_acknowledged(unacked.request)
            return
        delay = 64 * self.timers.t1 if unacked.peer.reliable else unacked.interval
        unacked.handle = loop.call_later(delay, self._resend, key)

    def _resend(self, key: tuple[str, int]) -> None:
        unacked = self._unacked.get(key)
        if unacked is None:
            return
        if not unacked.peer.reliable:
            self.transports.send(unacked.data, unacked.peer)
            unacked.interval = min(unacked.interval * 2, self.timers.t2)
        self._resend_later(key, unacked)

    def _stop_resending(self, key: tuple[str, int]) -> None:
        unacked = self._unacked.pop(key, None)
        if unacked is not None and unacked.handle is not None:
            unacked.handle.cancel()

    def _acked(self, ack: Request) -> None:
        key = (ack.call_id, ack.cseq.sequence)
        if key in self._unacked:
            self._stop_resending(key)
            self._core().acknowledged(ack)

    # --- out --------------------------------------------------------------------------

    def send(self, request: Request, peer: Peer, on_response: Callable[[Response], None]) -> ClientTransaction:
        """A request in its client transaction; every response (and a 408 of our own) goes to `on_response`."""
        key = (branch_of(request), request.method)
        transaction = ClientTransaction(
            request,
            peer,
            self.transports.send,
            self.timers,
            on_response,
            on_terminated=lambda _t: self.clients.pop(key, None),
        )
        self.clients[key] = transaction
        transaction.start()
        return transaction

    async def ask(self, request: Request, peer: Peer) -> Response:
        """A non-INVITE request's final response, answering one challenge on the way."""
        answer = await self._final(request, peer)
        retry = self.authorized(request, answer)
        if retry is not None:
            answer = await self._final(retry, peer)
        return answer

    async def _final(self, request: Request, peer: Peer) -> Response:
        done: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def got(answer: Response) -> None:
            if answer.code >= 200 and not done.done():
                done.set_result(answer)

        self.send(request, peer, got)
        return await done

    def send_ack(self, ack: Request, peer: Peer) -> None:
        """The ACK of a 2xx is no transaction: sent once per 2xx received."""
        self.transports.send(finish(ack), peer)

    def authorized(self, request: Request, challenge: Response) -> Request | None:
        """`request` again with credentials for a 401/407 (once: a request that already had them gets None)."""
        if challenge.code not in (401, 407) or self.credentials is None:
            return None
        asked, given = (
            ("WWW-Authenticate", "Authorization")
            if challenge.code == 401
            else ("Proxy-Authenticate", "Proxy-Authorization")
        )
        if request.headers.get(given) is not None or challenge.headers.get(asked) is None:
            return None
        try:
            credentials = digest.answer(
                digest.Challenge.parse(challenge.headers[asked]),
                method=request.method,
                uri=str(request.uri),
                username=self.credentials.username,
                password=self.credentials.password,
            )
        except digest.CannotAnswer as error:
            log.warning("cannot answer the trunk's challenge: %s", error)
            return None
        retry = Request(request.method, request.uri, request.body)
        for name in request.headers.keys():  # noqa: SIM118 (Headers is no mapping: it has no __iter__)
            retry.headers.setlist(name, list(request.headers.getlist(name)))
        via = request.headers.getlist("Via")[0].split(";branch=")[0]
        retry.headers.setlist("Via", [f"{via};branch={new_branch()};rport"])
        retry.headers.set("CSeq", f"{request.cseq.sequence + 1} {request.method}")
        retry.headers.set(given, credentials)
        return retry

    def new_request(self, method: str, uri: URI, protocol: str, *, from_: str, to: str, call_id: str) -> Request:
        request = Request(method, uri)
        request.headers.set("Via", f"{self.via(protocol)};branch={new_branch()};rport")
        request.headers.set("From", from_)
        request.headers.set("To", to)
        request.headers.set("Call-ID", call_id)
        request.headers.set("CSeq", f"1 {method}")
        return request

    def close(self) -> None:
        for transaction in [*self.clients.values(), *self.servers.values()]:
            transaction.terminate()
        for key in list(self._unacked):
            self._stop_resending(key)


def _sent_by(message: Request | Response) -> str:
    via = message.via[0]
    return f"{via.host}:{via.port or 5060}"


def _random_tag() -> str:
    """For a response that makes no dialog: a To tag all the same, as RFC 3261 8.2.6.2 wants."""
    return new_tag()
