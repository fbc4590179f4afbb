"""Where conferences live between events, and the log of what changed them.

The embedded default is a SQLite file: every change is written (with the input
that caused it) before any command is carried out, so a crash never leaves a
conference the store does not know. Active conferences are also kept in memory:
reads never touch the disk.

What can go wrong with the file has a name here, so the shell can act on it:
`StoreError` when it cannot be opened at all (in use by another server, not a
database), `StoreUnavailable` when it will not take a write (a full disk); a
row that cannot be read is moved to the `quarantine` table and the rest goes on.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import TypeAdapter

from talkbox.events.names import is_e164
from talkbox.telephony.group_commit import GroupCommit, Statement
from talkbox.telephony.lockfile import LockFile, LockHeld
from talkbox.telephony.model import Conference
from talkbox.telephony.people import HISTORY_KEEP, CallRecord, Person, record_from_json, record_to_json
from talkbox.telephony.recordings import (
    Recording,
    RecordingIndex,
    newest_first,
    recording_from_json,
    recording_to_json,
)

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store cannot be opened; the message names the file and what to do about it."""


class StoreUnavailable(Exception):
    """The store would not take a write (a full disk, an I/O error): nothing of it was stored."""


class ConferenceStore(RecordingIndex, Protocol):
    async def get(self, conference_id: str) -> Conference | None: ...

    async def put(self, conference: Conference, cause: dict[str, Any]) -> None:
        """Save `conference` and log `cause`, the input that changed it, in one step.

        Raises StoreUnavailable when the change could not be stored; then nothing of it was.
        """
        ...

    async def active(self) -> list[Conference]: ...

    async def active_for(self, user: str) -> list[Conference]:
        """Conferences still going in which `user` has a live leg."""
        ...

    # --- people and their history (what the directory and the history page read) ---

    async def person(self, name: str) -> Person | None: ...

    async def put_person(self, person: Person) -> None: ...

    async def people(self) -> list[Person]:
        """Everyone who has signed in, by name."""
        ...

    async def put_calls(self, records: Sequence[CallRecord]) -> None:
        """Save each record, replacing the one of the same user and conference; keep each user's newest
        `HISTORY_KEEP` (the store's `keep_calls`)."""
        ...

    async def call_of(self, user: str, conference_id: str) -> CallRecord | None: ...

    async def calls_of(self, user: str, before: float | None, limit: int) -> list[CallRecord]:
        """`user`'s calls started before `before` (None: the newest), newest first, at most `limit`."""
        ...

    async def missed_since(self, user: str, since: float) -> int:
        """How many of `user`'s calls started after `since` were missed."""
        ...

    def close(self) -> None: ...


def with_live_leg(conferences: list[Conference], user: str) -> list[Conference]:
    """For the stores that hold every active conference in memory anyway: a scan costs nothing there."""
    return [c for c in conferences if c.live_leg_of(user) is not None]


async def leg_muted(store: ConferenceStore, conference_id: str, leg_id: str) -> bool:
    """Whether the leg is muted as stored: a provider that joins it to its conference late needs to know."""
    conference = await store.get(conference_id)
    return conference is not None and conference.has_leg(leg_id) and conference.leg(leg_id).muted


def to_json(conference: Conference) -> str:
    return dumps(conference)


def dumps(value: object) -> str:
    """JSON of our plain data, dataclasses nested in it included (a conference's legs and its transfer)."""
    return json.dumps(value, separators=(",", ":"), default=_plain)


def _plain(value: object) -> object:
    # vars(), not dataclasses.asdict(): asdict deep-copies every value, which made it most of a store write's cost.
    if isinstance(value, frozenset | set):
        return sorted(value)
    return vars(value)


_conference = TypeAdapter(Conference)


def from_json(text: str | bytes) -> Conference:
    """A stored conference, checked field by field: a bad row raises ValueError, never loads half-formed."""
    conference = _conference.validate_python(_with_kinds(json.loads(text)))
    if not conference.has_leg(conference.chair_leg_id):
        raise ValueError(f"its chair leg {conference.chair_leg_id!r} is not one of its legs")
    return conference


def _with_kinds(data: Any) -> Any:
    """Rows written before legs had a kind: only Twilio could reach a telephone then, and its legs were numbers."""
    if isinstance(data, dict) and isinstance(data.get("legs"), list):
        for leg in data["legs"]:
            if isinstance(leg, dict) and "kind" not in leg:
                leg["kind"] = "twilio" if is_e164(str(leg.get("destination"))) else "browser"
    return data


