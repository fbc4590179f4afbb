"""A telephone's answered call outlives the process that answered it: the next one takes it up with a re-INVITE.

Two `sip_side`s sharing a call book and a store are one server stopped and started
again (on another port, as another node would be): the telephone, a raw socket,
must get a re-INVITE within its dialog, and after it the call is the new process's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from talkbox.providers.sip.book import MemoryBook
from talkbox.providers.sip.settings import SipSettings
from talkbox.telephony.store import MemoryStore
from tests.sip.baresip import PHONE_RATE, baresip
from tests.sip.talkbox_sip import SipSide, sdp, sip_side
from tests.sip.test_transactions import call_in_answered
from tests.sip.wire import Received, Wire, request, wire_to
from tests.support.audio import level_at
from tests.support.peer import Peer
from tests.support.server import running_app

PHONE = "+15551234567"
ALICE_HZ, PHONE_HZ = 600.0, 1000.0
HEARD = -30.0


def answer(to: Received, code: int, phrase: str, *, body: str = "") -> str:
    """The telephone's response to a request within its dialog (the To tag is ours already)."""
    lines = [f"SIP/2.0 {code} {phrase}"]
    lines += [f"{name}: {to.header(name)}" for name in ("Via", "From", "To", "Call-ID", "CSeq")]
    if body:
        lines.append("Content-Type: application/sdp")
    return "\n".join(lines)


async def stopped_with_a_call_up(phone: Wire, book: MemoryBook, store: MemoryStore) -> str:
    """The telephone calls in, a page takes it, the server stops: the dialog's To tag (Talkbox's)."""
    async with sip_side(book=book, store=store) as side:
        phone.target = side.udp
        to_tag = await call_in_answered(phone)
        await side.wait_for(lambda: side.leg_status(PHONE) == ("in-progress", None))
        await side.wait_for(lambda: book.calls)
    return to_tag


@dataclass
class Restarted:
    phone: Wire
    side: SipSide
    book: MemoryBook
    to_tag: str  # Talkbox's, in the dialog the first process made


@contextlib.asynccontextmanager
async def restarted_with_a_call_up() -> AsyncIterator[Restarted]:
    """A call answered by one process, then the next process on another port, recovering it."""
    book, store = MemoryBook(durable=True), MemoryStore()
    async with wire_to(("127.0.0.1", 9)) as phone:
        to_tag = await stopped_with_a_call_up(phone, book, store)
        assert phone.count("BYE") == 0  # the call is let go, not ended
        async with sip_side(book=book, store=store) as side:
            phone.target = side.udp
            await side.calls.recover()
            yield Restarted(phone, side, book, to_tag)


async def test_a_call_the_last_process_answered_is_taken_up_and_then_hung_up_by_the_telephone() -> None:
    async with restarted_with_a_call_up() as restarted:
        phone, side, to_tag = restarted.phone, restarted.side, restarted.to_tag
        reinvite = await phone.next("INVITE")
        assert reinvite.header("Call-ID") == "call-1"
        assert f"tag={to_tag}" in (reinvite.header("From") or "")  # our tag: we are the UAS of this dialog
        assert "tag=phone-call-1" in (reinvite.header("To") or "")
        assert reinvite.header("CSeq") == "1 INVITE"
        assert reinvite.first_line.startswith(f"INVITE sip:phone@127.0.0.1:{phone.port}")  # its Contact
        assert f":{side.udp[1]}" in (reinvite.header("Contact") or "")  # where the phone now sends requests
        assert "m=audio" in reinvite.text
        phone.send(answer(reinvite, 200, "OK", body=sdp(50002)), sdp(50002))
        ack = await phone.next("ACK")
        assert ack.header("CSeq") == "1 ACK"
        await side.wait_for(lambda: any(sdp_ == sdp(50002) for _, sdp_ in side.media.accepted))
        phone.send(request("BYE", phone, branch="z9hG4bK-bye-after", cseq=2, to_tag=to_tag))
        await phone.next("SIP/2.0 200")
        await side.wait_for(lambda: side.leg_status(PHONE) == ("completed", "hung-up"))
        assert not restarted.book.calls  # nothing left to take up after the call


async def test_a_call_the_telephone_no_longer_has_ends_when_its_re_invite_is_refused() -> None:
    async with restarted_with_a_call_up() as restarted:
        reinvite = await restarted.phone.next("INVITE")
        restarted.phone.send(answer(reinvite, 481, "Call/Transaction Does Not Exist"))
        await restarted.side.wait_for(lambda: restarted.side.leg_status(PHONE) == ("failed", "server-restart"))
        assert not restarted.book.calls


async def test_a_re_invite_the_telephone_never_answers_ends_the_call() -> None:
    async with restarted_with_a_call_up() as restarted:
        await restarted.phone.next("INVITE")
        ended = ("failed", "server-restart")
        await restarted.side.wait_for(lambda: restarted.side.leg_status(PHONE) == ended, timeout=8)


async def test_without_a_durable_book_stopping_still_ends_the_call_with_a_bye() -> None:
    async with wire_to(("127.0.0.1", 9)) as phone:
        await stopped_with_a_call_up(phone, MemoryBook(), MemoryStore())
        bye = await phone.next("BYE")
        assert bye.header("Call-ID") == "call-1"


async def test_a_real_telephone_keeps_its_call_and_its_audio_across_a_restart_of_the_server(tmp_path: Path) -> None:
    """baresip calls in and alice takes it; the server stops and starts again on the same database (on another
    SIP port): baresip takes the re-INVITE, both hear each other again, and alice's hang-up reaches it."""
    sip = SipSettings(listen="udp:127.0.0.1:0", ring=("alice",), allow=["127.0.0.0/8"])
    options = {"media_workers": 0, "voicemail": False, "database": str(tmp_path / "talkbox.sqlite3")}
    async with contextlib.AsyncExitStack() as outlives_the_server:
        async with running_app(app_options={"sip": sip}, **options) as (url, app):
            alice = Peer(url, "alice", ALICE_HZ, auto_accept=True)
            await alice.__aenter__()
            _, port = app.state.talkbox.sip.transports.local["udp"]
            dial = f"sip:+15005550006@127.0.0.1:{port}"
            phone = await outlives_the_server.enter_async_context(
                baresip(tmp_path / "phone", PHONE_HZ, seconds=90, dial=dial)
            )
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > HEARD, timeout=15)
        await alice.__aexit__()
        async with (
            running_app(app_options={"sip": sip}, **options) as (url, app),
            Peer(url, "alice", ALICE_HZ, auto_accept=True) as alice,
        ):
            await alice.resume()
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > HEARD, timeout=15)
            await asyncio.sleep(3)  # for the telephone's recording to hold alice again
            await alice.hang_up()
            async with asyncio.timeout(10):  # our BYE, at the new Contact's port (its tone lasts 90 s)
                while not phone.took_our_bye():
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            heard = phone.heard()
            assert level_at(heard[-2 * PHONE_RATE :], ALICE_HZ, rate=PHONE_RATE) > HEARD, phone.log()
