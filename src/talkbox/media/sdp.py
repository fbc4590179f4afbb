"""SDP (RFC 4566) offer and answer (RFC 3264) for a telephone leg: one audio stream of plain RTP with G.711.

Only what a plain-RTP leg needs is read: the connection address, the audio m-line (port, profile, payload
types), rtpmap names, the direction, `a=rtcp` and `a=rtcp-mux`. Everything else in a carrier's SDP is
ignored, and other m-lines (video, a second audio) are refused in the answer with port 0, as RFC 3264 asks.
A description is never logged: it names addresses.
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass, field
from typing import Literal

from talkbox.media import g711

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
_DIRECTION_NAMES: dict[str, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "sendonly",
    "recvonly": "recvonly",
    "inactive": "inactive",
}
# What answers a direction offered: the other side of each one-way stream.
_ANSWER_DIRECTION: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
TELEPHONE_EVENT = 101
PTIME = 20
MAX_SDP = 16 * 1024


class SdpError(ValueError):
    """A description this engine cannot use: the signalling answers 488 Not Acceptable Here."""


@dataclass
class MediaLine:
    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    rtpmap: dict[int, str] = field(default_factory=dict)  # payload type -> "name/rate" (lower case)
    direction: Direction = "sendrecv"
    host: str | None = None  # a c= line inside the m-section
    rtcp_port: int | None = None
    rtcp_mux: bool = False

    @property
    def payload_types(self) -> list[int]:
        """The formats that are RTP payload types, in the peer's order of preference."""
        return [number for text in self.formats if (number := _number(text)) is not None]


@dataclass(frozen=True)
class Description:
    host: str | None  # the session-level c= address
    media: tuple[MediaLine, ...]
    direction: Direction = "sendrecv"  # session-level a=


@dataclass(frozen=True)
class Remote:
    """What a telephone's description means for the endpoint: where to send, in what, and whether to."""

    host: str
    port: int
    rtcp_port: int
    rtcp_mux: bool
    law: g711.Law
    telephone_event: int | None  # its payload type, when the peer takes RFC 4733 events
    direction: Direction  # the peer's, as it said it

    @property
    def held(self) -> bool:
        """The peer does not want our audio: a=sendonly/inactive, or the old hold of RFC 2543, c=0.0.0.0."""
        return self.direction in ("sendonly", "inactive") or unspecified(self.host)

    @property
    def two_way(self) -> bool:
        """Neither held nor listening only: the peer's silence may then mean it has gone."""
        return self.direction == "sendrecv" and not unspecified(self.host)


def parse(text: str) -> Description:
    if len(text) > MAX_SDP:
        raise SdpError("the description is too long")
    host: str | None = None
    direction: Direction = "sendrecv"
    lines: list[MediaLine] = []
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        current = lines[-1] if lines else None
        if kind == "m":
            lines.append(_media_start(value))
        elif kind == "c":
            address = _connection(value)
            if current is None:
                host = address
            else:
                current.host = address
        elif kind == "a":
            name, _, rest = value.partition(":")
            given = _DIRECTION_NAMES.get(name)
            if given is not None:
                if current is None:
                    direction = given
                else:
                    current.direction = given
            elif current is not None:
                _attribute(current, name, rest)
    return Description(host, tuple(lines), direction)


def _media_start(value: str) -> MediaLine:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError("an m-line without formats")
    kind, port, proto = parts[0], parts[1].split("/")[0], parts[2]
    number = _number(port)
    if number is None or number > 65535:
        raise SdpError("an m-line with a bad port")
    return MediaLine(kind, number, proto, tuple(parts[3:]))


def _number(text: str) -> int | None:
    """A decimal number as SDP writes one (str.isdigit alone lets through digits int() refuses, like '²')."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


def _connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError("a c-line this engine cannot read")
    address = parts[2].split("/")[0]
    try:
        ipaddress.ip_address(address)
    except ValueError as error:
        raise SdpError("a c-line that is not an IP address") from error
    return address


def _attribute(line: MediaLine, name: str, rest: str) -> None:
    if name == "rtpmap":
        number, _, codec = rest.partition(" ")
        payload_type = _number(number)
        if payload_type is not None:
            line.rtpmap[payload_type] = codec.strip().lower()
    elif name == "rtcp":
        port = _number(rest.split()[0]) if rest.split() else None
        if port is not None and 0 < port <= 65535:
            line.rtcp_port = port
    elif name == "rtcp-mux":
        line.rtcp_mux = True


def unspecified(host: str) -> bool:
    """0.0.0.0 (or ::): RFC 2543's way to put a call on hold."""
    return ipaddress.ip_address(host).is_unspecified


