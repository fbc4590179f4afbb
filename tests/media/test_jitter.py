"""The jitter buffer against synthetic and stored packet traces, judged by what a listener would hear."""

from __future__ import annotations

import random
import time
from dataclasses import replace

import pytest

from talkbox.media.jitter import Frame, JitterBuffer, Lost
from tests.media.trace import (
    TICK,
    TRACES,
    Packet,
    Playback,
    by_arrival,
    delayed,
    dump,
    gamma,
    load,
    payload,
    play,
    random_loss,
    stall,
    stream,
    without,
)

TRANSIT = 0.03  # the generator's fixed network transit: a playout delay above it is the buffer's
CALM = TRANSIT + 0.02 + TICK  # the minimum delay, and up to a tick for playout to start on a tick


def through(packets: list[Packet], buffer: JitterBuffer | None = None) -> tuple[Playback, JitterBuffer]:
    """Play until just after the last packet, so the sender stopping is not mistaken for loss."""
    buffer = buffer or JitterBuffer()
    return play(packets, buffer, until=max(p.arrival for p in packets) + 0.05), buffer


def in_order(playback: Playback) -> bool:
    return all(a < b for a, b in zip(playback.heard, playback.heard[1:], strict=False))


def worst(delays: list[float]) -> float:
    return max(delays)


def test_a_calm_network_plays_everything_at_the_minimum_delay() -> None:
    packets = stream(10)
    heard, buffer = through(packets)
    assert heard.heard == [p.index for p in packets]
    assert heard.concealed == 0
    assert worst(heard.delays_between(0, 99)) <= CALM
    assert buffer.stats.target_ms == 20


def test_the_target_follows_jitter_and_comes_back_down_when_the_network_calms() -> None:
    rng = random.Random(3)
    packets = delayed(stream(20), lambda sent: rng.gammavariate(2.0, 0.01) if sent < 11 else 0.0)
    heard, _ = through(packets)
    jittery = [target for t, target in heard.targets if 5 < t < 11]
    assert min(jittery) >= 0.04  # the 95th percentile of gamma(2, 10 ms) is 47 ms
    assert heard.concealed_between(1, 11) < 0.05 * 500
    assert max(target for t, target in heard.targets if t > 15) == pytest.approx(0.02)
    assert worst(heard.delays_between(16, 99)) <= CALM
    assert in_order(heard)


def test_a_short_delay_spike_is_ridden_out_without_loss_and_the_delay_comes_back_down() -> None:
    packets = delayed(stream(15), stall(5.0, 0.08))
    heard, buffer = through(packets)
    assert {200, 201, 202, 203} <= set(heard.heard)  # the late packets play after a concealment, not instead of it
    assert heard.concealed <= 4
    assert len(packets) - len(heard.heard) == buffer.stats.dropped <= 4  # frames dropped to shrink back
    assert worst(heard.delays_between(5, 6)) >= TRANSIT + 0.08
    assert worst(heard.delays_between(10, 99)) <= CALM


def test_a_long_stall_stops_concealing_and_resumes_at_the_target_without_a_backlog() -> None:
    packets = delayed(stream(10), stall(5.0, 0.4))
    heard, buffer = through(packets)
    assert heard.concealed == 5  # 100 ms of concealment, then silence
    assert heard.silent_ticks >= 10
    resumed = [d for t, d in heard.delays if t > 5.1]
    assert worst(resumed) <= CALM  # the stale packets of the stall were skipped, not queued up
    assert buffer.stats.dropped >= 10
    assert in_order(heard)


def test_a_two_second_outage_released_at_once_plays_fresh_audio_right_away() -> None:
    packets = delayed(stream(10), stall(4.0, 2.0))
    heard, buffer = through(packets)
    back = min(p.arrival for p in packets if p.sent is not None and p.sent > 4.0)
    first = next(t for t in heard.heard_at if t > back)
    assert first - back <= 2 * TICK
    assert worst(heard.delays_between(first, 99)) <= CALM
    assert buffer.stats.resets == 0
    assert in_order(heard)


@pytest.mark.parametrize("max_delay", [0.1, 0.2])
def test_the_delay_never_exceeds_max_delay(max_delay: float) -> None:
    rng = random.Random(5)  # a third of the packets take a path up to 500 ms slower, overtaken by the others
    packets = [replace(p, arrival=p.arrival + rng.uniform(0, 0.5)) if rng.random() < 0.3 else p for p in stream(20)]
    heard, buffer = through(packets, JitterBuffer(max_delay=max_delay))
    assert worst([d - TRANSIT for _, d in heard.delays]) <= max_delay + TICK
    assert max(target for _, target in heard.targets) <= max_delay
    assert max(heard.reported) <= max_delay
    assert in_order(heard)


