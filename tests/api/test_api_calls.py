"""Calls placed and controlled through /api/v1 ring real pages (aiortc stand-ins), which hear each other."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from talkbox.media import tones
from talkbox.media.music import PEDAL_HZ
from tests.api.conftest import Api, api_server
from tests.support.peer import Peer

ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 880.0, 660.0


@contextlib.asynccontextmanager
async def api(**overrides: Any) -> AsyncIterator[Api]:
    async for server in api_server(**overrides):
        yield server


async def leg_statuses(server: Api, call_id: str) -> dict[str, str]:
    call = (await server.http.get(f"/api/v1/calls/{call_id}")).json()
    return {leg["destination"]: leg["status"] for leg in call["legs"]}


async def test_a_call_created_through_the_api_rings_the_page_and_both_hear_each_other() -> None:
    async with api() as server, Peer(server.url, "alice", ALICE_HZ) as alice, Peer(server.url, "bob", BOB_HZ) as bob:
        created = await server.http.post("/api/v1/calls", json={"from": "alice", "to": ["bob"]})
        assert created.status_code == 202
        call_id = created.json()["id"]

        await bob.wait_for(lambda: bob.offers)
        assert next(iter(bob.offers.values()))["caller"] == "alice"
        assert await leg_statuses(server, call_id) == {"alice": "in-progress", "bob": "ringing"}
        await bob.accept()
        await alice.wait_for(lambda: alice.level(BOB_HZ) > -20)
        await bob.wait_for(lambda: bob.level(ALICE_HZ) > -20)
        assert await leg_statuses(server, call_id) == {"alice": "in-progress", "bob": "in-progress"}
        listed = (await server.http.get("/api/v1/conferences")).json()["conferences"]
        assert [c["id"] for c in listed] == [call_id]

        bob_leg = next(leg["id"] for leg in listed[0]["legs"] if leg["destination"] == "bob")
        muted = await server.http.patch(f"/api/v1/calls/{call_id}/participants/{bob_leg}", json={"muted": True})
        assert muted.status_code == 202
        await alice.wait_for(lambda: alice.level(BOB_HZ) < -50)
        assert bob.my_leg(bob.active_conference())["muted"] is True

        assert (await server.http.delete(f"/api/v1/calls/{call_id}")).status_code == 202
        await alice.wait_for(lambda: alice.conferences[call_id]["status"] == "ended")
        # Bob was removed first: told his leg ended, and nothing after.
        await bob.wait_for(lambda: bob.my_leg(bob.conferences[call_id])["status"] == "completed")
        assert (await server.http.get("/api/v1/conferences")).json()["conferences"] == []


@contextlib.asynccontextmanager
async def three_way(**overrides: Any) -> AsyncIterator[tuple[Api, str, Peer, Peer, Peer]]:
    """alice's conference with bob and carol, made in one request, once alice hears both."""
    async with (
        api(**overrides) as server,
        Peer(server.url, "alice", ALICE_HZ) as alice,
        Peer(server.url, "bob", BOB_HZ, auto_accept=True) as bob,
        Peer(server.url, "carol", CAROL_HZ, auto_accept=True) as carol,
    ):
        created = await server.http.post("/api/v1/calls", json={"from": "alice", "to": ["bob", "carol"]})
        call_id = created.json()["id"]
        await alice.wait_for(lambda: alice.level(BOB_HZ) > -20 and alice.level(CAROL_HZ) > -20, timeout=15)
        yield server, call_id, alice, bob, carol


async def test_a_conference_of_several_in_one_request_and_a_participant_hung_up() -> None:
    async with three_way() as (server, call_id, alice, bob, carol):
        await carol.wait_for(lambda: carol.level(BOB_HZ) > -20)
        await bob.wait_for(lambda: bob.level(CAROL_HZ) > -20)

        carol_leg = next(leg["id"] for leg in carol.conferences[call_id]["legs"] if leg["destination"] == "carol")
        removed = await server.http.delete(f"/api/v1/calls/{call_id}/participants/{carol_leg}")
        assert removed.status_code == 202
        await carol.wait_for(lambda: carol.my_leg(carol.conferences[call_id])["status"] == "completed")
        assert (await leg_statuses(server, call_id))["bob"] == "in-progress"
        await bob.wait_for(lambda: bob.level(CAROL_HZ) < -50)
        assert bob.level(ALICE_HZ) > -20
        gone = await server.http.delete(f"/api/v1/calls/{call_id}/participants/{carol_leg}")
        assert gone.status_code == 404 and gone.json()["type"].endswith("/participant-not-found")


