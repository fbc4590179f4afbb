"""Recordings: our Ogg/Opus muxer read back by a real decoder (FFmpeg's, through PyAV), whole and cut short,
and the mixer's recording output in a call of two (which would otherwise be forwarded) and of three."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from talkbox.media import ogg, tones
from talkbox.media.conference import ConferenceMedia
from talkbox.media.opus import APPLICATION_VOIP, FRAME_SAMPLES, Decoder, Encoder
from talkbox.media.recorder import Recorder
from tests.media.test_conference_media import Sent, Talker, run
from tests.media.test_conference_telephone import PHONE_HZ, Line, Telephone
from tests.media.test_conference_telephone import run as run_with_phones
from tests.support.audio import level_at, tone

ROOT = Path(__file__).resolve().parents[2]


def decoded(path: Path) -> np.ndarray:
    """Every sample FFmpeg's own Ogg demuxer and Opus decoder make of the file, mono int16."""
    chunks = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        for frame in container.decode(stream):
            samples = frame.to_ndarray()
            samples = samples[0] if samples.ndim == 2 else samples
            if samples.dtype.kind == "f":
                samples = samples * 32767
            chunks.append(samples.astype(np.int16))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def write_tone(path: Path, frequency: float, seconds: float) -> ogg.OggOpusWriter:
    encoder = Encoder(bitrate=32_000, application=APPLICATION_VOIP)
    pcm = tone(frequency, seconds)
    out = path.open("wb")
    writer = ogg.OggOpusWriter(out, serial=1234, pre_skip=encoder.lookahead())
    for start in range(0, len(pcm), FRAME_SAMPLES):
        writer.add(encoder.encode(pcm[start : start + FRAME_SAMPLES]))
    return writer


def test_the_crc_is_oggs_not_zlibs() -> None:
    # RFC 3533's CRC of "123456789" (polynomial 0x04C11DB7, unreflected, initial 0).
    assert ogg.crc32(b"123456789") == 0x89A1897F


def test_a_whole_file_decodes_to_the_tone_at_its_length(tmp_path: Path) -> None:
    path = tmp_path / "tone.ogg"
    writer = write_tone(path, 440, 2.0)
    writer.close()
    writer.out.close()
    samples = decoded(path)
    assert abs(len(samples) - 2 * 48_000) <= FRAME_SAMPLES
    assert level_at(samples[4800:], 440) > -15
    with av.open(str(path)) as container:
        assert container.streams.audio[0].duration is not None


