"""The webhook endpoints alone: signed requests in, TwiML and events out; forged ones refused.

The app under test is the callbacks router on its own, publishing into a list.
Requests reach it at http://talkbox.internal (the address behind a proxy) while
Twilio signs https://talkbox.example.org (TALKBOX_PUBLIC_URL): the check must
use the public one.
"""

from __future__ import annotations

import io
import wave
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from talkbox.callbacks.twilio_routes import twilio_router
from talkbox.events.models import (
    ConferenceStatusChanged,
    Event,
    IncomingPhoneCall,
    LegStatusChanged,
)
from tests.twilio.twilio_requests import (
    AUTH_TOKEN,
    PHONE,
    PUBLIC_URL,
    call_status,
    conference_status,
    incoming_call,
    post_signed,
    voice_request,
)

CALL = "CA" + "1" * 32
CONF = "CF" + "2" * 32
STATUS = "/twilio/status?conference_id=c-1&leg_id=l-bob"
VOICE = "/twilio/voice?conference_id=c-1&leg_id=l-bob"


class Webhooks:
    def __init__(self, signing_key: str | None = None) -> None:
        self.published: list[Event] = []
        app = FastAPI()
        app.include_router(twilio_router(AUTH_TOKEN, PUBLIC_URL, self.publish, signing_key=signing_key))
        self.app = app
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://talkbox.internal")

    async def publish(self, event: Event) -> None:
        self.published.append(event)


@pytest.fixture
async def hooks() -> AsyncIterator[Webhooks]:
    webhooks = Webhooks()
    async with webhooks.http:
        yield webhooks


def conference_of(document: str) -> ET.Element:
    """Parse TwiML and return its only <Conference>, checking the path to it element by element."""
    root = ET.fromstring(document)
    assert root.tag == "Response" and root.attrib == {}
    (dial,) = list(root)
    assert dial.tag == "Dial" and dial.attrib == {}
    (conference,) = list(dial)
    assert conference.tag == "Conference" and list(conference) == []
    return conference


async def test_an_answered_leg_is_put_in_its_conference(hooks: Webhooks) -> None:
    """A lone participant hears the conference's wait music until it starts: for a leg Talkbox placed, ringback.

    `<Conference>`: with `waitUrl`, Twilio requests it before the conference starts, and
    "if you specify `waitUrl`, the default method is `POST`".
    """
    response = await post_signed(hooks.http, VOICE, voice_request(CALL))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    conference = conference_of(response.text)
    assert conference.text == "c-1"
    assert conference.attrib == {
        "startConferenceOnEnter": "true",
        "endConferenceOnExit": "false",
        "beep": "false",
        "participantLabel": "l-bob",
        # The conference's own recording: from its start, paused by the provider until the chair records.
        "record": "record-from-start",
        "recordingStatusCallback": f"{PUBLIC_URL}/twilio/recording?conference_id=c-1",
        "recordingStatusCallbackEvent": "completed",
        "recordingStatusCallbackMethod": "POST",
        "statusCallback": f"{PUBLIC_URL}/twilio/conference?conference_id=c-1",
        "statusCallbackEvent": "start end join leave mute",
        "statusCallbackMethod": "POST",
        "waitUrl": f"{PUBLIC_URL}/twilio/wait",
        "waitMethod": "POST",
    }
    assert hooks.published == []  # TwiML only: the status callback reports the answer


async def test_the_wait_url_plays_talkboxs_own_ringback_tone(hooks: Webhooks) -> None:
    """Twilio: "The TwiML that executes via the waitUrl, holdUrl, or announceUrl can only contain Say, Play,
    Pause, and Redirect verbs."

    So the wait URL answers one `<Play>` of the ringback tone Talkbox serves,
    looped (`loop="0"`) until the conference starts. The tone is North American
    ringback: 440 Hz and 480 Hz together, two seconds on, four off.
    """
    response = await post_signed(hooks.http, "/twilio/wait", voice_request(CALL))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    (play,) = list(root)
    assert (root.tag, play.tag, play.attrib, play.text) == (
        "Response",
        "Play",
        {"loop": "0"},
        f"{PUBLIC_URL}/twilio/ringback.wav",
    )
    assert (await hooks.http.post("/twilio/wait", data=voice_request(CALL))).status_code == 403

    audio = await hooks.http.get("/twilio/ringback.wav")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    assert len(samples) == 6 * 8000
    tone, silence = samples[: 2 * 8000], samples[2 * 8000 :]
    assert not silence.any()
    spectrum = np.abs(np.fft.rfft(tone)) / len(tone)
    frequencies = np.fft.rfftfreq(len(tone), 1 / 8000)
    loudest = sorted(frequencies[np.argsort(spectrum)[-2:]])
    assert loudest == [440.0, 480.0]
    assert 0.05 * 32768 < np.sqrt(np.mean(tone**2)) < 0.5 * 32768  # clearly heard, far from clipping


