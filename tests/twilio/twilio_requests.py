"""Requests as Twilio sends them: its documented parameter sets, signed with a test auth token.

Parameter sets follow Twilio's docs for the voice request, the call status
callback (call progress events) and the conference status callback. The
signature is computed by the `twilio` package's own RequestValidator over the
public URL, exactly as Twilio computes it.
"""

from __future__ import annotations

import httpx
from twilio.request_validator import RequestValidator

from talkbox.providers.twilio.settings import TwilioSettings
from tests.twilio.fake_api import ACCOUNT

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://talkbox.example.org"
TWILIO_NUMBER = "+15005550006"
PHONE = "+441234567890"


def settings(ring: tuple[str, ...] = ("bob", "carol")) -> TwilioSettings:
    return TwilioSettings(
        account_sid=ACCOUNT,
        auth_token=AUTH_TOKEN,
        api_key="SK" + "b" * 32,
        api_secret="api-secret-for-tests-0123456789abcdef",
        twiml_app_sid="AP" + "c" * 32,
        caller_id=TWILIO_NUMBER,
        public_url=PUBLIC_URL,
        ring=ring,
    )


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


async def post_signed(
    http: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    *,
    signed_url: str | None = None,
    signed_params: dict[str, str] | None = None,
    token: str = AUTH_TOKEN,
) -> httpx.Response:
    """POST `params` to `path` (with its query) signed over PUBLIC_URL + path, as Twilio would.

    `signed_url` / `signed_params` / `token` sign something else: a forged request.
    """
    signature = sign(signed_url or PUBLIC_URL + path, signed_params if signed_params is not None else params, token)
    return await http.post(path, data=params, headers={"X-Twilio-Signature": signature})


def call_status(
    call_sid: str,
    status: str,
    sequence: int,
    *,
    to: str = "client:bob",
    from_: str = "client:alice",
    direction: str = "outbound-api",
) -> dict[str, str]:
    """A status callback for one call-progress event (initiated, ringing, answered, completed)."""
    params = {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Called": to,
        "Caller": from_,
        "Direction": direction,
        "From": from_,
        "To": to,
        "CallbackSource": "call-progress-events",
        "SequenceNumber": str(sequence),
        "Timestamp": f"Fri, 27 Nov 2026 16:00:{sequence:02d} +0000",
    }
    if status in ("completed", "busy", "no-answer", "canceled", "failed"):
        params |= {"CallDuration": "0" if status != "completed" else "42", "Duration": "1"}
        params["SipResponseCode"] = {"completed": "200", "busy": "486", "no-answer": "487", "canceled": "487"}.get(
            status, "404"
        )
    return params


def voice_request(call_sid: str, *, to: str = "client:bob", from_: str = "client:alice") -> dict[str, str]:
    """Twilio asking for TwiML once the call it placed was answered."""
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Called": to,
        "Caller": from_,
        "Direction": "outbound-api",
        "From": from_,
        "To": to,
    }


def incoming_call(call_sid: str, *, from_: str = PHONE) -> dict[str, str]:
    """A telephone calling the Twilio number (the number's voice webhook)."""
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Called": TWILIO_NUMBER,
        "CalledCountry": "US",
        "Caller": from_,
        "CallerCountry": "GB",
        "Direction": "inbound",
        "From": from_,
        "FromCountry": "GB",
        "To": TWILIO_NUMBER,
        "ToCountry": "US",
        "StirVerstat": "TN-Validation-Passed-A",
    }


def conference_status(
    conference_sid: str,
    name: str,
    event: str,
    sequence: int,
    *,
    call_sid: str | None = None,
    label: str | None = None,
    muted: bool = False,
) -> dict[str, str]:
    """A conference status callback (conference-start, participant-join, participant-leave, ...)."""
    params = {
        "AccountSid": ACCOUNT,
        "ConferenceSid": conference_sid,
        "FriendlyName": name,
        "StatusCallbackEvent": event,
        "SequenceNumber": str(sequence),
        "Timestamp": f"Fri, 27 Nov 2026 16:01:{sequence:02d} +0000",
    }
    if call_sid is not None:
        params |= {
            "CallSid": call_sid,
            "Muted": "true" if muted else "false",
            "Hold": "false",
            "Coaching": "false",
            "EndConferenceOnExit": "false",
            "StartConferenceOnEnter": "true",
        }
    if label is not None:
        params["ParticipantLabel"] = label
    if event == "participant-leave":
        params["ReasonParticipantLeft"] = "participant_hung_up"
    return params
