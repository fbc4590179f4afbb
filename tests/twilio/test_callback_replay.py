"""Whole calls replayed as the Twilio callbacks that make them, through the webhooks and the rules.

Each step is one signed request carrying Twilio's documented parameters; after
it, the conference (as the pages would see it) and the commands the rules gave
the provider are compared. Here the provider only records commands: what the
REST client then sends is test_rest_api.py's business.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from talkbox.callbacks.twilio_routes import twilio_router
from talkbox.events.models import ConferenceUpdated, Event, UserHangsUp, UserRequestsCall
from talkbox.telephony.handler import CallHandler
from talkbox.telephony.model import Conference
from talkbox.telephony.rules import DialLeg, HangUpLeg, MuteLeg
from talkbox.telephony.store import MemoryStore
from tests.twilio.twilio_requests import (
    AUTH_TOKEN,
    PHONE,
    PUBLIC_URL,
    TWILIO_NUMBER,
    call_status,
    incoming_call,
    post_signed,
)

SID = {"alice": "CA" + "a1" * 16, "bob": "CA" + "b2" * 16, "carol": "CA" + "c3" * 16, PHONE: "CA" + "d4" * 16}
Q, R, P = "queued", "ringing", "in-progress"


class Replay:
    """The callbacks router feeding a real CallHandler; the provider is this recorder."""

    name = "recorder"

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.calls = CallHandler(
            store=self.store, providers={"browser": self, "twilio": self}, publish=self.publish, ring=("bob", "carol")
        )
        self.commands: list[tuple[Any, ...]] = []
        self.view: dict[str, Any] | None = None
        app = FastAPI()
        app.include_router(twilio_router(AUTH_TOKEN, PUBLIC_URL, self.publish))
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://talkbox.internal")

    # --- the bus: handled at once, in order, as the router does for one conference ---

    async def publish(self, event: Event) -> None:
        if isinstance(event, ConferenceUpdated):
            self.view = event.conference.model_dump()
        elif isinstance(event, self.calls.handles):
            await self.calls.handle(event)

    # --- the provider ------------------------------------------------------------------

    async def dial(self, command: DialLeg) -> None:
        self.commands.append(("dial", command.destination))

    async def hang_up(self, command: HangUpLeg) -> None:
        self.commands.append(("hang_up", self.conference.leg(command.leg_id).destination, command.reason))

    async def mute(self, command: MuteLeg) -> None:
        self.commands.append(("mute", command.leg_id, command.muted))

    # --- driving it ----------------------------------------------------------------------

    @property
    def conference(self) -> Conference:
        (conference,) = self.store.conferences.values()
        return conference

    def leg_of(self, who: str) -> str:
        return next(leg.id for leg in reversed(self.conference.legs) if leg.destination == who)

    async def callback(self, who: str, status: str, sequence: int) -> list[tuple[Any, ...]]:
        """Twilio reports event number `sequence` of `who`'s call; the commands that followed."""
        path = f"/twilio/status?conference_id={self.conference.id}&leg_id={self.leg_of(who)}"
        to = who if who.startswith("+") else f"client:{who}"
        params = call_status(
            SID[who], status, sequence, to=to, from_=TWILIO_NUMBER if who.startswith("+") else "client:alice"
        )
        assert (await post_signed(self.http, path, params)).status_code == 204
        return self.take()

    def take(self) -> list[tuple[Any, ...]]:
        commands, self.commands = self.commands, []
        return commands

    def state(self) -> str:
        assert self.view is not None
        return self.view["status"] + (f":{self.view['end_reason']}" if self.view["end_reason"] else "")

    def legs(self) -> dict[str, str]:
        assert self.view is not None
        return {
            leg["destination"]: leg["status"] + (f":{leg['end_reason']}" if leg["end_reason"] else "")
            for leg in self.view["legs"]
        }


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    r = Replay()
    async with r.http:
        yield r


async def alice_calls(replay: Replay, to: str = "bob") -> None:
    await replay.calls.handle(UserRequestsCall(user="alice", to=to))
    assert replay.take() == [("dial", "alice")]
    assert await replay.callback("alice", "initiated", 0) == []
    assert await replay.callback("alice", "ringing", 1) == []
    assert await replay.callback("alice", "in-progress", 2) == [("dial", to)]


