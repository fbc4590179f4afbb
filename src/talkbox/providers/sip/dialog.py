"""A SIP dialog (RFC 3261 section 12): what both sides agreed on, and the requests sent within it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sipmessage import URI, Request, Response

from talkbox.providers.sip.message import new_branch, tag_of
from talkbox.providers.sip.transport import Peer


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    # The From and To of our requests in it (with their tags).
    local: str
    remote: str
    remote_target: URI
    route_set: list[str]
    local_cseq: int
    remote_cseq: int
    # In-dialog requests go back where the dialog's messages come from: the trunk (what a NATed trunk needs).
    peer: Peer
    contact: str = field(default="", repr=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str, peer: Peer, contact: str) -> Dialog:
        """Ours on answering an INVITE: the remote side is its From."""
        to = invite.headers["To"]
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=tag_of(invite.headers["From"]) or "",
            local=to if tag_of(to) else f"{to};tag={local_tag}",
            remote=invite.headers["From"],
            remote_target=target_of(invite) or invite.from_address.uri,
            route_set=list(invite.headers.getlist("Record-Route")),
            local_cseq=0,
            remote_cseq=invite.cseq.sequence,
            peer=peer,
            contact=contact,
        )

    @classmethod
    def as_uac(cls, invite: Request, answer: Response, peer: Peer, contact: str) -> Dialog:
        """Ours on a 2xx to our INVITE: the route set is its Record-Route, reversed."""
        return cls(
            call_id=invite.call_id,
            local_tag=tag_of(invite.headers["From"]) or "",
            remote_tag=tag_of(answer.headers["To"]) or "",
            local=invite.headers["From"],
            remote=answer.headers["To"],
            remote_target=target_of(answer) or invite.uri,
            route_set=list(reversed(answer.headers.getlist("Record-Route"))),
            local_cseq=invite.cseq.sequence,
            remote_cseq=0,
            peer=peer,
            contact=contact,
        )

    def request(self, method: str, via: str, *, body: bytes = b"", content_type: str | None = None) -> Request:
        """A new request in the dialog, with the next CSeq (17.1.1.3's ACK of a 2xx comes from `ack`)."""
        self.local_cseq += 1
        return self._request(method, self.local_cseq, via, body, content_type)

    def ack(self, cseq: int, via: str, body: bytes = b"") -> Request:
        """The ACK of a 2xx: a transaction of its own (new branch), with the INVITE's CSeq number."""
        return self._request("ACK", cseq, via, body, "application/sdp" if body else None)

    def _request(self, method: str, cseq: int, via: str, body: bytes, content_type: str | None) -> Request:
        request = Request(method, self.remote_target, body)
        request.headers.set("Via", f"{via};branch={new_branch()};rport")
        request.headers.set("From", self.local)
        request.headers.set("To", self.remote)
        request.headers.set("Call-ID", self.call_id)
        request.headers.set("CSeq", f"{cseq} {method}")
        if self.route_set:
            request.headers.setlist("Route", self.route_set)
        if self.contact and method in ("INVITE", "UPDATE"):
            request.headers.set("Contact", self.contact)
        if content_type:
            request.headers.set("Content-Type", content_type)
        return request


def target_of(message: Request | Response) -> URI | None:
    """The first Contact's URI: where the other side wants the dialog's requests (a target refresh moves it)."""
    try:
        contacts = message.contact
    except ValueError:
        return None
    return contacts[0].uri if contacts else None
