"""A raw SIP peer on a loopback UDP socket: the test writes the bytes and reads what Talkbox sends back.

No SIP stack of its own: each test spells out the messages of its scenario, so
what is checked is what goes over the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Received:
    data: bytes
    at: float

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")

    @property
    def first_line(self) -> str:
        return self.text.split("\r\n", 1)[0]

    @property
    def code(self) -> int | None:
        match = re.match(r"SIP/2\.0 (\d{3})", self.text)
        return int(match.group(1)) if match else None

    @property
    def method(self) -> str | None:
        match = re.match(r"([A-Z]+) \S+ SIP/2\.0", self.text)
        return match.group(1) if match else None

    def header(self, name: str) -> str | None:
        match = re.search(rf"^{name}\s*:\s*(.*?)\r$", self.text, re.IGNORECASE | re.MULTILINE)
        return match.group(1) if match else None


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, wire: Wire) -> None:
        self.wire = wire

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.wire.inbox.append(Received(data, asyncio.get_running_loop().time()))
        self.wire.arrived.set()


@dataclass
class Wire:
    target: tuple[str, int]
    transport: asyncio.DatagramTransport = field(init=False)
    inbox: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    @property
    def host(self) -> str:
        return self.transport.get_extra_info("sockname")[0]

    def send(self, text: str, body: str = "") -> None:
        message = text.strip("\n").replace("\n", "\r\n") + "\r\n"
        message += f"Content-Length: {len(body.encode())}\r\n\r\n" + body
        self.transport.sendto(message.encode(), self.target)

    def send_raw(self, data: bytes) -> None:
        self.transport.sendto(data, self.target)

    async def next(self, match: str, timeout: float = 3.0, *, after: int = 0) -> Received:
        """The first message (from index `after`) whose first line contains `match`."""
        async with asyncio.timeout(timeout):
            while True:
                for message in self.inbox[after:]:
                    if match in message.first_line:
                        return message
                self.arrived.clear()
                await self.arrived.wait()

    def count(self, match: str) -> int:
        return sum(1 for message in self.inbox if match in message.first_line)


@contextlib.asynccontextmanager
async def wire_to(target: tuple[str, int], host: str = "127.0.0.1") -> AsyncIterator[Wire]:
    """A socket on `host` (any of 127.0.0.0/8: a different source address for Talkbox)."""
    wire = Wire(target)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Socket(wire), local_addr=(host, 0)
    )
    wire.transport = transport  # type: ignore[assignment]
    try:
        yield wire
    finally:
        transport.close()


def request(
    method: str,
    wire: Wire,
    *,
    branch: str,
    call_id: str = "call-1",
    cseq: int = 1,
    to_tag: str = "",
    user: str = "bob",
    extra: str = "",
) -> str:
    """A request from the wire's address, its headers as a telephone would write them."""
    host, port = wire.target
    to = f"<sip:{user}@{host}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} sip:{user}@{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP {wire.host}:{wire.port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:+15551234567@127.0.0.1>;tag=phone-{call_id}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:phone@127.0.0.1:{wire.port}>",
    ]
    if extra:
        lines.append(extra.strip("\n"))
    return "\n".join(lines)


def reply(to: Received, code: int, phrase: str, *, to_tag: str = "trunk-tag", extra: str = "") -> str:
    """A response to a request Talkbox sent, as a trunk writes it."""
    lines = [f"SIP/2.0 {code} {phrase}"]
    for name in ("Via", "From", "Call-ID", "CSeq"):
        lines.append(f"{name}: {to.header(name)}")
    to_header = to.header("To") or ""
    lines.append(f"To: {to_header}" + (f";tag={to_tag}" if to_tag and "tag=" not in to_header else ""))
    if extra:
        lines.append(extra.strip("\n"))
    return "\n".join(lines)
