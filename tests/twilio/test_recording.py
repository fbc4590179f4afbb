"""Recording and voicemail with Twilio: the TwiML element by element, the REST requests as the real client sends
them to the stand-in for api.twilio.com, the signed recording status callback, and the WAV fetched into our
Ogg/Opus file."""

from __future__ import annotations

import functools
import io
import wave
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest

from talkbox.events.models import ConferenceStatusChanged, Event, LegStatusChanged, RecordingAvailable
from talkbox.media import tones
from talkbox.media.recorder import save_wav
from talkbox.media.tones import telephone_wav
from talkbox.providers.twilio import twiml
from talkbox.providers.twilio.provider import TwilioProvider
from talkbox.providers.twilio.rest import rest_client
from talkbox.telephony.rules import DialLeg, StartRecording, StopRecording
from tests.support.audio import level_at, tone
from tests.twilio.fake_api import ACCOUNT, API, FakeTwilioApi, fake_twilio_api
from tests.twilio.test_webhooks import Webhooks
from tests.twilio.twilio_requests import PUBLIC_URL, post_signed, settings

RECORDING = "r-00000000000000a1"
VOICEMAIL = "v-00000000000000b2"


def test_voicemail_twiml_records_the_caller_up_to_the_cap_element_by_element() -> None:
    document = twiml.voicemail(twiml.Webhooks(PUBLIC_URL), "c-1", VOICEMAIL, 120)
    root = ET.fromstring(document)
    assert root.tag == "Response" and root.attrib == {}
    (record,) = list(root)
    assert record.tag == "Record" and list(record) == [] and not (record.text or "").strip()
    assert record.attrib == {
        "maxLength": "120",
        "playBeep": "true",
        "timeout": "10",
        "action": f"{PUBLIC_URL}/twilio/recorded",
        "method": "POST",
        "recordingStatusCallback": f"{PUBLIC_URL}/twilio/recording?conference_id=c-1&recording_id={VOICEMAIL}",
        "recordingStatusCallbackEvent": "completed",
        "recordingStatusCallbackMethod": "POST",
    }
    hang_up = ET.fromstring(twiml.hang_up())
    assert [child.tag for child in hang_up] == ["Hangup"]


def wav(frequency: float, seconds: float, rate: int = 8000) -> bytes:
    samples = tone(frequency, seconds, rate=rate)
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.tobytes())
    return out.getvalue()


class Provider:
    def __init__(self, api: FakeTwilioApi) -> None:
        self.api = api
        self.events: list[Event] = []
        self.twilio = TwilioProvider(
            settings=settings(),
            publish=self.publish,
            make_client=functools.partial(rest_client, settings(), api.url),
            voicemail_max_seconds=60,
            api_url=api.url,
            save_audio=save_wav,
        )

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    async def answered_chair(self) -> str:
        await self.twilio.dial(DialLeg("c-1", "l-alice", "alice", "alice", auto_answer=True))
        (sid,) = self.api.calls
        self.api.calls[sid] = "in-progress"
        await self.twilio.handle(
            LegStatusChanged(conference_id="c-1", leg_id="l-alice", status="in-progress", sequence=3, provider_id=sid)
        )
        return sid


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    async with fake_twilio_api() as api:
        chosen = Provider(api)
        yield chosen
        await chosen.twilio.close()


CONFERENCE = "CF" + "2" * 32
CURRENT = f"{API}/Conferences/{CONFERENCE}/Recordings/Twilio.CURRENT.json"


def conference_started() -> ConferenceStatusChanged:
    return ConferenceStatusChanged(conference_id="c-1", provider_id=CONFERENCE, status="conference-start", sequence=1)


def conference_recording_available(api: FakeTwilioApi, recording_sid: str) -> RecordingAvailable:
    """The conference's own recording callback: its URL (in the conference's TwiML) names no recording id."""
    url = f"{api.url}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}"
    return RecordingAvailable(conference_id="c-1", provider_id=recording_sid, url=url)


def decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(container.streams.audio[0])]
    return (np.concatenate(chunks) * 32767).astype(np.int16)


