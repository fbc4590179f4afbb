"""Hostile and malformed SIP: nothing crashes, the stack keeps answering, and a call in progress stays up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from talkbox.providers.sip.message import Malformed, parse
from tests.sip.talkbox_sip import sdp, sip_side
from tests.sip.wire import request, wire_to

VALID = (
    b"INVITE sip:+15005550006@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-fuzz\r\n"
    b"From: <sip:+15551234567@127.0.0.1>;tag=a\r\n"
    b"To: <sip:+15005550006@127.0.0.1>\r\n"
    b"Call-ID: fuzz\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\nv=0\r\n"
)

HOSTILE = [
    b"",
    b"\x00" * 64,
    b"\xff\xfe" * 100,
    b"INVITE\r\n\r\n",
    b"SIP/2.0 200\r\n\r\n",
    b"SIP/2.0 999 Nope\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n",
    VALID.replace(b"CSeq: 1 INVITE", b"CSeq: -1 INVITE"),
    VALID.replace(b"CSeq: 1 INVITE", b"CSeq: 99999999999999999999 INVITE"),
    VALID.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"),
    VALID.replace(b"Content-Length: 4", b"Content-Length: 4000"),
    VALID.replace(b"Content-Length: 4", b"Content-Length: -4"),
    VALID.replace(b"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-fuzz\r\n", b""),
    VALID.replace(b"From: <sip:+15551234567@127.0.0.1>;tag=a", b"From: <<<>>>"),
    VALID.replace(b"To: <sip:+15005550006@127.0.0.1>", b"To: \xc3\x28"),
    VALID.replace(b"INVITE sip:", b"INV\x00ITE sip:"),
    VALID.replace(b"sip:+15005550006@127.0.0.1 SIP", b"http://evil SIP"),
    VALID + b"X-Long: " + b"a" * 20_000 + b"\r\n",
    b"BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKb\r\nFrom: <sip:a@b>;tag=1\r\n"
    b"To: <sip:c@d>;tag=2\r\nCall-ID: nothing\r\nCSeq: 1 BYE\r\n\r\n",
    b"CANCEL sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-call\r\nFrom: <sip:a@b>;tag=1\r\n"
    b"To: <sip:c@d>\r\nCall-ID: call-up\r\nCSeq: 1 CANCEL\r\n\r\n",
    b"\r\n\r\n",
]


def mutations(seed: int, count: int) -> list[bytes]:
    """The valid INVITE cut, spliced and bit-flipped: messages that are almost right."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        data = bytearray(VALID)
        for _ in range(rng.randint(1, 8)):
            kind = rng.random()
            position = rng.randrange(len(data))
            if kind < 0.4:
                data[position] = rng.randrange(256)
            elif kind < 0.7:
                del data[position : position + rng.randint(1, 20)]
            else:
                data[position:position] = rng.choice([b"\r\n", b":", b";", b"<", b",", b"\x00", b"%", b"=" * 5])
        out.append(bytes(data))
    return out


@given(st.binary(max_size=600))
@settings(max_examples=300, deadline=None)
def test_the_parser_only_ever_says_malformed(data: bytes) -> None:
    with contextlib.suppress(Malformed):
        parse(data)


@given(st.sampled_from(HOSTILE + mutations(1, 200)))
@settings(max_examples=300, deadline=None)
def test_the_parser_never_raises_anything_else_on_near_misses(data: bytes) -> None:
    with contextlib.suppress(Malformed):
        parse(data)


async def test_a_flood_of_hostile_messages_leaves_a_call_up_and_the_stack_answering(caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.ERROR, "talkbox")
    async with sip_side(max_messages_per_second=100_000) as side, wire_to(side.udp) as phone:
        phone.send(request("INVITE", phone, branch="z9hG4bK-call", call_id="call-up", user="+15005550006",
                           extra="Content-Type: application/sdp"), sdp(50000))  # fmt: skip
        ok = await phone.next("SIP/2.0 200")
        to_tag = (ok.header("To") or "").split("tag=")[1]
        phone.send(request("ACK", phone, branch="z9hG4bK-ack", call_id="call-up", to_tag=to_tag))
        await side.wait_for(lambda: side.leg_status("+15551234567") == ("in-progress", None))

        async with wire_to(side.udp) as attacker:
            for data in HOSTILE + mutations(7, 400):
                attacker.send_raw(data)
            _, tcp_port = side.tcp
            reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
            for data in HOSTILE[:8] + mutations(9, 50):
                writer.write(data + b"\r\n\r\n")
            writer.write(
                b"INVITE sip:x SIP/2.0\r\nContent-Length: 999999999\r\n\r\n"
            )  # past the cap: connection closed
            await writer.drain()
            await asyncio.sleep(0.3)
            writer.close()
            attacker.send(request("OPTIONS", attacker, branch="z9hG4bK-still-there"))
            await attacker.next("SIP/2.0 200")

        assert side.leg_status("+15551234567") == ("in-progress", None)
        phone.send(request("BYE", phone, branch="z9hG4bK-bye", call_id="call-up", cseq=2, to_tag=to_tag))
        await side.wait_for(lambda: side.leg_status("+15551234567") == ("completed", "hung-up"))
        assert side.stack.ua.malformed > 100
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_flood_from_one_address_is_cut_off_and_other_addresses_still_get_through() -> None:
    # Strangers all (no trunk, no TALKBOX_SIP_ALLOW): they are counted; the trusted are not.
    async with (
        sip_side(max_messages_per_second=20, allow=[]) as side,
        wire_to(side.udp) as flood,
        wire_to(side.udp, "127.0.0.2") as other,
    ):
        for n in range(200):
            flood.send(request("OPTIONS", flood, branch=f"z9hG4bK-flood-{n}"))
        await asyncio.sleep(0.3)
        assert flood.count("SIP/2.0 200") <= 40  # at most a second's share, or two if the second turned
        assert side.stack.transports.dropped > 100  # (the kernel may drop some of the burst before we count it)
        other.send(request("OPTIONS", other, branch="z9hG4bK-other"))
        await other.next("SIP/2.0 200")


async def test_the_trunk_is_never_cut_off_however_busy() -> None:
    async with sip_side(max_messages_per_second=20, allow=["127.0.0.1/32"]) as side, wire_to(side.udp) as trunk:
        for n in range(100):
            trunk.send(request("OPTIONS", trunk, branch=f"z9hG4bK-busy-{n}"))
        await side.wait_for(lambda: trunk.count("SIP/2.0 200") == 100)
        assert side.stack.transports.dropped == 0
