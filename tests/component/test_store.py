"""Every store keeps the same contract; SQLite survives being reopened, Redis is shared by every node."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from talkbox.events.redis_bus import redis_client
from talkbox.telephony.model import Conference, Leg, Transfer
from talkbox.telephony.people import CallRecord, Outcome, Person
from talkbox.telephony.recordings import Recording
from talkbox.telephony.redis_store import RedisStore
from talkbox.telephony.store import ConferenceStore, MemoryStore, SqliteStore, StoreUnavailable
from tests.support.server import free_port


def conference(id: str, *statuses: str) -> Conference:
    names = ("alice", "bob", "carol")
    legs = tuple(Leg(f"{id}-{n}", n, status, sequence=1) for n, status in zip(names, statuses, strict=False))  # type: ignore[arg-type]
    return Conference(id, legs[0].id, legs)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    connection = redis_client(redis_url)
    yield connection
    await connection.aclose()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConferenceStore]:
    if request.param == "memory":
        chosen: ConferenceStore = MemoryStore()
    elif request.param == "sqlite":
        chosen = SqliteStore(tmp_path / "db.sqlite3")
    else:
        connection = redis_client(request.getfixturevalue("redis_url"))
        chosen = RedisStore(connection)
    yield chosen
    chosen.close()
    if isinstance(chosen, RedisStore):
        await chosen.client.aclose()


async def test_put_get_and_what_is_active(store: ConferenceStore) -> None:
    live = conference("c-1", "in-progress", "ringing")
    over = conference("c-2", "completed", "busy")
    await store.put(live, {"input": "test"})
    await store.put(over, {"input": "test"})
    assert await store.get("c-1") == live
    assert await store.get("c-2") == over
    assert await store.get("c-3") is None
    assert [c.id for c in await store.active()] == ["c-1"]
    assert [c.id for c in await store.active_for("bob")] == ["c-1"]
    assert await store.active_for("carol") == []


async def test_a_transfer_under_way_is_kept_whole(store: ConferenceStore) -> None:
    """After a restart the rules must still know who waits on ringback, who rings and whom to recall."""
    waiting = conference("c-1", "completed", "in-progress", "ringing")
    waiting = Conference(
        waiting.id, "c-1-bob", waiting.legs, transfer=Transfer("alice", "c-1-bob", "c-1-carol", "c-1-recall", True)
    )
    await store.put(waiting, {"input": "test"})
    assert await store.get("c-1") == waiting


async def test_who_is_on_a_call_follows_their_leg_and_the_end(store: ConferenceStore) -> None:
    await store.put(conference("c-1", "in-progress", "in-progress", "in-progress"), {"input": "test"})
    await store.put(conference("c-1", "in-progress", "completed", "in-progress"), {"input": "test"})
    assert [c.id for c in await store.active_for("alice")] == ["c-1"]
    assert await store.active_for("bob") == []  # his leg ended: he is free, the call goes on
    await store.put(conference("c-1", "completed", "completed", "completed"), {"input": "test"})
    assert await store.active_for("alice") == []
    assert await store.active_for("carol") == []
    assert await store.active() == []


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


async def test_sqlite_changes_made_at_once_are_each_on_disk_when_their_put_returns(tmp_path: Path) -> None:
    """Writes of one moment share a commit, but none returns before its own change is committed."""
    store = SqliteStore(tmp_path / "db.sqlite3")
    reader = sqlite3.connect(tmp_path / "db.sqlite3")
    seen: dict[str, bool] = {}

    async def call(index: int) -> None:
        await store.put(conference(f"c-{index}", "queued", "queued"), {"input": "StartCall"})
        found = reader.execute("SELECT COUNT(*) FROM conferences WHERE id = ?", (f"c-{index}",)).fetchone()[0]
        await store.put_calls([CallRecord("alice", f"c-{index}", "outgoing", ("bob",), started_at=float(index))])
        logged = reader.execute("SELECT COUNT(*) FROM calls WHERE conference_id = ?", (f"c-{index}",)).fetchone()[0]
        seen[f"c-{index}"] = found == 1 and logged == 1

    await asyncio.gather(*(call(index) for index in range(50)))
    reader.close()
    assert seen == {f"c-{index}": True for index in range(50)}
    assert [c.id for c in await store.active_for("bob")] == [f"c-{index}" for index in range(50)]
    store.close()


async def test_sqlite_knows_who_is_on_which_call_among_thousands(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    for index in range(2000):
        await store.put(conference(f"c-{index}", "in-progress", "ringing"), {"input": "StartCall"})
    await store.put(conference("c-7", "in-progress", "completed"), {"input": "LegStatusChanged"})
    await store.put(conference("c-8", "completed", "completed"), {"input": "HangUp"})
    assert len(await store.active_for("alice")) == 1999
    assert "c-7" not in [c.id for c in await store.active_for("bob")]
    assert await store.active_for("carol") == []
    store.close()
    assert len(await SqliteStore(tmp_path / "db.sqlite3").active_for("bob")) == 1998


async def test_redis_is_one_store_for_every_node(redis_url: str) -> None:
    one, two = redis_client(redis_url), redis_client(redis_url)
    try:
        live = conference("c-1", "in-progress", "in-progress", "ringing")
        await RedisStore(one).put(conference("c-1", "queued", "queued"), {"input": "StartCall"})
        await RedisStore(one).put(live, {"input": "LegStatusChanged", "sequence": 7})
        other_node = RedisStore(two)
        assert await other_node.active() == [live]
        assert [c.id for c in await other_node.active_for("carol")] == ["c-1"]
        assert [e["input"] for e in await other_node.events_of("c-1")] == ["StartCall", "LegStatusChanged"]
    finally:
        await one.aclose()
        await two.aclose()


async def test_redis_out_of_reach_is_a_named_refusal_that_stores_nothing() -> None:
    nobody = redis_client(f"redis://127.0.0.1:{free_port()}/0")
    store = RedisStore(nobody)
    with pytest.raises(StoreUnavailable, match="c-1"):
        await store.put(conference("c-1", "in-progress", "in-progress"), {"input": "test"})
    with pytest.raises(StoreUnavailable):
        await store.active()
    await nobody.aclose()


async def test_a_conference_redis_cannot_read_is_quarantined_and_the_rest_load(client: redis.Redis) -> None:
    store = RedisStore(client)
    good = conference("c-1", "in-progress", "in-progress")
    await store.put(good, {"input": "test"})
    await store.put(conference("c-2", "in-progress", "in-progress"), {"input": "test"})
    await client.set("talkbox:conference:c-2", '{"id": "c-2", "chair_leg_id": "nobody", "legs": []}')
    assert await store.active() == [good]
    assert await store.get("c-2") is None
    assert await client.hexists("talkbox:quarantine", "c-2")


def recording(id: str, *owners: str, kind: str = "call", at: float = 1.0) -> Recording:
    return Recording(id, kind, "c-1", owners, "alice", started_at=at)  # type: ignore[arg-type]


async def test_recordings_are_listed_to_their_owners_alone_newest_first(store: ConferenceStore) -> None:
    call = recording("r-0000000000000001", "alice", "bob", at=10.0)
    message = recording("v-0000000000000002", "bob", kind="voicemail", at=20.0)
    await store.put_recording(call)
    await store.put_recording(message)
    assert await store.recordings_of("bob") == [message, call]
    assert await store.recordings_of("alice") == [call]
    assert await store.recordings_of("carol") == []
    assert await store.recording("v-0000000000000002") == message
    assert await store.recording("v-0000000000000003") is None


async def test_a_recording_changes_hands_and_is_deleted(store: ConferenceStore) -> None:
    call = recording("r-0000000000000001", "alice", "bob")
    await store.put_recording(call)
    finished = Recording(**{**call.__dict__, "ended_at": 5.0, "heard_by": ("bob",)})
    await store.put_recording(finished.without("alice"))
    assert await store.recordings_of("alice") == []
    assert await store.recordings_of("bob") == [finished.without("alice")]
    await store.delete_recording(call.id)
    assert await store.recordings_of("bob") == []
    assert await store.recording(call.id) is None


async def test_voicemail_is_on_until_turned_off(store: ConferenceStore) -> None:
    assert await store.voicemail_on("bob")
    await store.set_voicemail("bob", False)
    assert not await store.voicemail_on("bob")
    assert await store.voicemail_on("alice")
    await store.set_voicemail("bob", True)
    assert await store.voicemail_on("bob")


async def test_sqlite_keeps_recordings_and_settings_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = SqliteStore(path)
    await first.put_recording(recording("v-0000000000000002", "bob", kind="voicemail"))
    await first.set_voicemail("carol", False)
    first.close()
    second = SqliteStore(path)
    assert [r.id for r in await second.recordings_of("bob")] == ["v-0000000000000002"]
    assert not await second.voicemail_on("carol")
    second.close()


async def test_people_are_remembered_with_their_do_not_disturb_and_history_marker(store: ConferenceStore) -> None:
    assert await store.person("bob") is None
    await store.put_person(Person("bob"))
    await store.put_person(Person("alice", dnd=True, history_seen=12.5))
    await store.put_person(Person("bob", dnd=True))
    await store.put_person(Person("bob", dnd=False, history_seen=3.25))
    assert await store.person("bob") == Person("bob", dnd=False, history_seen=3.25)
    assert await store.people() == [Person("alice", True, 12.5), Person("bob", False, 3.25)]


def call(user: str, conference_id: str, started: float, outcome: Outcome | None = "answered") -> CallRecord:
    answered, ended = started + 1, started + 60
    return CallRecord(user, conference_id, "incoming", ("alice",), started, answered, ended, outcome, "hung-up")


async def test_a_history_is_paged_newest_first_and_counts_its_missed_calls(store: ConferenceStore) -> None:
    await store.put_calls([call("bob", f"c-{n}", 100.0 + n, "missed" if n % 2 else "answered") for n in range(5)])
    await store.put_calls([call("carol", "c-9", 500.0, "missed")])
    first = await store.calls_of("bob", None, 2)
    assert [r.conference_id for r in first] == ["c-4", "c-3"]
    second = await store.calls_of("bob", first[-1].started_at, 2)
    assert [r.conference_id for r in second] == ["c-2", "c-1"]
    assert [r.conference_id for r in await store.calls_of("bob", second[-1].started_at, 2)] == ["c-0"]
    assert await store.missed_since("bob", 0.0) == 2
    assert await store.missed_since("bob", 102.0) == 1  # c-3 only
    assert await store.call_of("carol", "c-9") == call("carol", "c-9", 500.0, "missed")
    assert await store.call_of("bob", "c-9") is None


async def test_a_call_record_written_again_replaces_the_first(store: ConferenceStore) -> None:
    ringing = CallRecord("bob", "c-1", "incoming", ("alice",), 100.0)
    await store.put_calls([ringing])
    assert await store.calls_of("bob", None, 10) == [ringing]
    over = call("bob", "c-1", 100.0, "missed")
    await store.put_calls([over])
    assert await store.calls_of("bob", None, 10) == [over]
    assert await store.missed_since("bob", 0.0) == 1


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def keeping_three(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConferenceStore]:
    """Each store, keeping three calls per person."""
    if request.param == "memory":
        chosen: ConferenceStore = MemoryStore(keep_calls=3)
    elif request.param == "sqlite":
        chosen = SqliteStore(tmp_path / "db.sqlite3", keep_calls=3)
    else:
        chosen = RedisStore(redis_client(request.getfixturevalue("redis_url")), keep_calls=3)
    yield chosen
    chosen.close()
    if isinstance(chosen, RedisStore):
        await chosen.client.aclose()


async def test_a_history_keeps_each_persons_newest_calls_only(keeping_three: ConferenceStore) -> None:
    store = keeping_three
    for n in range(5):
        await store.put_calls([call("bob", f"c-{n}", 100.0 + n, "missed"), call("carol", f"c-{n}", 100.0 + n)])
    assert [r.conference_id for r in await store.calls_of("bob", None, 10)] == ["c-4", "c-3", "c-2"]
    assert await store.call_of("bob", "c-1") is None
    assert await store.missed_since("bob", 0.0) == 3
    assert len(await store.calls_of("carol", None, 10)) == 3
