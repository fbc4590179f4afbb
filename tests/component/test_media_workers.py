"""Media in worker processes: calls are placed on them, and a worker that dies costs a moment of audio."""

from __future__ import annotations

import os
import signal

from tests.support.peer import Peer, connect
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
