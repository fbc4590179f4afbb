"""One conference's audio: forwarded while two people talk, mixed when it takes more.

A call of two is forwarded: each packet goes to the other leg as it arrives,
never decoded, with sequence numbers and timestamps moved onto the stream
Talkbox has been sending that leg, so the browser cannot tell when the
conference switches between forwarding and mixing.

Everything else is mixed on the engine's 20 ms tick. Every leg's packets wait
in its own adaptive jitter buffer; only the legs that are actually speaking
(the loudest ten at most) (by the RFC 6464 level Chromium puts on each packet) are decoded. Every
listener gets the same packet from one shared encode of the whole mix; each
decoded speaker gets the mix without their own voice, from their own encoder.
Mute is applied here, on the server. A leg may be given a sound instead of the call (ringback while
its transfer rings, `tones.py`): it hears that, and is left out of the others' mix, until it is taken away.

Hold too: a held leg is left out of every mix. One the chair held hears music on hold (music.py) instead;
one its own user held (away on another call, or a telephone's own hold) hears silence, and whoever is left
with nobody to talk to but such a leg hears the music. Any hold makes a call of two mix rather than forward.

A recording is a mixer output too: the mix of the legs talking (a held leg, or one hearing a sound, is not in
it), after a prompt everyone hears first. While it runs, a call of two mixes rather than forwards.

A telephone leg (`Line`) is a mixer input and output with its own codec: its endpoint hands over linear 8 kHz
samples, which wait in the same jitter buffer (at 8 kHz), are resampled to 48 kHz and measured for speech here,
and it gets its mix (minus itself when it speaks) back at 8 kHz. G.711 cannot be forwarded to a browser, so a
conference with a telephone in it always mixes; a call of two browsers still forwards.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from talkbox.media import g711, rtp
from talkbox.media.jitter import Frame, JitterBuffer, Lost
from talkbox.media.music import MusicOnHold
from talkbox.media.opus import FRAME_SAMPLES, SAMPLE_RATE, Decoder, Encoder
from talkbox.media.recorder import Recorder
from talkbox.media.tones import Sound

# At most this many voices, the loudest, are decoded into a mix: it bounds what a big noisy room costs,
# and more voices at once than this are noise to every listener anyway.
MAX_SPEAKERS = 10
# -dBov (RFC 6464): a packet louder than -50 dBov counts as speech.
SPEAKING_LEVEL = 50
# Speech keeps a leg in the mix this long after its last loud packet, so pauses between words don't cut.
HANGOVER = 0.4
SPEAKING_INTERVAL = 0.25
# Longer than this between two packets of a stream is a pause, not timer jitter.
PAUSE = 0.1
# A forwarded sequence number this far from the stream's last is a restarted sender, not reordering.
MAX_FORWARD_JUMP = 100
# Further behind than this is not a straggler but a sender that restarted its numbering.
MAX_STRAGGLER = 1000

# (payload, sequence, timestamp, marker): what a leg's endpoint sends.
Sink = Callable[[bytes, int, int, bool], None]
SpeakingSink = Callable[[frozenset[str]], None]


@dataclass
class Output:
    """The one stream Talkbox sends a leg, whatever feeds it: its sequence numbers and timestamps."""

    rate: int = SAMPLE_RATE
    frame: int = FRAME_SAMPLES  # one tick in `rate`'s units
    sequence: int = field(default_factory=lambda: random.getrandbits(16))
    timestamp: int = field(default_factory=lambda: random.getrandbits(32))
    last_at: float | None = None
    forwarding: bool = False
    source: int | None = None  # the SSRC being forwarded: a new one (a reloaded page) re-anchors
    _sequence_offset: int = 0
    _timestamp_offset: int = 0

    def next_mixed(self, now: float) -> tuple[int, int]:
        self.forwarding, self.source = False, None
        return self._advance(now, self.frame)

    def next_forwarded(self, ssrc: int, sequence: int, timestamp: int, now: float) -> tuple[int, int] | None:
        """The forwarded packet's place in this stream: the sender's gaps (loss, reordering) are kept.

        None for a packet too old to send: SRTP refuses an index far behind the last.
        """
        out_sequence = (sequence + self._sequence_offset) & 0xFFFF
        behind = (self.sequence - out_sequence) & 0xFFFF
        jumped = MAX_FORWARD_JUMP < behind < 0x10000 - MAX_FORWARD_JUMP
        if not self.forwarding or ssrc != self.source or jumped:
            if self.forwarding and ssrc == self.source and behind < MAX_STRAGGLER:
                return None  # a straggler from well before the last packet
            self.forwarding, self.source = True, ssrc
            next_sequence, next_timestamp = self._advance(now, FRAME_SAMPLES)
            self._sequence_offset = next_sequence - sequence
            self._timestamp_offset = next_timestamp - timestamp
            return next_sequence, next_timestamp
        out_timestamp = (timestamp + self._timestamp_offset) & 0xFFFFFFFF
        if behind == 0 or behind >= 0x8000:
            self.sequence, self.timestamp, self.last_at = out_sequence, out_timestamp, now
        return out_sequence, out_timestamp

    def _advance(self, now: float, least: int) -> tuple[int, int]:
        """One packet on. A tick is one frame whatever the timer's jitter; only a real pause
        (the stream was idle, or forwarded packets stopped) moves the timestamp by the clock."""
        step = least
        if self.last_at is not None and now - self.last_at > PAUSE:
            step = round((now - self.last_at) * self.rate / self.frame) * self.frame
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + step) & 0xFFFFFFFF
        self.last_at = now
        return self.sequence, self.timestamp


TELEPHONE_FRAME = g711.RATE * FRAME_SAMPLES // SAMPLE_RATE  # one tick at 8 kHz
# A lost G.711 frame is its predecessor again, each repeat this much quieter (G.711 has no concealment of its own).
FADE = 0.5


@dataclass
class Line:
    """A telephone's side of the mixer: 8 kHz linear samples in and out, resampled to and from the mix."""

    up: g711.Upsampler = field(default_factory=g711.Upsampler)
    down: g711.Downsampler = field(default_factory=g711.Downsampler)
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))  # 48 kHz, not mixed yet
    last: np.ndarray | None = None  # the last frame heard, at 8 kHz, for concealment
    fade: float = 1.0

    def next(self, buffer: JitterBuffer, now: float) -> np.ndarray | None:
        """This tick's 20 ms at 48 kHz, whatever the telephone's packet time; None when it has nothing."""
        while len(self.pending) < FRAME_SAMPLES:
            slot = buffer.pop(now)
            if slot is None:
                break
            self.pending = np.concatenate((self.pending, self.up.process(self._narrow(slot))))
        if not len(self.pending):
            return None
        if len(self.pending) < FRAME_SAMPLES:  # the stream stopped mid-frame: finish it with silence
            self.pending = np.concatenate((self.pending, np.zeros(FRAME_SAMPLES - len(self.pending), np.int16)))
        frame, self.pending = self.pending[:FRAME_SAMPLES], self.pending[FRAME_SAMPLES:]
        return frame

    def _narrow(self, slot: Frame | Lost) -> np.ndarray:
        if isinstance(slot, Frame):
            self.last, self.fade = np.frombuffer(slot.payload, dtype=np.int16), 1.0
            return self.last
        self.fade *= FADE
        if self.last is None or not len(self.last):
            return np.zeros(slot.samples, dtype=np.int16)
        return (np.resize(self.last, slot.samples) * self.fade).astype(np.int16)

    def encode(self, mix: np.ndarray) -> bytes:
        return self.down.process(mix).tobytes()