async def test_the_hold_url_plays_talkboxs_music_on_hold_or_a_silence_that_lasts(hooks: Webhooks) -> None:
    """The participant's holdUrl: "a TwiML document that contains <Play>, <Say>, <Pause>, or <Redirect> verbs".

    Held by the chair: one `<Play>` of Talkbox's own music, looped. Away on another call:
    a `<Pause>` that `<Redirect>`s back to itself, so the silence lasts as long as the hold.
    """
    response = await post_signed(hooks.http, "/twilio/hold?music=1", voice_request(CALL))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    (play,) = list(root)
    assert (root.tag, root.attrib, play.tag, play.attrib, play.text) == (
        "Response",
        {},
        "Play",
        {"loop": "0"},
        f"{PUBLIC_URL}/twilio/hold-music.wav",
    )

    response = await post_signed(hooks.http, "/twilio/hold?music=0", voice_request(CALL))
    root = ET.fromstring(response.text)
    pause, redirect = list(root)
    assert (pause.tag, pause.attrib, list(pause)) == ("Pause", {"length": "60"}, [])
    assert (redirect.tag, redirect.attrib, redirect.text) == (
        "Redirect",
        {"method": "POST"},
        f"{PUBLIC_URL}/twilio/hold?music=0",
    )
    assert (await hooks.http.post("/twilio/hold?music=1", data=voice_request(CALL))).status_code == 403


@pytest.mark.parametrize(
    "path", ["/twilio/voice", "/twilio/voice?conference_id=c-1", "/twilio/voice?conference_id=c/1&leg_id=l-1"]
)
async def test_a_call_talkbox_did_not_place_gets_an_empty_response(hooks: Webhooks, path: str) -> None:
    response = await post_signed(hooks.http, path, voice_request(CALL))
    assert response.status_code == 200
    root = ET.fromstring(response.text)
    assert root.tag == "Response" and list(root) == [] and root.attrib == {}


@pytest.mark.parametrize(
    ("twilio_status", "status", "reason"),
    [
        ("initiated", "initiated", None),
        ("ringing", "ringing", None),
        ("in-progress", "in-progress", None),
        ("answered", "in-progress", None),
        ("completed", "completed", "hung-up"),
        # Twilio's words: busy "received a busy signal"; no-answer "no answer or the call was rejected".
        ("busy", "busy", "busy-signal"),
        ("no-answer", "no-answer", "not-answered"),
        ("failed", "failed", "unavailable"),
        ("canceled", "canceled", "caller-canceled"),
    ],
)
async def test_a_status_callback_becomes_a_leg_report(
    hooks: Webhooks, twilio_status: str, status: str, reason: str | None
) -> None:
    response = await post_signed(hooks.http, STATUS, call_status(CALL, twilio_status, 3))
    assert response.status_code == 204
    assert hooks.published == [
        LegStatusChanged(
            conference_id="c-1", leg_id="l-bob", status=status, sequence=4, reason=reason, provider_id=CALL
        )  # type: ignore[arg-type]
    ]


async def test_twilios_first_callback_numbered_zero_is_not_lost(hooks: Webhooks) -> None:
    await post_signed(hooks.http, STATUS, call_status(CALL, "initiated", 0))
    assert [e.sequence for e in hooks.published] == [1]  # type: ignore[union-attr]


async def test_the_phone_numbers_own_status_callback_finds_the_incoming_call(hooks: Webhooks) -> None:
    params = call_status(CALL, "completed", 1, to="+15005550006", from_=PHONE, direction="inbound")
    response = await post_signed(hooks.http, "/twilio/status", params)
    assert response.status_code == 204
    assert hooks.published == [
        LegStatusChanged(
            conference_id=f"c-{CALL}",
            leg_id=f"l-{CALL}",
            status="completed",
            sequence=2,
            reason="hung-up",
            provider_id=CALL,
        )
    ]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/twilio/status", call_status(CALL, "completed", 1)),  # an outbound call we did not place
        (STATUS, call_status(CALL, "dancing", 1)),  # a status Twilio does not have
        (STATUS, {k: v for k, v in call_status(CALL, "ringing", 1).items() if k != "CallSid"}),
        (STATUS, {k: v for k, v in call_status(CALL, "ringing", 1).items() if k != "SequenceNumber"}),
        (STATUS, call_status(CALL, "ringing", 1) | {"SequenceNumber": "first"}),
        ("/twilio/status?conference_id=c-1&leg_id=l%20bob", call_status(CALL, "ringing", 1)),
    ],
)
async def test_callbacks_about_nothing_we_know_are_answered_harmlessly(
    hooks: Webhooks, path: str, params: dict[str, str]
) -> None:
    response = await post_signed(hooks.http, path, params)
    assert response.status_code == 204
    assert hooks.published == []