def test_each_lost_packet_is_concealed_once_with_fec_from_the_packet_after_it() -> None:
    sent = stream(20)
    packets = without(sent, random_loss(0.05))
    received = {p.index for p in packets}
    lost = [p.index for p in sent if p.index not in received]
    heard, _ = through(packets)
    assert heard.heard == sorted(received)
    assert heard.concealed == len(lost)
    assert heard.with_fec == sum(1 for i in lost if i + 1 in received)
    assert len(lost) > 30


def test_a_burst_of_loss_conceals_five_frames_then_goes_silent_and_resumes_at_the_target() -> None:
    sent = stream(10)
    packets = without(sent, lambda p: 200 <= p.index < 215)
    heard, _ = through(packets)
    assert heard.concealed == 5
    assert heard.silent_ticks >= 10
    assert heard.heard == [p.index for p in packets]
    resumed_at = heard.heard_at[heard.heard.index(215)]
    assert worst(heard.delays_between(resumed_at, 99)) <= CALM


def test_reordering_within_the_buffer_is_put_right() -> None:
    packets = stream(20)
    packets = [replace(p, arrival=p.arrival + 0.03) if p.index % 10 == 5 else p for p in packets]
    heard, buffer = through(packets)
    assert in_order(heard)
    assert buffer.stats.reordered >= 95
    assert buffer.stats.late <= 2  # only before the target has learnt the reordering
    assert len(heard.heard) >= len(packets) - 2
    assert heard.concealed <= 2


def test_duplicates_are_played_once_and_counted() -> None:
    packets = stream(10)
    copies = [replace(p, arrival=p.arrival + 0.005) for p in packets]
    echoes = [replace(p, arrival=p.arrival + 0.5) for p in packets[:-50] if p.index % 20 == 0]
    heard, buffer = through(packets + copies + echoes)
    assert heard.heard == [p.index for p in packets]
    assert heard.concealed == 0
    assert buffer.stats.duplicates == len(copies) + len(echoes)


def test_a_packet_that_arrives_after_its_slot_is_concealed_and_counted_late() -> None:
    packets = [replace(p, arrival=p.arrival + 0.3) if p.index == 200 else p for p in stream(10)]
    heard, buffer = through(packets)
    assert 200 not in heard.heard
    assert heard.concealed == heard.with_fec == 1
    assert buffer.stats.late == 1
    assert in_order(heard)


def test_sequence_and_timestamp_wrap_go_unnoticed() -> None:
    packets = stream(20, seq0=65_400, ts0=(1 << 32) - 48_000 * 3)
    wrap = next(k for k, p in enumerate(packets) if p.seq == 0)
    assert any(p.ts < packets[0].ts for p in packets)  # the timestamp wraps too
    packets[wrap - 1] = replace(packets[wrap - 1], arrival=packets[wrap].arrival + 0.001)  # reordered across it
    heard, buffer = through(packets)
    assert heard.heard == [p.index for p in packets]
    assert heard.concealed == 0
    assert buffer.stats.resets == buffer.stats.late == 0
    assert worst(heard.delays_between(0, 99)) <= CALM + 0.02


def test_a_new_ssrc_resets_and_plays_the_new_stream_at_the_target() -> None:
    first = stream(5, ssrc=1)
    second = stream(5, ssrc=2, start=6.02, seed=9, first_index=len(first))
    heard, buffer = through(first + second)
    assert buffer.stats.resets == 1
    assert heard.heard == [p.index for p in first + second]
    assert worst(heard.delays_between(6, 99)) <= CALM


@pytest.mark.parametrize(
    ("seq0", "ts0"),
    [(40_000, 123_456), (1_000 + 250, 3_000_000_000)],
    ids=["sequence and timestamp jump", "timestamp jump only"],
)
def test_a_sender_restarting_its_stream_resets_and_plays_on(seq0: int, ts0: int) -> None:
    first = stream(5, ssrc=7, seq0=1_000, ts0=0)
    second = stream(5, ssrc=7, seq0=seq0, ts0=ts0, start=6.0, first_index=len(first))
    heard, buffer = through(first + second)
    assert buffer.stats.resets == 1
    assert heard.heard == [p.index for p in first + second]
    assert worst(heard.delays_between(6, 99)) <= CALM


def test_one_stray_packet_from_far_outside_the_stream_is_ignored() -> None:
    packets = stream(10, seq0=1_000, ts0=0)
    stray = replace(packets[200], seq=30_000, ts=999_999_999, index=10_000, arrival=packets[200].arrival + 0.001)
    heard, buffer = through([*packets, stray])
    assert buffer.stats.resets == 0
    assert heard.heard == [p.index for p in packets]
    assert heard.concealed == 0


