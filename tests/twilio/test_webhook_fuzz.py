"""Fuzzing the webhooks: whatever arrives, signed or not, gets an answer below 500.

Signed garbage exercises the parsing behind the signature check (a leaked
auth token, or a Twilio that changes its parameters); unsigned requests must
publish nothing. After the flood, a real callback is still handled.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talkbox.events.models import LegStatusChanged
from tests.twilio.test_webhooks import STATUS, Webhooks
from tests.twilio.twilio_requests import call_status, post_signed

PATHS = ("/twilio/status", "/twilio/voice", "/twilio/conference", "/twilio/incoming")
TWILIO_KEYS = (
    "CallSid",
    "CallStatus",
    "SequenceNumber",
    "Timestamp",
    "CallbackSource",
    "ConferenceSid",
    "StatusCallbackEvent",
    "FriendlyName",
    "Muted",
    "From",
    "To",
    "Direction",
    "AccountSid",
    "SipResponseCode",
)
text = st.text(max_size=80) | st.sampled_from(["", "completed", "in-progress", "-1", "9" * 40, "client:bob", "NaN"])
params = st.dictionaries(st.sampled_from(TWILIO_KEYS) | st.text(min_size=1, max_size=20), text, max_size=12)
query = st.dictionaries(st.sampled_from(["conference_id", "leg_id", "x"]), st.text(max_size=70), max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), query=query, form=params, signed=st.booleans())
def test_any_webhook_request_is_answered_without_a_server_error(
    path: str, query: dict[str, str], form: dict[str, str], signed: bool
) -> None:
    async def attempt() -> None:
        hooks = Webhooks()
        async with hooks.http:
            url = f"{path}?{urlencode(query)}" if query else path
            if signed:
                response = await post_signed(hooks.http, url, form)
            else:
                response = await hooks.http.post(url, data=form)
            assert response.status_code < 500, (response.status_code, response.text)
            if not signed:
                assert response.status_code == 403
                assert hooks.published == []

    asyncio.run(attempt())


async def test_after_garbage_a_real_callback_is_still_handled() -> None:
    hooks = Webhooks()
    async with hooks.http:
        for garbage in ({"CallStatus": "\x00" * 50}, {"SequenceNumber": "x"}, {}):
            assert (await post_signed(hooks.http, STATUS, garbage)).status_code < 500
        response = await post_signed(hooks.http, STATUS, call_status("CA" + "1" * 32, "ringing", 1))
        assert response.status_code < 300
        assert any(isinstance(e, LegStatusChanged) and e.status == "ringing" for e in hooks.published)