@dataclass
class MemoryStore:
    """For tests and throwaway runs: the same contract, nothing on disk."""

    conferences: dict[str, Conference] = field(default_factory=dict)
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    recordings: dict[str, Recording] = field(default_factory=dict)
    voicemail_off: set[str] = field(default_factory=set)
    persons: dict[str, Person] = field(default_factory=dict)
    calls: dict[tuple[str, str], CallRecord] = field(default_factory=dict)
    keep_calls: int = HISTORY_KEEP

    async def get(self, conference_id: str) -> Conference | None:
        return self.conferences.get(conference_id)

    async def put(self, conference: Conference, cause: dict[str, Any]) -> None:
        self.log.append((conference.id, cause))
        self.conferences[conference.id] = conference

    async def active(self) -> list[Conference]:
        return [c for c in self.conferences.values() if not c.ended]

    async def active_for(self, user: str) -> list[Conference]:
        return with_live_leg(await self.active(), user)

    async def put_recording(self, recording: Recording) -> None:
        self.recordings[recording.id] = recording

    async def recording(self, recording_id: str) -> Recording | None:
        return self.recordings.get(recording_id)

    async def recordings_of(self, user: str) -> list[Recording]:
        return newest_first([r for r in self.recordings.values() if user in r.owners])

    async def delete_recording(self, recording_id: str) -> None:
        self.recordings.pop(recording_id, None)

    async def voicemail_on(self, user: str) -> bool:
        return user not in self.voicemail_off

    async def set_voicemail(self, user: str, on: bool) -> None:
        (self.voicemail_off.discard if on else self.voicemail_off.add)(user)

    async def person(self, name: str) -> Person | None:
        return self.persons.get(name)

    async def put_person(self, person: Person) -> None:
        self.persons[person.name] = person

    async def people(self) -> list[Person]:
        return sorted(self.persons.values(), key=lambda person: person.name)

    async def put_calls(self, records: Sequence[CallRecord]) -> None:
        for record in records:
            self.calls[(record.user, record.conference_id)] = record
        for user in {record.user for record in records}:
            for old in (await self.calls_of(user, None, len(self.calls)))[self.keep_calls :]:
                del self.calls[(user, old.conference_id)]

    async def call_of(self, user: str, conference_id: str) -> CallRecord | None:
        return self.calls.get((user, conference_id))

    async def calls_of(self, user: str, before: float | None, limit: int) -> list[CallRecord]:
        mine = [r for r in self.calls.values() if r.user == user and (before is None or r.started_at < before)]
        return sorted(mine, key=lambda record: record.started_at, reverse=True)[:limit]

    async def missed_since(self, user: str, since: float) -> int:
        return sum(1 for r in self.calls.values() if r.user == user and r.missed and r.started_at > since)

    def close(self) -> None:
        pass