def test_a_sender_pausing_in_dtx_goes_silent_and_comes_back_at_the_target() -> None:
    talk = stream(5, seq0=500, ts0=0)
    again = stream(5, seq0=750, ts0=round(6.0 * 48_000), start=7.0, first_index=250)  # sequence carries on
    heard, buffer = through(talk + again)
    assert heard.heard == [p.index for p in talk + again]
    assert heard.concealed <= 5
    assert buffer.stats.resets == buffer.stats.late == 0
    assert worst(heard.delays_between(7, 99)) <= CALM


@pytest.mark.parametrize("drift", [0.005, -0.005], ids=["sender 0.5% fast", "sender 0.5% slow"])
def test_clock_drift_keeps_the_delay_bounded_for_minutes(drift: float) -> None:
    minutes = 5
    packets = stream(60 * minutes, drift=drift)
    heard, buffer = through(packets)
    forced = round(60 * minutes * abs(drift) / TICK)  # frames that must go (fast) or be made up (slow)
    first, last = heard.delays_between(10, 70), heard.delays_between(60 * minutes - 60, 60 * minutes)
    assert max(last) <= CALM + 0.01  # the transit floor lags a slow sender by up to 10 ms
    assert abs(sum(last) / len(last) - sum(first) / len(first)) < 0.01
    if drift > 0:
        assert forced <= buffer.stats.dropped <= forced * 1.1 + 2
        assert heard.concealed_between(1, 60 * minutes - 10) == 0
    else:
        assert forced * 0.9 <= heard.concealed <= forced * 1.1 + 2
        assert buffer.stats.dropped == 0
    assert in_order(heard)


@pytest.mark.parametrize("ptime", [0.01, 0.04, 0.06])
def test_other_packet_durations_play_by_their_timestamps(ptime: float) -> None:
    rng = random.Random(4)
    packets = without(stream(20, ptime=ptime, jitter=gamma(2.0, 0.003)), lambda p: rng.random() < 0.02)
    heard, buffer = through(packets)
    assert in_order(heard)
    assert len(heard.heard) >= len(packets) - 3
    lost = (round(20 / ptime) - len(packets)) * ptime
    assert heard.concealed_samples / 48_000 <= lost + 3 * TICK
    assert worst(heard.delays_between(2, 99)) <= TRANSIT + buffer.stats.target_ms / 1000 + max(ptime, TICK) + 0.03


def test_the_stored_wifi_trace_plays_in_order_within_max_delay() -> None:
    packets = load(TRACES / "wifi-30s.jsonl")
    heard, buffer = through(packets)
    assert in_order(heard)
    assert len(heard.heard) >= 0.97 * len(packets)
    assert heard.concealed <= 0.04 * len(packets)
    assert max(heard.reported) <= 0.2
    assert sum(heard.reported) / len(heard.reported) <= 0.05
    assert buffer.stats.received == len(packets)


def test_a_trace_file_reads_back_as_written(tmp_path) -> None:
    packets = by_arrival(stream(3, seq0=65_500, ssrc=5) + stream(2, ssrc=6, start=4.0, first_index=150))
    dump(packets, tmp_path / "t.jsonl")
    back = load(tmp_path / "t.jsonl")
    assert [(p.seq, p.ts, p.ssrc, p.index) for p in back] == [(p.seq, p.ts, p.ssrc, p.index) for p in packets]
    assert [p.arrival for p in back] == pytest.approx([p.arrival for p in packets], abs=1e-6)


def test_nothing_plays_before_the_first_packet_or_before_the_target_delay() -> None:
    buffer = JitterBuffer(min_delay=0.04)
    assert buffer.pop(0.0) is None
    buffer.put(1, 10, 0, b"a", now=1.0)
    buffer.put(1, 11, 960, b"b", now=1.02)
    assert buffer.pop(1.03) is None
    assert buffer.pop(1.041) == Frame(b"a")
    assert buffer.pop(1.061) == Frame(b"b")
    assert buffer.pop(1.081) == Lost(960, None)


def test_put_and_pop_cost_a_few_microseconds() -> None:
    """Prints the cost of one put and one pop; asserts only that the run played every packet."""
    packets = stream(60)
    buffer = JitterBuffer()
    frames = 0
    start = time.perf_counter()
    for p in packets:
        buffer.put(p.ssrc, p.seq, p.ts, payload(p), p.arrival)
        frames += isinstance(buffer.pop(p.arrival + 0.03), Frame)
    elapsed = time.perf_counter() - start
    print(f"jitter buffer: {elapsed / len(packets) * 1e6:.2f} us per put+pop")
    assert frames == len(packets)
