"""Hold, music on hold and call waiting through the running server, with aiortc pages: who hears what."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from talkbox.media.music import PEDAL_HZ
from tests.support.peer import Peer, connect
from tests.support.processes import media_workers
from tests.support.server import free_port, running_server

HEARD, SILENT = -35.0, -50.0
ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 700.0, 1000.0


def leg_of(conference: dict[str, Any], name: str) -> dict[str, Any]:
    return next(leg for leg in conference["legs"] if leg["destination"] == name and leg["end_reason"] is None)


async def hold(peer: Peer, conference: dict[str, Any], who: str, held: bool = True) -> None:
    leg = leg_of(conference, who)
    await peer.send({"type": "hold", "conference_id": conference["id"], "leg_id": leg["id"], "held": held})


async def hears(peer: Peer, frequency: float, leg_id: str | None = None) -> None:
    await peer.wait_for(lambda: peer.level(frequency, leg_id) > HEARD)


async def does_not_hear(peer: Peer, frequency: float, leg_id: str | None = None) -> None:
    """Silent at `frequency` over a whole second heard after the change."""
    frames = peer.frames
    await peer.wait_for(lambda: peer.frames >= frames + 100 and peer.level(frequency, leg_id) < SILENT)


def shown_held(peer: Peer, conference_id: str, who: str, by_chair: bool) -> bool:
    leg = leg_of(peer.conferences[conference_id], who)
    return leg["held"] and leg["held_by_chair"] == by_chair


async def test_the_chair_holds_bob_he_hears_music_she_hears_neither_and_resume_brings_both_back() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await connect(alice, bob)
        call = alice.active_conference()
        await hold(alice, call, "bob")
        await bob.wait_for(lambda: shown_held(bob, call["id"], "bob", by_chair=True))
        assert shown_held(alice, call["id"], "bob", by_chair=True)
        await hears(bob, PEDAL_HZ)
        await does_not_hear(bob, ALICE_HZ)
        await does_not_hear(alice, BOB_HZ)
        assert alice.level(PEDAL_HZ) < SILENT

        await hold(bob, call, "bob", held=False)
        await bob.wait_for(lambda: bob.refusals() == ["not_chair"])  # the chair's hold is hers to take off
        await hold(alice, call, "bob", held=False)
        await hears(bob, ALICE_HZ)
        await hears(alice, BOB_HZ)
        await does_not_hear(bob, PEDAL_HZ)


async def test_call_waiting_accepted_holds_the_first_call_and_she_switches_back() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
    ):
        await connect(bob, alice)
        first = alice.active_conference()["id"]
        first_leg = alice.my_leg(alice.conferences[first])["id"]

        await carol.call("alice")
        await alice.wait_for(lambda: alice.offers)  # it rings though she is on a call
        second = next(iter(alice.offers.values()))["conference_id"]
        second_leg = next(iter(alice.offers))
        await alice.accept()
        await alice.wait_for(lambda: shown_held(alice, first, "alice", by_chair=False))
        await hears(carol, ALICE_HZ)
        await hears(alice, CAROL_HZ, second_leg)
        await hears(bob, PEDAL_HZ)  # left alone on the held call: the music
        await does_not_hear(bob, ALICE_HZ)
        await does_not_hear(alice, BOB_HZ, first_leg)

        await hold(alice, alice.conferences[first], "alice", held=False)  # switch back to bob
        await alice.wait_for(lambda: shown_held(alice, second, "alice", by_chair=False))
        assert not leg_of(alice.conferences[first], "alice")["held"]
        await hears(bob, ALICE_HZ)
        await hears(alice, BOB_HZ, first_leg)
        await hears(carol, PEDAL_HZ)
        await does_not_hear(carol, ALICE_HZ)
        await does_not_hear(alice, CAROL_HZ, first_leg)


async def test_placing_a_second_call_holds_the_first() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ, auto_accept=True) as carol,
    ):
        await connect(alice, bob)
        first = alice.active_conference()["id"]
        await alice.call("carol")
        await alice.wait_for(lambda: shown_held(alice, first, "alice", by_chair=False))
        await hears(carol, ALICE_HZ)
        await hears(bob, PEDAL_HZ)


async def test_a_call_waiting_rejected_ends_busy_and_leaves_her_call_as_it_was() -> None:
    async with (
        running_server(voicemail=False) as url,  # with it, carol would leave alice a message
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
    ):
        await connect(bob, alice)
        first = alice.active_conference()["id"]
        await carol.call("alice")
        await alice.wait_for(lambda: alice.offers)
        await alice.reject()
        await carol.wait_for(lambda: carol.conferences and carol.last_conference()["status"] == "ended")
        assert carol.last_conference()["end_reason"] == "busy"
        assert not leg_of(alice.conferences[first], "alice")["held"]
        await hears(bob, ALICE_HZ)
        await hears(alice, BOB_HZ)


async def test_nobody_holds_a_leg_of_a_call_they_do_not_chair() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "mallory", CAROL_HZ) as mallory,
    ):
        await connect(alice, bob)
        call = alice.active_conference()
        await hold(mallory, call, "bob")
        await hold(bob, call, "alice")
        await mallory.wait_for(lambda: mallory.refusals() == ["not_chair"])
        await bob.wait_for(lambda: bob.refusals() == ["not_chair"])
        assert not mallory.conferences  # and she learnt nothing of the call
        assert not any(leg["held"] for leg in alice.conferences[call["id"]]["legs"])
        await hears(bob, ALICE_HZ)


async def test_a_hold_outlives_the_media_worker_it_was_on() -> None:
    async with (
        running_server(media_workers=1) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await connect(alice, bob)
        await hold(alice, alice.active_conference(), "bob")
        await hears(bob, PEDAL_HZ)
        [worker] = media_workers(os.getpid())
        os.kill(worker, signal.SIGKILL)
        await bob.wait_for(lambda: media_workers(os.getpid()) not in ([], [worker]), timeout=10)
        bob.heard.clear()
        await bob.wait_for(lambda: len(bob.heard) > 20 and bob.level(PEDAL_HZ) > HEARD, timeout=15)
        await does_not_hear(bob, ALICE_HZ)
        await does_not_hear(alice, BOB_HZ)


async def test_a_hold_outlives_a_restart_of_the_server(tmp_path: Path) -> None:
    settings = {"port": free_port(), "database": str(tmp_path / "talkbox.sqlite3")}
    async with running_server(**settings) as url:
        alice, bob = Peer(url, "alice", ALICE_HZ), Peer(url, "bob", BOB_HZ)
        await alice.__aenter__()
        await bob.__aenter__()
        await connect(alice, bob)
        await hold(alice, alice.active_conference(), "bob")
        await hears(bob, PEDAL_HZ)
    await alice.__aexit__()
    await bob.__aexit__()
    async with (
        running_server(**settings) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.resume()
        await bob.resume()
        await hears(bob, PEDAL_HZ)
        assert shown_held(bob, bob.active_conference()["id"], "bob", by_chair=True)
        await does_not_hear(bob, ALICE_HZ)
        await does_not_hear(alice, BOB_HZ)
