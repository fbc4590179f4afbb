"""Signed event webhooks: every conference change POSTed to each subscription, queued in the database.

A change is queued (a row per subscription, numbered per conference) when its
ConferenceUpdated is handled, and sent by one task in that order: a
conference's next POST to a subscription waits until the one before it was
answered 2xx or given up on, so each receiver sees each conference's changes in
order, and one receiver that is down holds up no other. A refused or failed
POST is tried again with a doubling backoff for `give_up_after` (24 h); rows
outlive a restart, so no change is lost to one. The signature (docs/api.md) is
HMAC-SHA256 over `TIMESTAMP.BODY` with the subscription's secret
(TALKBOX_WEBHOOK_SECRET for TALKBOX_WEBHOOK_URL's).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from talkbox.api.subscriptions import SETTINGS_ID, Subscriptions
from talkbox.events.models import TERMINAL_STATUSES, ConferenceUpdated, Event

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Talkbox-Signature"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription TEXT NOT NULL DEFAULT 'settings',
    conference_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    done_at REAL,
    outcome TEXT,
    UNIQUE (subscription, conference_id, sequence)
);
CREATE INDEX IF NOT EXISTS webhook_pending_for
    ON webhook_deliveries (subscription, conference_id, sequence) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS webhook_by_conference ON webhook_deliveries (conference_id, sequence);
"""
# A database from before subscriptions: its rows were all TALKBOX_WEBHOOK_URL's.
_BEFORE_SUBSCRIPTIONS = """
ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_old;
DROP INDEX IF EXISTS webhook_pending;
"""
_COPY_OLD = """
INSERT INTO webhook_deliveries (id, subscription, conference_id, sequence, body, created_at, next_at, attempts,
                                done_at, outcome)
    SELECT id, 'settings', conference_id, sequence, body, created_at, next_at, attempts, done_at, outcome
    FROM webhook_deliveries_old;
DROP TABLE webhook_deliveries_old;
"""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """What happened between two states of a conference, in words an application switches on.

    `conference.created`, `leg.ringing`, `leg.answered` (in progress), `leg.ended` (with
    its status and reason), `leg.muted` / `leg.unmuted`, `leg.held` / `leg.resumed` (with who held it:
    `by_chair`), `conference.ended` (with its reason).
    """
    out: list[dict[str, Any]] = []
    if before is None:
        out.append({"event": "conference.created"})
    old = {leg["id"]: leg for leg in (before or {}).get("legs", ())}
    for leg in after["legs"]:
        was = old.get(leg["id"], {})
        if leg["status"] != was.get("status"):
            event = _LEG_EVENTS.get(leg["status"], "leg.ended" if leg["status"] in TERMINAL_STATUSES else None)
            if event is not None:
                out.append({"event": event, "leg_id": leg["id"], "status": leg["status"], "reason": leg["end_reason"]})
        if was and leg["muted"] != was.get("muted"):
            out.append({"event": "leg.muted" if leg["muted"] else "leg.unmuted", "leg_id": leg["id"]})
        if was and leg.get("held", False) != was.get("held", False):
            if leg.get("held"):
                out.append({"event": "leg.held", "leg_id": leg["id"], "by_chair": leg.get("held_by_chair", False)})
            else:
                out.append({"event": "leg.resumed", "leg_id": leg["id"]})
    if after["status"] == "ended" and (before or {}).get("status") != "ended":
        out.append({"event": "conference.ended", "reason": after["end_reason"]})
    return out


_LEG_EVENTS = {"ringing": "leg.ringing", "in-progress": "leg.answered"}


@dataclass(frozen=True)
class Due:
    id: int
    subscription: str
    body: str
    attempts: int
    created_at: float


