"""Item 11 of issue 10: a corrupt database, and one bad row in a good one.

A file that is not a database (or whose pages are garbage) is refused with a
message naming it and what to do, not a bare traceback. A row that cannot be
read is moved to the quarantine table and logged; the rest of the store, and
the server, go on.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.store import SqliteStore, StoreError
from tests.support.peer import Peer
from tests.support.server import running_server


def live(conference_id: str, *names: str) -> Conference:
    legs = tuple(Leg(f"{conference_id}-{name}", name, "in-progress", sequence=1) for name in names)
    return Conference(conference_id, legs[0].id, legs)


async def stored(path: Path, *conferences: Conference) -> None:
    store = SqliteStore(path)
    try:
        for conference in conferences:
            await store.put(conference, {"input": "test"})
    finally:
        store.close()


def spoil(path: Path, conference_id: str, data: str) -> None:
    """What a bad disk, a bad restore or a hand edit leaves in one row."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE conferences SET data = ? WHERE id = ?", (data, conference_id))


def test_a_file_that_is_not_a_database_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "talkbox.sqlite3"
    path.write_bytes(b"these are somebody's holiday notes, not a database\n" * 200)
    with pytest.raises(StoreError) as refused:
        SqliteStore(path)
    assert str(path) in str(refused.value)
    assert "Move it aside" in str(refused.value)
    SqliteStore(tmp_path / "other.sqlite3").close()  # the refusal let go of nothing it should keep


def test_a_database_with_garbage_pages_is_named_too(tmp_path: Path) -> None:
    path = tmp_path / "talkbox.sqlite3"
    store = SqliteStore(path)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    with path.open("r+b") as file:  # keep SQLite's header, garble the schema page and the rest
        file.seek(100)
        file.write(os.urandom(path.stat().st_size - 100))
    with pytest.raises(StoreError, match="Move it aside") as refused:
        SqliteStore(path)
    assert str(path) in str(refused.value)


def test_serve_on_a_corrupt_file_exits_with_the_message_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "talkbox.sqlite3"
    path.write_bytes(b"\x00garbage" * 1000)
    env = {**os.environ, "TALKBOX_DATABASE": str(path)}
    result = subprocess.run(
        [sys.executable, "-m", "talkbox", "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr and "Move it aside" in result.stderr


@pytest.mark.parametrize(
    "bad",
    [
        '{"id": "c-bad", "chair_leg_id": "l-1", "legs": [{"id": "l-1"',  # cut short
        '{"id": "c-bad", "chair_leg_id": "l-1", "legs": [{"id": "l-1", "destination": "x", "status": "flying"}]}',
        '{"id": "c-bad", "chair_leg_id": "l-9", "legs": [{"id": "l-1", "destination": "x"}]}',  # no such chair
        '{"id": "c-bad", "legs": 7}',
        "null",
    ],
)
async def test_a_bad_row_is_quarantined_and_logged_and_the_rest_loads(
    tmp_path: Path, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "talkbox.sqlite3"
    good = live("c-good", "alice", "bob")
    await stored(path, good, live("c-bad", "carol", "dave"))
    spoil(path, "c-bad", bad)
    with caplog.at_level(logging.ERROR):
        store = SqliteStore(path)
    try:
        assert await store.active() == [good]
        assert await store.get("c-bad") is None
        rows = store.db.execute("SELECT id, data FROM quarantine").fetchall()
        assert rows == [("c-bad", bad)]
    finally:
        store.close()
    assert any("c-bad" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    caplog.clear()
    SqliteStore(path).close()  # moved out of the way: the next boot has nothing to say about it
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_server_boots_on_a_store_with_a_bad_row_and_serves_the_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "talkbox.sqlite3"
    await stored(path, live("c-good", "alice", "bob"), live("c-bad", "carol", "dave"))
    spoil(path, "c-bad", '{"id": "c-bad", "chair_leg_id": "c-bad-carol", "legs": [{"id": "c-bad-carol"}]}')
    async with running_server(database=str(path), resume_grace=20) as url, Peer(url, "alice", 440.0) as alice:
        await alice.wait_for(lambda: "c-good" in alice.conferences)
        assert alice.conferences["c-good"]["status"] == "active"
