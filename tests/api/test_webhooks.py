"""Signed webhooks, checked by a receiving server: signatures, order, retries after a 500 and across a restart."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from talkbox.api.webhooks import changes
from talkbox.app.settings import Settings
from tests.support.peer import Peer
from tests.support.server import free_port, running_app

SECRET = "w" * 32


@dataclass
class Receiver:
    """An application's webhook endpoint: keeps what it got, answers the statuses it is told to, then 204."""

    statuses: list[int] = field(default_factory=list)
    got: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    secret: str = SECRET
    forged: int = 0  # POSTs whose signature did not check out with `secret`: answered 401

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        timestamp, mac = (part.split("=", 1)[1] for part in request.headers["talkbox-signature"].split(","))
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            self.forged += 1
            return Response(status_code=401)
        if self.statuses:
            self.refused += 1
            return Response(status_code=self.statuses.pop(0))
        self.got.append(json.loads(body))
        return Response(status_code=204)

    def sequences(self, conference_id: str) -> list[int]:
        return [p["sequence"] for p in self.got if p["conference"]["id"] == conference_id]


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver, port: int) -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/hooks", receiver.endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        server.should_exit = True
        await task


async def eventually(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_each_change_is_signed_and_numbered_in_order_and_a_500_is_retried(tmp_path: Path) -> None:
    receiver = Receiver(statuses=[500, 503])
    port = free_port()
    async with (
        receiving(receiver, port) as hooks,
        running_app(
            database=str(tmp_path / "db.sqlite3"),
            webhook_url=hooks,
            webhook_secret=SECRET,
            webhook_backoff=0.05,
            voicemail=False,
        ) as (url, app),
        Peer(url, "alice", 440.0) as alice,
        Peer(url, "bob", 880.0) as bob,
    ):
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.reject()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
        call_id = alice.last_conference()["id"]
        await eventually(lambda: receiver.got and receiver.got[-1]["conference"]["status"] == "ended")
        assert receiver.refused == 2 and receiver.forged == 0
        sequences = receiver.sequences(call_id)
        assert sequences == list(range(1, len(sequences) + 1)) and len(sequences) >= 3
        assert all(p["type"] == "conference.updated" for p in receiver.got)
        statuses = [{leg["destination"]: leg["status"] for leg in p["conference"]["legs"]} for p in receiver.got]
        assert {"alice": "in-progress", "bob": "ringing"} in statuses
        assert receiver.got[-1]["conference"]["end_reason"] == "busy"
        changes = [change["event"] for p in receiver.got for change in p["changes"]]
        assert changes[0] == "conference.created" and changes[-1] == "conference.ended"
        assert {"leg.ringing", "leg.answered", "leg.ended"} <= set(changes)
        assert receiver.got[-1]["changes"][-1]["reason"] == "busy"

        key = app.state.talkbox.api_keys.create("tests")
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
            read_back = (await http.get("/api/v1/webhooks/deliveries")).json()
            metrics = (await http.get("/metrics")).text
        assert read_back["enabled"] is True
        first = read_back["deliveries"][-1]
        assert (first["conference_id"], first["sequence"], first["attempts"], first["outcome"]) == (
            call_id,
            1,
            3,
            "204",
        )
        assert all(d["done_at"] is not None for d in read_back["deliveries"])
        assert f'talkbox_webhook_deliveries{{state="delivered"}} {len(receiver.got)}.0' in metrics
        assert "talkbox_webhook_failures_total 2.0" in metrics


async def test_changes_queued_while_the_receiver_is_down_arrive_after_a_restart(tmp_path: Path) -> None:
    database, port = str(tmp_path / "db.sqlite3"), free_port()
    hooks = f"http://127.0.0.1:{port}/hooks"
    options = {"database": database, "webhook_url": hooks, "webhook_secret": SECRET, "webhook_backoff": 0.05}
    async with running_app(**options) as (url, app), httpx.AsyncClient(base_url=url) as http:
        key = app.state.talkbox.api_keys.create("tests")
        created = await http.post(
            "/api/v1/calls", json={"from": "alice", "to": ["bob"]}, headers={"Authorization": f"Bearer {key}"}
        )
        call_id = created.json()["id"]
        await app.state.talkbox.bus.drained()
        # Nobody listens on the port: the POSTs fail and wait in the database.
    receiver = Receiver()
    async with receiving(receiver, port), running_app(**options):
        await eventually(lambda: receiver.got and receiver.got[-1]["conference"]["status"] == "ended")
        sequences = receiver.sequences(call_id)
        assert sequences == list(range(1, len(sequences) + 1))
        assert receiver.got[-1]["conference"]["end_reason"] == "chair-unreachable"


def test_a_webhook_url_without_a_strong_secret_is_refused() -> None:
    for secret in (None, "short"):
        with pytest.raises(ValueError, match="TALKBOX_WEBHOOK_SECRET"):
            Settings(webhook_url="https://app.example.org/hooks", webhook_secret=secret)


def test_a_hold_and_its_end_are_webhook_events() -> None:
    leg = {"id": "l-b", "status": "in-progress", "muted": False, "end_reason": None}
    before = {"status": "active", "end_reason": None, "legs": [{**leg, "held": False, "held_by_chair": False}]}
    held = {**before, "legs": [{**leg, "held": True, "held_by_chair": True}]}
    assert changes(before, held) == [{"event": "leg.held", "leg_id": "l-b", "by_chair": True}]
    assert changes(held, before) == [{"event": "leg.resumed", "leg_id": "l-b"}]
    assert changes(before, before) == []