@dataclass
class WebhookQueue:
    """The deliveries table, on its own connection to the database file (like the API keys)."""

    path: Path | str
    clock: Callable[[], float] = time.time
    db: sqlite3.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout=5000")
        # As the conference store has it: WAL, no fsync per write (a killed process loses nothing written).
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(webhook_deliveries)")}
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            old = bool(columns) and "subscription" not in columns
            if old:
                self.db.executescript(_BEFORE_SUBSCRIPTIONS)
            self.db.executescript(_SCHEMA)
            if old:
                self.db.executescript(_COPY_OLD)

    def add(self, conference: dict[str, Any], subscriptions: list[str]) -> None:
        """Queue a conference's new state for each subscription, numbered after its last, with what changed.

        One number for all subscriptions: a subscription made during a call starts at that call's next one.
        """
        if not subscriptions:
            return
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            last = self.db.execute(
                "SELECT sequence, body FROM webhook_deliveries WHERE conference_id = ? ORDER BY sequence DESC LIMIT 1",
                (conference["id"],),
            ).fetchone()
            sequence = last[0] + 1 if last else 1
            before = json.loads(last[1])["conference"] if last else None
            payload = {"type": "conference.updated", "sequence": sequence, "changes": changes(before, conference)}
            body = json.dumps({**payload, "conference": conference}, separators=(",", ":"))
            now = self.clock()
            self.db.executemany(
                "INSERT INTO webhook_deliveries (subscription, conference_id, sequence, body, created_at, next_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(subscription, conference["id"], sequence, body, now, now) for subscription in subscriptions],
            )

    def recent(self, limit: int, subscription: str | None = None) -> list[dict[str, Any]]:
        """The latest deliveries (of one subscription, or all), newest first, with how they went (not their bodies)."""
        rows = self.db.execute(
            "SELECT id, subscription, conference_id, sequence, created_at, attempts, done_at, outcome "
            "FROM webhook_deliveries WHERE ? IS NULL OR subscription = ? ORDER BY id DESC LIMIT ?",
            (subscription, subscription, limit),
        ).fetchall()
        names = ("id", "subscription", "conference_id", "sequence", "created_at", "attempts", "done_at", "outcome")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def counts(self) -> dict[str, int]:
        """Deliveries by state (`pending`: still being tried, `delivered`, `given_up`), and failed tries."""
        counts = {"pending": 0, "delivered": 0, "given_up": 0, "failed_tries": 0}
        rows = self.db.execute(
            "SELECT done_at IS NULL, COALESCE(outcome LIKE 'gave-up:%', 0), COUNT(*), SUM(attempts) "
            "FROM webhook_deliveries GROUP BY 1, 2"
        ).fetchall()
        for pending, given_up, count, attempts in rows:
            state = "pending" if pending else "given_up" if given_up else "delivered"
            counts[state] += count
            # Every try of a delivered POST but its last failed; every try of the others did.
            counts["failed_tries"] += attempts - (count if state == "delivered" else 0)
        return counts

    def due(self) -> list[Due]:
        """Each subscription's oldest undone delivery of each conference, if its time has come: never a later one
        before it."""
        rows = self.db.execute(
            "SELECT d.id, d.subscription, d.body, d.attempts, d.created_at FROM webhook_deliveries d "
            "JOIN (SELECT subscription, conference_id, MIN(sequence) AS sequence FROM webhook_deliveries "
            "WHERE done_at IS NULL GROUP BY subscription, conference_id) first "
            "USING (subscription, conference_id, sequence) WHERE d.next_at <= ? ORDER BY d.id",
            (self.clock(),),
        ).fetchall()
        return [Due(*row) for row in rows]

    def drop(self, subscription: str) -> None:
        """A deleted subscription's undone deliveries: never sent."""
        self.db.execute(
            "UPDATE webhook_deliveries SET done_at = ?, outcome = 'deleted' WHERE subscription = ? AND done_at IS NULL",
            (self.clock(), subscription),
        )

    def done(self, delivery: Due, outcome: str) -> None:
        self.db.execute(
            "UPDATE webhook_deliveries SET done_at = ?, outcome = ?, attempts = attempts + 1 WHERE id = ?",
            (self.clock(), outcome, delivery.id),
        )

    def later(self, delivery: Due, outcome: str, delay: float) -> None:
        self.db.execute(
            "UPDATE webhook_deliveries SET next_at = ?, outcome = ?, attempts = attempts + 1 WHERE id = ?",
            (self.clock() + delay, outcome, delivery.id),
        )

    def close(self) -> None:
        self.db.close()


@dataclass
class Webhooks:
    """Queues each conference change (a router handler) and sends the queue (a task of its own)."""

    subscriptions: Subscriptions
    queue: WebhookQueue
    backoff: float = 1.0
    most_backoff: float = 3600.0
    give_up_after: float = 24 * 3600.0
    timeout: float = 10.0
    poll: float = 0.5
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    handles = (ConferenceUpdated,)

    async def handle(self, event: Event) -> None:
        assert isinstance(event, ConferenceUpdated)
        targets = [subscription.id for subscription in self.subscriptions.active()]
        if targets:  # with none, nothing to queue: no dump of the conference either
            self.queue.add(event.conference.model_dump(mode="json"), targets)
            self._wake.set()

    def delete(self, subscription_id: str) -> bool:
        """Stop POSTing to a subscription made through the API, and drop what it still had queued."""
        if subscription_id == SETTINGS_ID or not self.subscriptions.delete(subscription_id):
            return False
        self.queue.drop(subscription_id)
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """What is not yet delivered stays queued for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.queue.close()
        self.subscriptions.close()

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            while True:
                for delivery in self.queue.due():
                    await self._send(http, delivery)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll):
                        await self._wake.wait()

    async def _send(self, http: httpx.AsyncClient, delivery: Due) -> None:
        target = self.subscriptions.get(delivery.subscription)
        if target is None:  # deleted since, or TALKBOX_WEBHOOK_URL unset since a restart
            self.queue.drop(delivery.subscription)
            return
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(target.secret, int(self.queue.clock()), body),
        }
        try:
            answer = await http.post(target.url, content=body, headers=headers)
            outcome = str(answer.status_code)
            delivered = answer.is_success
        except httpx.HTTPError as error:
            outcome, delivered = type(error).__name__, False
        if delivered:
            self.queue.done(delivery, outcome)
        elif self.queue.clock() - delivery.created_at >= self.give_up_after:
            log.warning(
                "webhook delivery %d to %s given up after %d tries (%s)",
                delivery.id,
                delivery.subscription,
                delivery.attempts + 1,
                outcome,
            )
            self.queue.done(delivery, f"gave-up:{outcome}")
        else:
            self.queue.later(delivery, outcome, min(self.backoff * 2**delivery.attempts, self.most_backoff))
