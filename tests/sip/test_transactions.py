"""RFC 3261 transactions over UDP, checked on the wire: retransmissions, lost ACKs, duplicates, races.

T1 is 50 ms here (FAST), so a 64*T1 timeout is 3.2 s and every schedule is short.
"""

from __future__ import annotations

import asyncio

from talkbox.events.models import LegStatusChanged, UserHangsUp, UserRequestsCall
from tests.sip.talkbox_sip import FAST, SipSide, sdp, sip_side
from tests.sip.wire import reply, request, wire_to

SDP_HEADERS = "Content-Type: application/sdp"


def invite(wire, branch: str = "z9hG4bK-1", call_id: str = "call-1", user: str = "+15005550006") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return request("INVITE", wire, branch=branch, call_id=call_id, user=user, extra=SDP_HEADERS), sdp(50000)


async def test_options_is_answered_by_anyone() -> None:
    async with sip_side(allow=[]) as side, wire_to(side.udp) as phone:
        phone.send(request("OPTIONS", phone, branch="z9hG4bK-o1"))
        answer = await phone.next("SIP/2.0 200")
        assert "INVITE" in (answer.header("Allow") or "")
        assert "z9hG4bK-o1" in (answer.header("Via") or "")


async def test_an_invite_from_an_address_that_may_not_call_gets_403_and_rings_nobody() -> None:
    async with sip_side(allow=["10.0.0.0/8"]) as side, wire_to(side.udp) as phone:
        phone.send(*invite(phone))
        await phone.next("SIP/2.0 403")
        await asyncio.sleep(0.2)
        assert side.pages.dialled == []
        assert not side.conferences()


async def test_a_duplicate_invite_is_absorbed_and_rings_once() -> None:
    async with sip_side(answers={"alice": "none", "bob": "none"}) as side, wire_to(side.udp) as phone:
        phone.send(*invite(phone))
        await phone.next("SIP/2.0 180")
        phone.send(*invite(phone))  # the phone did not hear our 180 in time
        await side.wait_for(lambda: phone.count("SIP/2.0 180") == 2)
        await asyncio.sleep(0.2)
        assert sorted(d.destination for d in side.pages.dialled) == ["alice", "bob"]
        assert phone.count("SIP/2.0 100") == 1  # the copy gets the last response said, not a new 100


async def test_our_200_is_resent_until_acked_then_stops() -> None:
    async with sip_side() as side, wire_to(side.udp) as phone:
        phone.send(*invite(phone))
        first = await phone.next("SIP/2.0 200")
        await side.wait_for(lambda: phone.count("SIP/2.0 200") >= 3)  # no ACK: resent at T1, 2*T1...
        second = next(m for m in phone.inbox if m.code == 200 and m is not first)
        assert 0.04 <= second.at - first.at <= 0.4  # T1 (50 ms here), with slack for a busy machine
        to_tag = (first.header("To") or "").split("tag=")[1]
        phone.send(request("ACK", phone, branch="z9hG4bK-ack1", to_tag=to_tag))
        await asyncio.sleep(0.1)
        settled = phone.count("SIP/2.0 200")
        await asyncio.sleep(0.6)
        assert phone.count("SIP/2.0 200") == settled
        assert side.leg_status("+15551234567") == ("in-progress", None)


async def test_a_200_never_acked_ends_the_call_with_a_bye() -> None:
    async with sip_side() as side, wire_to(side.udp) as phone:
        phone.send(*invite(phone))
        await phone.next("SIP/2.0 200")
        bye = await phone.next("BYE", timeout=64 * FAST.t1 + 2)
        assert "call-1" in (bye.header("Call-ID") or "")
        await side.wait_for(lambda: side.leg_status("+15551234567") == ("completed", "media"))


async def test_a_refusal_is_resent_until_acked_and_the_ack_is_absorbed() -> None:
    async with sip_side(answers={"alice": "reject", "bob": "reject"}) as side, wire_to(side.udp) as phone:
        phone.send(*invite(phone))
        first = await phone.next("SIP/2.0 4")
        await side.wait_for(lambda: sum(1 for m in phone.inbox if m.code == first.code) >= 3)  # timer G
        to_tag = (first.header("To") or "").split("tag=")[1]
        phone.send(request("ACK", phone, branch="z9hG4bK-1", to_tag=to_tag))  # the INVITE's own branch
        await asyncio.sleep(0.1)
        settled = len(phone.inbox)
        await asyncio.sleep(0.6)
        assert len(phone.inbox) == settled


