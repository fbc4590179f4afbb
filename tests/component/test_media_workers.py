"""Media in worker processes: calls are placed on them, and a worker that dies costs a moment of audio."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from talkbox.media.engine import MediaSettings
from talkbox.media.workers import WorkerPool
from tests.support.audio import level_at
from tests.support.peer import Peer, ToneTrack, connect
from tests.support.phone import Phone, media_port
from tests.support.processes import media_workers
from tests.support.server import running_server

ALICE_HZ, BOB_HZ, CAROL_HZ, DAVE_HZ = 440.0, 880.0, 660.0, 550.0


async def test_two_calls_are_spread_over_two_workers() -> None:
    async with (
        running_server(media_workers=2) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
        Peer(url, "dave", DAVE_HZ) as dave,
    ):
        await connect(alice, bob)
        await connect(carol, dave)
        assert len(media_workers(os.getpid())) == 2
        assert bob.level(CAROL_HZ) < -50 and dave.level(ALICE_HZ) < -50  # each call hears only itself


async def test_calls_placed_at_once_while_the_workers_start_are_spread_over_them() -> None:
    pool = WorkerPool(2)
    try:
        await asyncio.gather(*(pool.rtp_offer(f"c{n}", f"phone{n}") for n in range(6)))
        assert sorted(pool.conferences.values()) == [0, 0, 0, 1, 1, 1]
        assert [len(pool.workers[i].legs) for i in (0, 1)] == [3, 3]
        await pool.rtp_offer("c0", "another")  # a conference's second leg joins it where it is
        assert len(pool.conferences) == 6
        assert "another" in pool.workers[pool.conferences["c0"]].legs
    finally:
        await pool.close()


async def test_one_leg_slow_to_set_up_holds_up_no_other_leg_on_its_worker() -> None:
    """A STUN server that never answers keeps a browser leg's offer gathering for seconds."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    settings = MediaSettings(ice_servers=(f"stun:127.0.0.1:{silent.getsockname()[1]}",))
    pool = WorkerPool(1, settings=settings)
    try:
        slow = asyncio.ensure_future(pool.offer("c", "browser"))
        await until(lambda: bool(pool.workers) and "browser" in pool.workers[0].legs)
        await pool.rtp_offer("c", "phone")
        assert not slow.done(), "the telephone's offer waited for the browser's"
        slow.cancel()
    finally:
        silent.close()
        await pool.close()


