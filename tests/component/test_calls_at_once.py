"""A page that calls the moment it is welcomed, while the server is busy with other calls."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from talkbox.events.models import PresenceChanged, UserReturned
from talkbox.router.pool import Router
from tests.support.server import running_app

ATTEMPTS = 8


@asynccontextmanager
async def page(url: str, name: str) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(f"{url.replace('http', 'ws', 1)}/ws?client_name={name}") as opened:
        assert json.loads(await opened.recv())["type"] == "welcome"
        yield opened


async def synced(opened: ClientConnection) -> None:
    """Until the server has taken the page's arrival in (it sends the page's calls, none here)."""
    while json.loads(await opened.recv())["type"] != "synced":
        pass


async def conference_of(opened: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await opened.recv())
        if message["type"] == "conference":
            return message["conference"]


async def own_leg(opened: ClientConnection) -> str:
    """What becomes of the caller's own leg: offered to its page, or ended (and why)."""
    while True:
        message = json.loads(await opened.recv())
        if message["type"] == "offer" and message["auto_answer"]:
            return "offered"
        if message["type"] == "conference" and message["conference"]["status"] == "ended":
            return str(message["conference"]["end_reason"])


def user_on(router: Router, worker: int, prefix: str) -> str:
    """A name whose own events (its page arriving) the router hands to `worker`."""
    return next(
        name
        for name in (f"{prefix}{k}" for k in range(1000))
        if router.worker_for(PresenceChanged(user=name, online=True)) == worker
    )


async def test_a_page_calling_the_moment_it_is_welcomed_is_online_however_busy_its_router_worker() -> None:
    """Found by the capacity bench (a chair's first call now and then ended `unavailable`): who is online was
    counted from the pages' presence events, which the router hands to the user's worker, while the call is
    dialled on the conference's. A STUN server that never answers holds every offer (and the worker dialling
    it) for aioice's 5 s; a page arriving then waits behind one such dial while its own call is dialled on the
    other worker at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        stun = f"stun:127.0.0.1:{silent.getsockname()[1]}"
        settings = {"router_workers": 2, "media_workers": 0, "ice_servers": [stun], "voicemail": False}
        async with running_app(**settings) as (url, app), httpx.AsyncClient(base_url=url) as http:
            router: Router = app.state.talkbox.router
            http.headers["Authorization"] = f"Bearer {app.state.talkbox.api_keys.create('tests')}"
            raced = []
            for attempt in range(ATTEMPTS):
                async with page(url, f"holder{attempt}x") as holder:
                    await synced(holder)
                    # The API answers with the call's id before its first leg is dialled: the worker it will hold.
                    created = await http.post("/api/v1/calls", json={"from": f"holder{attempt}x", "to": ["anyone"]})
                    busy = router.worker_for(UserReturned(user="holder", conference_id=created.json()["id"]))
                    async with page(url, user_on(router, busy, f"chair{attempt}x")) as chair:
                        await chair.send(json.dumps({"type": "call", "to": "anyone"}))
                        placed = (await conference_of(chair))["id"]
                        if router.worker_for(UserReturned(user="chair", conference_id=placed)) == busy:
                            continue  # dialled behind the same offer as the page's arrival: no race this time
                        raced.append(await own_leg(chair))
                        break
    assert raced == ["offered"]
