"""Webhook subscriptions made through the API: where an application wants the POSTs, each with its own secret.

TALKBOX_WEBHOOK_URL is one more subscription, named `settings`, that the API
lists but cannot delete. The secrets are kept as they are, not hashed: they are
needed to sign every POST. They are shown once, when a subscription is made.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS_ID = "settings"
MAX_SUBSCRIPTIONS = 20
MAX_URL_LENGTH = 2000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at REAL NOT NULL,
    deleted_at REAL
);
"""


class SubscriptionError(ValueError):
    """A subscription that cannot be made: the message says why."""


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    secret: str
    created_at: float

    @property
    def source(self) -> str:
        return "settings" if self.id == SETTINGS_ID else "api"


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host; no credentials in it (they would be shown by every listing)."""
    parts = urllib.parse.urlsplit(url)
    if len(url) > MAX_URL_LENGTH:
        raise SubscriptionError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscriptionError("the URL must be absolute, http:// or https://, with a host")
    if parts.username or parts.password:
        raise SubscriptionError("the URL must not carry a user or password: the signature proves who sends")
    return url


@dataclass
class Subscriptions:
    """The subscriptions table, on its own connection to the database file; and the one from the settings."""

    path: Path | str
    from_settings: Subscription | None = None
    clock: Callable[[], float] = time.time
    db: sqlite3.Connection = field(init=False)
    # Read on every conference change: kept in memory, as only this server changes them (one server per file).
    _active: list[Subscription] = field(init=False)

    def __post_init__(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)
        self._active = self._read()

    def create(self, url: str) -> Subscription:
        check_url(url)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            (count,) = self.db.execute("SELECT COUNT(*) FROM webhook_subscriptions WHERE deleted_at IS NULL").fetchone()
            if count >= MAX_SUBSCRIPTIONS:
                raise SubscriptionError(f"at most {MAX_SUBSCRIPTIONS} subscriptions; delete one first")
            made = Subscription(f"wh_{secrets.token_hex(8)}", url, f"whsec_{secrets.token_urlsafe(32)}", self.clock())
            self.db.execute(
                "INSERT INTO webhook_subscriptions (id, url, secret, created_at) VALUES (?, ?, ?, ?)",
                (made.id, made.url, made.secret, made.created_at),
            )
        self._active = self._read()
        return made

    def active(self) -> list[Subscription]:
        """Every subscription POSTs go to now: the settings' first, then the API's, oldest first."""
        return self._active

    def _read(self) -> list[Subscription]:
        rows = self.db.execute(
            "SELECT id, url, secret, created_at FROM webhook_subscriptions WHERE deleted_at IS NULL ORDER BY created_at"
        ).fetchall()
        made = [Subscription(*row) for row in rows]
        return [self.from_settings, *made] if self.from_settings is not None else made

    def get(self, subscription_id: str) -> Subscription | None:
        return next((s for s in self.active() if s.id == subscription_id), None)

    def delete(self, subscription_id: str) -> bool:
        """False when there is no such subscription (or it is already deleted)."""
        cursor = self.db.execute(
            # The secret goes with it: nothing is signed with it again.
            "UPDATE webhook_subscriptions SET deleted_at = ?, secret = '' WHERE id = ? AND deleted_at IS NULL",
            (self.clock(), subscription_id),
        )
        self._active = self._read()
        return cursor.rowcount == 1

    def close(self) -> None:
        self.db.close()