async def test_a_killed_worker_is_started_again_and_the_call_comes_back_without_a_click() -> None:
    async with (
        running_server(media_workers=1) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await connect(alice, bob)
        [worker] = media_workers(os.getpid())
        os.kill(worker, signal.SIGKILL)
        await alice.wait_for(lambda: media_workers(os.getpid()) not in ([], [worker]), timeout=10)
        alice.heard.clear()
        bob.heard.clear()
        await alice.wait_for(lambda: len(alice.heard) > 20 and alice.level(BOB_HZ) > -20, timeout=15)
        await bob.wait_for(lambda: len(bob.heard) > 20 and bob.level(ALICE_HZ) > -20, timeout=15)
        legs = [(leg["status"], leg["end_reason"]) for leg in alice.active_conference()["legs"]]
        assert legs == [("in-progress", None), ("in-progress", None)], "the rules heard nothing of it"


async def test_a_call_still_ringing_when_its_worker_dies_rings_on_and_connects_when_accepted() -> None:
    async with (
        running_server(media_workers=1) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        [first] = bob.offers.values()
        [worker] = media_workers(os.getpid())
        os.kill(worker, signal.SIGKILL)
        await bob.wait_for(lambda: bob.offers[first["leg_id"]]["sdp"] != first["sdp"], timeout=15)
        assert bob.offers[first["leg_id"]]["auto_answer"] is False, "bob has not accepted: it still rings"
        await bob.accept()
        await alice.wait_for(lambda: alice.level(BOB_HZ) > -20, timeout=15)
        await bob.wait_for(lambda: bob.level(ALICE_HZ) > -20, timeout=15)


async def test_a_call_accepted_but_not_yet_connected_when_its_worker_dies_is_never_rung_again() -> None:
    """bob pressed Accept; his media had not come up when the worker died. His page answers the new offer."""
    async with (
        running_server(media_workers=1) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        offer = bob.offers.pop(next(iter(bob.offers)))
        # An answer whose peer goes away at once: the server has it, its media never connects.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        pc.addTrack(ToneTrack(BOB_HZ))
        await pc.setLocalDescription(await pc.createAnswer())
        await bob.send({"type": "answer", "leg_id": offer["leg_id"], "sdp": pc.localDescription.sdp})
        await pc.close()
        await asyncio.sleep(1)  # the server takes the answer before the worker goes
        [worker] = media_workers(os.getpid())
        os.kill(worker, signal.SIGKILL)
        await bob.wait_for(lambda: len(offers_for(bob, offer["leg_id"])) == 2, timeout=15)
        assert offers_for(bob, offer["leg_id"])[-1]["auto_answer"] is True, "bob was rung again after accepting"
        await alice.wait_for(lambda: alice.level(BOB_HZ) > -20, timeout=15)
        await bob.wait_for(lambda: bob.level(ALICE_HZ) > -20, timeout=15)


def offers_for(peer: Peer, leg_id: str) -> list[dict[str, Any]]:
    return [m for m in peer.messages if m["type"] == "offer" and m["leg_id"] == leg_id]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_telephone_legs_are_carried_to_a_worker_and_their_digits_and_states_come_back() -> None:
    states: list[tuple[str, str]] = []
    digits: list[tuple[str, str, str]] = []
    pool = WorkerPool(
        1,
        on_state=lambda leg, state: states.append((leg, state)),
        on_dtmf=lambda conference, leg, digit: digits.append((conference, leg, digit)),
    )
    phone, called = await Phone.open(), await Phone.open()
    try:
        with pytest.raises(ValueError, match="no codec in common"):
            await pool.rtp_answer("c", "phone", phone.description("18 101"))
        port = media_port(await pool.rtp_answer("c", "phone", phone.description("0 101")))
        for _ in range(10):
            phone.send(phone.tone_packet(1000.0), port)
            await asyncio.sleep(0.02)
        keypad = json.loads((Path(__file__).parent.parent / "media" / "fixtures" / "sipp-dtmf.json").read_text())
        for packet in keypad["digits"]["5"]["rtp"]:
            phone.send(bytes.fromhex(packet), port)
        await until(lambda: ("c", "phone", "5") in digits)
        assert states == [("phone", "connected")] and digits == [("c", "phone", "5")]

        await pool.send_dtmf("phone", "9")
        await until(lambda: any(p.payload_type == 101 and p.payload[0] == 9 for p in phone.packets()))
        update = await pool.rtp_update("phone", phone.description("0 101", direction="inactive"))
        assert "a=inactive" in update.splitlines() and media_port(update) == port, "a re-INVITE keeps the port"

        offer = await pool.rtp_offer("c", "called")  # a call out, into the same conference on the same worker
        assert "RTP/AVP 0 8 101" in offer
        await pool.rtp_accept("called", called.description("8 101"))
        await until(lambda: len(called.packets()) > 5)
        assert {p.payload_type for p in called.packets()} == {8}
        assert (await pool.stats())["legs"] == 2
        with pytest.raises(KeyError):
            await pool.rtp_accept("nobody", called.description())
    finally:
        phone.close()
        called.close()
        await pool.close()


async def test_telephones_on_a_killed_worker_are_put_back_on_their_ports_and_never_notice() -> None:
    states: list[tuple[str, str]] = []
    pool = WorkerPool(1, on_state=lambda leg, state: states.append((leg, state)))
    caller, called = await Phone.open(), await Phone.open()
    try:
        first_answer = await pool.rtp_answer("c", "caller", caller.description("0 101"))
        caller_port = media_port(first_answer)
        called_port = media_port(await pool.rtp_offer("c", "called"))
        await pool.rtp_accept("called", called.description("8 101"))

        async def both_talk(packets: int) -> None:
            start = asyncio.get_running_loop().time()
            for sent in range(1, packets + 1):  # paced from a deadline, as a phone's clock would
                caller.send(caller.tone_packet(1000.0), caller_port)
                called.send(called.tone_packet(440.0, "PCMA"), called_port)
                await asyncio.sleep(max(0.0, start + sent * 0.02 - asyncio.get_running_loop().time()))

        await both_talk(40)
        assert level_at(called.heard(), 1000.0, 8000) > -20 and level_at(caller.heard(), 440.0, 8000) > -20
        [worker] = pool.workers.values()
        os.kill(worker.process.pid, signal.SIGKILL)
        await until(lambda: pool.restarts == 1 and 0 in pool.workers and pool.workers[0] is not worker)
        # The legs are put back on the new worker while the phones talk on; on a busy machine that can
        # take longer than one second of talking, so they talk in rounds until both hear again (10 s at most).
        for _ in range(10):
            caller.received.clear()
            called.received.clear()
            await both_talk(50)
            if level_at(called.heard(), 1000.0, 8000) > -20 and level_at(caller.heard(), 440.0, 8000) > -20:
                break
        assert level_at(called.heard(), 1000.0, 8000) > -20, "the called telephone no longer hears the caller"
        assert level_at(caller.heard(), 440.0, 8000) > -20, "the caller no longer hears the called telephone"
        assert {p.payload_type for p in called.packets()} == {8}, "the restored leg forgot its codec"
        assert ("caller", "restarted") not in states and ("called", "restarted") not in states
        assert ("caller", "lost") not in states and ("called", "lost") not in states
        # A re-INVITE after it: answered on the same port, the o= line carrying on (same session, newer version).
        again = await pool.rtp_update("caller", caller.description("0 101"))
        assert media_port(again) == caller_port
        [before] = [line.split() for line in first_answer.splitlines() if line.startswith("o=")]
        [after] = [line.split() for line in again.splitlines() if line.startswith("o=")]
        assert after[1] == before[1] and int(after[2]) > int(before[2])
    finally:
        caller.close()
        called.close()
        await pool.close()


async def test_a_telephone_waiting_on_ringback_hears_it_from_a_worker_and_again_after_the_worker_died() -> None:
    pool = WorkerPool(1)
    phone = await Phone.open()
    try:
        port = media_port(await pool.rtp_answer("c", "phone", phone.description("0 101")))
        pool.play("c", "phone", "ringback")

        async def hears_ringback() -> bool:
            phone.received.clear()
            for _ in range(25):  # it talks, as a phone does: its address is where the ringback goes
                phone.send(phone.tone_packet(1000.0), port)
                await asyncio.sleep(0.02)
            return level_at(phone.heard(), 480.0, 8000) > -30

        assert await hears_ringback()
        [worker] = pool.workers.values()
        os.kill(worker.process.pid, signal.SIGKILL)
        await until(lambda: pool.restarts == 1 and 0 in pool.workers and pool.workers[0] is not worker)
        for _ in range(10):  # put back while it talks on: on a busy machine that takes a moment
            if await hears_ringback():
                break
        assert level_at(phone.heard(), 480.0, 8000) > -30, "the restored telephone lost its ringback"
        pool.play("c", "phone", None)
        await hears_ringback()
        assert not await hears_ringback(), "ringback goes when the transfer is answered"
    finally:
        phone.close()
        await pool.close()
