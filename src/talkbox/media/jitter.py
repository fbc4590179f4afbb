"""An adaptive jitter buffer for one incoming leg of the mixer.

The mixer needs, every 20 ms, the next piece of each leg's audio, and it wants it as late as the network forces and
no later. The buffer holds the leg's encoded packets and answers one question per tick: play this packet, conceal a
missing one, or play nothing.

Why it is built this way:

- It holds encoded payloads and never decodes. Decoding is the mixer's business (it decodes only legs that speak),
  so the buffer cannot time-stretch audio the way NetEQ does. It changes its delay in whole frames instead: to grow,
  it conceals while it has run dry (the audio is late, so a concealed frame is unavoidable anyway, and the late packet
  then plays after it instead of being thrown away); to shrink, it drops a frame once the excess has lasted a while.
  A concealment is audible, so the buffer never inserts one just to reach a higher target.
- Its delay is measured against the best path, not against how much happens to be queued. Each packet's transit
  (arrival time minus its RTP timestamp in seconds) is compared with the smallest transit of the last two seconds;
  the difference is that packet's jitter. The target is the 95th percentile of those jitters in a histogram that
  forgets with a time constant of a second, so a jitter spike raises it after three late packets and a calm network
  brings it back down within a few seconds. The playout delay is how long after its best-case arrival the packet
  now due is played. Because both are measured from the same floor, a sender whose clock runs fast or slow moves the
  floor and both together; the drift then shows up as an occasional dropped or concealed frame, not as a delay that
  grows. Packets that come back after the buffer gave up on an outage are not counted as jitter: covering them would
  take more delay than concealment is allowed to bridge.
- Nothing plays more than `max_delay` after its best-case arrival: older packets are dropped, whatever else is held.
- Packets sit in a ring indexed by extended sequence number, so put and pop are a handful of list look-ups (about
  4 us for both together on the machine this was written on); the percentile is recomputed every few packets from a
  histogram of fixed size. Memory is fixed per leg.
- Every method takes `now` from the caller: the buffer has no clock and does no I/O, so tests drive it with
  simulated time.

How it relates to the peers:

- speex's buffer (which Janus's AudioBridge copies per participant) keys packets by timestamp, tracks how early or
  late packets were against its playout pointer over short histories, picks the delay that balances late loss
  against delay, and asks its caller to insert or skip a frame. Janus runs it with a fixed margin and re-evaluates
  every 50 ticks. This buffer keeps the frame-granular adjustment (we do not decode either) but measures jitter
  against the transit floor, which makes the target independent of where the playout pointer happens to be.
- WebRTC's NetEQ estimates each packet's arrival delay relative to the minimum of a two-second history, keeps a
  histogram with a forget factor and targets a high quantile. This buffer takes the same estimate. NetEQ then
  reaches the target by stretching decoded audio and conceals with expand-and-merge; here growth is concealment
  only when dry, merged with the packet that arrives (a concealment already played counts towards the gap it
  covered), and shrinking is dropping.

The contract with the mixer: call `pop(now)` whenever the leg needs its next piece of audio, which for 20 ms packets
is once per tick. A `Frame` is decoded (a 40 or 60 ms frame lasts two or three ticks, and the mixer asks again when
it has used it up; 10 ms packets are asked for twice a tick). `Lost` is concealed for `Lost.samples`, with Opus FEC
from `Lost.fec` when present. `None` means nothing new: play what the decoder already produced, else treat the leg as
silent. After `max_conceal` of consecutive concealment (a long burst of loss, or the sender stopped or went into DTX)
it returns `None` until packets come again, and then resumes at the target delay.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from math import ceil

# RFC 3550 appendix A.1: a sequence jump beyond these is a new stream, not loss or reordering.
MAX_DROPOUT = 3000
MAX_MISORDER = 100
# A packet whose transit differs from the floor by this much has timestamps from a different clock: a restart.
CLOCK_JUMP = 3.0
# How far back the transit floor looks. Long enough to see through a jitter burst, short enough that a sender clock
# 0.5% slow lifts the floor by only 10 ms.
FLOOR_WINDOW = 2.0
# The jitter histogram: the target covers this quantile, older samples fade with this time constant.
QUANTILE = 0.95
JITTER_MEMORY = 1.0
BUCKET = 0.005
TARGET_EVERY = 8
# Pops in a row with a frame's worth of excess delay before one frame is dropped.
SHRINK_HOLD = 10
# Opus packets are at most 120 ms; a larger timestamp step between neighbours is a pause (DTX), not a duration.
MAX_PACKET = 0.12


@dataclass(frozen=True, slots=True)
class Frame:
    """The next packet of the stream: decode it now."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Lost:
    """The next `samples` of the stream are missing: conceal them.

    `fec` is the payload of the packet that follows the gap when it is already here: Opus in-band FEC rebuilds the
    lost audio from it (decode it with FEC on, for `samples`). Without it, run packet-loss concealment.
    """

    samples: int
    fec: bytes | None = None


