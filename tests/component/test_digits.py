"""Keys a page's user sends on a call (`dtmf`, the embeddable client's sendDigits) reach the others' pages."""

from __future__ import annotations

from tests.support.peer import Peer, connect
from tests.support.server import running_server

ALICE_HZ, BOB_HZ = 440.0, 880.0


def digits(peer: Peer) -> list[tuple[str, str]]:
    return [(m["leg_id"], m["digit"]) for m in peer.messages if m["type"] == "digit"]


async def test_keys_sent_on_a_call_show_on_the_others_page_in_order_as_the_senders() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        await connect(alice, bob)
        conference = alice.active_conference()
        await alice.send({"type": "dtmf", "conference_id": conference["id"], "digits": "12#*"})
        await bob.wait_for(lambda: len(digits(bob)) == 4)
        mine = alice.my_leg(alice.active_conference())["id"]
        assert digits(bob) == [(mine, key) for key in "12#*"]


async def test_keys_for_a_call_one_is_not_on_are_refused_and_reach_nobody() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "mallory", 300.0) as mallory,
    ):
        await connect(alice, bob)
        conference_id = alice.active_conference()["id"]
        await mallory.send({"type": "dtmf", "conference_id": conference_id, "digits": "9"})
        await mallory.wait_for(lambda: mallory.refusals() == ["not_on_call"])
        await alice.send({"type": "dtmf", "conference_id": conference_id, "digits": "1"})
        await bob.wait_for(lambda: digits(bob))
        assert [key for _, key in digits(bob)] == ["1"]


async def test_what_is_not_a_keypad_key_is_an_invalid_message() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice:
        for bad in ("", "12x", "A", "1" * 33, 5):
            await alice.send({"type": "dtmf", "conference_id": "c-1", "digits": bad})
        await alice.wait_for(lambda: len([m for m in alice.messages if m["type"] == "error"]) == 5)
        assert {m["code"] for m in alice.messages if m["type"] == "error"} == {"invalid_message"}
