"""The whole server in Twilio mode against a recording stand-in for api.twilio.com.

Pages speak the websocket as usual; the test plays Twilio, posting signed
callbacks to the server; the `twilio` REST client inside Talkbox talks to the
recorder. Each test asserts the exact API requests made: for a call, add,
mute, remove and hang up, for cancels, and for a call from a telephone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from talkbox.media.music import PEDAL_HZ
from tests.support.audio import level_at
from tests.support.server import running_server
from tests.twilio.fake_api import API, INVALID_NUMBER, ApiRequest, FakeTwilioApi, fake_twilio_api
from tests.twilio.page import Page, leg_id, legs
from tests.twilio.twilio_requests import (
    PHONE,
    PUBLIC_URL,
    TWILIO_NUMBER,
    call_status,
    conference_status,
    incoming_call,
    post_signed,
    settings,
    voice_request,
)

RING_TIMEOUT = 25
P = "in-progress"


@dataclass
class Twilio:
    """Plays Twilio: knows the recorder's calls and posts signed callbacks to Talkbox."""

    api: FakeTwilioApi
    http: httpx.AsyncClient
    sequence: dict[str, int]

    async def requests(self, count: int, timeout: float = 5.0) -> list[ApiRequest]:
        """Wait until `count` API requests have been made; return them all."""
        async with asyncio.timeout(timeout):
            while len(self.api.requests) < count:
                await asyncio.sleep(0.01)
        return self.api.requests

    async def settled(self) -> list[ApiRequest]:
        """Every request made, once no more are on the way."""
        await asyncio.sleep(0.3)
        return self.api.requests

    @staticmethod
    def sid_of(request: ApiRequest) -> str:
        assert request.sid is not None, request
        return request.sid

    async def report(self, call_sid: str, status: str, conference_id: str, leg: str, **call: str) -> None:
        """A status callback for the next call-progress event of `call_sid`, as Twilio numbers them."""
        sequence = self.sequence.get(call_sid, -1) + 1
        self.sequence[call_sid] = sequence
        if status in ("in-progress", "completed", "busy", "no-answer", "canceled", "failed"):
            self.api.calls[call_sid] = status
        path = f"/twilio/status?conference_id={conference_id}&leg_id={leg}"
        response = await post_signed(self.http, path, call_status(call_sid, status, sequence, **call))
        assert response.status_code == 204

    async def answer(self, call_sid: str, conference_id: str, leg: str, **call: str) -> str:
        """The callee answers: Twilio fetches the TwiML, then reports the answer."""
        response = await post_signed(
            self.http, f"/twilio/voice?conference_id={conference_id}&leg_id={leg}", voice_request(call_sid, **call)
        )
        assert "<Conference" in response.text
        for status in ("initiated", "ringing", "in-progress"):
            await self.report(call_sid, status, conference_id, leg, **call)
        return response.text

    async def conference(
        self, conference_sid: str, conference_id: str, event: str, sequence: int, *, muted: bool = False, **kw: str
    ) -> None:
        """A conference status callback, after the change it reports has happened at Twilio."""
        self.api.conferences[conference_id] = conference_sid
        self.api.conference_status.setdefault(conference_id, "init")
        present = self.api.participants.setdefault(conference_sid, {})
        if event == "conference-start":
            self.api.conference_status[conference_id] = "in-progress"
        elif event == "participant-join":
            present[kw["call_sid"]] = muted
        elif event == "participant-leave":
            present.pop(kw["call_sid"], None)
        path = f"/twilio/conference?conference_id={conference_id}"
        response = await post_signed(
            self.http, path, conference_status(conference_sid, conference_id, event, sequence, muted=muted, **kw)
        )
        assert response.status_code == 204