async def test_a_call_recording_is_the_conferences_own_recording_resumed_and_stopped_as_asked(
    provider: Provider, tmp_path: Path
) -> None:
    await provider.answered_chair()
    provider.api.conferences["c-1"] = CONFERENCE
    await provider.twilio.handle(conference_started())
    (paused,) = [request for request in provider.api.requests if request.path == CURRENT]
    # Recorded from its start by its TwiML; nobody asked yet, so paused, the pause left out of the file.
    assert paused.method == "POST" and paused.form == {"Status": ["paused"], "PauseBehavior": ["skip"]}

    start = StartRecording("c-1", RECORDING, "call", ("alice", "bob"), "alice", "l-alice")
    await provider.twilio.start_recording(start, str(tmp_path / f"{RECORDING}.ogg"))
    resumed, announced = provider.api.requests[-2:]
    assert (resumed.method, resumed.path, resumed.form) == ("POST", CURRENT, {"Status": ["in-progress"]})
    assert not any(
        request.path.startswith(f"{API}/Calls/") and "Recordings" in request.path for request in provider.api.requests
    )  # no recording of one call: the conference's mix
    # Everyone on it, telephones too, hears that it is recorded.
    assert (announced.method, announced.path) == ("POST", f"{API}/Conferences/{CONFERENCE}.json")
    assert announced.form == {"AnnounceUrl": [f"{PUBLIC_URL}/twilio/announce"], "AnnounceMethod": ["POST"]}

    await provider.twilio.stop_recording(StopRecording("c-1", RECORDING, "call", ("alice", "bob"), "alice", "l-alice"))
    stopped = provider.api.requests[-1]
    assert (stopped.method, stopped.path, stopped.form) == ("POST", CURRENT, {"Status": ["stopped"]})

    provider.api.media["RE" + "7" * 32] = wav(550, 1.5)
    await provider.twilio.handle(conference_recording_available(provider.api, "RE" + "7" * 32))
    samples = decoded(tmp_path / f"{RECORDING}.ogg")
    assert abs(len(samples) - 1.5 * 48_000) <= 2 * 960 and level_at(samples, 550) > -20
    assert provider.api.deleted == []


async def test_a_call_recorded_before_its_conference_starts_is_not_paused(provider: Provider, tmp_path: Path) -> None:
    await provider.answered_chair()
    start = StartRecording("c-1", RECORDING, "call", ("alice", "bob"), "alice", "l-alice")
    await provider.twilio.start_recording(start, str(tmp_path / f"{RECORDING}.ogg"))
    await provider.twilio.handle(conference_started())
    assert not any("/Recordings" in request.path for request in provider.api.requests)


async def test_a_conference_nobody_recorded_has_its_recording_deleted_at_twilio_unfetched(
    provider: Provider, tmp_path: Path
) -> None:
    await provider.answered_chair()
    provider.api.conferences["c-1"] = CONFERENCE
    await provider.twilio.handle(conference_started())
    provider.api.media["RE" + "6" * 32] = wav(550, 0.2)
    await provider.twilio.handle(conference_recording_available(provider.api, "RE" + "6" * 32))
    assert provider.api.deleted == ["RE" + "6" * 32]
    assert not any(request.method == "GET" and request.path.endswith(".wav") for request in provider.api.requests)
    assert not list(tmp_path.iterdir())


async def test_a_second_recording_of_one_call_is_the_chairs_call_both_ways(provider: Provider, tmp_path: Path) -> None:
    """Twilio records a conference once: after its recording stopped, the chair's call is what can be recorded."""
    sid = await provider.answered_chair()
    provider.api.conferences["c-1"] = CONFERENCE
    provider.api.conference_recordings[CONFERENCE] = "stopped"
    second = "r-00000000000000a2"
    start = StartRecording("c-1", second, "call", ("alice", "bob"), "alice", "l-alice")
    await provider.twilio.start_recording(start, str(tmp_path / f"{second}.ogg"))
    created = next(request for request in provider.api.requests if request.path == f"{API}/Calls/{sid}/Recordings.json")
    assert created.form == {
        "RecordingStatusCallback": [f"{PUBLIC_URL}/twilio/recording?conference_id=c-1&recording_id={second}"],
        "RecordingStatusCallbackEvent": ["completed"],
        "RecordingStatusCallbackMethod": ["POST"],
        "RecordingChannels": ["mono"],
        "RecordingTrack": ["both"],
    }
    await provider.twilio.stop_recording(StopRecording("c-1", second, "call", ("alice", "bob"), "alice", "l-alice"))
    stopped = provider.api.requests[-1]
    assert (stopped.method, stopped.path) == ("POST", f"{API}/Calls/{sid}/Recordings/Twilio.CURRENT.json")
    assert stopped.form == {"Status": ["stopped"]}


