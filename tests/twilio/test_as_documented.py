"""The whole server in Twilio mode where Twilio's documentation says what happens (issue 16).

Each test quotes the documentation it holds Talkbox to; the stand-in for
api.twilio.com behaves as that text says, and the test, playing Twilio, sends
only the callbacks Twilio would send.
"""

from __future__ import annotations

from tests.twilio.page import Page, leg_id, legs
from tests.twilio.test_rest_api import P, summary, talkbox_on_twilio
from tests.twilio.twilio_requests import TWILIO_NUMBER, incoming_call, post_signed


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
