"""Both stores keep the same contract; the SQLite one survives being reopened."""

from __future__ import annotations

from pathlib import Path

import pytest

from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.store import ConferenceStore, MemoryStore, SqliteStore, active_for


def conference(id: str, *statuses: str) -> Conference:
    names = ("alice", "bob", "carol")
    legs = tuple(Leg(f"{id}-{n}", n, status, sequence=1) for n, status in zip(names, statuses, strict=False))  # type: ignore[arg-type]
    return Conference(id, legs[0].id, legs)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ConferenceStore:
    return MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "db.sqlite3")


async def test_put_get_and_what_is_active(store: ConferenceStore) -> None:
    live = conference("c-1", "in-progress", "ringing")
    over = conference("c-2", "completed", "busy")
    await store.put(live, {"input": "test"})
    await store.put(over, {"input": "test"})
    assert await store.get("c-1") == live
    assert await store.get("c-2") == over
    assert await store.get("c-3") is None
    assert [c.id for c in await store.active()] == ["c-1"]
    assert [c.id for c in await active_for(store, "bob")] == ["c-1"]
    assert await active_for(store, "carol") == []


async def test_sqlite_brings_back_live_conferences_and_the_log(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = SqliteStore(path)
    live = conference("c-1", "in-progress", "in-progress", "ringing")
    await first.put(conference("c-1", "queued", "queued"), {"input": "StartCall"})
    await first.put(live, {"input": "LegStatusChanged", "sequence": 7})
    await first.put(conference("c-2", "completed", "completed"), {"input": "HangUp"})
    # Reopened after a kill -9: tests/security/test_store_lock.py.
    first.close()
    second = SqliteStore(path)
    assert await second.active() == [live]
    assert await second.get("c-2") is not None
    assert [e["input"] for e in second.events_of("c-1")] == ["StartCall", "LegStatusChanged"]