async def test_the_phone_cancels_while_it_rings() -> None:
    async with sip_side(answers={"alice": "none", "bob": "none"}) as side, wire_to(side.udp) as phone:
        text, body = invite(phone)
        phone.send(text, body)
        await phone.next("SIP/2.0 180")
        phone.send(request("CANCEL", phone, branch="z9hG4bK-1"))
        await phone.next("SIP/2.0 200")
        refused = await phone.next("SIP/2.0 487")
        assert "INVITE" in (refused.header("CSeq") or "")
        await side.wait_for(lambda: len(side.pages.hung_up) == 2)
        assert {h.reason for h in side.pages.hung_up} == {"caller-canceled"}


async def test_a_cancel_for_no_invite_gets_481() -> None:
    async with sip_side() as side, wire_to(side.udp) as phone:
        phone.send(request("CANCEL", phone, branch="z9hG4bK-nothing"))
        await phone.next("SIP/2.0 481")


async def test_our_invite_is_retransmitted_on_timer_a_and_times_out_on_timer_b() -> None:
    async with wire_to(("127.0.0.1", 9)) as trunk, sip_side(trunk=f"sip:127.0.0.1:{trunk.port}") as side:
        trunk.target = side.udp
        await side.bus.publish(_call_request())
        first = await trunk.next("INVITE")
        await side.wait_for(lambda: trunk.count("INVITE") >= 4, timeout=2)
        invites = [m for m in trunk.inbox if m.method == "INVITE"]
        gaps = [b.at - a.at for a, b in zip(invites, invites[1:], strict=False)]
        assert gaps[0] < gaps[2]  # A doubles: T1, 2*T1, 4*T1 (a busy machine's delays only add)
        assert 0.04 <= gaps[0] <= 0.3
        assert first.header("Call-ID") == invites[-1].header("Call-ID")
        await side.wait_for(lambda: side.leg_status("+441234567890") == ("no-answer", "timeout"), timeout=6)


async def test_a_lost_ack_is_sent_again_for_the_repeated_final_response() -> None:
    async with wire_to(("127.0.0.1", 9)) as trunk, sip_side(trunk=f"sip:127.0.0.1:{trunk.port}") as side:
        trunk.target = side.udp
        await side.bus.publish(_call_request())
        ours = await trunk.next("INVITE")
        trunk.send(reply(ours, 486, "Busy Here"))
        await trunk.next("ACK")
        trunk.send(reply(ours, 486, "Busy Here"))  # our ACK was lost: the trunk says it again
        await side.wait_for(lambda: trunk.count("ACK") == 2)
        await side.wait_for(lambda: side.leg_status("+441234567890") == ("busy", "rejected"))


async def test_a_repeated_200_is_acked_each_time_and_a_forked_200_is_ended() -> None:
    async with wire_to(("127.0.0.1", 9)) as trunk, sip_side(trunk=f"sip:127.0.0.1:{trunk.port}") as side:
        trunk.target = side.udp
        await side.bus.publish(_call_request())
        ours = await trunk.next("INVITE")
        trunk.send(reply(ours, 200, "OK", to_tag="fork-a", extra=SDP_HEADERS), sdp(51000))
        await trunk.next("ACK")
        trunk.send(reply(ours, 200, "OK", to_tag="fork-a", extra=SDP_HEADERS), sdp(51000))
        await side.wait_for(lambda: trunk.count("ACK") == 2)
        trunk.send(reply(ours, 200, "OK", to_tag="fork-b", extra=SDP_HEADERS), sdp(52000))
        bye = await trunk.next("BYE")
        assert "fork-b" in (bye.header("To") or "")
        assert trunk.count("ACK") == 3
        await side.wait_for(lambda: side.leg_status("+441234567890") == ("in-progress", None))


