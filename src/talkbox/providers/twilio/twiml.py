"""What Talkbox tells Twilio to fetch and what it answers: webhook URLs and TwiML.

Shared by the provider (which gives Twilio the URLs when it places a call) and
the callbacks (which answer them), so both agree on every path and parameter.
Which conference and leg a request is about rides in the URL's query string:
Twilio signs the whole URL, so those ids cannot be forged.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, VoiceResponse

VOICE_PATH = "/twilio/voice"
STATUS_PATH = "/twilio/status"
CONFERENCE_PATH = "/twilio/conference"
INCOMING_PATH = "/twilio/incoming"
# Where a lone participant waits for the conference to start: Talkbox's ringback, not Twilio's music.
WAIT_PATH = "/twilio/wait"
RINGBACK_PATH = "/twilio/ringback.wav"
# A recording's status callback (a call recording or a voicemail), and where <Record> goes when it is done.
RECORDING_PATH = "/twilio/recording"
RECORDED_PATH = "/twilio/recorded"
# What a conference hears when its recording starts (the conference's announceUrl), and the tone it plays.
ANNOUNCE_PATH = "/twilio/announce"
ANNOUNCEMENT_PATH = "/twilio/announcement.wav"
# What a held participant hears (the participant's holdUrl): music on hold, or silence for one away on another call.
HOLD_PATH = "/twilio/hold"
HOLD_MUSIC_PATH = "/twilio/hold-music.wav"
# A held participant hearing silence is sent back here after this many seconds of <Pause>, for as long as it is held.
HOLD_PAUSE_SECONDS = 60
# What a transferred caller hears when the transfer was not answered, before ringback again.
TRANSFER_FAILED_PATH = "/twilio/transfer-failed.wav"

# Every call-progress event, so each status reaches the rules.
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
CONFERENCE_EVENTS = "start end join leave mute"


@dataclass(frozen=True)
class Webhooks:
    """Absolute webhook URLs under TALKBOX_PUBLIC_URL (the address Twilio reaches us at)."""

    public_url: str

    def url(self, path: str, **query: str) -> str:
        base = self.public_url.rstrip("/") + path
        return f"{base}?{urlencode(query)}" if query else base

    def voice(self, conference_id: str, leg_id: str) -> str:
        return self.url(VOICE_PATH, conference_id=conference_id, leg_id=leg_id)

    def status(self, conference_id: str, leg_id: str) -> str:
        return self.url(STATUS_PATH, conference_id=conference_id, leg_id=leg_id)

    def conference(self, conference_id: str) -> str:
        return self.url(CONFERENCE_PATH, conference_id=conference_id)

    def wait(self) -> str:
        return self.url(WAIT_PATH)

    def ringback(self) -> str:
        return self.url(RINGBACK_PATH)

    def recording(self, conference_id: str, recording_id: str) -> str:
        return self.url(RECORDING_PATH, conference_id=conference_id, recording_id=recording_id)

    def conference_recording(self, conference_id: str) -> str:
        """The conference's own recording: set in its TwiML before any recording id exists, so it names none."""
        return self.url(RECORDING_PATH, conference_id=conference_id)

    def recorded(self) -> str:
        return self.url(RECORDED_PATH)

    def announce(self) -> str:
        return self.url(ANNOUNCE_PATH)

    def announcement(self) -> str:
        return self.url(ANNOUNCEMENT_PATH)

    def hold(self, music: bool) -> str:
        return self.url(HOLD_PATH, music="1" if music else "0")

    def hold_music(self) -> str:
        return self.url(HOLD_MUSIC_PATH)

    def transfer_failed(self) -> str:
        return self.url(TRANSFER_FAILED_PATH)


def incoming_ids(call_sid: str) -> tuple[str, str]:
    """The conference and leg ids of a call from a telephone, derived from its CallSid.

    The phone number's own status callback carries no query of ours, so the ids
    must be recoverable from the CallSid alone; a repeated webhook names the
    same conference, which the rules then ignore.
    """
    return f"c-{call_sid}", f"l-{call_sid}"


