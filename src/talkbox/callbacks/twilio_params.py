"""The parameters Twilio posts to each webhook, as documented by Twilio (field names are Twilio's).

Only what Talkbox reads is required; everything else Twilio sends is kept and ignored.
They also describe the request bodies in the OpenAPI document.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _TwilioParams(BaseModel):
    model_config = ConfigDict(extra="allow")

    AccountSid: str | None = None
    ApiVersion: str | None = None


class CallParams(_TwilioParams):
    """A voice request (TwiML wanted) or a call status callback."""

    CallSid: str
    CallStatus: str | None = None
    Direction: str | None = None
    From: str | None = None
    To: str | None = None
    # Status callbacks only: Twilio numbers them from 0, in the order the events happened.
    SequenceNumber: int | None = None
    Timestamp: str | None = None
    CallbackSource: str | None = None
    CallDuration: str | None = None
    SipResponseCode: str | None = None


class ConferenceParams(_TwilioParams):
    """A conference status callback."""

    ConferenceSid: str
    FriendlyName: str | None = None
    StatusCallbackEvent: str
    SequenceNumber: int | None = None
    Timestamp: str | None = None
    CallSid: str | None = None
    ParticipantLabel: str | None = None
    Muted: str | None = None
    ReasonParticipantLeft: str | None = None


class RecordingParams(_TwilioParams):
    """A recording status callback (a call recording, or a voicemail's <Record>)."""

    RecordingSid: str
    RecordingUrl: str
    RecordingStatus: str
    CallSid: str | None = None
    RecordingDuration: str | None = None
    RecordingChannels: str | None = None
    RecordingSource: str | None = None


def form_body(model: type[BaseModel]) -> dict[str, object]:
    """An OpenAPI requestBody for a form-encoded Twilio request."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": model.model_json_schema()}},
        }
    }