async def test_cancel_racing_with_200_ends_the_call_with_ack_and_bye() -> None:
    async with wire_to(("127.0.0.1", 9)) as trunk, sip_side(trunk=f"sip:127.0.0.1:{trunk.port}") as side:
        trunk.target = side.udp
        await side.bus.publish(_call_request())
        ours = await trunk.next("INVITE")
        trunk.send(reply(ours, 180, "Ringing"))
        await side.wait_for(lambda: side.leg_status("+441234567890") == ("ringing", None))
        await side.bus.publish(_hang_up(side))
        cancel = await trunk.next("CANCEL")
        trunk.send(reply(ours, 200, "OK", extra=SDP_HEADERS), sdp(51000))  # answered as we canceled
        trunk.send(reply(cancel, 200, "OK"))
        await trunk.next("ACK")
        bye = await trunk.next("BYE")
        trunk.send(reply(bye, 200, "OK"))
        await side.wait_for(lambda: side.last_conference().status == "ended")


async def test_bye_in_both_directions_at_once() -> None:
    async with sip_side() as side, wire_to(side.udp) as phone:
        to_tag = await call_in_answered(phone)
        # The page hangs up as the telephone does: two BYEs cross on the wire.
        await side.bus.publish(taker_hangs_up(side))
        ours = await phone.next("BYE")
        phone.send(request("BYE", phone, branch="z9hG4bK-bye", cseq=2, to_tag=to_tag))  # sent before ours came
        await side.wait_for(lambda: any(m.code and "BYE" in (m.header("CSeq") or "") for m in phone.inbox))
        answered = next(m for m in phone.inbox if m.code and "BYE" in (m.header("CSeq") or ""))
        assert answered.code in (200, 481)
        phone.send(reply(ours, 200, "OK", to_tag=""))
        await side.wait_for(lambda: side.last_conference().status == "ended")
        ends = [
            e
            for e in side.events
            if isinstance(e, LegStatusChanged) and e.status == "completed" and e.leg_id == side.last_conference().chair
        ]
        assert len(ends) <= 1


async def call_in_answered(phone) -> str:  # type: ignore[no-untyped-def]
    """The telephone calls in, the call is answered and the phone ACKs: the dialog's To tag."""
    phone.send(*invite(phone))
    ok = await phone.next("SIP/2.0 200")
    to_tag = (ok.header("To") or "").split("tag=")[1]
    phone.send(request("ACK", phone, branch="z9hG4bK-ack", to_tag=to_tag))
    return to_tag


def taker_hangs_up(side: SipSide) -> UserHangsUp:
    """The page that took the telephone's call hangs up."""
    conference = side.last_conference()
    taker = next(leg.destination for leg in conference.legs if leg.kind == "browser" and leg.status == "in-progress")
    return UserHangsUp(user=taker, conference_id=conference.id)


def _call_request() -> UserRequestsCall:
    return UserRequestsCall(user="alice", to="+441234567890")


def _hang_up(side: SipSide) -> UserHangsUp:
    return UserHangsUp(user="alice", conference_id=side.last_conference().id)


async def test_a_proxy_on_the_path_stays_on_it_record_route_is_kept_and_our_bye_follows_it() -> None:
    proxy = "<sip:proxy.carrier.example;lr>"
    async with sip_side() as side, wire_to(side.udp) as phone:
        text = request("INVITE", phone, branch="z9hG4bK-rr", user="+15005550006", extra=SDP_HEADERS)
        phone.send(text + f"\nRecord-Route: {proxy}", sdp(50000))
        ok = await phone.next("SIP/2.0 200")
        assert ok.header("Record-Route") == proxy
        to_tag = (ok.header("To") or "").split("tag=")[1]
        phone.send(request("ACK", phone, branch="z9hG4bK-rr-ack", to_tag=to_tag))
        await side.wait_for(lambda: side.leg_status("+15551234567") == ("in-progress", None))
        await side.bus.publish(taker_hangs_up(side))
        bye = await phone.next("BYE")
        assert bye.header("Route") == proxy
        assert bye.first_line.startswith(f"BYE sip:phone@127.0.0.1:{phone.port}")  # its Contact, the remote target