class ActiveConferences:
    """The conferences going on, by id and by the people with a leg on them.

    A user's calls are read from their own few, not found by scanning every active conference: with
    thousands active (a burst of API calls the router is still working through), that scan made each new
    call cost more than the one before.
    """

    def __init__(self, conferences: Iterable[Conference] = ()) -> None:
        self._by_id: dict[str, Conference] = {}
        self._by_user: dict[str, dict[str, None]] = {}  # a dict for its order: the order they came in
        for conference in conferences:
            self.keep(conference)

    def get(self, conference_id: str) -> Conference | None:
        return self._by_id.get(conference_id)

    def keep(self, conference: Conference) -> None:
        """The conference as it is now: kept while it goes on, let go once it has ended."""
        before = self._by_id.get(conference.id)
        users = set() if conference.ended else {leg.destination for leg in conference.legs}
        if before is not None:
            for user in {leg.destination for leg in before.legs} - users:
                self._forget(user, conference.id)
        if conference.ended:
            self._by_id.pop(conference.id, None)
            return
        self._by_id[conference.id] = conference
        for user in users:
            self._by_user.setdefault(user, {})[conference.id] = None

    def _forget(self, user: str, conference_id: str) -> None:
        ids = self._by_user[user]
        del ids[conference_id]
        if not ids:
            del self._by_user[user]

    def all(self) -> list[Conference]:
        return list(self._by_id.values())

    def of(self, user: str) -> list[Conference]:
        return with_live_leg([self._by_id[i] for i in self._by_user.get(user, ())], user)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS conferences (
    id TEXT PRIMARY KEY,
    active INTEGER NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conferences_active ON conferences (active) WHERE active = 1;
-- Rows are never deleted, so the rowid grows as AUTOINCREMENT's would, without its extra write per insert.
CREATE TABLE IF NOT EXISTS event_log (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    conference_id TEXT NOT NULL,
    cause TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
-- One row per user and recording they may hear: listing is an index lookup, never a scan.
CREATE TABLE IF NOT EXISTS recording_owners (
    user TEXT NOT NULL,
    recording_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    PRIMARY KEY (user, recording_id)
);
CREATE TABLE IF NOT EXISTS voicemail_off (
    user TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS people (
    name TEXT PRIMARY KEY,
    dnd INTEGER NOT NULL,
    history_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    user TEXT NOT NULL,
    conference_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    missed INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (user, conference_id)
);
CREATE INDEX IF NOT EXISTS calls_by_user ON calls (user, started_at);
CREATE TABLE IF NOT EXISTS quarantine (
    id TEXT,
    data BLOB,
    error TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class SqliteStore:
    """A write-through store on one SQLite file (WAL: a killed process loses nothing written).

    The file is this process's alone while the store is open (`lockfile`).
    `db` is the connection; only the store writes through it.
    """

    def __init__(self, path: Path | str, keep_calls: int = HISTORY_KEEP) -> None:
        self.path = Path(path)
        self.keep_calls = keep_calls
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            rows = self.db.execute("SELECT rowid, id, data FROM conferences WHERE active = 1").fetchall()
        except sqlite3.DatabaseError as error:
            self._lock.release()
            raise StoreError(
                f"{self.path} is not a usable Talkbox database ({error}). Move it aside (keep it to inspect "
                "or restore from a backup) and start again: Talkbox creates a new, empty one."
            ) from error
        readable = (self._read(*row) for row in rows)
        self._active = ActiveConferences(c for c in readable if c is not None)
        # Group commit: a call's writes and those of the calls beside it, one transaction a loop turn.
        self.commits = GroupCommit(self.db)

    async def get(self, conference_id: str) -> Conference | None:
        if (conference := self._active.get(conference_id)) is not None:
            return conference
        row = self.db.execute("SELECT rowid, id, data FROM conferences WHERE id = ?", (conference_id,)).fetchone()
        return self._read(*row) if row else None

    async def put(self, conference: Conference, cause: dict[str, Any]) -> None:
        now = time.time()
        try:
            await self.commits.commit(
                (
                    "INSERT INTO event_log (at, conference_id, cause) VALUES (?, ?, ?)",
                    [(now, conference.id, dumps(cause))],
                ),
                (
                    "INSERT INTO conferences (id, active, data, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET active = excluded.active, data = excluded.data, "
                    "updated_at = excluded.updated_at",
                    [(conference.id, int(not conference.ended), to_json(conference), now)],
                ),
            )
        except sqlite3.DatabaseError as error:
            raise StoreUnavailable(f"{self.path} did not take the change to {conference.id}: {error}") from error
        self._active.keep(conference)

    async def active(self) -> list[Conference]:
        return self._active.all()

    async def active_for(self, user: str) -> list[Conference]:
        return self._active.of(user)

    async def put_recording(self, recording: Recording) -> None:
        try:
            with self.db:
                self.db.execute("BEGIN")
                self.db.execute(
                    "INSERT INTO recordings (id, data) VALUES (?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                    (recording.id, recording_to_json(recording)),
                )
                self.db.execute("DELETE FROM recording_owners WHERE recording_id = ?", (recording.id,))
                self.db.executemany(
                    "INSERT INTO recording_owners (user, recording_id, started_at) VALUES (?, ?, ?)",
                    [(owner, recording.id, recording.started_at) for owner in recording.owners],
                )
        except sqlite3.DatabaseError as error:
            raise StoreUnavailable(f"{self.path} did not take recording {recording.id}: {error}") from error

    async def recording(self, recording_id: str) -> Recording | None:
        row = self.db.execute("SELECT data FROM recordings WHERE id = ?", (recording_id,)).fetchone()
        return self._recording(row[0]) if row else None

    async def recordings_of(self, user: str) -> list[Recording]:
        rows = self.db.execute(
            "SELECT r.data FROM recording_owners o JOIN recordings r ON r.id = o.recording_id WHERE o.user = ?",
            (user,),
        ).fetchall()
        return newest_first([r for (data,) in rows if (r := self._recording(data)) is not None])

    async def delete_recording(self, recording_id: str) -> None:
        try:
            with self.db:
                self.db.execute("BEGIN")
                self.db.execute("DELETE FROM recordings WHERE id = ?", (recording_id,))
                self.db.execute("DELETE FROM recording_owners WHERE recording_id = ?", (recording_id,))
        except sqlite3.DatabaseError as error:
            raise StoreUnavailable(f"{self.path} did not delete recording {recording_id}: {error}") from error

    async def voicemail_on(self, user: str) -> bool:
        return self.db.execute("SELECT 1 FROM voicemail_off WHERE user = ?", (user,)).fetchone() is None

    async def set_voicemail(self, user: str, on: bool) -> None:
        query = "DELETE FROM voicemail_off WHERE user = ?" if on else "INSERT OR IGNORE INTO voicemail_off VALUES (?)"
        try:
            self.db.execute(query, (user,))
        except sqlite3.DatabaseError as error:
            raise StoreUnavailable(f"{self.path} did not take {user}'s voicemail setting: {error}") from error

    def _recording(self, data: str) -> Recording | None:
        try:
            return recording_from_json(data)
        except ValueError as error:
            log.error("a recording in %s cannot be read (%s): skipped", self.path, " ".join(str(error).split())[:300])
            return None

    async def person(self, name: str) -> Person | None:
        row = self.db.execute("SELECT name, dnd, history_seen FROM people WHERE name = ?", (name,)).fetchone()
        return None if row is None else Person(row[0], bool(row[1]), row[2])

    async def put_person(self, person: Person) -> None:
        await self._write(
            (
                "INSERT INTO people (name, dnd, history_seen) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "dnd = excluded.dnd, history_seen = excluded.history_seen",
                [(person.name, int(person.dnd), person.history_seen)],
            )
        )

    async def people(self) -> list[Person]:
        rows = self.db.execute("SELECT name, dnd, history_seen FROM people ORDER BY name").fetchall()
        return [Person(name, bool(dnd), seen) for name, dnd, seen in rows]

    async def put_calls(self, records: Sequence[CallRecord]) -> None:
        await self._write(
            (
                "INSERT INTO calls (user, conference_id, started_at, missed, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (user, conference_id) DO UPDATE SET started_at = excluded.started_at, "
                "missed = excluded.missed, data = excluded.data",
                [(r.user, r.conference_id, r.started_at, int(r.missed), record_to_json(r)) for r in records],
            ),
            (
                "DELETE FROM calls WHERE user = ? AND conference_id NOT IN "
                "(SELECT conference_id FROM calls WHERE user = ? ORDER BY started_at DESC LIMIT ?)",
                [(user, user, self.keep_calls) for user in {r.user for r in records}],
            ),
        )

    async def call_of(self, user: str, conference_id: str) -> CallRecord | None:
        row = self.db.execute(
            "SELECT data FROM calls WHERE user = ? AND conference_id = ?", (user, conference_id)
        ).fetchone()
        return None if row is None else record_from_json(row[0])

    async def calls_of(self, user: str, before: float | None, limit: int) -> list[CallRecord]:
        rows = self.db.execute(
            "SELECT data FROM calls WHERE user = ? AND started_at < ? ORDER BY started_at DESC LIMIT ?",
            (user, float("inf") if before is None else before, limit),
        ).fetchall()
        return [record_from_json(data) for (data,) in rows]

    async def missed_since(self, user: str, since: float) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM calls WHERE user = ? AND missed = 1 AND started_at > ?", (user, since)
        ).fetchone()
        return int(row[0])

    async def _write(self, *statements: Statement) -> None:
        try:
            await self.commits.commit(*statements)
        except sqlite3.DatabaseError as error:
            raise StoreUnavailable(f"{self.path} did not take a change to people or calls: {error}") from error

    def events_of(self, conference_id: str) -> list[dict[str, Any]]:
        """The logged causes of one conference, oldest first."""
        rows = self.db.execute(
            "SELECT cause FROM event_log WHERE conference_id = ? ORDER BY seq", (conference_id,)
        ).fetchall()
        return [json.loads(cause) for (cause,) in rows]

    def close(self) -> None:
        self.commits.flush()  # writes whose loop turn has not come yet: stored before the file closes
        self.db.close()
        self._lock.release()

    def _read(self, rowid: int, conference_id: object, data: str | bytes) -> Conference | None:
        """A stored row, or None when it cannot be read: then it is quarantined, so one bad row stops nothing."""
        try:
            return from_json(data)
        except ValueError as error:
            self._quarantine(rowid, conference_id, data, error)
            return None

    def _quarantine(self, rowid: int, conference_id: object, data: str | bytes, error: ValueError) -> None:
        why = " ".join(str(error).split())[:300]
        try:
            with self.db:
                self.db.execute("BEGIN")
                self.db.execute(
                    "INSERT INTO quarantine (id, data, error, at) VALUES (?, ?, ?, ?)",
                    (str(conference_id), data, why, time.time()),
                )
                self.db.execute("DELETE FROM conferences WHERE rowid = ?", (rowid,))
        except sqlite3.DatabaseError as failure:
            log.error(
                "conference %r in %s cannot be read (%s) nor quarantined (%s): skipped",
                conference_id,
                self.path,
                why,
                failure,
            )
            return
        log.error(
            "conference %r in %s cannot be read (%s): moved to its quarantine table", conference_id, self.path, why
        )


def _lock(path: Path) -> LockFile:
    try:
        return LockFile.take(path.with_name(path.name + ".lock"))
    except LockHeld as held:
        who = f"another Talkbox (pid {held.holder})" if held.holder else "another process"
        raise StoreError(
            f"{path} is in use by {who}, which holds {held.path}. Two servers on one database end each "
            "other's calls: stop that one first, or give this one its own TALKBOX_DATABASE."
        ) from None
