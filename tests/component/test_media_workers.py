"""Media in worker processes: calls are placed on them, and a worker that dies costs a moment of audio."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support.peer import Peer
from tests.support.server import running_server

ALICE_HZ, BOB_HZ, CAROL_HZ, DAVE_HZ = 440.0, 880.0, 660.0, 550.0


def media_workers() -> list[int]:
    """The pids of this process's media workers, from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"talkbox.media.worker" in command:
            pids.append(int(entry.name))
    return pids


async def call(caller: Peer, callee: Peer) -> None:
    await caller.call(callee.name)
    await callee.wait_for(lambda: callee.offers)
    await callee.accept()
    await caller.wait_for(lambda: caller.level(callee.frequency) > -20)
    await callee.wait_for(lambda: callee.level(caller.frequency) > -20)


async def test_two_calls_are_spread_over_two_workers() -> None:
    async with (
        running_server(media_workers=2) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
        Peer(url, "dave", DAVE_HZ) as dave,
    ):
        await call(alice, bob)
        await call(carol, dave)
        assert len(media_workers()) == 2
        assert bob.level(CAROL_HZ) < -50 and dave.level(ALICE_HZ) < -50  # each call hears only itself


async def test_a_killed_worker_is_started_again_and_the_call_comes_back_without_a_click() -> None:
    async with (
        running_server(media_workers=1) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await call(alice, bob)
        [worker] = media_workers()
        os.kill(worker, signal.SIGKILL)
        await alice.wait_for(lambda: media_workers() not in ([], [worker]), timeout=10)
        alice.heard.clear()
        bob.heard.clear()
        await alice.wait_for(lambda: len(alice.heard) > 20 and alice.level(BOB_HZ) > -20, timeout=15)
        await bob.wait_for(lambda: len(bob.heard) > 20 and bob.level(ALICE_HZ) > -20, timeout=15)
        legs = [(leg["status"], leg["end_reason"]) for leg in alice.active_conference()["legs"]]
        assert legs == [("in-progress", None), ("in-progress", None)], "the rules heard nothing of it"