async def test_after_a_restart_a_sip_leg_the_store_has_live_ends_as_server_restart() -> None:
    from talkbox.telephony.model import Conference, Leg

    async with sip_side() as side:
        phone = Leg("l-phone", "+15551234567", "in-progress", sequence=3, dialled=True, kind="sip")
        alice = Leg("l-alice", "alice", "in-progress", sequence=3, dialled=True)
        await side.calls.store.put(Conference("c-old", "l-phone", (phone, alice)), {"input": "test"})
        await side.calls.recover()
        await side.wait_for(lambda: side.leg_status("+15551234567") == ("failed", "server-restart"))


async def test_stopping_ends_every_sip_call_with_a_bye() -> None:
    async with sip_side() as side, wire_to(side.udp) as phone:
        await call_in_answered(phone)
        await side.wait_for(lambda: side.leg_status("+15551234567") == ("in-progress", None))
        await side.provider.close()  # a dialog cannot outlive the process: the phone must not wait on dead air
        bye = await phone.next("BYE")
        assert "call-1" in (bye.header("Call-ID") or "")


async def test_our_bye_is_retransmitted_on_timer_e_capped_at_t2() -> None:
    async with sip_side() as side, wire_to(side.udp) as phone:
        await call_in_answered(phone)
        await side.wait_for(lambda: side.leg_status("+15551234567") == ("in-progress", None))
        await side.bus.publish(taker_hangs_up(side))
        await side.wait_for(lambda: phone.count("BYE") >= 6, timeout=4)  # the phone never answers
        byes = [m for m in phone.inbox if m.method == "BYE"]
        gaps = [b.at - a.at for a, b in zip(byes, byes[1:], strict=False)]
        assert gaps[0] < gaps[2]  # doubling...
        assert max(gaps) < FAST.t2 * 1.75  # ...up to T2 = 8*T1, not on to 16*T1 (slack for a busy machine)
        assert len({m.header("Via") for m in byes}) == 1  # the same transaction each time


async def test_an_extension_it_does_not_support_is_refused_with_420() -> None:
    async with sip_side() as side, wire_to(side.udp) as phone:
        text = request("INVITE", phone, branch="z9hG4bK-100rel", user="+15005550006", extra=SDP_HEADERS)
        phone.send(text + "\nRequire: 100rel", sdp(50000))
        refused = await phone.next("SIP/2.0 420")
        assert refused.header("Unsupported") == "100rel"
        await asyncio.sleep(0.1)
        assert side.pages.dialled == []


async def test_an_invite_to_our_trunk_account_rings_the_group_and_to_a_name_rings_that_client() -> None:
    nobody_answers = {"alice": "none", "bob": "none", "carol": "none"}
    async with sip_side(answers=nobody_answers, username="line1") as side, wire_to(side.udp) as phone:
        phone.send(*invite(phone, user="line1"))
        await phone.next("SIP/2.0 180")
        await side.wait_for(lambda: len(side.pages.dialled) == 2)
        assert sorted(d.destination for d in side.pages.dialled) == ["alice", "bob"]
        phone.send(*invite(phone, branch="z9hG4bK-2", call_id="call-2", user="carol"))
        await side.wait_for(lambda: len(side.pages.dialled) == 3)
        assert side.pages.dialled[-1].destination == "carol"


async def test_a_late_offer_gets_our_offer_in_the_200_and_the_answer_from_the_ack() -> None:
    async with sip_side() as side, wire_to(side.udp) as phone:
        phone.send(request("INVITE", phone, branch="z9hG4bK-late", user="+15005550006"))  # no SDP
        ok = await phone.next("SIP/2.0 200")
        assert "m=audio 41000" in ok.text  # the media plane's offer
        to_tag = (ok.header("To") or "").split("tag=")[1]
        ack = request("ACK", phone, branch="z9hG4bK-late-ack", to_tag=to_tag, extra=SDP_HEADERS)
        phone.send(ack, sdp(50000))
        await side.wait_for(lambda: any("m=audio 50000" in answer for _leg, answer in side.media.accepted))
