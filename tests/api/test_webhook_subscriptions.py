"""Webhook subscriptions made through the API, each with its own secret, checked by receiving servers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from talkbox.api.webhooks import WebhookQueue
from tests.api.test_webhooks import SECRET, Receiver, eventually, receiving
from tests.support.peer import Peer
from tests.support.server import free_port, running_app


async def subscribe(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    answer = await http.post("/api/v1/webhooks", json={"url": url})
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"/api/v1/webhooks/{answer.json()['id']}"
    return answer.json()


async def a_rejected_call(url: str) -> str:
    async with Peer(url, "alice", 440.0) as alice, Peer(url, "bob", 880.0) as bob:
        await alice.call("bob")
        await bob.wait_for(lambda: bob.offers)
        await bob.reject()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
        return alice.last_conference()["id"]


def ended(receiver: Receiver, call_id: str) -> bool:
    return any(p["conference"]["id"] == call_id and p["conference"]["status"] == "ended" for p in receiver.got)


async def test_each_subscription_gets_every_change_signed_with_its_own_secret_and_in_order(tmp_path: Path) -> None:
    first, second, settings_receiver = Receiver(), Receiver(statuses=[500, 500]), Receiver()
    ports = free_port(), free_port(), free_port()
    async with (
        receiving(first, ports[0]) as first_url,
        receiving(second, ports[1]) as second_url,
        receiving(settings_receiver, ports[2]) as settings_url,
        running_app(
            database=str(tmp_path / "db.sqlite3"),
            webhook_url=settings_url,
            webhook_secret=SECRET,
            webhook_backoff=0.05,
            voicemail=False,  # the rejected call just ends
        ) as (url, app),
        httpx.AsyncClient(base_url=url) as http,
    ):
        http.headers["Authorization"] = f"Bearer {app.state.talkbox.api_keys.create('tests')}"
        one, two = await subscribe(http, first_url), await subscribe(http, second_url)
        assert one["secret"] != two["secret"] and one["secret"].startswith("whsec_")
        first.secret, second.secret = one["secret"], two["secret"]

        call_id = await a_rejected_call(url)
        await eventually(lambda: all(ended(r, call_id) for r in (first, second, settings_receiver)))
        assert (first.forged, second.forged, settings_receiver.forged) == (0, 0, 0)
        assert second.refused == 2  # its 500s were tried again, and held up nobody else
        for receiver in (first, second, settings_receiver):
            sequences = receiver.sequences(call_id)
            assert sequences == list(range(1, len(sequences) + 1)) and len(sequences) >= 3
        assert first.got == second.got == settings_receiver.got

        listed = (await http.get("/api/v1/webhooks")).json()["webhooks"]
        expected = [("settings", "settings"), (one["id"], "api"), (two["id"], "api")]
        assert [(w["id"], w["source"]) for w in listed] == expected
        assert all("secret" not in w for w in listed)
        assert (await http.get(f"/api/v1/webhooks/{one['id']}")).json()["url"] == first_url

        theirs = (await http.get(f"/api/v1/webhooks/{two['id']}/deliveries")).json()["deliveries"]
        assert {d["subscription"] for d in theirs} == {two["id"]}
        assert [d["sequence"] for d in reversed(theirs)] == second.sequences(call_id)
        assert theirs[-1]["attempts"] == 3 and theirs[-1]["outcome"] == "204"
        everyone = (await http.get("/api/v1/webhooks/deliveries")).json()["deliveries"]
        assert {d["subscription"] for d in everyone} == {"settings", one["id"], two["id"]}

        assert (await http.delete(f"/api/v1/webhooks/{one['id']}")).status_code == 204
        assert (await http.get(f"/api/v1/webhooks/{one['id']}")).status_code == 404
        before = len(first.got)
        later_call = await a_rejected_call(url)
        await eventually(lambda: ended(second, later_call))
        assert len(first.got) == before  # deleted: nothing more for it
        gone = await http.delete("/api/v1/webhooks/settings")
        assert gone.status_code == 409 and gone.json()["type"].endswith("/webhook-from-settings")


async def test_a_subscriptions_changes_wait_out_a_restart_and_arrive_in_order(tmp_path: Path) -> None:
    database, port = str(tmp_path / "db.sqlite3"), free_port()
    hooks = f"http://127.0.0.1:{port}/hooks"
    options = {"database": database, "webhook_backoff": 0.05, "voicemail": False}  # the rejected call just ends
    async with running_app(**options) as (url, app), httpx.AsyncClient(base_url=url) as http:
        key = app.state.talkbox.api_keys.create("tests")
        http.headers["Authorization"] = f"Bearer {key}"
        made = await subscribe(http, hooks)
        call_id = await a_rejected_call(url)
        await app.state.talkbox.bus.drained()
        # Nobody listens on the port: the POSTs fail and wait in the database.
        await eventually(lambda: any(d["attempts"] for d in app.state.talkbox.webhooks.queue.recent(100)))
    receiver = Receiver(secret=made["secret"])
    async with (
        receiving(receiver, port),
        running_app(**options) as (url, _app),
        httpx.AsyncClient(base_url=url) as http,
    ):
        await eventually(lambda: ended(receiver, call_id))
        sequences = receiver.sequences(call_id)
        assert sequences == list(range(1, len(sequences) + 1)) and receiver.forged == 0
        http.headers["Authorization"] = f"Bearer {key}"
        assert [w["id"] for w in (await http.get("/api/v1/webhooks")).json()["webhooks"]] == [made["id"]]
        outcomes = (await http.get(f"/api/v1/webhooks/{made['id']}/deliveries")).json()["deliveries"]
        assert all(d["outcome"] == "204" for d in outcomes)
        assert outcomes[-1]["attempts"] >= 2  # the first was tried before the restart, and again after it


async def test_bad_subscriptions_are_refused_with_problems(tmp_path: Path) -> None:
    async with (
        running_app(database=str(tmp_path / "db.sqlite3")) as (url, app),
        httpx.AsyncClient(base_url=url) as http,
    ):
        http.headers["Authorization"] = f"Bearer {app.state.talkbox.api_keys.create('tests')}"
        bad = [
            {"url": "ftp://app.example.org/hooks"},
            {"url": "/hooks"},
            {"url": "https://u:p@app.example.org/"},
            {"url": "https://app.example.org/" + "x" * 2000},
            {},
            {"url": "https://a.example", "extra": 1},
        ]
        for body in bad:
            answer = await http.post("/api/v1/webhooks", json=body)
            assert answer.status_code == 422, body
            assert answer.headers["content-type"] == "application/problem+json"
        missing = await http.get("/api/v1/webhooks/wh_nope/deliveries")
        assert missing.status_code == 404 and missing.json()["type"].endswith("/webhook-not-found")
        assert (await http.delete("/api/v1/webhooks/wh_nope")).status_code == 404
        for n in range(20):
            await subscribe(http, f"https://app.example.org/hooks/{n}")
        full = await http.post("/api/v1/webhooks", json={"url": "https://app.example.org/one-more"})
        assert full.status_code == 409 and full.json()["type"].endswith("/too-many-webhooks")
        assert (await http.get("/api/v1/webhooks")).json()["webhooks"][0]["source"] == "api"
        assert (await http.get("/api/v1/webhooks", headers={"Authorization": "Bearer nope"})).status_code == 401


def test_a_queue_from_before_subscriptions_keeps_its_rows_as_the_settings_urls(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    body = '{"conference": {"id": "c-1", "status": "active", "legs": []}}'
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE webhook_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, conference_id TEXT NOT NULL, "
            "sequence INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL, next_at REAL NOT NULL, "
            "attempts INTEGER NOT NULL DEFAULT 0, done_at REAL, outcome TEXT, UNIQUE (conference_id, sequence));"
            f"INSERT INTO webhook_deliveries (conference_id, sequence, body, created_at, next_at) "
            f"VALUES ('c-1', 1, '{body}', 1.0, 1.0);"
        )
    queue = WebhookQueue(path)
    try:
        assert [(d.subscription, d.body) for d in queue.due()] == [("settings", body)]
        queue.add({"id": "c-1", "status": "active", "legs": []}, ["settings", "wh_1"])
        assert sorted((r["subscription"], r["sequence"]) for r in queue.recent(10)) == [
            ("settings", 1),
            ("settings", 2),
            ("wh_1", 2),
        ]
    finally:
        queue.close()