def _law(line: MediaLine, payload_type: int) -> g711.Law | None:
    """G.711 by its static number, or by name under whatever number the peer gave it."""
    name = line.rtpmap.get(payload_type)
    if name is None:
        return g711.LAWS.get(payload_type)
    for law in g711.PAYLOAD_TYPES:
        if name == f"{law.lower()}/8000":
            return law
    return None


def remote(description: Description) -> tuple[int, Remote]:
    """The first audio m-line we can use (its index) and what it means; SdpError if there is none.

    The codec is the peer's first G.711 in its order of preference.
    """
    refusal = "the description has no audio stream"
    for index, line in enumerate(description.media):
        if line.kind != "audio" or line.port == 0:
            continue
        if line.proto != "RTP/AVP":
            refusal = f"audio over {line.proto[:20]} is not offered here (plain RTP/AVP only)"
            continue
        host = line.host or description.host
        if host is None:
            refusal = "the audio stream has no connection address"
            continue
        laws = [law for number in line.payload_types if (law := _law(line, number))]
        if not laws:
            refusal = "no codec in common: Talkbox takes PCMU and PCMA"
            continue
        events = [number for number in line.payload_types if line.rtpmap.get(number) == "telephone-event/8000"]
        direction = line.direction if line.direction != "sendrecv" else description.direction
        rtcp = line.port + 1 if line.rtcp_port is None else line.rtcp_port
        return index, Remote(host, line.port, rtcp, line.rtcp_mux, laws[0], events[0] if events else None, direction)
    raise SdpError(refusal)


def port_of(description: str) -> int:
    """The port of the audio stream in a description the engine wrote."""
    return next(line.port for line in parse(description).media if line.port)


def check(text: str) -> None:
    """SdpError unless the description has an audio stream this engine can use."""
    remote(parse(text))


@dataclass
class Origin:
    """Our o= line: one session id per endpoint, a version that moves with every new description (RFC 3264 8)."""

    host: str
    session: int = field(default_factory=lambda: random.getrandbits(62))
    version: int = field(default_factory=lambda: random.getrandbits(30))

    def next(self) -> str:
        self.version += 1
        return f"o=talkbox {self.session} {self.version} IN {_family(self.host)} {self.host}"

    @staticmethod
    def of(description: str) -> tuple[int, int]:
        """The session id and version of a description we wrote, for an endpoint that carries on after it."""
        found = re.search(r"^o=talkbox (\d+) (\d+) ", description, re.MULTILINE)
        if found is None:
            raise SdpError("not a description of ours")
        return int(found.group(1)), int(found.group(2))


def _family(host: str) -> str:
    return "IP6" if ipaddress.ip_address(host).version == 6 else "IP4"


def offer(origin: Origin, port: int) -> str:
    """Our offer for a call out: PCMU, PCMA and telephone-event, RTCP on the next port or muxed if the peer likes."""
    formats = f"{g711.PAYLOAD_TYPES['PCMU']} {g711.PAYLOAD_TYPES['PCMA']} {TELEPHONE_EVENT}"
    media = [
        f"m=audio {port} RTP/AVP {formats}",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        f"a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000",
        f"a=fmtp:{TELEPHONE_EVENT} 0-15",
        f"a=ptime:{PTIME}",
        f"a=rtcp:{port + 1}",
        "a=rtcp-mux",
        "a=sendrecv",
    ]
    return _session(origin, media)


def answer(origin: Origin, port: int, description: Description, chosen: int, peer: Remote) -> str:
    """Our answer: the chosen codec (and telephone-event when offered) in the chosen m-line, the rest refused."""
    lines: list[str] = []
    for index, line in enumerate(description.media):
        if index != chosen:
            lines.append(f"m={line.kind} 0 {line.proto} {line.formats[0]}")
            continue
        number = next(n for n in line.payload_types if _law(line, n) == peer.law)
        formats = number if peer.telephone_event is None else f"{number} {peer.telephone_event}"
        lines += [f"m=audio {port} RTP/AVP {formats}", f"a=rtpmap:{number} {peer.law}/8000"]
        if peer.telephone_event is not None:
            lines += [f"a=rtpmap:{peer.telephone_event} telephone-event/8000", f"a=fmtp:{peer.telephone_event} 0-15"]
        lines.append(f"a=ptime:{PTIME}")
        lines.append("a=rtcp-mux" if peer.rtcp_mux else f"a=rtcp:{port + 1}")
        # c=0.0.0.0 is a hold: answer as to a=sendonly.
        theirs: Direction = "sendonly" if unspecified(peer.host) and peer.direction == "sendrecv" else peer.direction
        lines.append(f"a={_ANSWER_DIRECTION[theirs]}")
    return _session(origin, lines)


def _session(origin: Origin, media: list[str]) -> str:
    head = ["v=0", origin.next(), "s=talkbox", f"c=IN {_family(origin.host)} {origin.host}", "t=0 0"]
    return "\r\n".join(head + media) + "\r\n"
