"""Media in worker processes: calls are placed on them, and a worker that dies costs a moment of audio."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from tests.support.peer import Peer, ToneTrack, connect
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
