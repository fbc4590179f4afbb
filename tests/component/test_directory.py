"""The directory: who is online, in a call or not to be disturbed, live on the pages allowed to see them."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import jwt
import websockets

from talkbox.events.models import ConferenceUpdated
from talkbox.telephony.book import PeopleBook
from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.people import Person
from talkbox.telephony.store import MemoryStore
from talkbox.ui.directory import Directory
from talkbox.ui.identity import issue_token
from talkbox.ui.user_streams import Parcel
from tests.support.peer import Peer, connect
from tests.support.server import running_app, running_server

SECRET = "test-secret-that-is-long-enough-for-hs256"
ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 880.0, 660.0


def shown(peer: Peer) -> dict[str, str]:
    """The directory as the page would show it: the last snapshot, with every change since."""
    people: dict[str, str] = {}
    for message in peer.messages:
        if message["type"] == "presence":
            if message["complete"]:
                people = {}
            people |= {person["name"]: person["status"] for person in message["people"]}
    return people


async def listening(peer: Peer) -> Peer:
    await peer.send({"type": "directory"})
    await peer.wait_for(lambda: any(m["type"] == "presence" and m["complete"] for m in peer.messages))
    return peer


async def test_bob_sees_alice_come_online_go_into_a_call_set_dnd_and_leave() -> None:
    async with running_server() as url, Peer(url, "bob", BOB_HZ) as bob:
        await listening(bob)
        assert shown(bob) == {"bob": "online"}
        async with Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "carol", CAROL_HZ) as carol:
            await bob.wait_for(lambda: shown(bob).get("alice") == "online")
            await connect(alice, carol)
            await bob.wait_for(lambda: shown(bob).get("alice") == "in_call" and shown(bob)["carol"] == "in_call")
            await alice.hang_up()
            await bob.wait_for(lambda: shown(bob)["alice"] == "online")
            await alice.send({"type": "set_presence", "status": "dnd"})
            await bob.wait_for(lambda: shown(bob)["alice"] == "dnd")
        await bob.wait_for(lambda: shown(bob)["alice"] == "offline")


async def test_a_call_to_someone_not_to_be_disturbed_is_refused_and_rings_nothing() -> None:
    # Without voicemail: with it, the call goes there instead (tests/component/test_recordings.py).
    async with (
        running_server(voicemail=False) as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
    ):
        await listening(alice)
        await bob.send({"type": "set_presence", "status": "dnd"})
        await alice.wait_for(lambda: shown(alice).get("bob") == "dnd")
        await alice.call("bob")
        await alice.wait_for(lambda: alice.refusals())
        refusal = next(m for m in alice.messages if m["type"] == "refused")
        assert refusal["code"] == "dnd" and "bob" in refusal["message"]
        assert not bob.offers and not alice.conferences
        await bob.send({"type": "set_presence", "status": "available"})
        await alice.wait_for(lambda: shown(alice)["bob"] == "online")
        await connect(alice, bob)


async def test_nobody_can_add_someone_not_to_be_disturbed() -> None:
    async with (
        running_server() as url,
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", CAROL_HZ) as carol,
    ):
        await listening(alice)
        await carol.send({"type": "set_presence", "status": "dnd"})
        await alice.wait_for(lambda: shown(alice).get("carol") == "dnd")
        await connect(alice, bob)
        await alice.add("carol")
        await alice.wait_for(lambda: "dnd" in alice.refusals())
        assert not carol.offers


async def test_do_not_disturb_holds_on_every_tab_and_a_new_one() -> None:
    async with running_server() as url, Peer(url, "bob", BOB_HZ) as first, Peer(url, "bob", BOB_HZ) as second:
        await listening(first)
        await listening(second)
        await first.send({"type": "set_presence", "status": "dnd"})
        await second.wait_for(lambda: shown(second)["bob"] == "dnd")
        async with Peer(url, "bob", BOB_HZ) as third:
            await listening(third)
            assert shown(third)["bob"] == "dnd"


async def test_a_token_sees_only_whom_its_directory_claim_lists() -> None:
    async with running_server(auth="token", secret=SECRET) as url:
        base = url.replace("http", "ws")
        carol = await _welcomed(f"{base}/ws?token={issue_token(SECRET, 'carol')}")
        bob = await _welcomed(f"{base}/ws?token={issue_token(SECRET, 'bob')}")
        alice = await _welcomed(f"{base}/ws?token={issue_token(SECRET, 'alice', directory=['bob'])}")
        await alice.send(json.dumps({"type": "directory"}))
        snapshot = await _next(alice, "presence")
        assert {p["name"]: p["status"] for p in snapshot["people"]} == {"alice": "online", "bob": "online"}
        await carol.close()
        await bob.close()
        # Carol leaving is not alice's to know; bob leaving is. (Over Redis, bob's coming online may reach alice
        # after her snapshot: said again, it changes nothing.)
        changes = []
        while {"name": "bob", "status": "offline"} not in changes:
            changes += (await _next(alice, "presence"))["people"]
        assert "carol" not in {person["name"] for person in changes}, changes
        await alice.close()


async def test_a_token_with_a_bad_directory_claim_is_refused() -> None:
    async with running_server(auth="token", secret=SECRET) as url:
        now = int(time.time())
        token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 60, "directory": "bob"}, SECRET)
        socket = await websockets.connect(f"{url.replace('http', 'ws')}/ws?token={token}")
        try:
            await socket.recv()
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4401
            assert "directory" in closed.rcvd.reason
        else:
            raise AssertionError("a bad directory claim was accepted")


async def test_in_open_mode_the_directory_lists_who_is_online() -> None:
    async with running_server() as url:
        async with Peer(url, "carol", CAROL_HZ):
            pass
        async with Peer(url, "alice", ALICE_HZ) as alice:
            await listening(alice)
            # Over Redis, carol leaving may reach alice after her snapshot, as a change: carol offline.
            assert {name: status for name, status in shown(alice).items() if status != "offline"} == {"alice": "online"}


async def _news_until(socket: websockets.ClientConnection, name: str) -> list[tuple[str, str]]:
    """Every change of presence the socket is sent, up to and including the first about `name`."""
    news: list[tuple[str, str]] = []
    while not news or news[-1][0] != name:
        news += [(person["name"], person["status"]) for person in (await _next(socket, "presence"))["people"]]
    return news


async def _welcomed(url: str) -> websockets.ClientConnection:
    socket = await websockets.connect(url)
    assert json.loads(await socket.recv())["type"] == "welcome"
    return socket


async def _next(socket: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await socket.recv())
        if message["type"] == kind:
            return message


async def test_presence_do_not_disturb_and_the_claim_hold_across_nodes(redis_url: str) -> None:
    common = {"redis_url": redis_url, "redis_lease": 1.0, "media_workers": 0, "auth": "token", "secret": SECRET}
    common["voicemail"] = False  # the call to bob is refused, not taken by his voicemail
    async with running_app(node_id="one", **common) as (one, _), running_app(node_id="two", **common) as (two, _):
        alice = await _welcomed(
            f"{one.replace('http', 'ws')}/ws?token={issue_token(SECRET, 'alice', directory=['bob'])}"
        )
        await alice.send(json.dumps({"type": "directory"}))
        assert (await _next(alice, "presence"))["people"] == [{"name": "alice", "status": "online"}]
        carol = await _welcomed(f"{two.replace('http', 'ws')}/ws?token={issue_token(SECRET, 'carol')}")
        bob = await _welcomed(f"{two.replace('http', 'ws')}/ws?token={issue_token(SECRET, 'bob')}")
        # Carol came first, but is not alice's to see: the news alice gets is of herself and bob, from the other node.
        news = await _news_until(alice, "bob")
        assert news[-1] == ("bob", "online") and {name for name, _ in news} <= {"alice", "bob"}
        await bob.send(json.dumps({"type": "set_presence", "status": "dnd"}))
        assert (await _news_until(alice, "bob"))[-1] == ("bob", "dnd")
        await carol.send(json.dumps({"type": "call", "to": "bob"}))
        refused = await _next(carol, "refused")
        assert refused["code"] == "dnd"
        for socket in (alice, bob, carol):
            await socket.close()


async def test_a_change_goes_only_to_the_pages_that_asked_for_the_directory() -> None:
    # Every other user online has a page that shows no directory (the embeddable client's): a call of two
    # must not cost a message per user online (bench/README.md, "Issue 15, fifth pass").
    store = MemoryStore()
    everyone = ["alice", "bob", "carol", *(f"idle{i}" for i in range(200))]
    for name in everyone:
        await store.put_person(Person(name))
    listening: Counter[str] = Counter()
    sent: list[Parcel] = []

    async def send(parcel: Parcel) -> None:
        sent.append(parcel)

    async def online(name: str) -> bool:
        return True

    directory = Directory(PeopleBook(store), online, send, open_mode=True, listeners=lambda: listening)
    ringing = Conference("c-1", "l-a", (Leg("l-a", "alice", status="in-progress"), Leg("l-b", "bob")))
    await store.put(ringing, {})
    await directory.handle(ConferenceUpdated(conference=ringing.view(), users=("alice", "bob")))
    assert sent == []

    listening["carol"] += 1
    ended = replace(ringing, legs=tuple(replace(leg, status="completed") for leg in ringing.legs))
    await store.put(ended, {})
    await directory.handle(ConferenceUpdated(conference=ended.view(), users=("alice", "bob")))
    assert sorted((parcel.user, parcel.about) for parcel in sent) == [("carol", "alice"), ("carol", "bob")]
    assert {json.loads(parcel.text)["people"][0]["status"] for parcel in sent} == {"online"}
