"""/api/v1 driven with httpx against a running server: auth, problem+json, idempotency, rate limits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from tests.api.conftest import Api, api_server

PROBLEM = "application/problem+json"
SECRET = "s" * 32


@contextlib.asynccontextmanager
async def api(**overrides: Any) -> AsyncIterator[Api]:
    async for server in api_server(**overrides):
        yield server


def problem_type(answer: httpx.Response) -> str:
    assert answer.headers["content-type"] == PROBLEM, answer.text
    body = answer.json()
    assert body["status"] == answer.status_code and body["title"] and body["detail"]
    return body["type"].removeprefix("https://talkbox.dev/problems/")


async def test_no_key_a_wrong_key_and_a_revoked_key_are_refused() -> None:
    async with api() as server:
        assert (await server.http.get("/api/v1/conferences")).status_code == 200
        bare = httpx.AsyncClient(base_url=server.url)
        async with bare:
            for headers in ({}, {"Authorization": "Bearer tbk_nope"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
                answer = await bare.get("/api/v1/conferences", headers=headers)
                assert answer.status_code == 401
                assert problem_type(answer) == "unauthorized"
                assert answer.headers["www-authenticate"].startswith("Bearer")
            server.app.state.talkbox.api_keys.revoke("tests")
            answer = await bare.post("/api/v1/calls", json={"from": "alice", "to": ["bob"]}, headers=server.auth())
            assert answer.status_code == 401 and problem_type(answer) == "unauthorized"


@pytest.mark.parametrize(
    "body",
    [
        {"from": "alice"},
        {"from": "alice", "to": []},
        {"from": "al ice", "to": ["bob"]},
        {"from": "alice", "to": ["not a number"]},
        {"from": "alice", "to": ["bob"], "colour": "red"},
    ],
)
async def test_bad_input_is_a_422_problem_naming_the_field(body: dict[str, Any]) -> None:
    async with api() as server:
        answer = await server.http.post("/api/v1/calls", json=body)
        assert answer.status_code == 422
        assert problem_type(answer) == "invalid-request"
        assert answer.json()["errors"] and all(error["loc"] for error in answer.json()["errors"])
        assert server.app.state.talkbox.bus.pending == {}
        assert await server.app.state.talkbox.store.active() == []


async def test_not_json_and_unknown_calls_are_problems_too() -> None:
    async with api() as server:
        answer = await server.http.post("/api/v1/calls", content=b"{", headers={"Content-Type": "application/json"})
        assert answer.status_code == 422 and problem_type(answer) == "invalid-request"
        answer = await server.http.get("/api/v1/calls/c-nothere")
        assert answer.status_code == 404 and problem_type(answer) == "call-not-found"


async def test_a_retried_create_with_its_idempotency_key_returns_the_same_call() -> None:
    async with api() as server:
        body = {"from": "alice", "to": ["bob"]}
        first = await server.http.post("/api/v1/calls", json=body, headers={"Idempotency-Key": "order-17"})
        again = await server.http.post("/api/v1/calls", json=body, headers={"Idempotency-Key": "order-17"})
        assert first.status_code == again.status_code == 202
        assert first.json()["id"] == again.json()["id"]
        assert first.headers["location"] == f"/api/v1/calls/{first.json()['id']}"
        other = await server.http.post(
            "/api/v1/calls", json={"from": "dave", "to": ["erin"]}, headers={"Idempotency-Key": "order-18"}
        )
        assert other.json()["id"] != first.json()["id"]

        reused = await server.http.post(
            "/api/v1/calls", json={"from": "alice", "to": ["carol"]}, headers={"Idempotency-Key": "order-17"}
        )
        assert reused.status_code == 409 and problem_type(reused) == "idempotency-key-reused"

        await server.app.state.talkbox.bus.drained()
        # One call for order-17 and one for order-18: the retry made none (no page is open, so both have ended).
        stored = server.app.state.talkbox.store.conferences
        assert sorted(stored) == sorted([first.json()["id"], other.json()["id"]])
        call = (await server.http.get(first.json()["url"])).json()
        assert call["chair"] == "alice" and [leg["destination"] for leg in call["legs"]] == ["alice", "bob"]


async def test_a_key_past_its_budget_gets_429_with_retry_after_and_others_do_not() -> None:
    async with api(api_requests_per_second=5) as server:
        # A create counts once, like any request (its key is checked once).
        answers = [await server.http.post("/api/v1/calls", json={"from": f"u{i}", "to": ["bob"]}) for i in range(3)]
        answers += [await server.http.get("/api/v1/conferences") for _ in range(5)]
        assert [a.status_code for a in answers] == [202] * 3 + [200] * 2 + [429] * 3
        assert problem_type(answers[-1]) == "rate-limited"
        assert int(answers[-1].headers["retry-after"]) >= 1
        other = server.app.state.talkbox.api_keys.create("other")
        assert (await server.http.get("/api/v1/conferences", headers=server.auth(other))).status_code == 200


async def test_a_client_token_is_minted_for_a_user() -> None:
    async with api(auth="token", secret=SECRET, max_token_ttl=3600) as server:
        answer = await server.http.post("/api/v1/tokens", json={"user": "alice", "ttl": 600})
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        claims = jwt.decode(answer.json()["token"], SECRET, algorithms=["HS256"])
        assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 600
        too_long = await server.http.post("/api/v1/tokens", json={"user": "alice", "ttl": 7200})
        assert too_long.status_code == 422 and problem_type(too_long) == "invalid-request"
        assert "TALKBOX_MAX_TOKEN_TTL" in too_long.json()["detail"]


async def test_without_a_secret_there_are_no_tokens_to_mint() -> None:
    async with api() as server:
        answer = await server.http.post("/api/v1/tokens", json={"user": "alice"})
        assert answer.status_code == 409 and problem_type(answer) == "no-secret"


async def test_the_api_is_described_in_openapi_json() -> None:
    async with api() as server:
        document = (await server.http.get("/openapi.json")).json()
        paths = document["paths"]
        for path in ("/api/v1/calls", "/api/v1/calls/{call_id}", "/api/v1/conferences", "/api/v1/tokens"):
            assert path in paths
        assert "application/problem+json" in paths["/api/v1/calls"]["post"]["responses"]["429"]["content"]


async def test_an_ended_call_takes_no_more_changes_and_ending_it_again_is_harmless() -> None:
    async with api() as server:
        # No page is open for alice: her leg fails and the call ends at once.
        call_id = (await server.http.post("/api/v1/calls", json={"from": "alice", "to": ["bob"]})).json()["id"]
        await server.app.state.talkbox.bus.drained()
        call = (await server.http.get(f"/api/v1/calls/{call_id}")).json()
        assert (call["status"], call["end_reason"]) == ("ended", "chair-unreachable")
        added = await server.http.post(f"/api/v1/calls/{call_id}/participants", json={"to": "carol"})
        assert added.status_code == 409 and problem_type(added) == "call-ended"
        assert (await server.http.delete(f"/api/v1/calls/{call_id}")).status_code == 202
        await server.app.state.talkbox.bus.drained()
        assert (await server.http.get(f"/api/v1/calls/{call_id}")).json() == call