@dataclass(slots=True)
class JitterStats:
    """Counters for RTCP, logs and benchmarks; delays are as of the last frame played."""

    received: int = 0
    concealed: int = 0  # Lost results returned
    late: int = 0  # arrived after their slot had passed
    duplicates: int = 0
    reordered: int = 0  # arrived after a later packet, still in time
    resets: int = 0  # the sender restarted its stream
    dropped: int = 0  # thrown away to shrink the delay or keep it under max_delay
    delay_ms: float = 0.0
    target_ms: float = 0.0


class JitterBuffer:
    """Orders, times and bounds one leg's packets; see the module docstring for the contract."""

    def __init__(
        self,
        clock_rate: int = 48_000,
        frame_samples: int = 960,
        min_delay: float = 0.02,
        max_delay: float = 0.2,
        max_conceal: float = 0.1,
    ) -> None:
        if not 0 < min_delay <= max_delay:
            raise ValueError("need 0 < min_delay <= max_delay")
        self._rate = clock_rate
        self._tick = frame_samples
        self._min = min_delay
        self._max = max_delay
        self._max_conceal = max(1, round(max_conceal * clock_rate / frame_samples))
        size = 64
        while size * 0.01 < 2 * max_delay:  # room for 10 ms packets over twice the deepest buffer
            size *= 2
        self._size = size
        self._mask = size - 1
        self._buckets = [0.0] * (ceil(max_delay / BUCKET) + 1)
        self._weight = 1.0
        self._mass = 0.0
        self._until_target = 0
        self._target = min_delay
        self._packet = frame_samples  # duration of a packet, learned from neighbouring timestamps
        self._grow = self._growth()
        self._ssrc: int | None = None
        self.stats = JitterStats(target_ms=min_delay * 1000)
        self._restart()

    def _restart(self) -> None:
        """Forget the stream (not the network: the jitter histogram and target stay)."""
        self._seqs = [-1] * self._size
        self._stamps = [0] * self._size
        self._payloads: list[bytes | None] = [None] * self._size
        self._held = 0
        self._started = False
        self._running = False
        self._lo = 0  # the next packet to play; while idle, where playout resumes
        self._floor = 0  # packets below this are late
        self._high = 0  # highest extended sequence number seen
        self._high_ts = 0  # its extended timestamp
        self._last_ts = 0  # extended timestamp of the last packet played
        self._since = 0  # samples produced since it ended (concealment, or silence in a pause)
        self._run = 0  # concealments in a row
        self._over = 0  # pops in a row with excess delay
        self._transits: deque[tuple[float, float]] = deque(maxlen=512)
        self._stray: tuple[int, int, bytes, float] | None = None

    # -- put -------------------------------------------------------------------------------------------------------

    def put(self, ssrc: int, sequence: int, timestamp: int, payload: bytes, now: float) -> None:
        """Take one RTP packet that arrived at `now` (seconds, the caller's monotonic clock)."""
        self.stats.received += 1
        if ssrc != self._ssrc:
            if self._ssrc is not None:
                self.stats.resets += 1
                self._restart()
            self._ssrc = ssrc
        self._accept(sequence & 0xFFFF, timestamp & 0xFFFFFFFF, payload, now)

    def _accept(self, sequence: int, timestamp: int, payload: bytes, now: float) -> None:
        if not self._started:
            self._started = True
            self._lo = self._high = sequence
            self._floor = sequence - self._size // 2  # nothing played yet: an earlier packet may still come
            self._high_ts = timestamp
        # Written out rather than in helpers: this runs for every packet of every leg. The numbers are extended
        # by the signed distance their wrapping counter moved.
        ext = self._high + ((sequence - self._high + 0x8000) & 0xFFFF) - 0x8000
        stamp = self._high_ts + ((timestamp - self._high_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        transit = now - stamp / self._rate
        delta = ext - self._high
        transits = self._transits
        if delta > MAX_DROPOUT or delta < -MAX_MISORDER or (transits and abs(transit - transits[0][1]) > CLOCK_JUMP):
            self._probation(sequence, timestamp, payload, now)
            return
        self._stray = None
        slot = ext & self._mask
        if self._seqs[slot] == ext:
            self.stats.duplicates += 1
            return
        # The transit floor moves; this packet's jitter is how far above it the packet came.
        while transits and transits[-1][1] >= transit:
            transits.pop()
        transits.append((now, transit))
        while now - transits[0][0] > FLOOR_WINDOW:
            transits.popleft()
        jitter = transit - transits[0][1]
        if self._running:  # a packet that comes back after the buffer gave up on an outage says nothing of jitter
            self._count(jitter)
        if ext < self._floor or self._high - ext >= self._size:
            self.stats.late += 1
            return
        if ext - self._lo >= self._size:
            self._flush(ext)
        elif not self._running and (self._held == 0 or ext < self._lo):
            self._lo = ext  # idle: playout resumes from the oldest packet that came back
        if ext < self._high:
            self.stats.reordered += 1
        self._store(slot, ext, stamp, payload)

    def _probation(self, sequence: int, timestamp: int, payload: bytes, now: float) -> None:
        """A packet far outside the stream: a restart once a second one follows it in order, else a stray."""
        stray = self._stray
        follows = (
            stray is not None
            and sequence == (stray[0] + 1) & 0xFFFF
            and 0 < (timestamp - stray[1]) & 0xFFFFFFFF <= MAX_PACKET * self._rate
        )
        if not follows or stray is None:
            self._stray = (sequence, timestamp, payload, now)
            return
        self.stats.resets += 1
        self._restart()
        self._accept(*stray)
        self._accept(sequence, timestamp, payload, now)

    def _count(self, jitter: float) -> None:
        self._weight *= self._grow  # growing new weight instead of shrinking all old weight: same ratios, O(1)
        bucket = min(int(jitter / BUCKET), len(self._buckets) - 1)
        self._buckets[bucket] += self._weight
        self._mass += self._weight
        if self._weight > 1e12:
            self._buckets = [b / self._weight for b in self._buckets]
            self._mass /= self._weight
            self._weight = 1.0
        self._until_target -= 1
        if self._until_target <= 0:
            self._until_target = TARGET_EVERY
            self._retarget()

    def _retarget(self) -> None:
        limit = self._mass * (1 - QUANTILE)
        above = 0.0
        bucket = len(self._buckets) - 1
        while bucket > 0:
            above += self._buckets[bucket]
            if above > limit:
                break
            bucket -= 1
        self._target = min(max(self._min, (bucket + 1) * BUCKET), self._max)
        self.stats.target_ms = self._target * 1000

    def _growth(self) -> float:
        return 1 / (1 - min(0.5, self._packet / self._rate / JITTER_MEMORY))

    def _store(self, slot: int, ext: int, stamp: int, payload: bytes) -> None:
        before = (ext - 1) & self._mask
        if self._seqs[before] == ext - 1 and 0 < stamp - self._stamps[before] <= MAX_PACKET * self._rate:
            step = stamp - self._stamps[before]
            if step != self._packet:
                self._packet = step
                self._grow = self._growth()
        self._seqs[slot] = ext
        self._stamps[slot] = stamp
        self._payloads[slot] = payload
        self._held += 1
        if ext > self._high:
            self._high = ext
            self._high_ts = stamp

    def _flush(self, ext: int) -> None:
        """A packet beyond what the ring can hold: everything older is stale, start again from it."""
        for seq in range(self._lo, self._high + 1):
            if self._holds(seq):
                self._drop(seq)
        self._lo = self._floor = ext
        self._running = False

    # -- pop -------------------------------------------------------------------------------------------------------

    def pop(self, now: float) -> Frame | Lost | None:
        """The leg's next piece of audio at `now`; see the module docstring."""
        if not self._started or not self._transits:
            return None
        if not self._running:
            return self._resume(now)
        next_seq = self._lo if self._holds(self._lo) else self._first_held(self._lo + 1)
        if next_seq is None:
            return self._conceal(self._tick, None)  # dry: the packet is late or lost; play it after this if it comes
        # Stream time before the next packet not yet covered; the duration is looked up late, as it may just
        # have been learned from the packet after.
        gap = self._stamps[next_seq & self._mask] - self._last_ts - self._packet - self._since
        if gap <= self._tick // 2:
            return self._deliver(next_seq, now)
        if next_seq == self._lo:
            self._since += self._tick  # nothing missing, the sender paused (DTX): silence until its next packet
            return None
        if self._run >= self._max_conceal:
            self._idle(next_seq)
            return None
        fec = self._payloads[next_seq & self._mask] if gap <= self._packet + self._tick // 2 else None
        return self._conceal(min(self._packet, gap), fec)

    def _resume(self, now: float) -> Frame | Lost | None:
        """Start playing again once the oldest packet back has waited the target delay, skipping stale ones."""
        first = self._lo if self._holds(self._lo) else self._first_held(self._lo + 1)
        fresh = self._first_fresh(first, now, self._target + self._slack())
        if fresh is None:
            return None
        seq, _later, delay = fresh
        self._lo = seq
        if delay < self._target:
            return None
        self._running = True
        self._over = 0
        return self._deliver(seq, now)

    def _deliver(self, seq: int, now: float) -> Frame | Lost | None:
        fresh = self._first_fresh(seq, now, self._max)
        if fresh is None:
            return self._conceal(self._tick, None)
        seq, following, delay = fresh
        self._over = self._over + 1 if delay >= self._target + self._slack() else 0
        if self._over >= SHRINK_HOLD and following is not None:
            self._over = 0
            self._drop(seq)
            seq = following
            delay = self._delay(seq, now)
        slot = seq & self._mask
        payload = self._payloads[slot]
        assert payload is not None
        self._payloads[slot] = None
        self._held -= 1
        self._lo = self._floor = seq + 1
        self._last_ts = self._stamps[slot]
        self._since = 0
        self._run = 0
        self.stats.delay_ms = delay * 1000
        return Frame(payload)

    def _first_fresh(self, seq: int | None, now: float, limit: float) -> tuple[int, int | None, float] | None:
        """The first held packet from `seq` that would play at most `limit` late, dropping older ones; the last one
        held may play up to max_delay late, and none later than that. With it: the next one held, and its delay."""
        while seq is not None:
            later = self._first_held(seq + 1)
            delay = self._delay(seq, now)
            if delay <= (limit if later is not None else self._max):
                return seq, later, delay
            self._drop(seq)
            seq = later
        return None

    def _conceal(self, samples: int, fec: bytes | None) -> Lost | None:
        if self._run >= self._max_conceal:
            self._idle(None)
            return None
        self._run += 1
        self._over = 0
        self._since += samples
        self.stats.concealed += 1
        return Lost(samples, fec)

    def _idle(self, resume_at: int | None) -> None:
        """Stop concealing; with packets held, playout resumes from the oldest, else from whatever comes next."""
        self._running = False
        if resume_at is not None:
            self._lo = self._floor = resume_at

    def _slack(self) -> float:
        """How far above the target the delay may sit: playout starts on a tick, so it lands up to a tick late."""
        return max(self._packet, self._tick) / self._rate

    def _delay(self, seq: int, now: float) -> float:
        """How long after its best-case arrival this packet plays if played now."""
        return now - self._stamps[seq & self._mask] / self._rate - self._transits[0][1]

    def _holds(self, seq: int) -> bool:
        slot = seq & self._mask
        return self._seqs[slot] == seq and self._payloads[slot] is not None

    def _first_held(self, seq: int) -> int | None:
        if self._held == 0:
            return None
        while seq <= self._high:
            if self._holds(seq):
                return seq
            seq += 1
        return None

    def _drop(self, seq: int) -> None:
        self._payloads[seq & self._mask] = None
        self._held -= 1
        self.stats.dropped += 1
