"""Item 1: an unsigned webhook with thousands of form keys must cost linear time, and too many are refused.

Before the fix, 20,000 distinct keys froze the whole process for about 28 s
(100,000 for minutes): the signature check looked every key up with a
MultiDict `getlist`, which scans the whole list. The server must refuse such
a request at once and keep serving everyone else.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi import FastAPI
from starlette.datastructures import MultiDict
from twilio.request_validator import RequestValidator

from talkbox.callbacks.twilio_routes import twilio_router
from tests.support.server import running_server
from tests.twilio.twilio_requests import AUTH_TOKEN, PUBLIC_URL, call_status, post_signed, settings

FORM = "application/x-www-form-urlencoded"
STATUS = "/twilio/status?conference_id=c-1&leg_id=l-bob"
# Generous: the quadratic check took minutes for this many keys; a linear one takes milliseconds.
BOUND_SECONDS = 5.0


def many_keys(count: int) -> bytes:
    return "&".join(f"k{index}=v" for index in range(count)).encode()


async def test_twenty_thousand_keys_are_refused_and_others_are_served_meanwhile() -> None:
    async with (
        running_server(app_options={"twilio": settings()}, max_body_bytes=1024 * 1024) as url,
        httpx.AsyncClient(base_url=url, timeout=BOUND_SECONDS) as http,
    ):
        flood = http.post(
            STATUS, content=many_keys(20_000), headers={"Content-Type": FORM, "X-Twilio-Signature": "bogus"}
        )
        health = asyncio.create_task(_health_after(http, 0.2))
        # Before the fix this took about 28 s, the event loop blocked all along.
        refused = await asyncio.wait_for(flood, BOUND_SECONDS)
        assert (await asyncio.wait_for(health, BOUND_SECONDS)) == 200
    assert refused.status_code in (400, 403, 413)


async def test_a_hundred_thousand_keys_are_answered_within_a_generous_bound() -> None:
    """With the cap lifted out of the way, the check itself must still be linear."""
    app = FastAPI()
    app.include_router(twilio_router(AUTH_TOKEN, PUBLIC_URL, _nowhere, max_parameters=200_000))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://talkbox.internal") as http:
        started = time.monotonic()
        response = await http.post(
            STATUS,
            content=many_keys(100_000),
            headers={"Content-Type": FORM, "X-Twilio-Signature": "bogus"},
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 403
    assert elapsed < BOUND_SECONDS, f"{elapsed:.1f} s for 100,000 keys"


async def test_more_parameters_than_the_cap_are_refused_even_when_signed() -> None:
    app = FastAPI()
    published: list[object] = []

    async def publish(event: object) -> None:
        published.append(event)

    app.include_router(twilio_router(AUTH_TOKEN, PUBLIC_URL, publish, max_parameters=40))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://talkbox.internal") as http:
        params = call_status("CA" + "1" * 32, "ringing", 1)
        assert (await post_signed(http, STATUS, params)).status_code == 204
        padded = {**params, **{f"x{index}": "y" for index in range(40)}}
        refused = await post_signed(http, STATUS, padded)
    assert refused.status_code == 413
    assert len(published) == 1


async def test_a_repeated_key_is_still_signed_over_all_its_values() -> None:
    """The linear input keeps what Twilio signs: every value of a key, not just one of them."""
    app = FastAPI()
    app.include_router(twilio_router(AUTH_TOKEN, PUBLIC_URL, _nowhere))
    pairs = [*call_status("CA" + "1" * 32, "ringing", 1).items(), ("Extra", "a"), ("Extra", "b")]
    body = str(httpx.QueryParams(pairs)).encode()
    validator = RequestValidator(AUTH_TOKEN)
    every_value = validator.compute_signature(PUBLIC_URL + STATUS, MultiDict(pairs))
    one_value = validator.compute_signature(PUBLIC_URL + STATUS, dict(pairs))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://talkbox.internal") as http:
        answers = [
            await http.post(STATUS, content=body, headers={"Content-Type": FORM, "X-Twilio-Signature": signature})
            for signature in (every_value, one_value)
        ]
    assert [answer.status_code for answer in answers] == [204, 403]


async def _health_after(http: httpx.AsyncClient, delay: float) -> int:
    await asyncio.sleep(delay)
    return (await http.get("/api/health")).status_code


async def _nowhere(_event: object) -> None:
    return None
