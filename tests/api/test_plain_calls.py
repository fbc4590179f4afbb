"""POST /api/v1/calls is served by a plain endpoint at the edge: what a client sees must not change for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.api.conftest import Api, api_server

PROBLEM = "application/problem+json"


@contextlib.asynccontextmanager
async def api(**overrides: Any) -> AsyncIterator[Api]:
    async for server in api_server(**overrides):
        yield server


async def test_retries_racing_with_one_idempotency_key_make_one_call() -> None:
    # Sent at once, their claims reach the store in one group commit: one takes the key, the rest find it.
    async with api() as server:
        body = {"from": "alice", "to": ["bob"]}
        answers = await asyncio.gather(
            *(server.http.post("/api/v1/calls", json=body, headers={"Idempotency-Key": "race"}) for _ in range(8))
        )
        assert {a.status_code for a in answers} == {202}
        assert len({a.json()["id"] for a in answers}) == 1
        await server.app.state.talkbox.bus.drained()
        assert list(server.app.state.talkbox.store.conferences) == [answers[0].json()["id"]]


async def test_on_a_sqlite_file_the_claim_is_stored_with_the_store_and_a_retry_finds_it(tmp_path: Any) -> None:
    async with api(database=str(tmp_path / "talkbox.sqlite3")) as server:
        body = {"from": "alice", "to": ["bob"]}
        first, again = [
            await server.http.post("/api/v1/calls", json=body, headers={"Idempotency-Key": "k1"}) for _ in range(2)
        ]
        assert first.status_code == again.status_code == 202 and first.json() == again.json()
        other = await server.http.post(
            "/api/v1/calls", json={"from": "alice", "to": ["carol"]}, headers={"Idempotency-Key": "k1"}
        )
        assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-key-reused")


async def test_the_key_is_checked_before_the_body() -> None:
    async with api() as server, httpx.AsyncClient(base_url=server.url) as bare:
        answer = await bare.post("/api/v1/calls", content=b"{", headers={"Content-Type": "application/json"})
        assert answer.status_code == 401 and answer.headers["content-type"] == PROBLEM


async def test_bad_headers_and_bodies_are_reported_together_as_fastapi_did() -> None:
    async with api() as server:
        answer = await server.http.post(
            "/api/v1/calls", json={"from": "al ice", "to": ["bob"]}, headers={"Idempotency-Key": "x" * 256}
        )
        assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
        assert [e["loc"] for e in answer.json()["errors"]] == [["header", "idempotency-key"], ["body", "from"]]
        empty = await server.http.post("/api/v1/calls")
        assert [(e["loc"], e["type"]) for e in empty.json()["errors"]] == [(["body"], "missing")]
        form = await server.http.post("/api/v1/calls", data={"from": "alice"})
        assert form.status_code == 422 and form.json()["errors"][0]["loc"] == ["body"]
        assert server.app.state.talkbox.bus.pending == {}


async def test_its_answers_carry_the_security_headers_and_its_bodies_the_cap() -> None:
    async with api(max_body_bytes=1024) as server:
        answer = await server.http.post("/api/v1/calls", json={"from": "alice", "to": ["bob"]})
        assert answer.status_code == 202 and answer.headers["x-content-type-options"] == "nosniff"

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"from": "alice", "to": ["'
            yield b"b" * 2000
            yield b'"]}'

        streamed = await server.http.post(
            "/api/v1/calls", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413 and streamed.headers["x-content-type-options"] == "nosniff"
        wrong_method = await server.http.put("/api/v1/calls", json={})
        assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["allow"]


async def test_it_is_still_described_in_openapi_json() -> None:
    async with api() as server:
        post = (await server.http.get("/openapi.json")).json()["paths"]["/api/v1/calls"]["post"]
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/CallRequest")
        assert post["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/CallAccepted")
        headers = {p["name"]: p for p in post["parameters"] if p["in"] == "header"}
        assert headers["idempotency-key"]["schema"]["anyOf"][0]["maxLength"] == 255
        assert "authorization" in headers
