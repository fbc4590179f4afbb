"""A real telephone: sipp (Debian's sip-tester) calls, plays its recorded PCMA speech and a keypad digit.

The SIP here is a test-local stand-in that answers one INVITE with the engine's answer and a BYE with 200; the
signalling proper is providers/sip's. What is under test is the media: sipp's own RTP, from its own sockets.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from talkbox.media.engine import MediaEngine
from tests.media.test_conference_media import Sent

SIPP_PCAPS = Path("/usr/share/sip-tester")
SCENARIO = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a telephone that speaks and presses 5">
  <send retrans="500"><![CDATA[
INVITE sip:talkbox@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:talkbox@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[local_ip_type] [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11,16
]]></send>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:talkbox@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:talkbox@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  <nop><action><exec play_pcap_audio="{SIPP_PCAPS / "g711a.pcap"}"/></action></nop>
  <pause milliseconds="3000"/>
  <nop><action><exec play_pcap_audio="{SIPP_PCAPS / "dtmf_2833_5.pcap"}"/></action></nop>
  <pause milliseconds="600"/>
  <send retrans="500"><![CDATA[
BYE sip:talkbox@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:talkbox@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Answerer(asyncio.DatagramProtocol):
    """Just enough of a SIP server for one call: 200 to the INVITE (once, whatever the retransmissions), 200 to BYE."""

    engine: MediaEngine
    transport: asyncio.DatagramTransport | None = None
    answers: dict[str, bytes] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        head, _, body = data.decode().partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = {line.split(":", 1)[0].lower(): line for line in lines[1:] if ":" in line}
        method = lines[0].split()[0]
        if method == "INVITE":
            task = asyncio.ensure_future(self._invite(headers, body, addr))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif method == "BYE":
            self._reply(headers, "", addr)

    async def _invite(self, headers: dict[str, str], body: str, addr: tuple[Any, ...]) -> None:
        call = headers["call-id"]
        if call not in self.answers:
            self.answers[call] = b""
            answer = await self.engine.rtp_answer("c", "phone", body)
            self.answers[call] = self._reply(headers, answer, addr)
        elif self.answers[call] and self.transport is not None:
            self.transport.sendto(self.answers[call], addr)

    def _reply(self, headers: dict[str, str], sdp: str, addr: tuple[Any, ...]) -> bytes:
        lines = ["SIP/2.0 200 OK", headers["via"], headers["from"], headers["to"] + ";tag=talkbox"]
        lines += [headers["call-id"], headers["cseq"], "Contact: <sip:talkbox@127.0.0.1>"]
        if sdp:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(sdp.encode())}")
        message = ("\r\n".join(lines) + "\r\n\r\n" + sdp).encode()
        assert self.transport is not None
        self.transport.sendto(message, addr)
        return message


async def test_sipp_calling_in_is_heard_in_the_conference_and_its_digit_is_reported(tmp_path: Path) -> None:
    states: list[tuple[str, str]] = []
    digits: list[str] = []
    engine = MediaEngine(
        on_state=lambda leg, state: states.append((leg, state)),
        on_dtmf=lambda _conference, _leg, digit: digits.append(digit),
    )
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Answerer(engine), local_addr=("127.0.0.1", 0))
    scenario = tmp_path / "phone.xml"
    scenario.write_text(SCENARIO)
    to_alice = Sent()
    try:
        sipp = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{transport.get_extra_info('sockname')[1]}", "-sf", str(scenario),
            "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port() & ~1),
            "-m", "1", "-nostdin", "-timeout", "20s",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        while "phone" not in engine.legs and sipp.returncode is None:
            await asyncio.sleep(0.01)
        engine.conferences["c"].add("alice", to_alice)
        _, errors = await asyncio.wait_for(sipp.communicate(), 30)
        assert sipp.returncode == 0, errors.decode()[-2000:]
        endpoint = engine.legs["phone"].endpoint
        assert states == [("phone", "connected")]
        assert digits == ["5"], "the keypad digit, once"
        assert endpoint.counters.strangers == 0 and endpoint.counters.malformed == 0
        assert endpoint.counters.received > 90, "three seconds of sipp's 30 ms packets"
        heard = to_alice.heard(last=len(to_alice.packets)).astype(np.float64)
        loud = [np.sqrt(np.mean(heard[i : i + 4800] ** 2)) for i in range(0, len(heard) - 4800, 4800)]
        assert max(loud) > 1000, "the browser side heard no speech"
    finally:
        transport.close()
        await engine.close()
