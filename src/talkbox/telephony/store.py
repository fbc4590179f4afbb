"""Where conferences live between events, and the log of what changed them.

The embedded default is a SQLite file: every change is written (with the input
that caused it) before any command is carried out, so a crash never leaves a
conference the store does not know. Active conferences are also kept in memory:
reads never touch the disk.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from talkbox.telephony.model import Conference, Leg


class ConferenceStore(Protocol):
    async def get(self, conference_id: str) -> Conference | None: ...

    async def put(self, conference: Conference, cause: dict[str, Any]) -> None:
        """Save `conference` and log `cause`, the input that changed it, in one step."""
        ...

    async def active(self) -> list[Conference]: ...

    def close(self) -> None: ...


async def active_for(store: ConferenceStore, user: str) -> list[Conference]:
    """Conferences still going in which `user` has a live leg."""
    return [c for c in await store.active() if c.live_leg_of(user) is not None]


def to_json(conference: Conference) -> str:
    return json.dumps(asdict(conference), separators=(",", ":"))


def from_json(text: str) -> Conference:
    data = json.loads(text)
    return Conference(
        **{**data, "legs": tuple(Leg(**leg) for leg in data["legs"]), "ring_group": tuple(data.get("ring_group", ()))}
    )


@dataclass
class MemoryStore:
    """For tests and throwaway runs: the same contract, nothing on disk."""

    conferences: dict[str, Conference] = field(default_factory=dict)
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def get(self, conference_id: str) -> Conference | None:
        return self.conferences.get(conference_id)

    async def put(self, conference: Conference, cause: dict[str, Any]) -> None:
        self.log.append((conference.id, cause))
        self.conferences[conference.id] = conference

    async def active(self) -> list[Conference]:
        return [c for c in self.conferences.values() if not c.ended]

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS conferences (
    id TEXT PRIMARY KEY,
    active INTEGER NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conferences_active ON conferences (active) WHERE active = 1;
CREATE TABLE IF NOT EXISTS event_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    conference_id TEXT NOT NULL,
    cause TEXT NOT NULL
);
"""


class SqliteStore:
    """A write-through store on one SQLite file (WAL: a killed process loses nothing written)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        rows = self._db.execute("SELECT data FROM conferences WHERE active = 1").fetchall()
        self._active = {c.id: c for c in (from_json(data) for (data,) in rows)}

    async def get(self, conference_id: str) -> Conference | None:
        if conference_id in self._active:
            return self._active[conference_id]
        row = self._db.execute("SELECT data FROM conferences WHERE id = ?", (conference_id,)).fetchone()
        return from_json(row[0]) if row else None

    async def put(self, conference: Conference, cause: dict[str, Any]) -> None:
        now = time.time()
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO event_log (at, conference_id, cause) VALUES (?, ?, ?)",
                (now, conference.id, json.dumps(cause, separators=(",", ":"))),
            )
            self._db.execute(
                "INSERT INTO conferences (id, active, data, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET active = excluded.active, data = excluded.data, "
                "updated_at = excluded.updated_at",
                (conference.id, int(not conference.ended), to_json(conference), now),
            )
        if conference.ended:
            self._active.pop(conference.id, None)
        else:
            self._active[conference.id] = conference

    async def active(self) -> list[Conference]:
        return list(self._active.values())

    def events_of(self, conference_id: str) -> list[dict[str, Any]]:
        """The logged causes of one conference, oldest first."""
        rows = self._db.execute(
            "SELECT cause FROM event_log WHERE conference_id = ? ORDER BY seq", (conference_id,)
        ).fetchall()
        return [json.loads(cause) for (cause,) in rows]

    def close(self) -> None:
        self._db.close()
