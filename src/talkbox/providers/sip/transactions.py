"""RFC 3261 transactions (section 17, with RFC 6026's Accepted states): what makes SIP work over UDP.

A client transaction sends a request until a response comes and hands each
response to its owner; a server transaction absorbs the retransmissions of a
request and repeats its last response. Timers (names as in the RFC's table 4):

| timer | transaction | what it does |
|---|---|---|
| A, B | INVITE client | retransmit the INVITE (T1, doubling) / give up after 64*T1: a 408 for the owner |
| D | INVITE client | absorb retransmitted final responses (ACKing each) for 32 s |
| M | INVITE client | absorb forked and retransmitted 2xx (passed to the owner, who ACKs them) for 64*T1 |
| E, F | non-INVITE client | retransmit (T1 doubling up to T2) / give up after 64*T1 |
| K | non-INVITE client | absorb retransmitted responses for T4 |
| G, H | INVITE server | retransmit a final non-2xx until ACKed / give up after 64*T1 |
| I | INVITE server | absorb retransmitted ACKs for T4 |
| J | non-INVITE server | repeat the final response to retransmitted requests for 64*T1 |
| L | INVITE server | after a 2xx: absorb retransmitted INVITEs for 64*T1 |

Over TCP nothing is retransmitted and the absorbing timers are zero. Nothing
here knows about calls: the owner (the user agent) gets responses and timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from sipmessage import Request, Response

from talkbox.providers.sip.message import finish, response
from talkbox.providers.sip.transport import Peer


@dataclass(frozen=True)
class Timers:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0


Send = Callable[[bytes, Peer], None]
OnResponse = Callable[[Response], None]


class _Transaction:
    def __init__(self, peer: Peer, send: Send, timers: Timers, on_terminated: Callable[[_Transaction], None]) -> None:
        self.peer = peer
        self._send = send
        self.timers = timers
        self._on_terminated = on_terminated
        self.state = "initial"
        self._handles: dict[str, asyncio.TimerHandle] = {}

    @property
    def terminated(self) -> bool:
        return self.state == "terminated"

    def _start(self, name: str, seconds: float, fire: Callable[[], None]) -> None:
        self._stop(name)
        self._handles[name] = asyncio.get_running_loop().call_later(seconds, fire)

    def _stop(self, *names: str) -> None:
        for name in names:
            handle = self._handles.pop(name, None)
            if handle is not None:
                handle.cancel()

    def _linger(self, seconds: float) -> None:
        """Stay to absorb retransmissions (none come over TCP), then terminate."""
        if seconds <= 0 or self.peer.reliable:
            self.terminate()
        else:
            self._start("end", seconds, self.terminate)

    def terminate(self) -> None:
        if self.state == "terminated":
            return
        self.state = "terminated"
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._on_terminated(self)


class ClientTransaction(_Transaction):
    """Sends `request` to `peer`; every response (or a 408 of its own when none comes) goes to `on_response`."""

    def __init__(
        self,
        request: Request,
        peer: Peer,
        send: Send,
        timers: Timers,
        on_response: OnResponse,
        on_terminated: Callable[[_Transaction], None],
    ) -> None:
        super().__init__(peer, send, timers, on_terminated)
        self.request = request
        self.invite = request.method == "INVITE"
        self.on_response = on_response
        self._bytes = finish(request)
        self._interval = timers.t1

    def start(self) -> None:
        self.state = "calling" if self.invite else "trying"
        self._send(self._bytes, self.peer)
        if not self.peer.reliable:
            self._start("retransmit", self._interval, self._retransmit)
        self._start("timeout", 64 * self.timers.t1, self._timed_out)  # B or F

    def _retransmit(self) -> None:
        if self.state not in ("calling", "trying", "proceeding"):
            return
        self._send(self._bytes, self.peer)
        # A doubles without bound (INVITE); E doubles up to T2, and is T2 once a provisional came.
        self._interval = self._interval * 2 if self.invite else min(self._interval * 2, self.timers.t2)
        self._start("retransmit", self._interval, self._retransmit)

    def _timed_out(self) -> None:
        if self.state in ("calling", "trying", "proceeding"):
            self.terminate()
            self.on_response(response(self.request, 408, phrase="Request Timeout (no response)"))

    def transport_failed(self) -> None:
        if self.state in ("calling", "trying", "proceeding"):
            self.terminate()
            self.on_response(response(self.request, 503, phrase="Service Unavailable (transport)"))

    def received(self, answer: Response) -> None:
        if self.invite:
            self._invite_response(answer)
        else:
            self._plain_response(answer)

    def _invite_response(self, answer: Response) -> None:
        if self.state == "completed":
            if answer.code >= 300:
                self._send(finish(self._ack(answer)), self.peer)  # our ACK was lost
            return
        if self.state == "accepted":
            if 200 <= answer.code < 300:
                self.on_response(answer)  # a retransmission, or a forked 2xx: the owner ACKs it
            return
        if self.state not in ("calling", "proceeding"):
            return
        if answer.code < 200:
            self.state = "proceeding"
            self._stop("retransmit", "timeout")  # the UAS has it; the owner's CANCEL ends a long wait
        elif answer.code < 300:
            self.state = "accepted"
            self._stop("retransmit", "timeout")
            self._start("end", 64 * self.timers.t1, self.terminate)  # M
        else:
            self.state = "completed"
            self._stop("retransmit", "timeout")
            self._send(finish(self._ack(answer)), self.peer)
            self._linger(self.timers.d)
        self.on_response(answer)

    def _plain_response(self, answer: Response) -> None:
        if self.state not in ("trying", "proceeding"):
            return  # completed: a retransmission, absorbed
        if answer.code < 200:
            if self.state == "trying":
                self.state = "proceeding"
                self._interval = self.timers.t2
            self.on_response(answer)
            return
        self.state = "completed"
        self._stop("retransmit", "timeout")
        self._linger(self.timers.t4)  # K
        self.on_response(answer)

    def _ack(self, answer: Response) -> Request:
        """The ACK of a non-2xx final response belongs to this transaction (17.1.1.3)."""
        ack = Request("ACK", self.request.uri)
        ack.headers.set("Via", self.request.headers.getlist("Via")[0])
        for name in ("From", "Call-ID"):
            ack.headers.set(name, self.request.headers[name])
        ack.headers.set("To", answer.headers["To"])
        ack.headers.set("CSeq", f"{self.request.cseq.sequence} ACK")
        routes = self.request.headers.getlist("Route")
        if routes:
            ack.headers.setlist("Route", routes)
        return ack


class ServerTransaction(_Transaction):
    """Holds one request from `peer` and its last response; the owner answers it with `respond`."""

    def __init__(
        self,
        request: Request,
        peer: Peer,
        send: Send,
        timers: Timers,
        on_terminated: Callable[[_Transaction], None],
        on_no_ack: Callable[[ServerTransaction], None] = lambda _t: None,
    ) -> None:
        super().__init__(peer, send, timers, on_terminated)
        self.request = request
        self.invite = request.method == "INVITE"
        self.state = "proceeding" if self.invite else "trying"
        self.last: bytes | None = None
        self.final: Response | None = None
        self._on_no_ack = on_no_ack
        self._interval = timers.t1

    @property
    def answered(self) -> bool:
        return self.final is not None

    def respond(self, answer: Response) -> None:
        if self.state not in ("proceeding", "trying"):
            return  # already answered: a second final response is never sent
        self.last = finish(answer)
        self._send(self.last, self.peer)
        if answer.code < 200:
            self.state = "proceeding"
            return
        self.final = answer
        if not self.invite:
            self.state = "completed"
            self._linger(64 * self.timers.t1)  # J
        elif answer.code < 300:
            # The 2xx is the owner's to retransmit until ACKed; this only absorbs INVITE copies.
            self.state = "accepted"
            self._start("end", 64 * self.timers.t1, self.terminate)  # L
        else:
            self.state = "completed"
            if not self.peer.reliable:
                self._start("retransmit", self._interval, self._retransmit)  # G
            self._start("timeout", 64 * self.timers.t1, self._no_ack)  # H

    def retransmitted(self) -> None:
        """The same request again: say again what was said last (nothing yet: nothing)."""
        if self.last is not None and self.state in ("proceeding", "trying", "completed"):
            self._send(self.last, self.peer)

    def acknowledged(self) -> None:
        """The ACK of our non-2xx final response."""
        if self.state == "completed" and self.invite:
            self.state = "confirmed"
            self._stop("retransmit", "timeout")
            self._linger(self.timers.t4)  # I

    def _retransmit(self) -> None:
        if self.state != "completed" or self.last is None:
            return
        self._send(self.last, self.peer)
        self._interval = min(self._interval * 2, self.timers.t2)
        self._start("retransmit", self._interval, self._retransmit)

    def _no_ack(self) -> None:
        if self.state == "completed":
            self.terminate()
            self._on_no_ack(self)