async def test_a_call_with_callbacks_late_out_of_order_and_repeated(replay: Replay) -> None:
    await alice_calls(replay)
    # Twilio's ringing callback overtakes initiated; initiated, arriving late, changes nothing.
    assert await replay.callback("bob", "ringing", 1) == []
    assert replay.legs() == {"alice": P, "bob": R}
    assert await replay.callback("bob", "initiated", 0) == []
    assert replay.legs() == {"alice": P, "bob": R}
    assert await replay.callback("bob", "in-progress", 2) == []
    assert await replay.callback("bob", "in-progress", 2) == []  # retried
    assert await replay.callback("alice", "ringing", 1) == []  # a stale retry
    assert replay.legs() == {"alice": P, "bob": P}
    assert await replay.callback("bob", "completed", 3) == [("hang_up", "alice", "ended")]
    assert await replay.callback("alice", "completed", 3) == []
    assert (replay.state(), replay.legs()) == (
        "ended:hung-up",
        {"alice": "completed:ended", "bob": "completed:hung-up"},
    )
    assert await replay.callback("bob", "ringing", 1) == []  # long after the end
    assert await replay.callback("bob", "completed", 3) == []
    assert replay.state() == "ended:hung-up"


@pytest.mark.parametrize(
    ("outcome", "leg", "ended"),
    [
        ("busy", "busy:busy-signal", "ended:busy"),
        ("no-answer", "no-answer:not-answered", "ended:no-answer"),
        ("failed", "failed:unavailable", "ended:unavailable"),
    ],
)
async def test_a_call_bob_does_not_take(replay: Replay, outcome: str, leg: str, ended: str) -> None:
    await alice_calls(replay)
    assert await replay.callback("bob", "initiated", 0) == []
    if outcome != "failed":
        assert await replay.callback("bob", "ringing", 1) == []
    assert await replay.callback("bob", outcome, 2) == [("hang_up", "alice", "ended")]
    assert await replay.callback("alice", "completed", 3) == []
    assert (replay.state(), replay.legs()) == (ended, {"alice": "completed:ended", "bob": leg})


async def test_alice_cancels_while_bob_rings(replay: Replay) -> None:
    await alice_calls(replay)
    assert await replay.callback("bob", "initiated", 0) == []
    assert await replay.callback("bob", "ringing", 1) == []
    await replay.calls.handle(UserHangsUp(user="alice", conference_id=replay.conference.id))
    assert replay.take() == [("hang_up", "alice", "hung-up")]
    assert await replay.callback("alice", "completed", 3) == [("hang_up", "bob", "caller-canceled")]
    # The cancel's own callback, repeated: Twilio says "canceled", the reason is Talkbox's.
    assert await replay.callback("bob", "canceled", 2) == []
    assert await replay.callback("bob", "canceled", 2) == []
    assert (replay.state(), replay.legs()) == (
        "ended:canceled",
        {"alice": "completed:hung-up", "bob": "canceled:caller-canceled"},
    )


async def test_alice_never_takes_her_own_leg_so_bob_is_never_rung(replay: Replay) -> None:
    await replay.calls.handle(UserRequestsCall(user="alice", to="bob"))
    assert replay.take() == [("dial", "alice")]
    assert await replay.callback("alice", "initiated", 0) == []
    assert await replay.callback("alice", "ringing", 1) == []
    assert await replay.callback("alice", "no-answer", 2) == []
    assert (replay.state(), replay.legs()) == (
        "ended:chair-unreachable",
        {"alice": "no-answer:not-answered", "bob": "canceled:chair-unreachable"},
    )


async def test_a_browser_calls_a_telephone_that_hangs_up(replay: Replay) -> None:
    await alice_calls(replay, to=PHONE)
    assert await replay.callback(PHONE, "initiated", 0) == []
    assert await replay.callback(PHONE, "ringing", 1) == []
    assert await replay.callback(PHONE, "in-progress", 2) == []
    assert await replay.callback(PHONE, "completed", 3) == [("hang_up", "alice", "ended")]
    assert await replay.callback("alice", "completed", 3) == []
    assert (replay.state(), replay.legs()) == (
        "ended:hung-up",
        {"alice": "completed:ended", PHONE: "completed:hung-up"},
    )


async def test_a_repeated_incoming_webhook_rings_the_group_once(replay: Replay) -> None:
    for _ in range(2):
        response = await post_signed(replay.http, "/twilio/incoming", incoming_call(SID[PHONE]))
        assert response.status_code == 200
    assert replay.take() == [("dial", "bob"), ("dial", "carol")]
    assert replay.legs() == {PHONE: P, "bob": Q, "carol": Q}
