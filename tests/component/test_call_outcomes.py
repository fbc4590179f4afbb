"""Every way a two-party call can end, driven through the websocket by aiortc pages."""

from __future__ import annotations

from tests.support.peer import Peer
from tests.support.server import running_server

ALICE_HZ, BOB_HZ = 440.0, 880.0


def legs(peer: Peer) -> dict[str, tuple[str, str | None]]:
    return {leg["destination"]: (leg["status"], leg["end_reason"]) for leg in peer.last_conference()["legs"]}


async def ended(peer: Peer) -> dict:
    await peer.wait_for(lambda: peer.conferences and peer.last_conference()["status"] == "ended")
    return peer.last_conference()


async def test_bob_rejects() -> None:
    async with (
        running_server(voicemail=False) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.reject()
        assert (await ended(alice))["end_reason"] == "busy"
        assert legs(alice)["bob"] == ("busy", "rejected")
        # Bob is told how his leg ended, and nothing more of the call (tests/security/test_gateway_membership.py).
        await bob.wait_for(lambda: bob.conferences and legs(bob)["bob"] == ("busy", "rejected"))


async def test_nobody_answers_within_the_ring_timeout() -> None:
    async with (
        running_server(ring_timeout=1.0, voicemail=False) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        assert (await ended(alice))["end_reason"] == "no-answer"
        assert legs(bob)["bob"] == ("no-answer", "timeout")


async def test_calling_someone_who_is_not_online() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice:
        await alice.call("nobody")
        assert (await ended(alice))["end_reason"] == "unavailable"
        assert legs(alice)["nobody"] == ("failed", "unavailable")


async def test_alice_cancels_while_it_rings() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await alice.hang_up()
        assert (await ended(bob))["end_reason"] == "canceled"
        assert legs(bob)["bob"] == ("canceled", "caller-canceled")


async def test_alice_hangs_up_first() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.accept()
        await bob.wait_for(lambda: bob.level(ALICE_HZ) > -20)
        await alice.hang_up()
        assert (await ended(bob))["end_reason"] == "hung-up"
        assert legs(bob) == {"alice": ("completed", "hung-up"), "bob": ("completed", "ended")}


async def test_chair_without_a_microphone_means_bob_is_never_rung() -> None:
    async with running_server() as url, Peer(url, "bob", BOB_HZ) as bob, Peer(url, "alice", ALICE_HZ) as alice:
        alice.auto_answer_own_leg = False
        await alice.call("bob")
        await alice.wait_for(lambda: alice.offers)
        await alice.send({"type": "leg_failed", "leg_id": next(iter(alice.offers)), "reason": "microphone"})
        assert (await ended(alice))["end_reason"] == "chair-unreachable"
        assert legs(alice)["bob"] == ("canceled", "chair-unreachable")
        assert not any(m["type"] in ("offer", "conference") for m in bob.messages)


async def test_nobody_can_answer_a_leg_offered_to_someone_else() -> None:
    async with (
        running_server(ring_timeout=1.0, voicemail=False) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "mallory", 660.0) as mallory,
    ):
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        offer = next(iter(bob.offers.values()))
        mallory.offers[offer["leg_id"]] = offer
        await mallory.accept()
        assert (await ended(alice))["end_reason"] == "no-answer"
        assert mallory.level(ALICE_HZ) < -50


async def test_a_call_that_is_refused_says_why() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice:
        await alice.call("alice")
        await alice.wait_for(lambda: any(m["type"] == "refused" for m in alice.messages))
        refused = next(m for m in alice.messages if m["type"] == "refused")
        assert refused["code"] == "self_call"
        await alice.call("")
        await alice.wait_for(lambda: sum(m["type"] == "refused" for m in alice.messages) == 2)
        assert alice.messages[-1]["code"] == "invalid_destination"
