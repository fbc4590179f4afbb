"""Blind transfer in Twilio mode: the exact API requests, and the TwiML element by element.

The waiting party is redirected (`calls.update` with `Twiml`) to ringback, out of
the conference; the target is dialled into the same conference; once it answers,
the waiting call fetches its voice URL again (`calls.update` with `Url`) and joins.
"""

from __future__ import annotations

import io
import wave
import xml.etree.ElementTree as ET

from tests.twilio.page import Page, leg_id, legs
from tests.twilio.test_rest_api import P, client, summary, talkbox_on_twilio
from tests.twilio.test_rest_api import connected_call as alice_calls_bob
from tests.twilio.test_webhooks import conference_of
from tests.twilio.twilio_requests import PUBLIC_URL, post_signed, voice_request

RINGBACK = f"{PUBLIC_URL}/twilio/ringback.wav"
FAILED = f"{PUBLIC_URL}/twilio/transfer-failed.wav"


def plays(document: str) -> list[tuple[str, dict[str, str]]]:
    """The <Play> elements of a TwiML document, which must hold nothing else: (URL, attributes)."""
    root = ET.fromstring(document)
    assert root.tag == "Response" and root.attrib == {}
    assert all(element.tag == "Play" and list(element) == [] for element in root)
    return [(str(element.text), element.attrib) for element in root]


async def test_transfer_redirects_bob_to_ringback_dials_carol_as_bob_and_puts_bob_back_when_she_answers() -> None:
    async with (
        talkbox_on_twilio() as (url, twilio),
        Page(url, "alice") as alice,
        Page(url, "bob") as bob,
        Page(url, "carol") as carol,
    ):
        call = await alice_calls_bob(url, twilio, alice, bob)
        cid = call["id"]
        await alice.send(type="transfer", conference_id=cid, to="carol")
        shown = await bob.conference(lambda c: "carol" in legs(c))
        carol_leg = leg_id(shown, "carol")
        complete_alice, ringback_bob, create_carol = (await twilio.requests(5))[2:]
        assert summary([complete_alice]) == [("POST", f"/Calls/{call['alice_sid']}.json", {"Status": ["completed"]})]
        assert ringback_bob.path.endswith(f"/Calls/{call['bob_sid']}.json")
        assert set(ringback_bob.form) == {"Twiml"}
        assert plays(ringback_bob.one("Twiml")) == [(RINGBACK, {"loop": "0"})]
        # carol is rung from bob, into the same conference: the call is bob's now.
        assert create_carol.one("To") == client("carol", cid, carol_leg, "bob", False)
        assert create_carol.one("From") == "client:bob"
        assert create_carol.one("Url") == f"{PUBLIC_URL}/twilio/voice?conference_id={cid}&leg_id={carol_leg}"

        # Twilio answered the completion with the call's end: alice's page is told at once.
        await alice.conference(lambda c: legs(c)["alice"] == "completed:transferred")
        await twilio.report(call["alice_sid"], "completed", cid, call["alice"])  # and its callback is late news

        carol_sid = twilio.sid_of(create_carol)
        joined = await twilio.answer(carol_sid, cid, carol_leg)
        assert conference_of(joined).text == cid
        (back,) = (await twilio.requests(6))[5:]
        assert summary([back]) == [
            (
                "POST",
                f"/Calls/{call['bob_sid']}.json",
                {"Url": [f"{PUBLIC_URL}/twilio/voice?conference_id={cid}&leg_id={call['bob']}"], "Method": ["POST"]},
            )
        ]
        rejoined = await post_signed(
            twilio.http, f"/twilio/voice?conference_id={cid}&leg_id={call['bob']}", voice_request(call["bob_sid"])
        )
        room = conference_of(rejoined.text)
        assert room.text == cid and room.attrib["participantLabel"] == call["bob"]
        settled = await carol.conference(lambda c: legs(c) == {"alice": "completed:transferred", "bob": P, "carol": P})
        assert settled["chair"] == "bob" and settled["transfer"] is None
        assert len(await twilio.settled()) == 6