async def test_the_chair_holds_and_resumes_a_participant_through_the_api() -> None:
    async with three_way() as (server, call_id, alice, bob, carol):
        bob_leg = next(leg["id"] for leg in bob.conferences[call_id]["legs"] if leg["destination"] == "bob")
        participant = f"/api/v1/calls/{call_id}/participants/{bob_leg}"

        assert (await server.http.patch(participant, json={"held": True})).status_code == 202
        await bob.wait_for(lambda: bob.level(PEDAL_HZ) > -35)  # music on hold
        await carol.wait_for(lambda: carol.level(BOB_HZ) < -50)
        assert carol.level(ALICE_HZ) > -20  # the others go on hearing each other
        held = (await server.http.get(f"/api/v1/calls/{call_id}")).json()
        assert next(leg for leg in held["legs"] if leg["id"] == bob_leg)["held"] is True

        assert (await server.http.patch(participant, json={"held": False})).status_code == 202
        await carol.wait_for(lambda: carol.level(BOB_HZ) > -20)
        await bob.wait_for(lambda: bob.level(ALICE_HZ) > -20)

        nothing = await server.http.patch(participant, json={})
        assert nothing.status_code == 422 and "`muted`, `held` or both" in str(nothing.json()["errors"])


async def test_a_users_call_history_is_read_page_by_page() -> None:
    async with (
        api(voicemail=False) as server,
        Peer(server.url, "alice", ALICE_HZ) as alice,
        Peer(server.url, "bob", BOB_HZ) as bob,
    ):
        for _ in range(2):
            call_id = (await server.http.post("/api/v1/calls", json={"from": "alice", "to": ["bob"]})).json()["id"]
            await bob.wait_for(lambda: bob.offers)
            await bob.reject()
            await alice.wait_for(lambda cid=call_id: alice.conferences[cid]["status"] == "ended")

        first = (await server.http.get("/api/v1/users/bob/calls", params={"limit": 1})).json()
        assert [(c["direction"], c["peers"], c["outcome"]) for c in first["calls"]] == [
            ("incoming", ["alice"], "rejected")
        ]
        assert first["before"] is not None
        rest = (await server.http.get("/api/v1/users/bob/calls", params={"before": first["before"]})).json()
        assert len(rest["calls"]) == 1 and rest["before"] is None
        assert rest["calls"][0]["started_at"] < first["calls"][0]["started_at"]
        assert (await server.http.get("/api/v1/users/carol/calls")).json() == {"calls": [], "before": None}
        bad = await server.http.get("/api/v1/users/no%20one/calls")
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


async def test_the_api_starts_and_stops_recording_a_call_for_its_chair(tmp_path: Path) -> None:
    async with three_way(recordings=str(tmp_path)) as (server, call_id, alice, bob, carol):
        recording = f"/api/v1/calls/{call_id}/recording"
        assert (await server.http.put(recording, json={"on": True})).status_code == 202
        for peer in (alice, bob, carol):
            await peer.wait_for(lambda p=peer: p.conferences[call_id]["recording"] == "call")
        assert (await server.http.get(f"/api/v1/calls/{call_id}")).json()["recording"] == "call"
        await bob.wait_for(lambda: bob.level(tones.ANNOUNCEMENT_HZ) > -45)  # everyone is told by the beep

        assert (await server.http.put(recording, json={"on": False})).status_code == 202
        await alice.wait_for(
            lambda: any(m["type"] == "recordings_changed" and m["kind"] == "call" for m in alice.messages)
        )
        assert (await server.http.get(f"/api/v1/calls/{call_id}")).json()["recording"] is None
        assert len(list(tmp_path.glob("*.ogg"))) == 1

        assert (await server.http.put(recording, json={"on": "yes"})).status_code == 422
        unknown = await server.http.put("/api/v1/calls/c-0000000000000000/recording", json={"on": True})
        assert unknown.status_code == 404
