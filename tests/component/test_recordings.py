"""Recording a call and leaving a voicemail on the built-in engine, with aiortc pages: what is in the file, who
is told, and what each user can list and play back over HTTP."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from talkbox.media import tones
from tests.support.audio import level_at
from tests.support.peer import Peer, connect
from tests.support.server import free_port, running_server

ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 880.0, 660.0
HEARD = -35.0


def decoded(data: bytes) -> np.ndarray:
    """The Ogg/Opus file as FFmpeg (through PyAV) decodes it."""
    chunks = []
    with av.open(io.BytesIO(data), format="ogg") as container:
        for frame in container.decode(container.streams.audio[0]):
            samples = frame.to_ndarray()
            samples = samples[0] if samples.ndim == 2 else samples
            chunks.append((samples * 32767 if samples.dtype.kind == "f" else samples).astype(np.int16))
    return np.concatenate(chunks)


async def library(http: httpx.AsyncClient, user: str) -> dict[str, Any]:
    response = await http.get("/api/recordings", params={"client_name": user})
    assert response.status_code == 200, response.text
    return response.json()


async def audio(http: httpx.AsyncClient, user: str, entry: dict[str, Any]) -> bytes:
    response = await http.get(entry["audio"], params={"client_name": user})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/ogg"
    return response.content


def presence(peer: Peer) -> list[dict[str, str]]:
    return [person for m in peer.messages if m["type"] == "presence" for person in m["people"]]


def told(peer: Peer, kind: str) -> bool:
    return any(m["type"] == "recordings_changed" and m["kind"] == kind for m in peer.messages)


async def test_a_recorded_three_way_call_holds_all_three_and_is_theirs_alone(tmp_path: Path) -> None:
    async with (
        running_server(recordings=str(tmp_path)) as url,
        httpx.AsyncClient(base_url=url) as http,
        Peer(url, "alice", ALICE_HZ, amplitude=0.2) as alice,
        Peer(url, "bob", BOB_HZ, amplitude=0.2) as bob,
        Peer(url, "carol", CAROL_HZ, amplitude=0.2) as carol,
        Peer(url, "dave", 550.0) as dave,
    ):
        await connect(alice, bob)
        await alice.add("carol")
        await carol.wait_for(lambda: carol.offers)
        await carol.accept()
        await carol.wait_for(lambda: carol.level(ALICE_HZ) > HEARD and carol.level(BOB_HZ) > HEARD)
        conference_id = alice.active_conference()["id"]

        await bob.send({"type": "record", "conference_id": conference_id, "on": True})
        await bob.wait_for(lambda: "not_chair" in bob.refusals())
        await alice.send({"type": "record", "conference_id": conference_id, "on": True})
        for peer in (alice, bob, carol):
            await peer.wait_for(lambda p=peer: p.active_conference()["recording"] == "call")
        # Everyone hears that the call is now recorded.
        await bob.wait_for(lambda: bob.level(tones.ANNOUNCEMENT_HZ) > -45)
        await alice.wait_for(lambda: len(alice.heard) == 50 and alice.level(tones.ANNOUNCEMENT_HZ) < -60, 10)
        await alice.send({"type": "record", "conference_id": conference_id, "on": False})
        for peer in (alice, bob, carol):
            await peer.wait_for(lambda p=peer: told(p, "call"))
        assert not told(dave, "call")

        listed = (await library(http, "carol"))["recordings"]
        assert [(r["kind"], r["caller"], sorted(r["others"])) for r in listed] == [("call", "alice", ["alice", "bob"])]
        assert listed[0]["seconds"] >= 1.0
        samples = decoded(await audio(http, "carol", listed[0]))
        for frequency in (ALICE_HZ, BOB_HZ, CAROL_HZ):
            assert level_at(samples, frequency) > -40, frequency

        # <audio> seeks with ranges.
        part = await http.get(listed[0]["audio"], params={"client_name": "bob"}, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and len(part.content) == 100
        assert part.headers["accept-ranges"] == "bytes"

        assert (await library(http, "dave"))["recordings"] == []
        stranger = await http.get(listed[0]["audio"], params={"client_name": "dave"})
        assert stranger.status_code == 404

        # Deleting is per person: bob's goes, alice keeps hers; the last owner takes the file with it.
        assert (
            await http.delete(f"/api/recordings/{listed[0]['id']}", params={"client_name": "bob"})
        ).status_code == 204
        assert (await library(http, "bob"))["recordings"] == []
        assert len((await library(http, "alice"))["recordings"]) == 1
        for user in ("alice", "carol"):
            response = await http.delete(f"/api/recordings/{listed[0]['id']}", params={"client_name": user})
            assert response.status_code == 204
        assert list(tmp_path.glob("*.ogg")) == []


async def test_a_rejected_call_leaves_a_voicemail_its_callee_hears_and_deletes(tmp_path: Path) -> None:
    async with (
        running_server(recordings=str(tmp_path)) as url,
        httpx.AsyncClient(base_url=url) as http,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.reject()
        await alice.wait_for(lambda: alice.active_conference()["recording"] == "voicemail")
        await alice.wait_for(lambda: alice.level(tones.GREETING_HZ) > -45)  # the beep: speak after it
        await alice.wait_for(lambda: len(alice.heard) == 50 and alice.level(tones.GREETING_HZ) < -60)
        alice.heard.clear()
        await alice.wait_for(lambda: alice.frames > 0 and len(alice.heard) >= 50)  # a second of message
        await alice.hang_up()
        await alice.wait_for(lambda: alice.last_conference()["end_reason"] == "voicemail")
        await bob.wait_for(lambda: told(bob, "voicemail"))
        note = next(m for m in bob.messages if m["type"] == "recordings_changed")
        assert note["caller"] == "alice"
        assert not told(alice, "voicemail")

        shelf = await library(http, "bob")
        assert shelf["new_voicemails"] == 1 and shelf["voicemail"] is True
        (message,) = shelf["recordings"]
        assert (message["kind"], message["caller"], message["others"]) == ("voicemail", "alice", [])
        assert message["new"]
        samples = decoded(await audio(http, "bob", message))
        assert level_at(samples, ALICE_HZ) > -30
        assert level_at(samples, tones.GREETING_HZ) < -50, "the greeting is not part of the message"
        assert (await library(http, "alice"))["recordings"] == []

        heard = await http.post(f"/api/recordings/{message['id']}/heard", params={"client_name": "bob"})
        assert heard.status_code == 204
        assert (await library(http, "bob"))["new_voicemails"] == 0
        assert (await http.delete(f"/api/recordings/{message['id']}", params={"client_name": "bob"})).status_code == 204
        assert (await library(http, "bob"))["recordings"] == []


async def test_a_call_to_someone_not_to_be_disturbed_rings_nothing_and_goes_to_their_voicemail(tmp_path: Path) -> None:
    async with (
        running_server(recordings=str(tmp_path)) as url,
        httpx.AsyncClient(base_url=url) as http,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.send({"type": "directory"})
        await bob.send({"type": "set_presence", "status": "dnd"})
        await alice.wait_for(lambda: {"name": "bob", "status": "dnd"} in presence(alice))
        await alice.call("bob")
        await alice.wait_for(lambda: any(c.get("recording") == "voicemail" for c in alice.conferences.values()))
        assert not alice.refusals()
        bob_leg = next(leg for leg in alice.active_conference()["legs"] if leg["destination"] == "bob")
        assert (bob_leg["status"], bob_leg["end_reason"]) == ("busy", "dnd")
        await alice.wait_for(lambda: alice.level(tones.GREETING_HZ) > -45)
        await alice.wait_for(lambda: len(alice.heard) == 50 and alice.level(tones.GREETING_HZ) < -60)
        alice.heard.clear()
        await alice.wait_for(lambda: alice.frames > 0 and len(alice.heard) >= 50)
        await alice.hang_up()
        await bob.wait_for(lambda: told(bob, "voicemail"))
        assert not bob.offers, "do not disturb: nothing rang"
        (message,) = (await library(http, "bob"))["recordings"]
        assert (message["kind"], message["caller"]) == ("voicemail", "alice")
        assert level_at(decoded(await audio(http, "bob", message)), ALICE_HZ) > -30


async def test_voicemail_turned_off_ends_a_missed_call_as_before(tmp_path: Path) -> None:
    async with (
        running_server(recordings=str(tmp_path)) as url,
        httpx.AsyncClient(base_url=url) as http,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        off = await http.put("/api/voicemail", params={"client_name": "bob"}, json={"on": False})
        assert off.status_code == 200 and off.json() == {"on": False}
        bad = await http.put("/api/voicemail", params={"client_name": "bob"}, json={"on": "no"})
        assert bad.status_code == 422
        assert (await library(http, "bob"))["voicemail"] is False
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.reject()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
        assert alice.last_conference()["end_reason"] == "busy"


async def test_a_server_without_voicemail_says_so_and_nobody_can_turn_theirs_on(tmp_path: Path) -> None:
    async with (
        running_server(recordings=str(tmp_path), voicemail=False) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        listed = await library(http, "bob")
        assert (listed["voicemail"], listed["voicemail_available"]) == (False, False)
        on = await http.put("/api/voicemail", params={"client_name": "bob"}, json={"on": True})
        assert on.status_code == 409 and "turned off on this server" in on.json()["detail"]
        assert (await library(http, "bob"))["voicemail"] is False
    async with running_server(recordings=str(tmp_path)) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await library(http, "bob"))["voicemail_available"] is True


async def test_a_voicemail_ends_at_its_longest(tmp_path: Path) -> None:
    async with (
        running_server(recordings=str(tmp_path), voicemail_max_seconds=1, ring_timeout=1) as url,
        httpx.AsyncClient(base_url=url) as http,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.call("bob")  # bob lets it ring out
        await alice.wait_for(lambda: alice.conferences and alice.last_conference()["status"] == "ended", timeout=15)
        conference = alice.last_conference()
        assert conference["end_reason"] == "voicemail"
        assert alice.my_leg(conference)["end_reason"] == "voicemail-full"
        await bob.wait_for(lambda: told(bob, "voicemail"))
        (message,) = (await library(http, "bob"))["recordings"]
        assert 0.8 <= message["seconds"] <= 3.0


async def test_a_recording_goes_on_after_a_restart_of_the_server(tmp_path: Path) -> None:
    settings = {"port": free_port(), "database": str(tmp_path / "talkbox.sqlite3"), "recordings": str(tmp_path)}
    async with running_server(**settings) as url:
        alice, bob = Peer(url, "alice", ALICE_HZ), Peer(url, "bob", BOB_HZ)
        await alice.__aenter__()
        await bob.__aenter__()
        await connect(alice, bob)
        conference_id = alice.active_conference()["id"]
        await alice.send({"type": "record", "conference_id": conference_id, "on": True})
        await alice.wait_for(lambda: alice.active_conference()["recording"] == "call")
        await alice.wait_for(lambda: len(list(tmp_path.glob("r-*.ogg"))) == 1)
        (path,) = tmp_path.glob("r-*.ogg")
        await alice.wait_for(lambda: path.stat().st_size > 4000)  # a second or so kept before the restart
    await alice.__aexit__()
    await bob.__aexit__()
    kept = path.stat().st_size
    before_restart = len(decoded(path.read_bytes()))
    async with (
        running_server(**settings) as url,
        httpx.AsyncClient(base_url=url) as http,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await alice.resume()
        await bob.resume()
        await alice.wait_for(lambda: alice.level(BOB_HZ) > -20)
        await alice.wait_for(lambda: path.stat().st_size > kept + 4000)  # recorded on after it
        await alice.send({"type": "record", "conference_id": conference_id, "on": False})
        await bob.wait_for(lambda: told(bob, "call"))
        (entry,) = (await library(http, "bob"))["recordings"]
        samples = decoded(await audio(http, "bob", entry))
        # Both parts play, one after the other: more than what was kept, by the second or so recorded after.
        assert len(samples) > before_restart + 0.5 * 48_000, (len(samples), before_restart)
        assert level_at(samples, ALICE_HZ) > -40 and level_at(samples, BOB_HZ) > -40