def level(pcm: np.ndarray) -> int:
    """RFC 6464's measure of a frame: -dBov, 0 the loudest, 127 silence."""
    power = float(np.mean(np.square(pcm, dtype=np.float64)))
    if power <= 0.0:
        return rtp.SILENCE
    return int(min(rtp.SILENCE, max(0.0, -10 * np.log10(power / 32768.0**2))))


@dataclass
class Member:
    leg_id: str
    sink: Sink
    output: Output = field(default_factory=Output)
    buffer: JitterBuffer = field(default_factory=JitterBuffer)
    decoder: Decoder | None = None  # made the first time this leg's Opus is decoded
    encoder: Encoder | None = None  # made the first time this leg is a speaker
    line: Line | None = None  # a telephone: G.711 at 8 kHz rather than Opus
    muted: bool = False
    held: bool = False
    has_levels: bool = False
    loud_until: float = 0.0
    loudness: float = float(rtp.SILENCE)  # smoothed -dBov, lower is louder

    @classmethod
    def telephone(cls, leg_id: str, sink: Sink, muted: bool) -> Member:
        output = Output(rate=g711.RATE, frame=TELEPHONE_FRAME)
        return cls(leg_id, sink, output, _buffer(telephone=True), line=Line(), muted=muted)

    def heard(self, packet: rtp.RtpPacket, now: float) -> None:
        # Inlined rather than calling heard_level: this runs for every packet of every browser leg.
        if packet.level is None:
            return  # a sender without RFC 6464: it is always decoded
        self.has_levels = True
        self.loudness += (packet.level - self.loudness) * 0.3
        if packet.level < SPEAKING_LEVEL:
            self.loud_until = now + HANGOVER

    def heard_level(self, level: int, now: float) -> None:
        """A level measured here (a telephone's samples) rather than carried by the packet."""
        self.has_levels = True
        self.loudness += (level - self.loudness) * 0.3
        if level < SPEAKING_LEVEL:
            self.loud_until = now + HANGOVER

    def decode(self, slot: Frame | Lost) -> np.ndarray:
        if self.decoder is None:
            self.decoder = Decoder()
        if isinstance(slot, Frame):
            return self.decoder.decode(slot.payload)
        return self.decoder.conceal(slot.fec, slot.samples)

    def speaking(self, now: float) -> bool:
        return not self.muted and not self.held and (now < self.loud_until or not self.has_levels)


