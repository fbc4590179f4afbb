"""Call history on the server: every call a user was on, paged, with the missed calls since they last looked."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.component.test_directory import listening, shown
from tests.support.peer import Peer, connect
from tests.support.server import running_server

ALICE_HZ, BOB_HZ = 440.0, 880.0


def missed(peer: Peer) -> int | None:
    counts = [m["count"] for m in peer.messages if m["type"] == "missed"]
    return counts[-1] if counts else None


async def history(peer: Peer, **request: Any) -> dict[str, Any]:
    already = sum(1 for m in peer.messages if m["type"] == "history")
    await peer.send({"type": "history", **request})
    await peer.wait_for(lambda: sum(1 for m in peer.messages if m["type"] == "history") > already)
    return [m for m in peer.messages if m["type"] == "history"][-1]


async def written(peer: Peer) -> list[dict[str, Any]]:
    """The history once every call in it has ended: the records are written after the call's last update."""
    async with asyncio.timeout(10):
        while True:
            calls: list[dict[str, Any]] = (await history(peer))["calls"]
            if all(call["outcome"] is not None for call in calls):
                return calls
            await asyncio.sleep(0.05)


async def ended(peer: Peer) -> None:
    await peer.wait_for(lambda: peer.conferences and peer.last_conference()["status"] == "ended")


async def test_a_missed_an_answered_and_a_rejected_call_in_both_histories() -> None:
    async with (
        running_server(ring_timeout=1.0, voicemail=False) as url,  # missed and rejected calls end
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await listening(bob)
        await bob.wait_for(lambda: missed(bob) == 0)
        await alice.call("bob")  # 1: bob lets it ring out
        await bob.wait_for(lambda: bob.offers)
        await bob.wait_for(lambda: missed(bob) == 1)
        bob.offers.clear()
        await ended(alice)
        alice.conferences.clear()
        bob.conferences.clear()  # his frame of that call shows his leg ended, the call still on
        await connect(alice, bob)  # 2: answered, bob hangs up
        await bob.hang_up()
        await ended(alice)
        alice.conferences.clear()
        await alice.call("bob")  # 3: bob declines
        await bob.wait_for(lambda: bob.offers)
        await bob.reject()
        await ended(alice)

        mine = await written(bob)
        assert [(c["direction"], c["peers"], c["outcome"]) for c in mine] == [
            ("incoming", ["alice"], "rejected"),
            ("incoming", ["alice"], "answered"),
            ("incoming", ["alice"], "missed"),
        ]
        answered = mine[1]
        assert answered["started_at"] <= answered["answered_at"] < answered["ended_at"]
        assert answered["end_reason"] == "hung-up"
        theirs = await written(alice)
        assert [c["outcome"] for c in theirs] == ["rejected", "answered", "unanswered"]
        assert {c["direction"] for c in theirs} == {"outgoing"} and theirs[0]["peers"] == ["bob"]
        assert missed(bob) == 1

        await bob.send({"type": "history_seen"})
        await bob.wait_for(lambda: missed(bob) == 0)


async def test_the_history_comes_in_pages() -> None:
    async with (
        running_server(voicemail=False) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        for _ in range(3):
            await alice.call("bob")
            await bob.wait_for(lambda: bob.offers)
            await bob.reject()
            await ended(alice)
            alice.conferences.clear()
        first = await history(alice, limit=2)
        assert len(first["calls"]) == 2 and first["before"] == first["calls"][-1]["started_at"]
        rest = await history(alice, limit=2, before=first["before"])
        assert len(rest["calls"]) == 1 and rest["before"] is None
        ids = [c["conference_id"] for c in first["calls"] + rest["calls"]]
        assert len(set(ids)) == 3


async def test_a_bad_history_request_is_an_error_and_nobody_elses_history_is_readable() -> None:
    async with (
        running_server(voicemail=False) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.reject()
        await ended(alice)
        async with Peer(url, "mallory", ALICE_HZ) as mallory:
            assert (await history(mallory))["calls"] == []
            for bad in ({"limit": 0}, {"limit": 51}, {"before": "yesterday"}, {"user": "bob"}):
                await mallory.send({"type": "history", **bad})
            await mallory.wait_for(lambda: sum(1 for m in mallory.messages if m.get("code") == "invalid_message") == 4)


async def test_a_call_refused_for_do_not_disturb_is_missed_by_the_callee_and_kept_by_the_caller() -> None:
    # Without voicemail, which would take the call instead (and keep it in both histories the same way).
    async with (
        running_server(voicemail=False) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await listening(bob)
        await bob.send({"type": "set_presence", "status": "dnd"})
        # As alice's page would show it before she calls: with Redis, bob's request and her call are in
        # different partitions, in no order of their own.
        await bob.wait_for(lambda: shown(bob).get("bob") == "dnd")
        await alice.call("bob")
        await alice.wait_for(lambda: "dnd" in alice.refusals())
        await bob.wait_for(lambda: missed(bob) == 1)
        [theirs] = (await history(alice))["calls"]
        assert (theirs["direction"], theirs["peers"], theirs["outcome"], theirs["end_reason"]) == (
            "outgoing",
            ["bob"],
            "busy",
            "dnd",
        )
        [mine] = (await history(bob))["calls"]
        assert (mine["direction"], mine["peers"], mine["outcome"], mine["end_reason"]) == (
            "incoming",
            ["alice"],
            "missed",
            "dnd",
        )
        assert not bob.offers  # nothing rang
