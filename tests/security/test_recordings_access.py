"""Recordings and voicemails are their owners' alone: nobody else can list, play, mark or delete them, whatever
id or path they try, and in token mode the name the browser sends counts for nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from talkbox.telephony.recordings import Recording
from talkbox.telephony.store import ConferenceStore, MemoryStore, StoreUnavailable
from talkbox.ui.identity import Identity, issue_token
from talkbox.ui.recordings import recordings_router
from tests.support.server import running_app

SECRET = "s" * 40
ALICE_CALL = "r-00000000000000a1"
BOB_MESSAGE = "v-00000000000000b2"
PLANTED = "v-00000000000000c3"  # a file in the folder the index does not know


async def seed(store: ConferenceStore, folder: Path) -> None:
    await store.put_recording(Recording(ALICE_CALL, "call", "c-1", ("alice", "carol"), "alice", 1.0, 9.0))
    await store.put_recording(Recording(BOB_MESSAGE, "voicemail", "c-2", ("bob",), "carol", 2.0, 5.0))
    for recording_id in (ALICE_CALL, BOB_MESSAGE, PLANTED):
        (folder / f"{recording_id}.ogg").write_bytes(b"OggS" + recording_id.encode() * 50)
    (folder.parent / "secret.txt").write_text("the server's own file")


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    folder = tmp_path / "recordings"
    folder.mkdir()
    async with running_app(recordings=str(folder)) as (url, app):
        await seed(app.state.talkbox.store, folder)
        async with httpx.AsyncClient(base_url=url) as client:
            yield client


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["recordings"]]


async def test_each_lists_only_their_own(http: httpx.AsyncClient) -> None:
    assert ids(await http.get("/api/recordings", params={"client_name": "alice"})) == [ALICE_CALL]
    assert ids(await http.get("/api/recordings", params={"client_name": "carol"})) == [ALICE_CALL]
    assert ids(await http.get("/api/recordings", params={"client_name": "bob"})) == [BOB_MESSAGE]
    assert ids(await http.get("/api/recordings", params={"client_name": "mallory"})) == []
    assert (await http.get("/api/recordings")).status_code == 401
    assert (await http.get("/api/recordings", params={"client_name": "../bob"})).status_code == 401


@pytest.mark.parametrize("method", ["GET audio", "POST heard", "DELETE"])
async def test_another_users_recording_is_not_found_to_them(http: httpx.AsyncClient, method: str) -> None:
    verb, _, tail = method.partition(" ")
    for recording_id, stranger in ((BOB_MESSAGE, "alice"), (ALICE_CALL, "bob"), (PLANTED, "bob")):
        path = f"/api/recordings/{recording_id}" + (f"/{tail}" if tail else "")
        response = await http.request(verb, path, params={"client_name": stranger})
        assert response.status_code == 404, (path, stranger)
        assert recording_id.encode() not in response.content
    # Nothing changed for the owners.
    assert ids(await http.get("/api/recordings", params={"client_name": "bob"})) == [BOB_MESSAGE]
    shelf = (await http.get("/api/recordings", params={"client_name": "bob"})).json()
    assert shelf["new_voicemails"] == 1
    owner = await http.get(f"/api/recordings/{BOB_MESSAGE}/audio", params={"client_name": "bob"})
    assert owner.status_code == 200 and owner.content.startswith(b"OggS")


TRICKS = [
    "../secret.txt",
    "..%2Fsecret.txt",
    "%2e%2e%2fsecret.txt",
    "..%252Fsecret.txt",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    f"{BOB_MESSAGE}%2F..%2F..%2Fsecret.txt",
    f"{BOB_MESSAGE}.ogg",
    f"..%2Frecordings%2F{BOB_MESSAGE}",
    BOB_MESSAGE.upper(),
    f"{BOB_MESSAGE}%00",
    "v-00000000000000b3",  # one digit off: a guess
    "r-0000000000000000",
]


@pytest.mark.parametrize("trick", TRICKS)
async def test_paths_and_guesses_reach_nothing(http: httpx.AsyncClient, trick: str) -> None:
    for user in ("bob", "mallory"):
        for path in (f"/api/recordings/{trick}/audio", f"/api/recordings/{trick}"):
            for verb in ("GET", "DELETE"):
                response = await http.request(verb, path, params={"client_name": user})
                assert response.status_code in (404, 405), (verb, path, response.status_code)
                assert b"the server's own file" not in response.content
                assert b"root:" not in response.content
    assert ids(await http.get("/api/recordings", params={"client_name": "bob"})) == [BOB_MESSAGE]


async def test_in_token_mode_the_token_says_who_and_a_name_says_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    async with running_app(recordings=str(folder), auth="token", secret=SECRET) as (url, app):
        await seed(app.state.talkbox.store, folder)
        async with httpx.AsyncClient(base_url=url) as http:
            bob, alice = issue_token(SECRET, "bob"), issue_token(SECRET, "alice")
            audio = f"/api/recordings/{BOB_MESSAGE}/audio"
            assert (await http.get(audio, params={"client_name": "bob"})).status_code == 401
            assert (await http.get(audio, params={"token": alice, "client_name": "bob"})).status_code == 404
            assert (await http.get(audio, headers={"Authorization": f"Bearer {alice}"})).status_code == 404
            forged = issue_token("x" * 40, "bob")
            assert (await http.get(audio, params={"token": forged})).status_code == 401
            assert (await http.get(audio, params={"token": bob})).status_code == 200  # what <audio src> uses
            listed = await http.get("/api/recordings", headers={"Authorization": f"Bearer {bob}"})
            assert ids(listed) == [BOB_MESSAGE]
            refused = await http.delete(f"/api/recordings/{BOB_MESSAGE}", params={"token": alice})
            assert refused.status_code == 404
            assert (
                await http.put("/api/voicemail", json={"on": False}, params={"client_name": "bob"})
            ).status_code == 401
            assert await app.state.talkbox.store.voicemail_on("bob")


class UnreachableStore(MemoryStore):
    """A store whose disk is full, or whose Redis is away."""

    async def recordings_of(self, user: str) -> list[Recording]:
        raise StoreUnavailable("the disk is full")

    async def recording(self, recording_id: str) -> Recording | None:
        raise StoreUnavailable("the disk is full")


async def test_a_store_out_of_reach_is_a_503_to_try_again_not_an_error(tmp_path: Path) -> None:
    app = FastAPI()
    app.include_router(recordings_router(Identity("open"), UnreachableStore(), tmp_path, _nowhere))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://talkbox.test") as http:
        for path in ("/api/recordings", f"/api/recordings/{BOB_MESSAGE}/audio"):
            response = await http.get(path, params={"client_name": "bob"})
            assert response.status_code == 503, path
            assert "try again" in response.json()["detail"]


async def _nowhere(_event: object) -> None:
    pass