async def test_carol_not_answering_plays_bob_the_failed_tone_and_rings_alice_again() -> None:
    async with (
        talkbox_on_twilio() as (url, twilio),
        Page(url, "alice") as alice,
        Page(url, "bob") as bob,
        Page(url, "carol"),  # online, so she is rung
    ):
        call = await alice_calls_bob(url, twilio, alice, bob)
        cid = call["id"]
        await alice.send(type="transfer", conference_id=cid, to="carol")
        shown = await bob.conference(lambda c: "carol" in legs(c))
        create_carol = (await twilio.requests(5))[4]
        await twilio.report(twilio.sid_of(create_carol), "no-answer", cid, leg_id(shown, "carol"))

        recall_bob, create_alice = (await twilio.requests(7))[5:]
        assert recall_bob.path.endswith(f"/Calls/{call['bob_sid']}.json")
        assert plays(recall_bob.one("Twiml")) == [(FAILED, {}), (RINGBACK, {"loop": "0"})]
        recalling = await bob.conference(lambda c: (c["transfer"] or {}).get("status") == "recalling")
        (recall_leg,) = [
            leg["id"] for leg in recalling["legs"] if leg["destination"] == "alice" and leg["status"] == "queued"
        ]
        assert create_alice.one("To") == client("alice", cid, recall_leg, "bob", False)
        assert create_alice.one("From") == "client:bob"

        # alice takes bob back: he is put back into the conference, and she chairs it again.
        await twilio.answer(twilio.sid_of(create_alice), cid, recall_leg, to="client:alice")
        (back,) = (await twilio.requests(8))[7:]
        assert back.path.endswith(f"/Calls/{call['bob_sid']}.json")
        assert back.form == {
            "Url": [f"{PUBLIC_URL}/twilio/voice?conference_id={cid}&leg_id={call['bob']}"],
            "Method": ["POST"],
        }
        again = await alice.conference(lambda c: legs(c)["alice"] == P and len(c["legs"]) == 4)
        assert (again["chair"], again["transfer"], legs(again)["bob"]) == ("alice", None, P)


async def test_a_redirect_twilio_refuses_changes_nothing_the_call_s_end_is_reported_anyway() -> None:
    """The Call resource takes new instructions only for a call in progress (21220); the transfer goes on."""
    async with (
        talkbox_on_twilio() as (url, twilio),
        Page(url, "alice") as alice,
        Page(url, "bob") as bob,
        Page(url, "carol"),
    ):
        call = await alice_calls_bob(url, twilio, alice, bob)
        twilio.api.calls[call["bob_sid"]] = "completed"  # bob hung up; Twilio's callback is still on its way
        await alice.send(type="transfer", conference_id=call["id"], to="carol")
        await bob.conference(lambda c: "carol" in legs(c))
        refused, create_carol = (await twilio.requests(5))[3:]
        assert refused.path.endswith(f"/Calls/{call['bob_sid']}.json") and set(refused.form) == {"Twiml"}
        assert create_carol.path.endswith("/Calls.json")
        await twilio.report(call["bob_sid"], "completed", call["id"], call["bob"])
        ended = await bob.conference(lambda c: legs(c).get("bob") == "completed:hung-up", timeout=5)
        # Nobody waits any more: carol stops ringing.
        assert ended["transfer"] is None and legs(ended)["carol"] == "queued"
        cancel_carol = (await twilio.requests(6))[5]
        assert summary([cancel_carol]) == [
            ("POST", f"/Calls/{twilio.sid_of(create_carol)}.json", {"Status": ["canceled"]})
        ]


async def test_the_failed_transfer_tone_is_served_as_a_wav_twilio_can_play() -> None:
    async with talkbox_on_twilio() as (_url, twilio):
        response = await twilio.http.get("/twilio/transfer-failed.wav")
        assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(response.content)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
            assert 1.0 < wav.getnframes() / 8000 < 3.0
