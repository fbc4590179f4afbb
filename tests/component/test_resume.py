"""A leg outlives its media: a reloaded page and a restarted server both get the call back."""

from __future__ import annotations

from pathlib import Path

from tests.support.peer import Peer
from tests.support.server import free_port, running_server

ALICE_HZ, BOB_HZ = 440.0, 880.0


async def call(alice: Peer, bob: Peer) -> None:
    await alice.call("bob")
    await bob.wait_for(lambda: bob.offers)
    await bob.accept()
    await alice.wait_for(lambda: alice.level(BOB_HZ) > -20)
    await bob.wait_for(lambda: bob.level(ALICE_HZ) > -20)


async def test_a_reloaded_page_gets_its_state_and_the_call_back() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice:
        async with Peer(url, "bob", BOB_HZ) as bob:
            await call(alice, bob)
        # bob's page is gone (socket and media); the call is not over.
        async with Peer(url, "bob", BOB_HZ) as reloaded:
            await reloaded.resume()
            await reloaded.wait_for(lambda: reloaded.level(ALICE_HZ) > -20)
            alice.heard.clear()
            await alice.wait_for(lambda: len(alice.heard) > 20 and alice.level(BOB_HZ) > -20)
            statuses = [leg["status"] for leg in reloaded.active_conference()["legs"]]
            assert statuses == ["in-progress", "in-progress"]


async def test_the_state_on_connect_ends_with_the_list_of_the_users_conferences() -> None:
    """The page settles what it shows on `synced`, so it must come, and name every call the user is on."""
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        await call(alice, bob)
        conference_id = alice.active_conference()["id"]
        async with Peer(url, "bob", BOB_HZ) as reloaded:
            await reloaded.wait_for(lambda: any(m["type"] == "synced" for m in reloaded.messages))
            synced = next(m for m in reloaded.messages if m["type"] == "synced")
            assert synced["conferences"] == [conference_id]
        async with Peer(url, "carol", 660.0) as stranger:
            await stranger.wait_for(lambda: any(m["type"] == "synced" for m in stranger.messages))
            assert next(m for m in stranger.messages if m["type"] == "synced")["conferences"] == []


async def test_a_ringing_call_rings_again_on_a_reloaded_page() -> None:
    async with running_server() as url, Peer(url, "alice", ALICE_HZ) as alice:
        async with Peer(url, "bob", BOB_HZ) as bob:
            await alice.call("bob")
            await bob.wait_for(lambda: bob.offers)
        async with Peer(url, "bob", BOB_HZ) as reloaded:
            await reloaded.wait_for(lambda: reloaded.offers)
            await reloaded.accept()
            await alice.wait_for(lambda: alice.level(BOB_HZ) > -20)


async def test_calls_survive_a_restart_of_the_server(tmp_path: Path) -> None:
    settings = {"port": free_port(), "database": str(tmp_path / "talkbox.sqlite3")}
    async with running_server(**settings) as url:
        alice, bob = Peer(url, "alice", ALICE_HZ), Peer(url, "bob", BOB_HZ)
        await alice.__aenter__()
        await bob.__aenter__()
        await call(alice, bob)
    await alice.__aexit__()
    await bob.__aexit__()
    async with (
        running_server(**settings) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.resume()
        await bob.resume()
        await alice.wait_for(lambda: alice.level(BOB_HZ) > -20)
        await bob.wait_for(lambda: bob.level(ALICE_HZ) > -20)


async def test_a_leg_nobody_resumes_after_a_restart_is_lost(tmp_path: Path) -> None:
    # The grace is long enough for alice's own resumed media to come up on a busy machine (with 1 s her
    # leg was sometimes the first lost, and the call ended "canceled" for bob instead), and bob never comes.
    settings = {"port": free_port(), "database": str(tmp_path / "talkbox.sqlite3"), "resume_grace": 4.0}
    async with (
        running_server(**settings) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await call(alice, bob)
    async with running_server(**settings) as url, Peer(url, "alice", ALICE_HZ) as alice:
        await alice.resume()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended", timeout=20)
        legs = {leg["destination"]: (leg["status"], leg["end_reason"]) for leg in alice.last_conference()["legs"]}
        assert legs["bob"] == ("failed", "lost")
