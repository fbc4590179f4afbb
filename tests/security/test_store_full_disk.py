"""Item 8 of issue 10: a full disk lost a hang-up.

The disk is filled for real: SQLite's `max_page_count` on the store's own
connection, with the file's free space used up, so every write the server
tries fails with SQLITE_FULL exactly as on a full filesystem. (A small tmpfs
or loop mount would fill the filesystem itself, but needs root and mount
rights, which `make test` does not have everywhere; the pragma needs neither
and fails the same writes through the same code.) Raising the limit again is
the operator freeing space.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from talkbox.app.main import Talkbox
from talkbox.telephony.store import SqliteStore
from tests.support.peer import Peer, connect
from tests.support.server import running_app

ALICE_HZ, BOB_HZ = 440.0, 880.0


def fill_disk(db: sqlite3.Connection) -> None:
    """No page left: the file may not grow, and its last pages are packed to the brim."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    for size in (4096, 512, 64, 8, 1):
        with contextlib.suppress(sqlite3.OperationalError):
            while True:
                db.execute("INSERT INTO event_log (at, conference_id, cause) VALUES (0, 'filler', ?)", ("x" * size,))
    try:
        db.execute("INSERT INTO event_log (at, conference_id, cause) VALUES (0, 'filler', 'x')")
    except sqlite3.OperationalError as error:
        assert error.sqlite_errorname == "SQLITE_FULL"
    else:
        raise AssertionError("the disk is not full")


def free_disk(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA max_page_count = 1073741823")


@contextlib.asynccontextmanager
async def serving(database: Path) -> AsyncIterator[tuple[str, Talkbox]]:
    async with running_app(database=str(database)) as (url, app):
        yield url, app.state.talkbox


async def level_from_now(peer: Peer, frequency: float, seconds: float = 1.5) -> float:
    """How loud `frequency` is in what `peer` receives from now on (nothing received: silence)."""
    await asyncio.sleep(0.5)  # what was on its way already
    peer.heard.clear()
    await asyncio.sleep(seconds)
    return peer.level(frequency)


def notices(peer: Peer, request: str) -> list[dict[str, object]]:
    return [m for m in peer.messages if m["type"] == "retrying" and m["request"] == request]


async def in_a_call(alice: Peer, bob: Peer) -> str:
    await connect(alice, bob)
    return alice.active_conference()["id"]


async def dead_letters(url: str) -> int:
    async with httpx.AsyncClient(base_url=url) as http:
        return (await http.get("/api/dead-letters")).json()["total"]


async def test_a_hang_up_on_a_full_disk_stops_the_media_says_so_and_is_saved_once_there_is_room(
    tmp_path: Path,
) -> None:
    path = tmp_path / "talkbox.sqlite3"
    async with serving(path) as (url, talkbox), Peer(url, "alice", ALICE_HZ) as alice, Peer(url, "bob", BOB_HZ) as bob:
        store = talkbox.store
        assert isinstance(store, SqliteStore)
        conference_id = await in_a_call(alice, bob)
        fill_disk(store.db)

        await alice.hang_up()
        await alice.wait_for(lambda: notices(alice, "hang_up"), timeout=5)
        [told] = notices(alice, "hang_up")
        assert told["conference_id"] == conference_id
        assert "retrying" in str(told["message"]).lower()
        # The user ended the call: the server lets go of its media now, saved or not.
        assert await level_from_now(bob, ALICE_HZ) < -50
        assert await level_from_now(alice, BOB_HZ) < -50
        assert alice.conferences[conference_id]["status"] == "active"  # nothing unsaved was announced
        assert await dead_letters(url) == 0

        free_disk(store.db)
        for peer in (alice, bob):
            await peer.wait_for(lambda p=peer: p.conferences[conference_id]["status"] == "ended", timeout=10)
        assert alice.my_leg(alice.conferences[conference_id])["end_reason"] == "hung-up"
        assert await dead_letters(url) == 0
    reopened = SqliteStore(path)
    try:
        assert await reopened.active() == []
        assert "HangUp" in [cause.get("input") for cause in reopened.events_of(conference_id)]
    finally:
        reopened.close()


async def test_other_changes_wait_for_the_disk_in_order_and_a_new_call_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "talkbox.sqlite3"
    async with (
        serving(path) as (url, talkbox),
        Peer(url, "alice", ALICE_HZ) as alice,
        Peer(url, "bob", BOB_HZ) as bob,
        Peer(url, "carol", 660.0) as carol,
    ):
        store = talkbox.store
        assert isinstance(store, SqliteStore)
        conference_id = await in_a_call(alice, bob)
        fill_disk(store.db)

        await alice.mute("bob")
        await alice.mute("bob", muted=False)
        await alice.mute("bob")
        await alice.wait_for(lambda: len(notices(alice, "mute")) == 3, timeout=5)
        await carol.call("alice")
        await carol.wait_for(lambda: "store_unavailable" in carol.refusals(), timeout=5)
        assert bob.level(BOB_HZ) < -50 and alice.level(BOB_HZ) > -20  # not muted yet: it is not saved

        free_disk(store.db)
        await alice.wait_for(lambda: alice.my_leg(alice.conferences[conference_id]) and bob_muted(alice), timeout=10)
        mutes = [m for m in alice.messages if m["type"] == "conference" and m["conference"]["id"] == conference_id]
        assert [bob_leg(m["conference"])["muted"] for m in mutes][-3:] == [True, False, True]
        await alice.wait_for(lambda: alice.level(BOB_HZ) < -50, timeout=5)


def bob_leg(conference: dict[str, object]) -> dict[str, object]:
    return next(leg for leg in conference["legs"] if leg["destination"] == "bob")  # type: ignore[attr-defined]


def bob_muted(alice: Peer) -> bool:
    return any(bob_leg(c)["muted"] for c in alice.conferences.values())
