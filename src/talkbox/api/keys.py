"""API keys: a name, and the SHA-256 of a random secret the store never holds.

Keys live in their own table of the same SQLite file as the conferences, on a
connection of their own: the conference store's interface (which a Redis
implementation also serves) does not grow for them, and `talkbox apikey` can
change keys while the server runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from talkbox.events.names import is_client_name
from talkbox.telephony.group_commit import GroupCommit

PREFIX = "tbk_"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS api_idempotency (
    key_name TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request TEXT NOT NULL,
    call_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (key_name, idempotency_key)
);
"""


class ApiKeyError(Exception):
    """A key that cannot be created or revoked; the message says why."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def digest(key: str) -> str:
    # The key is 32 random bytes: a fast hash is enough, nothing to stretch.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """The keys table, and the Idempotency-Key table beside it (both per key).

    `commit` takes the claims' writes: the conference store's group commit when it is on the same file (a claim
    then costs no commit of its own), else one on this connection, which batches the claims made at once.
    """

    def __init__(self, path: Path | str, commit: Callable[..., Awaitable[None]] | None = None) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout=5000")
        # As the conference store has it: WAL, no fsync per write (a killed process loses nothing written).
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.commit = commit or GroupCommit(self.db).commit

    def create(self, name: str) -> str:
        """A new key named `name`, returned this once: only its digest is kept."""
        if not is_client_name(name):
            raise ApiKeyError(f"{name!r} is not a valid key name (1-64 letters, digits, '.', '_' or '-')")
        key = PREFIX + secrets.token_urlsafe(32)
        try:
            self.db.execute(
                "INSERT INTO api_keys (name, digest, created_at) VALUES (?, ?, ?)", (name, digest(key), time.time())
            )
        except sqlite3.IntegrityError:
            raise ApiKeyError(f"a key named {name!r} exists already (revoked keys keep their names)") from None
        return key

    def revoke(self, name: str) -> None:
        changed = self.db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (time.time(), name)
        ).rowcount
        if not changed:
            raise ApiKeyError(f"no active key named {name!r}")

    def list(self) -> list[ApiKey]:
        rows = self.db.execute("SELECT name, created_at, revoked_at FROM api_keys ORDER BY created_at").fetchall()
        return [ApiKey(*row) for row in rows]

    def name_for(self, key: str) -> str | None:
        """The name of the active key `key`, else None.

        Looked up by digest, then compared in constant time: the lookup leaks
        nothing of the key, only of its digest, which an attacker cannot steer.
        """
        wanted = digest(key)
        row = self.db.execute(
            "SELECT name, digest FROM api_keys WHERE digest = ? AND revoked_at IS NULL", (wanted,)
        ).fetchone()
        if row is None or not hmac.compare_digest(row[1], wanted):
            return None
        return row[0]

    async def claim(self, key_name: str, idempotency_key: str, request: str, call_id: str) -> tuple[str, str]:
        """Take the Idempotency-Key for this request and call: the (request, call id) that holds it once stored.

        One INSERT decides, so two retries racing each other still make one call: the request whose call id
        comes back took the key (call ids are never reused); any other finds the first one's.
        """
        await self.commit(
            (
                "INSERT OR IGNORE INTO api_idempotency (key_name, idempotency_key, request, call_id, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(key_name, idempotency_key, request, call_id, time.time())],
            )
        )
        return self.claimed(key_name, idempotency_key)

    def claimed(self, key_name: str, idempotency_key: str) -> tuple[str, str]:
        """The (request, call id) that took the Idempotency-Key."""
        return self.db.execute(
            "SELECT request, call_id FROM api_idempotency WHERE key_name = ? AND idempotency_key = ?",
            (key_name, idempotency_key),
        ).fetchone()

    def close(self) -> None:
        self.db.close()
