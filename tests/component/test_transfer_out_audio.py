"""A blind transfer out of a call of three on the built-in engine, with aiortc pages: who hears whom.

alice chairs a call with bob and dave and transfers bob to carol: bob leaves for a call of his own
(ringback, then carol), and alice and dave talk on without him; if carol does not answer, bob hears
the failed-transfer tone and is back on the call of three.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.peer import Peer, connect
from tests.support.server import running_server

ALICE_HZ, BOB_HZ, CAROL_HZ, DAVE_HZ = 440.0, 880.0, 660.0, 550.0
RINGBACK_HZ = 480.0  # with 440, which is alice's tone: 480 alone says ringback
FAILED_HZ = 1400.0  # the middle step of the failed-transfer tone
HEARD, SILENT = -35.0, -50.0


async def hears(peer: Peer, frequency: float) -> None:
    await peer.wait_for(lambda: peer.level(frequency) > HEARD)


async def hears_not(peer: Peer, *frequencies: float) -> None:
    """A full second heard since now, with none of `frequencies` in it."""
    peer.heard.clear()
    await peer.wait_for(lambda: len(peer.heard) >= 50 and all(peer.level(f) < SILENT for f in frequencies))


def legs(conference: dict[str, Any]) -> dict[str, str]:
    return {leg["destination"]: leg["status"] for leg in conference["legs"]}


async def three_way(alice: Peer, bob: Peer, dave: Peer) -> str:
    await connect(alice, bob)
    conference_id = alice.active_conference()["id"]
    await alice.add("dave")
    await dave.wait_for(lambda: dave.offers)
    await dave.accept()
    for peer, others in ((alice, (BOB_HZ, DAVE_HZ)), (bob, (ALICE_HZ, DAVE_HZ)), (dave, (ALICE_HZ, BOB_HZ))):
        for frequency in others:
            await hears(peer, frequency)
    return conference_id


async def transfer_bob(alice: Peer, conference_id: str) -> None:
    bob_leg = next(leg["id"] for leg in alice.conferences[conference_id]["legs"] if leg["destination"] == "bob")
    await alice.send({"type": "transfer", "conference_id": conference_id, "to": "carol", "leg_id": bob_leg})


@contextlib.asynccontextmanager
async def four_pages(workers: int) -> AsyncIterator[tuple[Peer, Peer, Peer, Peer]]:
    """alice, bob, carol and dave, each a page with a tone of their own, on a server with `workers`."""
    async with (
        running_server(media_workers=workers) as url,
        Peer(url, "alice", ALICE_HZ, amplitude=0.2) as alice,
        Peer(url, "bob", BOB_HZ, amplitude=0.2) as bob,
        Peer(url, "carol", CAROL_HZ, amplitude=0.2) as carol,
        Peer(url, "dave", DAVE_HZ, amplitude=0.2) as dave,
    ):
        yield alice, bob, carol, dave


# The engine in the server's own process, and in worker processes (the new call goes on the leg's worker).
ENGINES = pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "workers"])


@ENGINES
async def test_bob_leaves_for_a_call_with_carol_and_alice_and_dave_talk_on_without_him(workers: int) -> None:
    async with four_pages(workers) as (alice, bob, carol, dave):
        first = await three_way(alice, bob, dave)
        await transfer_bob(alice, first)

        # alice's page: bob has gone, the call goes on with dave.
        await alice.wait_for(lambda: legs(alice.conferences[first]) == {"alice": "in-progress", "dave": "in-progress"})
        await carol.wait_for(lambda: carol.offers)
        assert next(iter(carol.offers.values()))["caller"] == "bob"
        (second,) = [c for c in bob.conferences.values() if c["id"] != first]
        assert second["chair"] == "bob" and second["transfer"] == {"by": "alice", "to": "carol", "status": "ringing"}
        await bob.wait_for(lambda: bob.level(RINGBACK_HZ) > HEARD)
        await hears_not(alice, BOB_HZ)
        await hears(alice, DAVE_HZ)

        await carol.accept()
        await hears(bob, CAROL_HZ)
        await hears(carol, BOB_HZ)
        await hears_not(bob, RINGBACK_HZ, ALICE_HZ, DAVE_HZ)
        await hears_not(carol, ALICE_HZ, DAVE_HZ)
        await hears_not(alice, BOB_HZ, CAROL_HZ)
        await hears_not(dave, BOB_HZ, CAROL_HZ)
        await hears(alice, DAVE_HZ)
        await hears(dave, ALICE_HZ)
        assert legs(bob.conferences[second["id"]]) == {"bob": "in-progress", "carol": "in-progress"}
        assert "carol" not in legs(alice.conferences[first])


@ENGINES
async def test_carol_rejects_so_bob_hears_the_failed_tone_and_is_back_on_the_call_of_three(workers: int) -> None:
    async with four_pages(workers) as (alice, bob, carol, dave):
        first = await three_way(alice, bob, dave)
        await transfer_bob(alice, first)
        await carol.wait_for(lambda: carol.offers)
        await alice.wait_for(lambda: "bob" not in legs(alice.conferences[first]))
        await carol.reject()

        await bob.wait_for(lambda: bob.level(FAILED_HZ) > HEARD)
        await alice.wait_for(lambda: legs(alice.conferences[first]).get("bob") == "in-progress")
        # The tone over, bob is on the call again: heard by both, and hearing both.
        await hears(alice, BOB_HZ)
        await hears(dave, BOB_HZ)
        await hears(bob, ALICE_HZ)
        await hears(bob, DAVE_HZ)
        (second,) = [c for c in bob.conferences.values() if c["id"] != first]
        assert second["status"] == "ended"