async def test_a_voicemail_moves_the_caller_to_record_and_its_file_is_fetched_as_ogg_opus(
    provider: Provider, tmp_path: Path
) -> None:
    sid = await provider.answered_chair()
    path = tmp_path / f"{VOICEMAIL}.ogg"
    start = StartRecording("c-1", VOICEMAIL, "voicemail", ("bob",), "alice", "l-alice")
    await provider.twilio.start_recording(start, str(path))
    moved = provider.api.requests[-1]
    assert (moved.method, moved.path) == ("POST", f"{API}/Calls/{sid}.json")
    assert moved.form == {"Twiml": [twiml.voicemail(provider.twilio.webhooks, "c-1", VOICEMAIL, 60)]}
    before = len(provider.api.requests)
    await provider.twilio.stop_recording(StopRecording("c-1", VOICEMAIL, "voicemail", ("bob",), "alice", "l-alice"))
    assert len(provider.api.requests) == before  # <Record> ends with the call: nothing to ask

    provider.api.media["RE" + "9" * 32] = wav(440, 2.0)
    url = f"{provider.api.url}/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'9' * 32}"
    await provider.twilio.handle(
        RecordingAvailable(conference_id="c-1", recording_id=VOICEMAIL, provider_id="RE" + "9" * 32, url=url)
    )
    fetched = provider.api.requests[-1]
    assert fetched.method == "GET" and fetched.auth is not None and fetched.auth.startswith("Basic ")
    samples = decoded(path)
    assert abs(len(samples) - 2 * 48_000) <= 2 * 960
    assert level_at(samples, 440) > -20


async def test_a_recording_url_that_is_not_twilios_is_never_fetched(provider: Provider, tmp_path: Path) -> None:
    await provider.answered_chair()
    start = StartRecording("c-1", VOICEMAIL, "voicemail", ("bob",), "alice", "l-alice")
    await provider.twilio.start_recording(start, str(tmp_path / f"{VOICEMAIL}.ogg"))
    before = len(provider.api.requests)
    for url in (
        "https://evil.example/Recordings/RE1",
        f"{provider.api.url}/2010-04-01/Accounts/ACother/Recordings/RE1",
    ):
        await provider.twilio.handle(
            RecordingAvailable(conference_id="c-1", recording_id=VOICEMAIL, provider_id="RE1", url=url)
        )
    assert len(provider.api.requests) == before
    assert not list(tmp_path.iterdir())


def recording_status(status: str = "completed") -> dict[str, str]:
    """Twilio's recording status callback parameters."""
    return {
        "AccountSid": ACCOUNT,
        "CallSid": "CA" + "1" * 32,
        "RecordingSid": "RE" + "9" * 32,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'9' * 32}",
        "RecordingStatus": status,
        "RecordingDuration": "7",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "RecordingStartTime": "Thu, 03 Dec 2026 01:00:00 +0000",
    }


