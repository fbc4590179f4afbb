"""A blind transfer out of a call of three in Twilio mode: the API requests, and the TwiML element by element.

alice chairs a call with bob and dave and transfers bob to carol. bob's call is redirected out of the
conference to ringback; carol is dialled into a new conference (the new call's id), from bob; once she
answers, bob's call fetches its voice URL for the new call and joins her there. If she does not, bob
hears the failed-transfer tone and his call is redirected back to the voice URL of the first call.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from tests.twilio.page import Page, leg_id, legs
from tests.twilio.test_rest_api import P, Twilio, client, talkbox_on_twilio
from tests.twilio.test_rest_api import connected_call as alice_calls_bob
from tests.twilio.test_transfer import FAILED, RINGBACK, plays
from tests.twilio.test_webhooks import conference_of
from tests.twilio.twilio_requests import PUBLIC_URL, post_signed, voice_request


async def three_way(url: str, twilio: Twilio, alice: Page, bob: Page) -> dict[str, Any]:
    call = await alice_calls_bob(url, twilio, alice, bob)
    await alice.send(type="add", conference_id=call["id"], to="dave")
    shown = await alice.conference(lambda c: "dave" in legs(c))
    call["dave"] = leg_id(shown, "dave")
    call["dave_sid"] = twilio.sid_of((await twilio.requests(3))[2])
    await twilio.answer(call["dave_sid"], call["id"], call["dave"], to="client:dave")
    await alice.conference(lambda c: legs(c) == {"alice": P, "bob": P, "dave": P})
    return call


async def transfer_bob(twilio: Twilio, alice: Page, bob: Page, call: dict[str, Any]) -> tuple[str, str, str]:
    """alice transfers bob to carol: the new call's id, carol's leg and her CallSid."""
    await alice.send(type="transfer", conference_id=call["id"], to="carol", leg_id=call["bob"])
    new = await bob.conference(lambda c: c["id"] != call["id"])
    ringback_bob, create_carol = (await twilio.requests(5))[3:]
    assert ringback_bob.path.endswith(f"/Calls/{call['bob_sid']}.json") and set(ringback_bob.form) == {"Twiml"}
    assert plays(ringback_bob.one("Twiml")) == [(RINGBACK, {"loop": "0"})]
    carol_leg = leg_id(new, "carol")
    assert create_carol.one("To") == client("carol", new["id"], carol_leg, "bob", False)
    assert create_carol.one("From") == "client:bob"
    assert create_carol.one("Url") == f"{PUBLIC_URL}/twilio/voice?conference_id={new['id']}&leg_id={carol_leg}"
    return new["id"], carol_leg, twilio.sid_of(create_carol)


async def test_bob_is_redirected_to_ringback_and_joins_carol_in_the_new_call_s_conference() -> None:
    async with (
        talkbox_on_twilio() as (url, twilio),
        Page(url, "alice") as alice,
        Page(url, "bob") as bob,
        Page(url, "carol"),
    ):
        call = await three_way(url, twilio, alice, bob)
        new, carol_leg, carol_sid = await transfer_bob(twilio, alice, bob, call)
        first = await alice.conference(lambda c: "bob" not in legs(c))
        assert legs(first) == {"alice": P, "dave": P}  # nobody else's call is touched: 5 requests so far

        await twilio.answer(carol_sid, new, carol_leg, to="client:carol")
        (back,) = (await twilio.requests(6))[5:]
        voice = f"{PUBLIC_URL}/twilio/voice?conference_id={new}&leg_id={call['bob']}"
        assert back.path.endswith(f"/Calls/{call['bob_sid']}.json")
        assert back.form == {"Url": [voice], "Method": ["POST"]}
        joined = await post_signed(
            twilio.http, f"/twilio/voice?conference_id={new}&leg_id={call['bob']}", voice_request(call["bob_sid"])
        )
        room = conference_of(joined.text)
        assert room.text == new and room.attrib["participantLabel"] == call["bob"]
        await bob.conference(lambda c: c["id"] == new and legs(c) == {"bob": P, "carol": P})

        # Twilio's callbacks for bob's call still name the first call: handed on, they end the new one's leg.
        await twilio.report(call["bob_sid"], "completed", call["id"], call["bob"])
        ended = await bob.conference(lambda c: c["id"] == new and legs(c)["bob"].startswith("completed"))
        assert ended["chair"] == "bob"
        seen = [m["conference"]["id"] for m in alice.messages if m["type"] == "conference"]
        assert new not in seen, "alice's page never hears of the new call"


async def test_carol_not_answering_plays_bob_the_tone_and_redirects_him_back_to_the_first_call() -> None:
    async with (
        talkbox_on_twilio() as (url, twilio),
        Page(url, "alice") as alice,
        Page(url, "bob") as bob,
        Page(url, "carol"),
    ):
        call = await three_way(url, twilio, alice, bob)
        new, carol_leg, carol_sid = await transfer_bob(twilio, alice, bob, call)
        await twilio.report(carol_sid, "no-answer", new, carol_leg)

        (returned,) = (await twilio.requests(6))[5:]
        assert returned.path.endswith(f"/Calls/{call['bob_sid']}.json") and set(returned.form) == {"Twiml"}
        root = ET.fromstring(returned.one("Twiml"))
        assert [(element.tag, element.text, element.attrib) for element in root] == [
            ("Play", FAILED, {}),
            (
                "Redirect",
                f"{PUBLIC_URL}/twilio/voice?conference_id={call['id']}&leg_id={call['bob']}",
                {"method": "POST"},
            ),
        ]
        await alice.conference(lambda c: legs(c) == {"alice": P, "dave": P})  # he had gone
        shown = [m["conference"] for m in alice.messages if m["type"] == "conference"]
        gone = next(i for i, c in enumerate(shown) if "bob" not in legs(c))
        assert legs(shown[-1]) == {"alice": P, "bob": P, "dave": P} and len(shown) > gone + 1  # and is back
        rejoined = await post_signed(
            twilio.http,
            f"/twilio/voice?conference_id={call['id']}&leg_id={call['bob']}",
            voice_request(call["bob_sid"]),
        )
        assert conference_of(rejoined.text).text == call["id"]