def test_a_file_cut_mid_page_plays_up_to_its_last_whole_page(tmp_path: Path) -> None:
    """What a crash leaves: the writer never closed, the last page half on disk."""
    path = tmp_path / "cut.ogg"
    writer = write_tone(path, 660, 3.0)  # not closed: no end-of-stream page
    writer.out.close()
    data = path.read_bytes()
    last_page = data.rfind(b"OggS")
    cut = tmp_path / "crashed.ogg"
    cut.write_bytes(data[: last_page + (len(data) - last_page) // 2])
    samples = decoded(cut)
    whole_pages_seconds = 3.0 - ogg.PACKETS_PER_PAGE * 0.02
    assert len(samples) >= (whole_pages_seconds - 0.05) * 48_000
    assert level_at(samples[4800:], 660) > -15


def test_pages_are_flushed_as_they_fill(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    writer = ogg.OggOpusWriter(buffer, serial=7, pre_skip=312)
    assert buffer.getvalue().count(b"OggS") == 2  # the headers are on disk before any audio
    for _ in range(ogg.PACKETS_PER_PAGE):
        writer.add(b"\xfc" + bytes(40))
    assert buffer.getvalue().count(b"OggS") == 3


def test_a_page_refuses_more_segments_than_it_can_hold() -> None:
    with pytest.raises(ValueError, match="segments"):
        ogg.page([bytes(300)] * 200, 0, 1, 0)


def recorded(path: Path, recorder: Recorder) -> np.ndarray:
    recorder.wait(10)
    return decoded(path)


def test_a_call_of_two_is_mixed_while_recorded_and_the_file_holds_both(tmp_path: Path) -> None:
    conference = ConferenceMedia("c")
    to_alice, to_bob = Sent(), Sent()
    alice, bob = Talker(440, 1), Talker(880, 2)
    conference.add("alice", to_alice)
    conference.add("bob", to_bob)
    now = run(conference, {"alice": alice, "bob": bob}, 20, 0.0)
    assert conference.forwarding
    path = tmp_path / "call.ogg"
    recorder = Recorder(path)
    conference.record(recorder, tones.announcement())
    assert not conference.forwarding
    now = run(conference, {"alice": alice, "bob": bob}, 100, now)
    conference.stop_recording()
    assert conference.forwarding, "once the recording stops a call of two is forwarded again"
    # Both hear the announcement, on top of the other.
    decoder = Decoder()
    announced = 32768 * np.concatenate([decoder.decode(payload) for payload, _, _ in to_bob.packets[20:45]])
    assert level_at(announced, tones.ANNOUNCEMENT_HZ) > -30
    samples = recorded(path, recorder)
    assert len(samples) > 1.2 * 48_000
    assert level_at(samples, 440) > -25 and level_at(samples, 880) > -25
    assert level_at(samples, tones.ANNOUNCEMENT_HZ) < -50, "the recording starts after its announcement"


def test_a_recording_of_three_holds_all_three(tmp_path: Path) -> None:
    conference = ConferenceMedia("c")
    talkers = {"alice": Talker(440, 1), "bob": Talker(660, 2), "carol": Talker(880, 3)}
    for name in talkers:
        conference.add(name, Sent())
    path = tmp_path / "three.ogg"
    recorder = Recorder(path)
    conference.record(recorder, tones.silence(0))
    run(conference, talkers, 100, 0.0)
    conference.stop_recording()
    samples = recorded(path, recorder)
    for frequency in (440, 660, 880):
        assert level_at(samples, frequency) > -25, frequency


def test_a_leg_on_hold_is_out_of_the_recording_and_the_call_of_two_still_mixes(tmp_path: Path) -> None:
    conference = ConferenceMedia("c")
    talkers = {"alice": Talker(440, 1), "bob": Talker(880, 2)}
    for name in talkers:
        conference.add(name, Sent())
    conference.hold("bob", held=True, music=True)
    path = tmp_path / "held.ogg"
    recorder = Recorder(path)
    conference.record(recorder, tones.silence(0))
    now = run(conference, talkers, 100, 0.0)
    conference.hold("bob", held=False, music=False)
    assert not conference.forwarding, "recorded, a call of two mixes even with nobody held"
    run(conference, talkers, 100, now)
    conference.stop_recording()
    samples = recorded(path, recorder)
    held, back = samples[: 2 * 48_000 - 4800], samples[2 * 48_000 + 4800 :]
    assert level_at(held, 440) > -25 and level_at(held, 880) < -50, "bob on hold: neither his voice nor his music"
    assert level_at(back, 440) > -25 and level_at(back, 880) > -25


def test_a_stalled_disk_costs_frames_not_memory(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "never.ogg")  # never started: nothing drains the queue
    for _ in range(600):
        recorder.add(np.zeros(FRAME_SAMPLES, np.int16))
    assert recorder.dropped == 100


def test_a_recording_stopped_during_its_announcement_is_still_a_valid_file(tmp_path: Path) -> None:
    conference = ConferenceMedia("c")
    talkers = {"alice": Talker(440, 1), "bob": Talker(660, 2), "carol": Talker(880, 3)}
    for name in talkers:
        conference.add(name, Sent())
    path = tmp_path / "short.ogg"
    recorder = Recorder(path)
    conference.record(recorder, tones.announcement())
    run(conference, talkers, 5, 0.0)
    conference.stop_recording()
    assert len(recorded(path, recorder)) <= FRAME_SAMPLES  # a file a player opens, of (next to) no length
    assert recorder.frames == 0


_CHILD = """
import sys, time
from pathlib import Path
from talkbox.media.recorder import Recorder
from tests.support.audio import tone
recorder = Recorder(Path(sys.argv[1]))
recorder.start()
pcm = tone(550, 60.0)
for n, start in enumerate(range(0, len(pcm), 960)):
    recorder.add(pcm[start : start + 960])
    if n == 150:
        while recorder.frames < 150:
            time.sleep(0.01)
        print("written", flush=True)
    time.sleep(0.002)
"""


def test_a_recorder_killed_mid_recording_leaves_a_file_that_plays_up_to_the_kill(tmp_path: Path) -> None:
    """kill -9, no close, no end-of-stream page: what was written before is whole and plays."""
    path = tmp_path / "killed.ogg"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"written\n"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    samples = decoded(path)
    assert len(samples) >= 150 * FRAME_SAMPLES - ogg.PACKETS_PER_PAGE * FRAME_SAMPLES
    assert level_at(samples[4800:], 550) > -15


def test_a_telephone_hears_the_announcement_and_its_voice_is_recorded(tmp_path: Path) -> None:
    conference = ConferenceMedia("c")
    to_phone = Line()
    conference.add("alice", Sent())
    conference.add("phone", to_phone, telephone=True)
    browsers, phones = {"alice": Talker(440, 1)}, {"phone": Telephone(PHONE_HZ)}
    now = run_with_phones(conference, browsers, phones, 20, 0.0)
    path = tmp_path / "with-phone.ogg"
    recorder = Recorder(path)
    conference.record(recorder, tones.announcement())
    heard_before = len(to_phone.packets)
    run_with_phones(conference, browsers, phones, 100, now)
    conference.stop_recording()
    announced = np.concatenate([np.frombuffer(p, dtype=np.int16) for p, _, _ in to_phone.packets[heard_before:][:25]])
    assert level_at(announced, tones.ANNOUNCEMENT_HZ, rate=8000) > -30
    samples = recorded(path, recorder)
    assert level_at(samples, 440) > -30 and level_at(samples, PHONE_HZ) > -30