async def test_the_recording_callback_is_signed_and_publishes_only_a_finished_recording() -> None:
    hooks = Webhooks()
    path = f"/twilio/recording?conference_id=c-1&recording_id={VOICEMAIL}"
    async with hooks.http:
        forged = await post_signed(hooks.http, path, recording_status(), token="not-the-auth-token-0123456789")
        assert forged.status_code == 403
        other = await post_signed(
            hooks.http, path, recording_status(), signed_url=f"{PUBLIC_URL}/twilio/recording?recording_id=v-1"
        )
        assert other.status_code == 403  # signed for another recording: the query is part of what is signed
        assert hooks.published == []
        assert (await post_signed(hooks.http, path, recording_status("absent"))).status_code == 204
        assert hooks.published == []
        assert (await post_signed(hooks.http, path, recording_status())).status_code == 204
        assert hooks.published == [
            RecordingAvailable(
                conference_id="c-1",
                recording_id=VOICEMAIL,
                provider_id="RE" + "9" * 32,
                url=recording_status()["RecordingUrl"],
            )
        ]
        done = await post_signed(hooks.http, "/twilio/recorded", {"AccountSid": ACCOUNT, "CallSid": "CA" + "1" * 32})
        assert [child.tag for child in ET.fromstring(done.text)] == ["Hangup"]


async def test_the_conferences_recording_callback_is_signed_and_names_the_conference_only() -> None:
    hooks = Webhooks()
    path = "/twilio/recording?conference_id=c-1"
    conference = {**recording_status(), "ConferenceSid": CONFERENCE, "RecordingSource": "Conference"}
    del conference["CallSid"]
    async with hooks.http:
        forged = await post_signed(hooks.http, path, conference, token="not-the-auth-token-0123456789")
        assert forged.status_code == 403
        other = await post_signed(hooks.http, path, conference, signed_url=f"{PUBLIC_URL}/twilio/recording")
        assert other.status_code == 403
        for unknown in ("/twilio/recording", "/twilio/recording?conference_id=c-1&recording_id=../x"):
            assert (await post_signed(hooks.http, unknown, conference)).status_code == 204
        assert hooks.published == []
        assert (await post_signed(hooks.http, path, conference)).status_code == 204
        assert hooks.published == [
            RecordingAvailable(conference_id="c-1", provider_id="RE" + "9" * 32, url=conference["RecordingUrl"])
        ]


async def test_after_a_restart_a_calls_recording_is_still_the_conferences(provider: Provider, tmp_path: Path) -> None:
    path = tmp_path / f"{RECORDING}.ogg"
    start = StartRecording("c-1", RECORDING, "call", ("alice", "bob"), "alice", "l-alice")
    await provider.twilio.resume_recording(start, str(path))
    assert provider.api.requests == []
    provider.api.media["RE" + "7" * 32] = wav(550, 1.0)
    await provider.twilio.handle(conference_recording_available(provider.api, "RE" + "7" * 32))
    assert level_at(decoded(path), 550) > -20 and provider.api.deleted == []


async def test_after_a_restart_twilio_is_not_asked_to_record_again_but_the_file_still_comes(
    provider: Provider, tmp_path: Path
) -> None:
    path = tmp_path / f"{VOICEMAIL}.ogg"
    start = StartRecording("c-1", VOICEMAIL, "voicemail", ("bob",), "alice", "l-alice")
    await provider.twilio.resume_recording(start, str(path))
    assert provider.api.requests == []
    provider.api.media["RE" + "9" * 32] = wav(660, 1.0, rate=48_000)
    url = f"{provider.api.url}/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'9' * 32}"
    await provider.twilio.handle(
        RecordingAvailable(conference_id="c-1", recording_id=VOICEMAIL, provider_id="RE" + "9" * 32, url=url)
    )
    assert path.is_file()


async def test_the_announcement_is_talkboxs_own_double_beep() -> None:
    hooks = Webhooks()
    async with hooks.http:
        response = await post_signed(hooks.http, "/twilio/announce", {"AccountSid": ACCOUNT, "ConferenceSid": "CF1"})
        root = ET.fromstring(response.text)
        assert root.tag == "Response" and [(c.tag, c.attrib, c.text) for c in root] == [
            ("Play", {}, f"{PUBLIC_URL}/twilio/announcement.wav")
        ]
        forged = await post_signed(hooks.http, "/twilio/announce", {"AccountSid": ACCOUNT}, token="x" * 32)
        assert forged.status_code == 403
    with wave.open(io.BytesIO(telephone_wav(tones.announcement()))) as file:
        assert (file.getframerate(), file.getnchannels(), file.getsampwidth()) == (8000, 1, 2)
        samples = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
    assert level_at(samples, tones.ANNOUNCEMENT_HZ, rate=8000) > -30