@contextlib.asynccontextmanager
async def talkbox_on_twilio(ring: tuple[str, ...] = ("bob", "carol")) -> AsyncIterator[tuple[str, Twilio]]:
    async with fake_twilio_api() as api:
        options = {"twilio": settings(ring), "twilio_api_url": api.url}
        async with (
            # Calls without voicemail here (tests/twilio/test_recording.py has it).
            running_server(app_options=options, ring_timeout=RING_TIMEOUT, voicemail=False) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            yield url, Twilio(api, http, {})


def dialled(to: str, from_: str, conference_id: str, leg: str) -> dict[str, list[str]]:
    """The form of calls.create for one leg."""
    query = f"conference_id={conference_id}&leg_id={leg}"
    return {
        "To": [to],
        "From": [from_],
        "Url": [f"{PUBLIC_URL}/twilio/voice?{query}"],
        "Method": ["POST"],
        "StatusCallback": [f"{PUBLIC_URL}/twilio/status?{query}"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": ["POST"],
        "Timeout": [str(RING_TIMEOUT)],
    }


def client(name: str, conference_id: str, leg: str, caller: str, auto_answer: bool) -> str:
    answer = "true" if auto_answer else "false"
    caller = caller.replace("+", "%2B")
    return f"client:{name}?conference_id={conference_id}&leg_id={leg}&caller={caller}&auto_answer={answer}"


def PAUSED(conference_sid: str) -> tuple[str, str, dict[str, list[str]]]:  # noqa: N802 (read as a constant)
    """As a conference starts, its own recording (record-from-start) is paused: nobody asked for one yet."""
    path = f"/Conferences/{conference_sid}/Recordings/Twilio.CURRENT.json"
    return ("POST", path, {"Status": ["paused"], "PauseBehavior": ["skip"]})


def summary(requests: list[ApiRequest]) -> list[tuple[Any, ...]]:
    return [(r.method, r.path.removeprefix(API), r.form if r.method == "POST" else r.query) for r in requests]


async def connected_call(url: str, twilio: Twilio, alice: Page, bob: Page) -> dict[str, Any]:
    """alice calls bob and both answer; returns the conference ids and call sids."""
    await alice.send(type="call", to="bob")
    conference = await alice.conference(lambda c: True)
    cid, alice_leg, bob_leg = conference["id"], leg_id(conference, "alice"), leg_id(conference, "bob")
    (create_alice,) = await twilio.requests(1)
    alice_sid = twilio.sid_of(create_alice)
    await twilio.answer(alice_sid, cid, alice_leg, to="client:alice", from_="client:alice")
    create_bob = (await twilio.requests(2))[1]
    bob_sid = twilio.sid_of(create_bob)
    await twilio.answer(bob_sid, cid, bob_leg)
    await bob.conference(lambda c: legs(c) == {"alice": P, "bob": P})
    return {"id": cid, "alice": alice_leg, "bob": bob_leg, "alice_sid": alice_sid, "bob_sid": bob_sid}


async def test_call_add_mute_remove_and_hang_up_make_exactly_these_api_calls() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice, Page(url, "bob") as bob:
        assert alice.messages[0] == {"type": "welcome", "user": "alice", "provider": "twilio", "ice_servers": []}
        call = await connected_call(url, twilio, alice, bob)
        cid = call["id"]
        conference_sid = "CF" + "d" * 32
        await twilio.conference(conference_sid, cid, "conference-start", 0)
        await twilio.requests(3)  # its recording paused: nobody asked for one
        await twilio.conference(
            conference_sid, cid, "participant-join", 1, call_sid=call["alice_sid"], label=call["alice"]
        )
        await twilio.conference(conference_sid, cid, "participant-join", 2, call_sid=call["bob_sid"], label=call["bob"])

        await alice.send(type="add", conference_id=cid, to="carol")
        conference = await alice.conference(lambda c: "carol" in legs(c))
        carol_leg = leg_id(conference, "carol")
        carol_sid = twilio.sid_of((await twilio.requests(4))[3])
        await twilio.answer(carol_sid, cid, carol_leg, to="client:carol")
        await alice.conference(lambda c: legs(c) == {"alice": P, "bob": P, "carol": P})

        await alice.send(type="mute", conference_id=cid, leg_id=call["bob"], muted=True)
        await twilio.requests(5)
        await alice.send(type="remove", conference_id=cid, leg_id=carol_leg)
        await twilio.requests(6)
        await twilio.report(carol_sid, "completed", cid, carol_leg, to="client:carol")
        await alice.conference(lambda c: legs(c).get("carol") == "completed:removed")

        await alice.send(type="hang_up", conference_id=cid)
        await twilio.requests(7)
        await twilio.report(call["alice_sid"], "completed", cid, call["alice"], to="client:alice")
        await twilio.requests(8)  # the rules hang up bob, left alone
        await twilio.report(call["bob_sid"], "completed", cid, call["bob"])
        ended = await bob.conference(lambda c: c["status"] == "ended")
        assert ended["end_reason"] == "hung-up"
        assert legs(ended) == {"alice": "completed:hung-up", "bob": "completed:ended", "carol": "completed:removed"}

        requests = await twilio.settled()
        assert summary(requests) == [
            (
                "POST",
                "/Calls.json",
                dialled(client("alice", cid, call["alice"], "alice", True), "client:alice", cid, call["alice"]),
            ),
            (
                "POST",
                "/Calls.json",
                dialled(client("bob", cid, call["bob"], "alice", False), "client:alice", cid, call["bob"]),
            ),
            PAUSED(conference_sid),
            (
                "POST",
                "/Calls.json",
                dialled(client("carol", cid, carol_leg, "alice", False), "client:alice", cid, carol_leg),
            ),
            ("POST", f"/Conferences/{conference_sid}/Participants/{call['bob_sid']}.json", {"Muted": ["true"]}),
            ("POST", f"/Calls/{carol_sid}.json", {"Status": ["completed"]}),
            ("POST", f"/Calls/{call['alice_sid']}.json", {"Status": ["completed"]}),
            ("POST", f"/Calls/{call['bob_sid']}.json", {"Status": ["completed"]}),
        ]
        key = base64.b64encode(f"{settings().api_key}:{settings().api_secret}".encode()).decode()
        assert {r.auth for r in requests} == {f"Basic {key}"}


async def test_late_and_repeated_callbacks_make_no_api_calls() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice, Page(url, "bob") as bob:
        call = await connected_call(url, twilio, alice, bob)
        before = len(await twilio.settled())
        # Twilio retries the ringing callback (sequence 1) and repeats the answer (sequence 2).
        for status, sequence in (("ringing", 1), ("in-progress", 2), ("initiated", 0)):
            path = f"/twilio/status?conference_id={call['id']}&leg_id={call['alice']}"
            await post_signed(twilio.http, path, call_status(call["alice_sid"], status, sequence, to="client:alice"))
        assert len(await twilio.settled()) == before
        assert legs(alice.messages[-1]["conference"]) == {"alice": P, "bob": P}


async def test_a_ringing_leg_is_canceled_not_completed() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice:
        await alice.send(type="call", to="bob")
        conference = await alice.conference(lambda c: True)
        cid, alice_leg, bob_leg = conference["id"], leg_id(conference, "alice"), leg_id(conference, "bob")
        alice_sid = twilio.sid_of((await twilio.requests(1))[0])
        await twilio.answer(alice_sid, cid, alice_leg, to="client:alice")
        bob_sid = twilio.sid_of((await twilio.requests(2))[1])
        await twilio.report(bob_sid, "initiated", cid, bob_leg)
        await twilio.report(bob_sid, "ringing", cid, bob_leg)
        await alice.conference(lambda c: legs(c).get("bob") == "ringing")

        await alice.send(type="hang_up", conference_id=cid)
        await twilio.requests(3)
        await twilio.report(alice_sid, "completed", cid, alice_leg, to="client:alice")
        await twilio.requests(4)
        await twilio.report(bob_sid, "canceled", cid, bob_leg)
        ended = await alice.conference(lambda c: c["status"] == "ended")
        assert legs(ended) == {"alice": "completed:hung-up", "bob": "canceled:caller-canceled"}
        assert summary((await twilio.settled())[2:]) == [
            ("POST", f"/Calls/{alice_sid}.json", {"Status": ["completed"]}),
            ("POST", f"/Calls/{bob_sid}.json", {"Status": ["canceled"]}),
        ]


async def test_a_leg_answered_while_its_cancel_was_on_the_way_is_completed() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice:
        await alice.send(type="call", to="bob")
        conference = await alice.conference(lambda c: True)
        cid, alice_leg = conference["id"], leg_id(conference, "alice")
        alice_sid = twilio.sid_of((await twilio.requests(1))[0])
        await twilio.answer(alice_sid, cid, alice_leg, to="client:alice")
        bob_sid = twilio.sid_of((await twilio.requests(2))[1])
        twilio.api.calls[bob_sid] = "in-progress"  # bob answered; Twilio has not called back yet

        await alice.send(type="hang_up", conference_id=cid)
        await twilio.requests(3)
        await twilio.report(alice_sid, "completed", cid, alice_leg, to="client:alice")
        assert summary((await twilio.requests(5))[3:]) == [
            ("POST", f"/Calls/{bob_sid}.json", {"Status": ["canceled"]}),
            ("POST", f"/Calls/{bob_sid}.json", {"Status": ["completed"]}),
        ]


async def test_a_browser_calls_a_telephone() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice:
        await alice.send(type="call", to=PHONE)
        conference = await alice.conference(lambda c: True)
        cid, alice_leg, phone_leg = conference["id"], leg_id(conference, "alice"), leg_id(conference, PHONE)
        alice_sid = twilio.sid_of((await twilio.requests(1))[0])
        await twilio.answer(alice_sid, cid, alice_leg, to="client:alice")
        phone_sid = twilio.sid_of((await twilio.requests(2))[1])
        await twilio.answer(phone_sid, cid, phone_leg, to=PHONE, from_=TWILIO_NUMBER)
        await alice.conference(lambda c: legs(c) == {"alice": P, PHONE: P})
        assert summary(await twilio.settled())[1] == (
            "POST",
            "/Calls.json",
            dialled(PHONE, TWILIO_NUMBER, cid, phone_leg),
        )


async def test_a_number_twilio_refuses_fails_the_leg() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice:
        await alice.send(type="call", to=INVALID_NUMBER)
        conference = await alice.conference(lambda c: True)
        alice_sid = twilio.sid_of((await twilio.requests(1))[0])
        await twilio.answer(alice_sid, conference["id"], leg_id(conference, "alice"), to="client:alice")
        await twilio.requests(2)
        failed = await alice.conference(lambda c: legs(c).get(INVALID_NUMBER) == "failed:unavailable")
        assert legs(failed)["alice"] == P  # and the rules now hang alice up, alone
        assert summary((await twilio.requests(3))[2:]) == [
            ("POST", f"/Calls/{alice_sid}.json", {"Status": ["completed"]})
        ]


async def test_muting_before_the_conference_reported_looks_it_up_by_name() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice, Page(url, "bob") as bob:
        call = await connected_call(url, twilio, alice, bob)
        twilio.api.conferences[call["id"]] = "CF" + "e" * 32
        twilio.api.participants["CF" + "e" * 32] = {call["alice_sid"]: False, call["bob_sid"]: False}
        await bob.send(type="mute", conference_id=call["id"], leg_id=call["bob"], muted=True)
        await twilio.requests(4)
        await bob.send(type="mute", conference_id=call["id"], leg_id=call["bob"], muted=False)
        assert summary((await twilio.requests(5))[2:]) == [
            ("GET", "/Conferences.json", {"FriendlyName": [call["id"]], "Status": ["in-progress"], "PageSize": ["1"]}),
            ("POST", f"/Conferences/CF{'e' * 32}/Participants/{call['bob_sid']}.json", {"Muted": ["true"]}),
            ("POST", f"/Conferences/CF{'e' * 32}/Participants/{call['bob_sid']}.json", {"Muted": ["false"]}),
        ]


async def test_a_hold_twilio_refuses_shows_bob_not_held_and_tells_the_chair_it_failed() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice, Page(url, "bob") as bob:
        call = await connected_call(url, twilio, alice, bob)
        conference_sid = "CF" + "a" * 32
        await twilio.conference(conference_sid, call["id"], "conference-start", 0)
        for sequence, who in ((1, "alice"), (2, "bob")):
            await twilio.conference(
                conference_sid, call["id"], "participant-join", sequence, call_sid=call[f"{who}_sid"], label=call[who]
            )
        twilio.api.broken.add(conference_sid)  # its participant updates fail with a 500

        def bobs(conference: dict[str, Any]) -> dict[str, Any]:
            return next(leg for leg in conference["legs"] if leg["id"] == call["bob"])

        await alice.send(type="hold", conference_id=call["id"], leg_id=call["bob"], held=True)
        for page in (alice, bob):
            await page.conference(lambda c: bobs(c)["held"])
            held_at = next(
                i for i, m in enumerate(page.messages) if m["type"] == "conference" and bobs(m["conference"])["held"]
            )
            # Then shown as Twilio has him: not on hold.
            async with asyncio.timeout(5):
                while not [
                    m
                    for m in page.messages[held_at + 1 :]
                    if m["type"] == "conference" and not bobs(m["conference"])["held"]
                ]:
                    await asyncio.sleep(0.01)
        refused = await alice.wait_for(lambda m: m["type"] == "refused")
        assert refused == {**refused, "code": "hold_failed", "message": "Hold failed: bob could not be put on hold"}
        assert not [m for m in bob.messages if m["type"] == "refused"]
        assert twilio.api.holds.get(conference_sid, {}).get(call["bob_sid"], False) is False


async def test_the_chair_holds_bob_with_the_participants_hold_and_hold_url_then_resumes_him() -> None:
    """Twilio's Update Participant: `Hold`, and `HoldUrl` with `HoldMethod` for what the held one hears."""
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice, Page(url, "bob") as bob:
        call = await connected_call(url, twilio, alice, bob)
        conference_sid = "CF" + "a" * 32
        await twilio.conference(conference_sid, call["id"], "conference-start", 0)
        for sequence, who in ((1, "alice"), (2, "bob")):
            await twilio.conference(
                conference_sid, call["id"], "participant-join", sequence, call_sid=call[f"{who}_sid"], label=call[who]
            )
        await alice.send(type="hold", conference_id=call["id"], leg_id=call["bob"], held=True)
        held = await bob.conference(lambda c: next(leg for leg in c["legs"] if leg["id"] == call["bob"])["held"])
        assert next(leg for leg in held["legs"] if leg["id"] == call["bob"])["held_by_chair"]
        await twilio.requests(4)
        await alice.send(type="hold", conference_id=call["id"], leg_id=call["bob"], held=False)
        participant = f"/Conferences/{conference_sid}/Participants/{call['bob_sid']}.json"
        hold_url = f"{PUBLIC_URL}/twilio/hold?music=1"
        assert summary((await twilio.requests(5))[2:]) == [
            PAUSED(conference_sid),
            ("POST", participant, {"Hold": ["true"], "HoldUrl": [hold_url], "HoldMethod": ["POST"]}),
            ("POST", participant, {"Hold": ["false"]}),
        ]
        assert twilio.api.holds[conference_sid][call["bob_sid"]] is False
        assert twilio.api.participants[conference_sid][call["bob_sid"]] is False  # the hold left the mute alone

        audio = await twilio.http.get("/twilio/hold-music.wav")
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(audio.content)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        assert len(samples) == 8 * 8000
        assert level_at(samples, PEDAL_HZ, rate=8000) > -40  # the music's own signal, as the tests hear it


async def test_a_call_from_a_telephone_rings_the_group_and_the_first_to_answer_takes_it() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "bob") as bob, Page(url, "carol") as carol:
        phone_sid = "CA" + "f" * 32
        twilio.api.calls[phone_sid] = "in-progress"
        response = await post_signed(twilio.http, "/twilio/incoming", incoming_call(phone_sid))
        assert f"c-{phone_sid}</Conference>" in response.text
        cid, phone_leg = f"c-{phone_sid}", f"l-{phone_sid}"
        create_bob, create_carol = await twilio.requests(2)
        bob_sid, carol_sid = twilio.sid_of(create_bob), twilio.sid_of(create_carol)
        bob_leg = create_bob.one("Url").rsplit("leg_id=", 1)[1]
        carol_leg = create_carol.one("Url").rsplit("leg_id=", 1)[1]
        for sid, leg, name in ((bob_sid, bob_leg, "bob"), (carol_sid, carol_leg, "carol")):
            await twilio.report(sid, "initiated", cid, leg, to=f"client:{name}", from_=TWILIO_NUMBER)
            await twilio.report(sid, "ringing", cid, leg, to=f"client:{name}", from_=TWILIO_NUMBER)
        ringing = await carol.conference(lambda c: legs(c) == {PHONE: P, "bob": "ringing", "carol": "ringing"})
        assert ringing["chair"] == PHONE

        await twilio.report(bob_sid, "in-progress", cid, bob_leg, to="client:bob", from_=TWILIO_NUMBER)
        await twilio.requests(3)  # carol stops ringing
        await twilio.report(carol_sid, "canceled", cid, carol_leg, to="client:carol", from_=TWILIO_NUMBER)
        taken = await carol.conference(lambda c: legs(c).get("carol") == "canceled:answered-elsewhere")
        assert legs(taken) == {PHONE: P, "bob": P, "carol": "canceled:answered-elsewhere"}

        # The caller hangs up: the number's own status callback, no query of ours.
        hung_up = call_status(phone_sid, "completed", 0, to=TWILIO_NUMBER, from_=PHONE, direction="inbound")
        assert (await post_signed(twilio.http, "/twilio/status", hung_up)).status_code == 204
        await twilio.requests(4)  # bob, left alone, is hung up
        await twilio.report(bob_sid, "completed", cid, bob_leg, to="client:bob", from_=TWILIO_NUMBER)
        ended = await bob.conference(lambda c: c["status"] == "ended")
        assert legs(ended) == {
            PHONE: "completed:hung-up",
            "bob": "completed:ended",
            "carol": "canceled:answered-elsewhere",
        }

        assert summary(await twilio.settled()) == [
            ("POST", "/Calls.json", dialled(client("bob", cid, bob_leg, PHONE, False), TWILIO_NUMBER, cid, bob_leg)),
            (
                "POST",
                "/Calls.json",
                dialled(client("carol", cid, carol_leg, PHONE, False), TWILIO_NUMBER, cid, carol_leg),
            ),
            ("POST", f"/Calls/{carol_sid}.json", {"Status": ["canceled"]}),
            ("POST", f"/Calls/{bob_sid}.json", {"Status": ["completed"]}),
        ]
        assert phone_leg == f"l-{phone_sid}"


async def test_nobody_answers_a_telephone_so_it_is_hung_up() -> None:
    async with talkbox_on_twilio(ring=("bob",)) as (_url, twilio):
        phone_sid = "CA" + "f" * 32
        twilio.api.calls[phone_sid] = "in-progress"
        await post_signed(twilio.http, "/twilio/incoming", incoming_call(phone_sid))
        (create_bob,) = await twilio.requests(1)
        bob_sid, bob_leg = twilio.sid_of(create_bob), create_bob.one("Url").rsplit("leg_id=", 1)[1]
        await twilio.report(bob_sid, "ringing", f"c-{phone_sid}", bob_leg, to="client:bob", from_=TWILIO_NUMBER)
        await twilio.report(bob_sid, "no-answer", f"c-{phone_sid}", bob_leg, to="client:bob", from_=TWILIO_NUMBER)
        assert summary((await twilio.requests(2))[1:]) == [
            ("POST", f"/Calls/{phone_sid}.json", {"Status": ["completed"]})
        ]


async def test_with_nobody_to_ring_a_telephone_is_hung_up_at_once() -> None:
    async with talkbox_on_twilio(ring=()) as (_url, twilio):
        phone_sid = "CA" + "f" * 32
        twilio.api.calls[phone_sid] = "in-progress"
        await post_signed(twilio.http, "/twilio/incoming", incoming_call(phone_sid))
        assert summary(await twilio.requests(1)) == [("POST", f"/Calls/{phone_sid}.json", {"Status": ["completed"]})]


async def test_a_page_that_rejects_over_the_websocket_rejects_the_twilio_call() -> None:
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice, Page(url, "bob") as bob:
        await alice.send(type="call", to="bob")
        conference = await alice.conference(lambda c: True)
        cid, alice_leg, bob_leg = conference["id"], leg_id(conference, "alice"), leg_id(conference, "bob")
        alice_sid = twilio.sid_of((await twilio.requests(1))[0])
        await twilio.answer(alice_sid, cid, alice_leg, to="client:alice")
        bob_sid = twilio.sid_of((await twilio.requests(2))[1])
        await twilio.report(bob_sid, "ringing", cid, bob_leg)
        await alice.send(type="reject", leg_id=bob_leg)  # not alice's leg to reject
        await bob.send(type="reject", leg_id=bob_leg)
        rejected = await alice.conference(lambda c: legs(c).get("bob") == "busy:rejected")
        assert legs(rejected)["alice"] == P
        await twilio.requests(4)
        await twilio.report(bob_sid, "canceled", cid, bob_leg)  # Twilio's word on it comes late
        await twilio.report(alice_sid, "completed", cid, alice_leg, to="client:alice")
        ended = await alice.conference(lambda c: c["status"] == "ended")
        assert (ended["end_reason"], legs(ended)) == ("busy", {"alice": "completed:ended", "bob": "busy:rejected"})
        assert summary((await twilio.settled())[2:]) == [
            ("POST", f"/Calls/{bob_sid}.json", {"Status": ["canceled"]}),
            ("POST", f"/Calls/{alice_sid}.json", {"Status": ["completed"]}),
        ]
