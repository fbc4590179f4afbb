"""RTP and RTCP as Chromium sends them (tests/media/fixtures, captured after SRTP), and what must be refused."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from talkbox.media import rtcp, rtp

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "chromium-opus.json").read_text())
RTP = [bytes.fromhex(packet) for packet in FIXTURE["rtp"]]
RTCP = [bytes.fromhex(packet) for packet in FIXTURE["rtcp"]]
LEVEL_ID = 2  # what Talkbox's offer numbers ssrc-audio-level, and Chromium answers with
OUR_SSRC = 0x1C0C1249  # the stream Chromium's receiver report is about


def test_chromium_opus_packets_parse_with_their_audio_level() -> None:
    packets = [rtp.parse(data, LEVEL_ID) for data in RTP]
    assert {p.payload_type for p in packets} == {96}
    assert len({p.ssrc for p in packets}) == 1
    for before, after in zip(packets, packets[1:], strict=False):
        assert (after.sequence - before.sequence) & 0xFFFF == 1
        assert (after.timestamp - before.timestamp) & 0xFFFFFFFF == 960
    assert all(p.level == 11 and p.voice for p in packets), "a 440 Hz tone at -11 dBov, voice activity set"
    assert all(len(p.payload) == len(data) - 12 - 8 for p, data in zip(packets, RTP, strict=True))


def test_without_the_negotiated_id_there_is_no_level() -> None:
    assert rtp.parse(RTP[0]).level is None
    assert rtp.parse(RTP[0], level_id=5).level is None


def test_rtcp_from_chromium_gives_round_trip_jitter_and_its_sender_time() -> None:
    receiver = rtcp.read(RTCP[0], OUR_SSRC, 0.0)
    [report] = receiver.reports
    assert report.fraction_lost == 0 and report.cumulative_lost == 0
    assert report.jitter == 476
    lsr, dlsr = struct.unpack_from("!II", RTCP[0], 24)
    arrival = (lsr + dlsr + 3277) & 0xFFFFFFFF  # 50 ms after the report left, in NTP's 1/65536 s
    seconds = next(s for s in range(65536) if (s + rtcp.NTP_EPOCH_OFFSET) & 0xFFFF == arrival >> 16)
    timed = rtcp.read(RTCP[0], OUR_SSRC, seconds + (arrival & 0xFFFF) / 65536 + 1e-6)
    assert timed.reports[0].round_trip == pytest.approx(0.05, abs=0.001)
    assert rtcp.read(RTCP[0], 0x12345678, 0.0).reports == [], "a report about someone else's stream"
    sender = rtcp.read(RTCP[1], OUR_SSRC, 0.0)
    assert sender.sender_ntp is not None


def test_the_engine_reports_what_chromium_can_read_back() -> None:
    stats = rtcp.ReceiveStats()
    for index, packet in enumerate(rtp.parse(data, LEVEL_ID) for data in RTP):
        if index != 7:  # one lost
            stats.packet(packet.ssrc, packet.sequence, packet.timestamp, index * 0.02)
    sent = rtcp.SendStats(packets=10, octets=800, last_timestamp=1234, last_sent_at=0.5)
    compound = rtcp.report(0xAABBCCDD, "talkbox", sent, stats, 1_700_000_000.0, 0.6, 48_000)
    version, kind, words = struct.unpack_from("!BBH", compound)
    assert version >> 6 == 2 and version & 0x1F == 1 and kind == rtcp.SR
    block = compound[28 : 28 + 24]
    ssrc, lost_word, highest = struct.unpack_from("!III", block)
    assert ssrc == rtp.parse(RTP[0]).ssrc
    assert lost_word & 0xFFFFFF == 1 and lost_word >> 24 > 0  # one lost, a fraction of the interval
    assert highest & 0xFFFF == rtp.parse(RTP[-1]).sequence
    assert compound[4 * (words + 1) + 1] == rtcp.SDES


@pytest.mark.parametrize(
    "data",
    [
        b"",
        RTP[0][:11],  # shorter than a header
        bytes([0x40]) + RTP[0][1:],  # version 1
        RTP[0][:15],  # the extension header cut short
        bytes([RTP[0][0] | 0x20]) + RTP[0][1:-1] + b"\xff",  # padding longer than the packet
        bytes([RTP[0][0] | 0x0F]) + RTP[0][1:40],  # fifteen CSRCs that are not there
    ],
)
def test_malformed_rtp_is_refused(data: bytes) -> None:
    with pytest.raises(rtp.RtpError):
        rtp.parse(data, LEVEL_ID)


def test_rtcp_that_lies_about_its_length_is_ignored() -> None:
    lying = RTCP[0][:2] + struct.pack("!H", 200) + RTCP[0][4:]
    assert rtcp.read(lying, OUR_SSRC, 0.0).reports == []
    assert rtcp.read(b"\x00" * 40, OUR_SSRC, 0.0).reports == []
