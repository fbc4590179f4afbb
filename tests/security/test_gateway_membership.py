"""Issue 10, item 6: who is told about a conference.

Someone removed from a call, or who rejected it, is told how their leg ended,
and then nothing more of that conference: not who else joins, who is muted,
or how it ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.peer import Peer
from tests.support.server import running_server


def conference_frames(peer: Peer, conference_id: str) -> list[dict[str, Any]]:
    return [
        m["conference"] for m in peer.messages if m["type"] == "conference" and m["conference"]["id"] == conference_id
    ]


def leg_of(conference: dict[str, Any], name: str) -> dict[str, Any]:
    return next(leg for leg in conference["legs"] if leg["destination"] == name)


def leg_shows(peer: Peer, name: str, field: str, value: object) -> bool:
    """The peer's latest conference frame shows `name`'s leg with `field` at `value`."""
    if not peer.conferences:
        return False
    legs = [leg for leg in peer.last_conference()["legs"] if leg["destination"] == name]
    return bool(legs) and legs[-1][field] == value


async def told_nothing_more(peer: Peer, conference_id: str, while_others_see: Any, others: Peer) -> None:
    """`others` sees a change (`while_others_see` becomes true) and `peer` is sent no frame about it."""
    before = len(conference_frames(peer, conference_id))
    await others.wait_for(lambda: while_others_see(others.last_conference()))
    await asyncio.sleep(0.3)  # anything addressed to `peer` in the same step would be here by now
    assert len(conference_frames(peer, conference_id)) == before


async def test_a_removed_participant_hears_of_the_removal_and_nothing_after() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", 440.0) as alice,
        Peer(url, "bob", 550.0, auto_accept=True) as bob,
        Peer(url, "carol", 660.0, auto_accept=True) as carol,
    ):
        await alice.call("bob")
        await alice.wait_for(lambda: leg_shows(alice, "bob", "status", "in-progress"))
        await alice.add("carol")
        await alice.wait_for(lambda: leg_shows(alice, "carol", "status", "in-progress"))
        conference_id = alice.last_conference()["id"]

        await alice.remove("bob")
        await bob.wait_for(lambda: leg_shows(bob, "bob", "end_reason", "removed"))

        await alice.mute("carol")
        await told_nothing_more(bob, conference_id, lambda c: leg_of(c, "carol")["muted"], carol)
        await alice.hang_up()
        await told_nothing_more(bob, conference_id, lambda c: c["status"] == "ended", carol)


async def test_who_rejected_a_call_hears_nothing_more_of_it() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", 440.0) as alice,
        Peer(url, "bob", 550.0, auto_accept=True) as bob,
        Peer(url, "carol", 660.0) as carol,
    ):
        await alice.call("bob")
        await alice.wait_for(lambda: leg_shows(alice, "bob", "status", "in-progress"))
        conference_id = alice.last_conference()["id"]
        await alice.add("carol")
        await carol.wait_for(lambda: bool(carol.offers))
        await carol.reject()
        await carol.wait_for(lambda: leg_shows(carol, "carol", "end_reason", "rejected"))

        await alice.mute("bob")
        await told_nothing_more(carol, conference_id, lambda c: leg_of(c, "bob")["muted"], bob)
        await alice.add("dave")  # nobody of that name is online: its leg fails, the others are told
        await told_nothing_more(
            carol, conference_id, lambda c: any(leg["destination"] == "dave" for leg in c["legs"]), bob
        )


async def test_a_removed_participant_reconnecting_is_not_sent_the_conference() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", 440.0) as alice,
        Peer(url, "bob", 550.0, auto_accept=True) as bob,
        Peer(url, "carol", 660.0, auto_accept=True),
    ):
        await alice.call("bob")
        await alice.wait_for(lambda: leg_shows(alice, "bob", "status", "in-progress"))
        await alice.add("carol")
        await alice.wait_for(lambda: leg_shows(alice, "carol", "status", "in-progress"))
        await alice.remove("bob")
        await bob.wait_for(lambda: leg_shows(bob, "bob", "end_reason", "removed"))
        async with Peer(url, "bob", 550.0) as again:
            await again.wait_for(lambda: any(m["type"] == "synced" for m in again.messages))
            assert again.messages[1:] == [{"type": "synced", "conferences": []}]