async def test_an_unnumbered_final_status_still_ends_the_leg(hooks: Webhooks) -> None:
    params = {k: v for k, v in call_status(CALL, "completed", 1).items() if k != "SequenceNumber"}
    await post_signed(hooks.http, STATUS, params)
    (report,) = hooks.published
    assert isinstance(report, LegStatusChanged) and report.status == "completed" and report.sequence > 10**6


async def test_a_conference_callback_tells_the_conference_sid(hooks: Webhooks) -> None:
    path = "/twilio/conference?conference_id=c-1"
    await post_signed(hooks.http, path, conference_status(CONF, "c-1", "conference-start", 0))
    await post_signed(
        hooks.http, path, conference_status(CONF, "c-1", "participant-join", 1, call_sid=CALL, label="l-bob")
    )
    await post_signed(
        hooks.http,
        path,
        conference_status(CONF, "c-1", "participant-join", 2, call_sid=CALL, label="l-carol", muted=True),
    )
    joined = {"conference_id": "c-1", "provider_id": CONF, "status": "participant-join", "call_provider_id": CALL}
    assert hooks.published == [
        ConferenceStatusChanged(conference_id="c-1", provider_id=CONF, status="conference-start", sequence=1),
        ConferenceStatusChanged(**joined, sequence=2, leg_id="l-bob", muted=False),
        ConferenceStatusChanged(**joined, sequence=3, leg_id="l-carol", muted=True),
    ]
    response = await post_signed(hooks.http, "/twilio/conference", conference_status(CONF, "x", "conference-end", 2))
    assert response.status_code == 204 and len(hooks.published) == 3


async def test_a_call_from_a_telephone_waits_in_a_new_conference(hooks: Webhooks) -> None:
    response = await post_signed(hooks.http, "/twilio/incoming", incoming_call(CALL))
    assert response.status_code == 200
    conference = conference_of(response.text)
    assert conference.text == f"c-{CALL}"
    assert conference.attrib == {
        # The caller hears Twilio's wait music (no waitUrl) until a client who starts the conference joins.
        "startConferenceOnEnter": "false",
        "endConferenceOnExit": "false",
        "beep": "false",
        "participantLabel": f"l-{CALL}",
        "record": "record-from-start",
        "recordingStatusCallback": f"{PUBLIC_URL}/twilio/recording?conference_id=c-{CALL}",
        "recordingStatusCallbackEvent": "completed",
        "recordingStatusCallbackMethod": "POST",
        "statusCallback": f"{PUBLIC_URL}/twilio/conference?conference_id=c-{CALL}",
        "statusCallbackEvent": "start end join leave mute",
        "statusCallbackMethod": "POST",
    }
    assert hooks.published == [
        IncomingPhoneCall(conference_id=f"c-{CALL}", leg_id=f"l-{CALL}", caller=PHONE, provider_id=CALL)
    ]


async def test_a_withheld_number_is_not_taken_for_a_client_name(hooks: Webhooks) -> None:
    await post_signed(hooks.http, "/twilio/incoming", incoming_call(CALL, from_="anonymous"))
    (event,) = hooks.published
    assert isinstance(event, IncomingPhoneCall) and event.caller == "(withheld)"


SIGNED_REQUESTS = [
    (VOICE, voice_request(CALL)),
    (STATUS, call_status(CALL, "completed", 5)),
    ("/twilio/conference?conference_id=c-1", conference_status(CONF, "c-1", "participant-join", 1, call_sid=CALL)),
    ("/twilio/incoming", incoming_call(CALL)),
]