@dataclass
class ConferenceMedia:
    conference_id: str
    on_speaking: SpeakingSink = lambda _legs: None
    members: dict[str, Member] = field(default_factory=dict)
    muted: set[str] = field(default_factory=set)
    # Held legs, each with whether it hears music (held by the chair) or silence (held by its own user).
    held: dict[str, bool] = field(default_factory=dict)
    # What a leg hears instead of the call, kept like a mute for a leg whose endpoint comes later.
    sounds: dict[str, Sound] = field(default_factory=dict)
    shared: Encoder = field(default_factory=Encoder)
    music: MusicOnHold = field(default_factory=MusicOnHold)
    _music_encoder: Encoder | None = None  # made the first time someone hears the music
    _silence_encoder: Encoder | None = None
    speaking_now: frozenset[str] = frozenset()
    spoken_at: float = float("-inf")
    ticks: int = 0
    lines: int = 0  # telephones among the members: with any, the conference mixes
    # A recording is a mixer output: while there is one (or a tone to play), the conference mixes.
    recorder: Recorder | None = None
    # What everyone hears on top of the mix (a recording's announcement, voicemail's greeting); the
    # recording starts once it has played, so the file holds what was said after it.
    prompt: np.ndarray | None = None
    _pending: Recorder | None = None

    # --- membership ---------------------------------------------------------------

    def add(self, leg_id: str, sink: Sink, telephone: bool = False) -> None:
        """A leg's (new) endpoint: a resumed leg keeps its stream's numbering and its mute."""
        member = self.members.get(leg_id)
        muted = leg_id in self.muted
        if member is None or (member.line is not None) != telephone:
            self._remove_member(leg_id)
            member = Member.telephone(leg_id, sink, muted) if telephone else Member(leg_id, sink, muted=muted)
            member.held = leg_id in self.held
            self.members[leg_id] = member
            self.lines += telephone
        else:
            member.sink, member.buffer = sink, _buffer(telephone)
            member.line = Line() if telephone else None

    def remove(self, leg_id: str) -> None:
        self._remove_member(leg_id)
        self.muted.discard(leg_id)
        self.held.pop(leg_id, None)
        self.sounds.pop(leg_id, None)

    def take(self, leg_id: str) -> Member | None:
        """The leg's member, leaving this conference with its stream's numbering, for another (a transfer)."""
        member = self.members.get(leg_id)
        self.remove(leg_id)
        return member

    def give(self, member: Member) -> None:
        """A member from another conference: its stream goes on as it was, with this conference's state of it."""
        self._remove_member(member.leg_id)
        member.muted, member.held = member.leg_id in self.muted, member.leg_id in self.held
        self.members[member.leg_id] = member
        self.lines += member.line is not None

    def _remove_member(self, leg_id: str) -> None:
        member = self.members.pop(leg_id, None)
        if member is not None and member.line is not None:
            self.lines -= 1

    def mute(self, leg_id: str, muted: bool) -> None:
        (self.muted.add if muted else self.muted.discard)(leg_id)
        if leg_id in self.members:
            self.members[leg_id].muted = muted

    def hold(self, leg_id: str, held: bool, music: bool) -> None:
        """Also for a leg with no endpoint yet, like mute."""
        if held:
            self.held[leg_id] = music
        else:
            self.held.pop(leg_id, None)
        if leg_id in self.members:
            self.members[leg_id].held = held

    def play(self, leg_id: str, sound: Sound | None) -> None:
        if sound is None:
            self.sounds.pop(leg_id, None)
        else:
            self.sounds[leg_id] = sound

    @property
    def empty(self) -> bool:
        return not self.members

    @property
    def forwarding(self) -> bool:
        return (
            len(self.members) == 2
            and not self.muted
            and not self.held
            and not self.lines
            and not self.sounds
            and self.recorder is None
            and self._pending is None
            and self.prompt is None
        )

    # --- recording --------------------------------------------------------------------

    def record(self, recorder: Recorder, prompt: np.ndarray) -> None:
        """Play `prompt` to everyone, then record the mix into `recorder` (one recording at a time)."""
        self.stop_recording()
        self.prompt = prompt if len(prompt) else None
        self._pending = recorder
        if self.prompt is None:
            self._start_pending()

    def stop_recording(self) -> None:
        """Stopped during its tone, a recording is still a playable file (of next to nothing): it is listed."""
        self._start_pending()
        if self.recorder is not None:
            self.recorder.stop()
        self.recorder = None

    def _start_pending(self) -> None:
        if self._pending is not None:
            self.recorder, self._pending = self._pending, None
            self.recorder.start()

    def _prompt_frame(self) -> np.ndarray | None:
        if self.prompt is None:
            return None
        frame, rest = self.prompt[:FRAME_SAMPLES], self.prompt[FRAME_SAMPLES:]
        self.prompt = rest if len(rest) else None
        if self.prompt is None:
            self._start_pending()
        return np.multiply(np.pad(frame, (0, FRAME_SAMPLES - len(frame))), 1 / 32768, dtype=np.float32)

    # --- the audio ----------------------------------------------------------------

    def receive(self, leg_id: str, packet: rtp.RtpPacket, now: float) -> None:
        member = self.members.get(leg_id)
        if member is None:
            return
        member.heard(packet, now)
        if self.forwarding:
            for other in self.members.values():
                if other is not member:
                    place = other.output.next_forwarded(packet.ssrc, packet.sequence, packet.timestamp, now)
                    if place is not None:
                        other.sink(packet.payload, place[0], place[1], packet.marker)
            return
        member.buffer.put(packet.ssrc, packet.sequence, packet.timestamp, packet.payload, now)

    def tick(self, now: float) -> None:
        """One 20 ms frame of the mix, for a conference that is not forwarding."""
        self.ticks += 1
        voices = self._voices(now)
        # Every speaker's mix-minus in one array operation: K voices in, K mixes out. In float32, as libopus
        # decodes and encodes: a third of the time the same in int32 with clipping takes.
        speakers = list(voices)
        stack = np.stack([voices[leg_id] for leg_id in speakers]) if speakers else None
        total = stack.sum(axis=0) if stack is not None else np.zeros(FRAME_SAMPLES, dtype=np.float32)
        if self.recorder is not None:
            self.recorder.add(_pcm16(total))
        prompt = self._prompt_frame()
        if prompt is not None:
            total = total + prompt  # and so each speaker's mix-minus has it too
        minus = dict(zip(speakers, total - stack, strict=True)) if stack is not None else {}
        shared: bytes | None = None
        everyone: np.ndarray | None = None
        waiting = self._waiting()
        on_hold: _HoldTick | None = None  # made for the first held leg of the tick: most ticks have none
        for member in self.members.values():
            own_mix = minus.get(member.leg_id)
            sound = self.sounds.get(member.leg_id)
            if sound is not None:  # a transfer's ringback (or its failed tone) comes before any hold
                payload = self._encode_alone(member, sound.next())
                if sound.over:
                    del self.sounds[member.leg_id]  # the tone of a return: from the next frame, the call
            elif member.held or member.leg_id in waiting:
                on_hold = on_hold or _HoldTick(self)
                payload = on_hold.payload(member, music=member.leg_id in waiting or self.held.get(member.leg_id, False))
            elif member.line is not None:
                if own_mix is None:
                    everyone = _pcm16(total) if everyone is None else everyone
                payload = member.line.encode(_pcm16(own_mix) if own_mix is not None else everyone)
            elif own_mix is None:
                if shared is None:
                    shared = self.shared.encode(total)
                payload = shared
            else:
                if member.encoder is None:
                    member.encoder = Encoder()
                payload = member.encoder.encode(own_mix)
            sequence, timestamp = member.output.next_mixed(now)
            member.sink(payload, sequence, timestamp, False)
        self._report_speaking(frozenset(voices), now)

    def _waiting(self) -> frozenset[str]:
        """Who hears the music though not held: the one left talking when the others held themselves away."""
        if False not in self.held.values():  # nobody is away: the chair's holds leave the chair hearing nothing
            return frozenset()
        talking = [m.leg_id for m in self.members.values() if not m.held]
        return frozenset(talking) if len(talking) == 1 else frozenset()

    def hold_encoder(self, music: bool) -> Encoder:
        """The conference's one encoder of the music, or of silence: every held leg gets the same packet."""
        if music:
            self._music_encoder = self._music_encoder or Encoder()
            return self._music_encoder
        self._silence_encoder = self._silence_encoder or Encoder()
        return self._silence_encoder

    def _voices(self, now: float) -> dict[str, np.ndarray]:
        """Each buffer gives up this tick's frame; the loudest few speakers are decoded (to float32, ±1 full scale)."""
        ready: list[tuple[float, Member, Frame | Lost | np.ndarray]] = []
        for member in self.members.values():
            if member.line is not None:
                # G.711 costs next to nothing to decode: its level is measured rather than sent.
                slot: Frame | Lost | np.ndarray | None = member.line.next(member.buffer, now)
                if slot is not None:
                    member.heard_level(level(slot), now)
            else:
                slot = member.buffer.pop(now)
            if slot is not None and member.speaking(now) and member.leg_id not in self.sounds:
                ready.append((member.loudness, member, slot))
        ready.sort(key=lambda entry: entry[0])
        voices: dict[str, np.ndarray] = {}
        for _loudness, member, slot in ready[:MAX_SPEAKERS]:
            if isinstance(slot, np.ndarray):  # a telephone's linear samples
                pcm = np.multiply(slot, 1 / 32768, dtype=np.float32)
            else:
                pcm = member.decode(slot)
            if len(pcm) == FRAME_SAMPLES:
                voices[member.leg_id] = pcm
        return voices

    @staticmethod
    def _encode_alone(member: Member, pcm: np.ndarray) -> bytes:
        """A frame for this member only, from its own encoder (a telephone's is G.711)."""
        if member.line is not None:
            return member.line.encode(pcm)
        if member.encoder is None:
            member.encoder = Encoder()
        return member.encoder.encode(pcm)

    def forwarded_speaking(self, now: float) -> None:
        """Speaking indicators while forwarding, from the levels alone (nothing is decoded)."""
        legs = frozenset(m.leg_id for m in self.members.values() if m.has_levels and m.speaking(now))
        self._report_speaking(legs, now)

    def _report_speaking(self, legs: frozenset[str], now: float) -> None:
        # Called every tick; a change waits for the interval, so the page hears at most a few a second.
        if legs != self.speaking_now and now - self.spoken_at >= SPEAKING_INTERVAL:
            self.speaking_now, self.spoken_at = legs, now
            self.on_speaking(legs)


@dataclass
class _HoldTick:
    """One tick of what held legs hear: the next frame of the music, or silence, each encoded at most once."""

    media: ConferenceMedia
    frame: np.ndarray | None = None
    encoded: dict[bool, bytes] = field(default_factory=dict)

    def payload(self, member: Member, music: bool) -> bytes:
        if music and self.frame is None:
            self.frame = self.media.music.next()
        pcm = self.frame if music and self.frame is not None else np.zeros(FRAME_SAMPLES, dtype=np.int16)
        if member.line is not None:
            return member.line.encode(pcm)
        if music not in self.encoded:
            self.encoded[music] = self.media.hold_encoder(music).encode(pcm)
        return self.encoded[music]


def _buffer(telephone: bool) -> JitterBuffer:
    return JitterBuffer(clock_rate=g711.RATE, frame_samples=TELEPHONE_FRAME) if telephone else JitterBuffer()


def _pcm16(mix: np.ndarray) -> np.ndarray:
    """A float mix as a telephone's linear samples, clipped: G.711 has no headroom above full scale."""
    return np.clip(mix * 32768, -32768, 32767).astype(np.int16)
