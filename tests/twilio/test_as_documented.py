"""The whole server in Twilio mode where Twilio's documentation says what happens (issue 16).

Each test quotes the documentation it holds Talkbox to; the stand-in for
api.twilio.com behaves as that text says, and the test, playing Twilio, sends
only the callbacks Twilio would send.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.twilio.page import Page, leg_id, legs
from tests.twilio.test_reconcile import in_any_order, looked_up
from tests.twilio.test_rest_api import PAUSED, P, Twilio, summary, talkbox_on_twilio
from tests.twilio.test_webhooks import conference_of
from tests.twilio.twilio_requests import PHONE, TWILIO_NUMBER, call_status, incoming_call, post_signed

CONFERENCE_SID = "CF" + "9" * 32


async def test_a_leg_canceled_while_queued_ends_without_a_callback() -> None:
    """The Call resource: "If the call is canceled while still in `queued` status, no status callbacks are fired."

    A call from a telephone rings bob and carol at once; carol's call is still
    queued (accounts place one call a second) when bob answers. Talkbox cancels
    it and Twilio never reports on it: its leg must end all the same, and carol
    must be free to make a call.
    """
    async with talkbox_on_twilio() as (url, twilio), Page(url, "bob") as bob, Page(url, "carol") as carol:
        phone_sid = "CA" + "f" * 32
        twilio.api.calls[phone_sid] = P
        await post_signed(twilio.http, "/twilio/incoming", incoming_call(phone_sid))
        cid = f"c-{phone_sid}"
        create_bob, create_carol = await twilio.requests(2)
        bob_sid, carol_sid = twilio.sid_of(create_bob), twilio.sid_of(create_carol)
        bob_leg = create_bob.one("Url").rsplit("leg_id=", 1)[1]
        for status in ("initiated", "ringing", P):
            await twilio.report(bob_sid, status, cid, bob_leg, to="client:bob", from_=TWILIO_NUMBER)

        ended = await bob.conference(lambda c: legs(c).get("carol") == "canceled:answered-elsewhere", timeout=3)
        assert legs(ended)["bob"] == P
        assert summary(await twilio.requests(3))[2] == ("POST", f"/Calls/{carol_sid}.json", {"Status": ["canceled"]})
        assert twilio.api.calls[carol_sid] == "canceled"

        await carol.send(type="call", to="alice")
        placed = await carol.conference(lambda c: c["chair"] == "carol", timeout=3)
        assert leg_id(placed, "carol")
        assert not [m for m in carol.messages if m["type"] == "refused"]


async def test_a_ring_group_still_queued_when_the_caller_gives_up_ends_without_callbacks() -> None:
    """The Call resource: "If the call is canceled while still in `queued` status, no status callbacks are fired."

    The telephone hangs up while both calls it rang are still queued: both are
    canceled, Twilio says nothing more, and the conference ends.
    """
    async with talkbox_on_twilio() as (url, twilio), Page(url, "bob") as bob:
        phone_sid = "CA" + "f" * 32
        twilio.api.calls[phone_sid] = P
        await post_signed(twilio.http, "/twilio/incoming", incoming_call(phone_sid))
        create_bob, create_carol = await twilio.requests(2)
        hung_up = call_status(phone_sid, "completed", 0, to=TWILIO_NUMBER, from_=PHONE, direction="inbound")
        assert (await post_signed(twilio.http, "/twilio/status", hung_up)).status_code == 204
        cancels = [
            ("POST", f"/Calls/{twilio.sid_of(r)}.json", {"Status": ["canceled"]}) for r in (create_bob, create_carol)
        ]
        assert in_any_order(summary((await twilio.requests(4))[2:])) == in_any_order(cancels)
        # Neither stays `already_in_call`: both legs ended, so both may place calls.
        async with Page(url, "carol") as carol:
            await carol.send(type="call", to="alice")
            await carol.conference(lambda c: c["chair"] == "carol", timeout=3)
        await bob.send(type="call", to="alice")
        await bob.conference(lambda c: c["chair"] == "bob", timeout=3)


async def ringing_guest(url: str, twilio: Twilio, alice: Page, *, joined_reported: bool = True) -> dict[str, str]:
    """alice calls bob; alice is answered and in the conference (still `init`), bob's call rings.

    Without `joined_reported`, Twilio's callback that alice joined has not reached Talkbox.
    """
    await alice.send(type="call", to="bob")
    conference = await alice.conference(lambda c: True)
    cid, alice_leg, bob_leg = conference["id"], leg_id(conference, "alice"), leg_id(conference, "bob")
    alice_sid = twilio.sid_of((await twilio.requests(1))[0])
    await twilio.answer(alice_sid, cid, alice_leg, to="client:alice")
    if joined_reported:
        await twilio.conference(CONFERENCE_SID, cid, "participant-join", 0, call_sid=alice_sid, label=alice_leg)
    else:
        twilio.api.conferences[cid] = CONFERENCE_SID
        twilio.api.conference_status[cid] = "init"
        twilio.api.participants[CONFERENCE_SID] = {alice_sid: False}
    bob_sid = twilio.sid_of((await twilio.requests(2))[1])
    for status in ("initiated", "ringing"):
        await twilio.report(bob_sid, status, cid, bob_leg)
    await alice.conference(lambda c: legs(c).get("bob") == "ringing")
    return {"id": cid, "alice": alice_leg, "bob": bob_leg, "alice_sid": alice_sid, "bob_sid": bob_sid}


def muted_legs(conference: dict[str, Any]) -> dict[str, bool]:
    return {leg["destination"]: leg["muted"] for leg in conference["legs"]}


async def test_a_guest_muted_while_ringing_joins_muted() -> None:
    """The Participants subresource "only manages active participants of in-progress Conferences".

    A guest muted before they join is not yet a participant, so nothing can be
    asked of Twilio then; the mute goes into the `<Conference muted="true">` they
    join with, and Twilio has them muted from their first moment in the call.
    """
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice, Page(url, "bob") as bob:
        call = await ringing_guest(url, twilio, alice)
        await alice.send(type="mute", conference_id=call["id"], leg_id=call["bob"], muted=True)
        await alice.conference(lambda c: muted_legs(c)["bob"])
        joined = await twilio.answer(call["bob_sid"], call["id"], call["bob"])
        assert conference_of(joined).attrib["muted"] == "true"
        await twilio.conference(
            CONFERENCE_SID, call["id"], "participant-join", 1, call_sid=call["bob_sid"], label=call["bob"], muted=True
        )
        await twilio.conference(CONFERENCE_SID, call["id"], "conference-start", 2)
        shown = await bob.conference(lambda c: legs(c) == {"alice": P, "bob": P})
        assert muted_legs(shown) == {"alice": False, "bob": True}
        assert twilio.api.participants[CONFERENCE_SID] == {call["alice_sid"]: False, call["bob_sid"]: True}
        assert summary([r for r in await twilio.settled() if "/Conferences/" in r.path]) == [PAUSED(CONFERENCE_SID)]


async def test_a_mute_twilio_could_not_apply_yet_is_applied_when_the_guest_joins() -> None:
    """The Participants subresource "only manages active participants of in-progress Conferences".

    bob answered and fetched the TwiML (unmuted then); alice mutes him before
    Twilio has him in the conference, and the update is refused (404). When
    Twilio reports him joined, unmuted, Talkbox mutes him.
    """
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice:
        call = await ringing_guest(url, twilio, alice)
        await twilio.answer(call["bob_sid"], call["id"], call["bob"])
        await alice.conference(lambda c: legs(c) == {"alice": P, "bob": P})
        before = len(twilio.api.requests)
        await alice.send(type="mute", conference_id=call["id"], leg_id=call["bob"], muted=True)
        await alice.conference(lambda c: muted_legs(c)["bob"])
        update = ("POST", f"/Conferences/{CONFERENCE_SID}/Participants/{call['bob_sid']}.json", {"Muted": ["true"]})
        assert summary((await twilio.requests(before + 1))[before:]) == [update]
        assert call["bob_sid"] not in twilio.api.participants[CONFERENCE_SID]  # refused: not a participant yet

        await twilio.conference(
            CONFERENCE_SID, call["id"], "participant-join", 1, call_sid=call["bob_sid"], label=call["bob"]
        )
        await twilio.conference(CONFERENCE_SID, call["id"], "conference-start", 2)
        assert summary((await twilio.requests(before + 3))[before + 1 :]) == [update, PAUSED(CONFERENCE_SID)]
        assert twilio.api.participants[CONFERENCE_SID][call["bob_sid"]] is True
        assert len(await twilio.settled()) == before + 3
        assert muted_legs(alice.messages[-1]["conference"]) == {"alice": False, "bob": True}


async def test_a_chair_who_mutes_alone_in_a_conference_not_yet_started_is_muted_once_it_starts() -> None:
    """A conference with one participant is in `init`; Participants "only manages active participants of
    in-progress Conferences".

    alice, alone while bob rings, mutes herself. Talkbox finds the conference
    in `init` (not only `in-progress`), Twilio refuses the update, and when the
    conference starts Talkbox mutes her.
    """
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice:
        call = await ringing_guest(url, twilio, alice, joined_reported=False)
        before = len(twilio.api.requests)
        await alice.send(type="mute", conference_id=call["id"], leg_id=call["alice"], muted=True)
        update = ("POST", f"/Conferences/{CONFERENCE_SID}/Participants/{call['alice_sid']}.json", {"Muted": ["true"]})
        assert summary((await twilio.requests(before + 3))[before:]) == [
            looked_up(call["id"], "in-progress"),
            looked_up(call["id"], "init"),
            update,
        ]
        assert twilio.api.participants[CONFERENCE_SID][call["alice_sid"]] is False

        await twilio.answer(call["bob_sid"], call["id"], call["bob"])
        await twilio.conference(
            CONFERENCE_SID, call["id"], "participant-join", 1, call_sid=call["bob_sid"], label=call["bob"]
        )
        await twilio.conference(CONFERENCE_SID, call["id"], "conference-start", 2)
        assert summary((await twilio.requests(before + 5))[before + 3 :]) == [PAUSED(CONFERENCE_SID), update]
        assert twilio.api.participants[CONFERENCE_SID] == {call["alice_sid"]: True, call["bob_sid"]: False}
        shown = await alice.conference(lambda c: legs(c) == {"alice": P, "bob": P})
        assert muted_legs(shown) == {"alice": True, "bob": False}


async def test_a_mute_twilio_refuses_is_not_shown() -> None:
    """A participant update can fail (here Twilio answers 500): then the page must not show a mute Twilio lacks."""
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice, Page(url, "bob") as bob:
        call = await ringing_guest(url, twilio, alice)
        await twilio.answer(call["bob_sid"], call["id"], call["bob"])
        await twilio.conference(
            CONFERENCE_SID, call["id"], "participant-join", 1, call_sid=call["bob_sid"], label=call["bob"]
        )
        await twilio.conference(CONFERENCE_SID, call["id"], "conference-start", 2)
        await bob.conference(lambda c: legs(c) == {"alice": P, "bob": P})
        twilio.api.broken.add(CONFERENCE_SID)
        await alice.send(type="mute", conference_id=call["id"], leg_id=call["bob"], muted=True)
        await bob.conference(lambda c: muted_legs(c)["bob"])
        async with asyncio.timeout(3):
            while muted_legs(bob.messages[-1]["conference"])["bob"]:
                await asyncio.sleep(0.01)
        assert twilio.api.participants[CONFERENCE_SID][call["bob_sid"]] is False


async def test_the_chair_waits_to_ringback_and_a_telephone_caller_to_twilios_music() -> None:
    """`<Conference>`: a participant alone waits for the conference to start, to the `waitUrl`.

    The chair waits while the guests ring, so it hears ringback Talkbox serves;
    a telephone caller waits for a browser to answer and keeps Twilio's music.
    """
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice:
        await alice.send(type="call", to="bob")
        conference = await alice.conference(lambda c: True)
        alice_sid = twilio.sid_of((await twilio.requests(1))[0])
        joined = await twilio.answer(alice_sid, conference["id"], leg_id(conference, "alice"), to="client:alice")
        assert conference_of(joined).attrib["waitUrl"] == "https://talkbox.example.org/twilio/wait"
        wait = await post_signed(twilio.http, "/twilio/wait", {"CallSid": alice_sid, "AccountSid": "AC"})
        assert "https://talkbox.example.org/twilio/ringback.wav</Play>" in wait.text
        tone = await twilio.http.get("/twilio/ringback.wav")
        assert tone.status_code == 200 and tone.content.startswith(b"RIFF")

        phone_sid = "CA" + "f" * 32
        twilio.api.calls[phone_sid] = P
        caller = await post_signed(twilio.http, "/twilio/incoming", incoming_call(phone_sid))
        assert "waitUrl" not in conference_of(caller.text).attrib


SDK_PARSER = Path(__file__).parents[2] / "web/node_modules/@twilio/voice-sdk/es5/twilio/util.js"


def parsed_by_the_sdk(query: str) -> dict[str, str]:
    """The custom parameters @twilio/voice-sdk makes of a query: its own `queryToJson`, run by node."""
    assert SDK_PARSER.exists(), f"{SDK_PARSER} is missing: run `make web` (npm ci) first"
    script = "process.stdout.write(JSON.stringify(require(process.argv[1]).queryToJson(process.argv[2])))"
    result = subprocess.run(
        ["node", "-e", script, str(SDK_PARSER), query], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(result.stdout)


async def test_a_telephone_callers_number_reaches_the_page_with_its_plus() -> None:
    """@twilio/voice-sdk reads custom parameters with `decodeURIComponent(value.replace(/\\+/g, '%20'))`.

    So a bare `+` would reach the page as a space; the `+` of the caller's
    number must travel as `%2B`. Parsed by the SDK's own function, the
    parameters of the call that rings bob name the caller `+441234567890`.
    """
    async with talkbox_on_twilio(ring=("bob",)) as (_url, twilio):
        phone_sid = "CA" + "f" * 32
        twilio.api.calls[phone_sid] = P
        await post_signed(twilio.http, "/twilio/incoming", incoming_call(phone_sid))
        (create_bob,) = await twilio.requests(1)
        to = create_bob.one("To")
        assert to.startswith("client:bob?")
        parameters = parsed_by_the_sdk(to.split("?", 1)[1])
        assert parameters["caller"] == PHONE == "+441234567890"
        assert parameters["auto_answer"] == "false"
        assert parameters["conference_id"] == f"c-{phone_sid}"
    # And the parser itself is the one that needs it: a bare + would be a space.
    assert parsed_by_the_sdk("caller=+441234567890") == {"caller": " 441234567890"}


async def test_a_guest_muted_before_being_dialled_joins_muted_and_stays_muted() -> None:
    """The chair mutes a guest still waiting to be dialled: no Twilio call exists to mute, so the
    `<Conference muted="true">` of the join carries it, and Twilio's report of that join changes nothing."""
    async with talkbox_on_twilio() as (url, twilio), Page(url, "alice") as alice:
        await alice.send(type="call", to="bob")
        conference = await alice.conference(lambda c: True)
        cid, alice_leg, bob_leg = conference["id"], leg_id(conference, "alice"), leg_id(conference, "bob")
        await alice.send(type="mute", conference_id=cid, leg_id=bob_leg, muted=True)
        await alice.conference(lambda c: muted_legs(c)["bob"])
        alice_sid = twilio.sid_of((await twilio.requests(1))[0])
        await twilio.answer(alice_sid, cid, alice_leg, to="client:alice")
        await twilio.conference(CONFERENCE_SID, cid, "participant-join", 0, call_sid=alice_sid, label=alice_leg)
        bob_sid = twilio.sid_of((await twilio.requests(2))[1])
        joined = await twilio.answer(bob_sid, cid, bob_leg)
        assert conference_of(joined).attrib["muted"] == "true"
        await twilio.conference(CONFERENCE_SID, cid, "participant-join", 1, call_sid=bob_sid, label=bob_leg, muted=True)
        await twilio.conference(CONFERENCE_SID, cid, "conference-start", 2)
        await alice.conference(lambda c: legs(c) == {"alice": P, "bob": P})
        assert summary([r for r in await twilio.settled() if "/Conferences/" in r.path]) == [PAUSED(CONFERENCE_SID)]
        assert twilio.api.participants[CONFERENCE_SID] == {alice_sid: False, bob_sid: True}
        assert muted_legs(alice.messages[-1]["conference"]) == {"alice": False, "bob": True}