@pytest.mark.parametrize(("path", "params"), SIGNED_REQUESTS)
@pytest.mark.parametrize(
    "forgery",
    [
        "no signature",
        "tampered parameter",
        "added parameter",
        "tampered query",
        "wrong host",
        "internal url",
        "wrong token",
    ],
)
async def test_a_forged_request_gets_403_and_publishes_nothing(
    hooks: Webhooks, path: str, params: dict[str, str], forgery: str
) -> None:
    if forgery == "no signature":
        response = await hooks.http.post(path, data=params)
    elif forgery == "tampered parameter":
        sent = params | {"CallSid": "CA" + "9" * 32} if "CallSid" in params else params | {"ConferenceSid": "CF9"}
        response = await post_signed(hooks.http, path, sent, signed_params=params)
    elif forgery == "added parameter":
        response = await post_signed(
            hooks.http, path, params | {"CallStatus": "completed", "Extra": "1"}, signed_params=params
        )
    elif forgery == "tampered query":
        tampered = path.replace("c-1", "c-2") if "c-1" in path else path + "?conference_id=c-2"
        response = await post_signed(hooks.http, tampered, params, signed_url=PUBLIC_URL + path)
    elif forgery == "wrong host":
        response = await post_signed(hooks.http, path, params, signed_url="https://evil.example.org" + path)
    elif forgery == "internal url":
        # Signed for the address the app sees: not what Twilio requested.
        response = await post_signed(hooks.http, path, params, signed_url="http://talkbox.internal" + path)
    else:
        response = await post_signed(hooks.http, path, params, token="not-the-auth-token")
    assert response.status_code == 403
    assert hooks.published == []


async def test_the_webhooks_are_in_the_openapi_document(hooks: Webhooks) -> None:
    document = (await hooks.http.get("/openapi.json")).json()
    for path in ("/twilio/voice", "/twilio/status", "/twilio/conference", "/twilio/incoming"):
        operation = document["paths"][path]["post"]
        assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]
        assert "403" in operation["responses"]
    schema = document["paths"]["/twilio/status"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"][
        "schema"
    ]
    assert {"CallSid", "CallStatus", "SequenceNumber"} <= set(schema["properties"])


# --- shared-key signatures (a Webhook Rule) ---------------------------------------------

SIGNING_KEY = "shared-key-secret-for-tests-0123456789"


@pytest.fixture
async def keyed_hooks() -> AsyncIterator[Webhooks]:
    webhooks = Webhooks(signing_key=SIGNING_KEY)
    async with webhooks.http:
        yield webhooks


def shared_key_headers(params: dict[str, str], algorithm: str, secret: str = SIGNING_KEY) -> dict[str, str]:
    """What Twilio sends when a Webhook Rule signs the request: the Setting's key and algorithm."""
    signature = RequestValidator(secret).compute_signature(PUBLIC_URL + STATUS, params, algorithm)
    return {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": f"key=webhooks_sharedkey_01example,algorithm={algorithm}",
    }


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1"])
async def test_a_webhook_signed_with_a_shared_key_is_accepted(keyed_hooks: Webhooks, algorithm: str) -> None:
    """Twilio: "A SharedKey replaces that token with a signing key you create and control."

    When a Webhook Rule matches the URL, Twilio signs "with the Setting's SharedKey
    and algorithm instead" and says which in `X-Twilio-Webhooks-Signature-Settings`
    (`key=…,algorithm=HMAC_SHA256`); "the signed string is still the full URL
    followed by the sorted POST parameters".
    """
    params = call_status(CALL, "ringing", 1)
    response = await keyed_hooks.http.post(STATUS, data=params, headers=shared_key_headers(params, algorithm))
    assert response.status_code == 204
    assert [event.status for event in keyed_hooks.published] == ["ringing"]  # type: ignore[union-attr]
    # Requests without the header keep the auth-token scheme.
    assert (await post_signed(keyed_hooks.http, STATUS, call_status(CALL, "in-progress", 2))).status_code == 204
    assert len(keyed_hooks.published) == 2


@pytest.mark.parametrize(
    ("secret", "algorithm"),
    [
        (AUTH_TOKEN, "HMAC_SHA256"),  # the header says shared key: the auth token is not it
        ("another-shared-key-secret-0123456789", "HMAC_SHA256"),
        (SIGNING_KEY, "HMAC_SHA512"),  # an algorithm RequestValidator does not know
    ],
)
async def test_a_shared_key_signature_that_does_not_hold_is_refused(
    keyed_hooks: Webhooks, secret: str, algorithm: str
) -> None:
    params = call_status(CALL, "ringing", 1)
    if algorithm == "HMAC_SHA512":
        headers = shared_key_headers(params, "HMAC_SHA256", secret)
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"key=webhooks_sharedkey_01example,algorithm={algorithm}"
    else:
        headers = shared_key_headers(params, algorithm, secret)
    response = await keyed_hooks.http.post(STATUS, data=params, headers=headers)
    assert response.status_code == 403
    assert keyed_hooks.published == []


async def test_a_shared_key_signature_without_a_configured_key_is_refused(hooks: Webhooks) -> None:
    params = call_status(CALL, "ringing", 1)
    response = await hooks.http.post(STATUS, data=params, headers=shared_key_headers(params, "HMAC_SHA256"))
    assert response.status_code == 403
    assert hooks.published == []
