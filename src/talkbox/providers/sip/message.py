"""Building and checking SIP messages on top of `sipmessage`, which parses and prints them.

Only what RFC 3261 makes every message carry is checked here; a message that
fails is answered 400 (a request with a usable Via) or dropped.
"""

from __future__ import annotations

import re
import secrets

from sipmessage import Message, Request, Response

# RFC 3261's magic cookie: a branch that starts with it is unique in space and time.
BRANCH_COOKIE = "z9hG4bK"
MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"

PHRASES = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}


class Malformed(ValueError):
    """A message Talkbox will not act on; the reason goes in the 400's phrase (never the message itself)."""


def new_branch() -> str:
    return BRANCH_COOKIE + secrets.token_hex(10)


def new_tag() -> str:
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def parse(data: bytes) -> Request | Response:
    """A message that has everything RFC 3261 requires, or Malformed."""
    try:
        message = Message.parse(data)
        _check(message)
    except Malformed:
        raise
    except Exception as error:  # sipmessage raises ValueError, and worse on hostile input
        raise Malformed(type(error).__name__) from None
    return message


def _check(message: Request | Response) -> None:
    for name in MANDATORY:
        if message.headers.get(name) is None:
            raise Malformed(f"Missing {name}")
    cseq = message.cseq
    if not 0 <= cseq.sequence < 2**31:
        raise Malformed("Bad CSeq")
    if not message.via or not message.via[0].parameters.get("branch"):
        raise Malformed("Missing branch")
    message.from_address  # noqa: B018 (parsed here, so a bad one is a 400 and not a crash later)
    message.to_address  # noqa: B018
    if isinstance(message, Request):
        if cseq.method != message.method:
            raise Malformed("CSeq method mismatch")
        if not re.fullmatch(r"[A-Z]{2,16}", message.method):
            raise Malformed("Bad method")
    elif not 100 <= message.code <= 699:
        raise Malformed("Bad status")
    length = message.content_length
    if length is not None:
        if length > len(message.body):
            raise Malformed("Body shorter than Content-Length")
        message.body = message.body[:length]  # UDP: anything past it is not ours to read


def can_answer(data: bytes) -> Request | None:
    """A malformed request we can still send a 400 back to (it has a Via to route it), if it is one."""
    try:
        message = Message.parse(data)
        if not isinstance(message, Request) or message.method == "ACK":
            return None  # never answer a response or an ACK
        if any(message.headers.get(name) is None for name in MANDATORY) or not message.via:
            return None  # a 400 copies these: without them there is nothing to send it back by
        return message
    except Exception:
        return None


def response(
    request: Request,
    code: int,
    *,
    to_tag: str | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    phrase: str | None = None,
) -> Response:
    """A response with the headers RFC 3261 copies from its request (8.2.6.2)."""
    answer = Response(code, phrase or PHRASES.get(code, "Unknown"))
    answer.headers.setlist("Via", request.headers.getlist("Via"))
    for name in ("From", "Call-ID", "CSeq"):
        answer.headers.set(name, request.headers[name])
    to = request.headers["To"]
    if to_tag and code > 100 and ";tag=" not in to.lower().replace(" ", ""):
        to = f"{to};tag={to_tag}"
    answer.headers.set("To", to)
    if content_type:
        answer.headers.set("Content-Type", content_type)
    answer.body = body
    return answer


def finish(message: Request | Response, user_agent: str = "Talkbox") -> bytes:
    """The bytes to send: Content-Length always set (TCP needs it to frame)."""
    if isinstance(message, Request):
        message.headers.set("Max-Forwards", message.headers.get("Max-Forwards") or "70")
        message.headers.set("User-Agent", user_agent)
    else:
        message.headers.set("Server", user_agent)
    message.headers.set("Content-Length", str(len(message.body)))
    return bytes(message)


def branch_of(message: Request | Response) -> str:
    return str(message.via[0].parameters.get("branch"))


def tag_of(header_value: str) -> str | None:
    match = re.search(r";\s*tag\s*=\s*([^;>\s]+)", header_value, re.IGNORECASE)
    return match.group(1) if match else None