def join_conference(
    webhooks: Webhooks, conference_id: str, leg_id: str, *, start: bool = True, muted: bool = False
) -> str:
    """Put an answered leg into the conference named for `conference_id`.

    Nobody ends the conference by leaving (endConferenceOnExit is false): the
    rules decide when a call is over and hang up the legs still in it, and
    Twilio ends a conference once it is empty, and starts it only once a second
    participant joins. Until then the leg hears the wait URL: ringback for a
    leg Talkbox placed (its caller waits for the people it called). `start=False`
    is for a phone caller waiting for a client to answer: Twilio's own wait
    music, until someone who starts the conference joins. `muted`: the leg was
    muted before it joined, when Twilio could not yet mute it as a participant.

    Twilio records a conference only through `record` on it (its Recordings can be paused, resumed and
    stopped, never created), so every conference records from its start; the provider pauses that
    recording as the conference starts and resumes it only when the chair records the call.
    """
    wait = {"wait_url": webhooks.wait(), "wait_method": "POST"} if start else {}
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        conference_id,
        muted=True if muted else None,  # absent, as Twilio's default, unless muted
        start_conference_on_enter=start,
        end_conference_on_exit=False,
        beep=False,
        participant_label=leg_id,
        record="record-from-start",
        recording_status_callback=webhooks.conference_recording(conference_id),
        recording_status_callback_event="completed",
        recording_status_callback_method="POST",
        status_callback=webhooks.conference(conference_id),
        status_callback_event=CONFERENCE_EVENTS,
        status_callback_method="POST",
        **wait,
    )
    response.append(dial)
    return str(response)


def voicemail(webhooks: Webhooks, conference_id: str, recording_id: str, max_seconds: float) -> str:
    """The caller, out of the conference, leaves a message: Twilio's beep, then up to `max_seconds` recorded.

    Twilio posts the recording's status callback when the file is ready; the <Record> action hangs up.
    """
    response = VoiceResponse()
    response.record(
        max_length=max(1, round(max_seconds)),
        play_beep=True,
        timeout=10,  # seconds of silence that end the message
        action=webhooks.recorded(),
        method="POST",
        recording_status_callback=webhooks.recording(conference_id, recording_id),
        recording_status_callback_event="completed",
        recording_status_callback_method="POST",
    )
    return str(response)


def announce(webhooks: Webhooks) -> str:
    """Played to every participant (telephones too) as the recording starts: Talkbox's double beep."""
    response = VoiceResponse()
    response.play(webhooks.announcement())
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def ringback(webhooks: Webhooks) -> str:
    """What the wait URL answers: the ringback tone, looped until the conference starts."""
    response = VoiceResponse()
    response.play(webhooks.ringback(), loop=0)
    return str(response)


def on_hold(webhooks: Webhooks, music: bool) -> str:
    """What the holdUrl answers: Talkbox's own music on hold, looped; or a silence that lasts as long as the hold."""
    response = VoiceResponse()
    if music:
        response.play(webhooks.hold_music(), loop=0)
    else:
        response.pause(length=HOLD_PAUSE_SECONDS)
        response.redirect(webhooks.hold(music=False), method="POST")
    return str(response)


def waiting(webhooks: Webhooks, sound: str, back: str) -> str:
    """What a call taken out of its conference hears while its transfer rings (`ringback`), or after the
    transfer failed and the transferor is rung again (`recall`: the failed-transfer tone first), or, back from
    a transfer out of a larger call, the tone and then that call again (`returned`: `back`, its voice URL)."""
    response = VoiceResponse()
    if sound in ("recall", "returned"):
        response.play(webhooks.transfer_failed())
    if sound == "returned":
        response.redirect(back, method="POST")
    else:
        response.play(webhooks.ringback(), loop=0)
    return str(response)


def empty() -> str:
    """The harmless answer to a request about nothing we know: Twilio just hangs up."""
    return str(VoiceResponse())


def reject() -> str:
    """Refuse a call from a telephone without answering it (nobody to ring)."""
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)
