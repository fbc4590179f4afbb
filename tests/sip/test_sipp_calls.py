"""Calls between Talkbox and sipp, a real SIP peer: telephones calling in, and a trunk for calls out.

Each scenario (tests/sip/scenarios) is sipp's script of the SIP it expects; sipp
exits 0 only if Talkbox said exactly that. The pages are `Pages` (talkbox_sip.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from talkbox.events.models import UserHangsUp, UserRequestsCall
from tests.sip.sipp import Sipp, free_udp_port, scenario, scenario_with, sipp
from tests.sip.talkbox_sip import SipSide, sip_side

NUMBER = "+441234567890"


@contextlib.asynccontextmanager
async def through_trunk(
    tmp_path: Path, *args: str, tcp: bool = False, **settings: Any
) -> AsyncIterator[tuple[Sipp, SipSide]]:
    """sipp as the trunk (its scenario and `args`), and Talkbox's SIP side pointed at it."""
    transport = ";transport=tcp" if tcp else ""
    async with (
        sipp(*args, workdir=tmp_path, tcp=tcp, serving=True) as trunk,
        sip_side(trunk=f"sip:127.0.0.1:{trunk.port}{transport}", **settings) as side,
    ):
        yield trunk, side


async def call_out(side: SipSide) -> None:
    await side.bus.publish(UserRequestsCall(user="alice", to=NUMBER))


async def test_a_telephone_calls_in_rings_the_group_and_hangs_up(tmp_path: Path) -> None:
    async with sip_side(answers={"bob": "none"}) as side:
        host, port = side.udp
        async with sipp(f"{host}:{port}", "-sn", "uac", "-s", "+15005550006", "-d", "500", workdir=tmp_path) as phone:
            assert await phone.finished() == 0, phone.error_log()
        await side.wait_for(lambda: side.last_conference().status == "ended")
        legs = {leg.destination: (leg.status, leg.end_reason) for leg in side.last_conference().legs}
        assert legs["sipp"] == ("completed", "hung-up")
        assert legs["alice"][0] == "completed"  # alice took it
        assert legs["bob"] == ("completed", "answered-elsewhere")


async def test_a_telephone_calls_a_client_by_name_over_tcp(tmp_path: Path) -> None:
    async with sip_side() as side:
        host, port = side.tcp
        async with sipp(f"{host}:{port}", "-sn", "uac", "-s", "bob", "-d", "300", workdir=tmp_path, tcp=True) as phone:
            assert await phone.finished() == 0, phone.error_log()
        assert [d.destination for d in side.pages.dialled] == ["bob"]


async def test_the_telephone_holds_and_unholds(tmp_path: Path) -> None:
    async with sip_side() as side:
        host, port = side.udp
        args = (f"{host}:{port}", "-sf", scenario("phone_holds.xml"), "-s", "+15005550006")
        async with sipp(*args, workdir=tmp_path) as phone:
            assert await phone.finished() == 0, phone.error_log()
        assert ["sendonly" in offer for _leg, offer in side.media.updated] == [True, False]
        await side.wait_for(lambda: side.leg_status("+15551234567") == ("completed", "hung-up"))
        # The telephone's own hold shows on the pages, like any other, and leaves it out of the mix meanwhile.
        phone = [next(leg for leg in c.legs if leg.destination == "+15551234567") for c in side.conferences()]
        shown = [leg.held for leg in phone if leg.status == "in-progress"]
        assert [held for i, held in enumerate(shown) if i == 0 or shown[i - 1] != held] == [False, True, False]
        assert [(held, music) for _leg, held, music in side.media.held] == [(True, False), (False, False)]


def challenging(password: str) -> tuple[str, ...]:
    """A trunk (trunk_auth.xml) that knows user `talkbox` by `password`, and hangs up after half a second."""
    return ("-sf", scenario("trunk_auth.xml"), "-set", "user", "talkbox", "-set", "password", password, "-d", "500")


async def test_a_call_out_answers_the_trunks_challenge_and_the_trunk_hangs_up(tmp_path: Path) -> None:
    credentials = {"username": "talkbox", "password": "s3cret"}
    async with through_trunk(tmp_path, *challenging("s3cret"), **credentials) as (trunk, side):
        await call_out(side)
        assert await trunk.finished() == 0, trunk.error_log()
        await side.wait_for(lambda: side.last_conference().status == "ended")
        statuses = [leg.status for c in side.conferences() for leg in c.legs if leg.destination == NUMBER]
        assert "ringing" in statuses and "in-progress" in statuses
        assert side.leg_status(NUMBER) == ("completed", "hung-up")
        assert side.media.accepted  # the 200's SDP went to the media plane


async def test_a_wrong_password_fails_the_call(tmp_path: Path) -> None:
    credentials = {"username": "talkbox", "password": "wrong"}
    async with through_trunk(tmp_path, *challenging("right"), **credentials) as (trunk, side):
        await call_out(side)
        await trunk.finished()
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("failed", "forbidden"))


@pytest.mark.parametrize(
    ("code", "phrase", "outcome"),
    [
        (486, "Busy Here", ("busy", "rejected")),
        (480, "Temporarily Unavailable", ("no-answer", "unavailable")),
        (408, "Request Timeout", ("no-answer", "timeout")),
        (403, "Forbidden", ("failed", "forbidden")),
        (404, "Not Found", ("failed", "not-found")),
        (484, "Address Incomplete", ("failed", "address-incomplete")),
        (503, "Service Unavailable", ("failed", "unavailable")),
    ],
)
async def test_a_refusal_from_the_trunk_is_the_legs_outcome(
    tmp_path: Path, code: int, phrase: str, outcome: tuple[str, str]
) -> None:
    refuses = scenario_with("trunk_refuses.xml", tmp_path, code=str(code), phrase=phrase)
    async with through_trunk(tmp_path, "-sf", refuses) as (trunk, side):
        await call_out(side)
        assert await trunk.finished() == 0, trunk.error_log()  # it got our ACK
        await side.wait_for(lambda: side.leg_status(NUMBER) == outcome)
        # The chair, left alone, is hung up next: the conference ends a moment after the leg does.
        await side.wait_for(lambda: side.last_conference().status == "ended")


async def test_the_page_hangs_up_while_it_rings_and_the_trunk_is_canceled(tmp_path: Path) -> None:
    async with through_trunk(tmp_path, "-sf", scenario("trunk_rings.xml")) as (trunk, side):
        await call_out(side)
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("ringing", None))
        assert side.media.accepted, "the 183's SDP is early media"
        await side.bus.publish(UserHangsUp(user="alice", conference_id=side.last_conference().id))
        assert await trunk.finished() == 0, trunk.error_log()
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("canceled", "caller-canceled"))


async def test_nobody_answers_and_talkbox_cancels_at_the_ring_timeout(tmp_path: Path) -> None:
    async with through_trunk(tmp_path, "-sf", scenario("trunk_rings.xml")) as (trunk, side):  # rings for 2 s
        await call_out(side)
        assert await trunk.finished() == 0, trunk.error_log()
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("no-answer", "timeout"))


async def test_the_page_hangs_up_an_answered_call(tmp_path: Path) -> None:
    async with through_trunk(tmp_path, "-sf", scenario("trunk_answers.xml")) as (trunk, side):
        await call_out(side)
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("in-progress", None))
        await side.bus.publish(UserHangsUp(user="alice", conference_id=side.last_conference().id))
        assert await trunk.finished() == 0, trunk.error_log()
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("completed", "ended"))


async def test_a_number_outside_dial_allow_is_never_dialled(tmp_path: Path) -> None:
    only_uk = r"\+44[0-9]{6,12}"
    async with through_trunk(tmp_path, "-sf", scenario("trunk_answers.xml"), dial_allow=only_uk) as (trunk, side):
        await side.bus.publish(UserRequestsCall(user="alice", to="+19005550100"))
        await side.wait_for(lambda: side.leg_status("+19005550100") == ("failed", "not-allowed"))
        await asyncio.sleep(0.3)
        assert trunk.process.returncode is None  # still waiting: no INVITE came


async def test_a_call_out_over_tcp(tmp_path: Path) -> None:
    async with through_trunk(tmp_path, "-sf", scenario("trunk_answers.xml"), tcp=True) as (trunk, side):
        await call_out(side)
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("in-progress", None))
        await side.bus.publish(UserHangsUp(user="alice", conference_id=side.last_conference().id))
        assert await trunk.finished() == 0, trunk.error_log()
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("completed", "ended"))


async def test_a_trunk_that_refuses_the_tcp_connection_fails_the_call_at_once() -> None:
    async with sip_side(trunk=f"sip:127.0.0.1:{free_udp_port()};transport=tcp") as side:
        await call_out(side)
        await side.wait_for(lambda: side.leg_status(NUMBER) == ("failed", "unavailable"), timeout=3)
