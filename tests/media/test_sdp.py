"""SDP offer and answer for telephone legs, with descriptions as carriers and softphones write them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from talkbox.media import sdp

# What sipp's uac_pcap sends (PCMA only), and a carrier offering video too with mu-law second.
SIPP = """v=0\r
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r
s=-\r
c=IN IP4 127.0.0.1\r
t=0 0\r
m=audio 6000 RTP/AVP 8 101\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-11,16\r
"""
CARRIER = """v=0
o=- 1 1 IN IP4 203.0.113.7
s=call
t=0 0
m=video 5004 RTP/AVP 96
a=rtpmap:96 H264/90000
m=audio 30000 RTP/AVP 18 8 0 120
c=IN IP4 198.51.100.20
a=rtpmap:18 G729/8000
a=rtpmap:120 telephone-event/8000
a=rtcp:30011
a=ptime:20
"""


def answer_to(offer: str, port: int = 40000) -> str:
    description = sdp.parse(offer)
    index, peer = sdp.remote(description)
    return sdp.answer(sdp.Origin("192.0.2.1"), port, description, index, peer)


def m_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("m=")]


def test_our_offer_has_both_laws_telephone_events_and_our_address() -> None:
    offer = sdp.offer(sdp.Origin("192.0.2.1"), 40000)
    assert m_lines(offer) == ["m=audio 40000 RTP/AVP 0 8 101"]
    for line in ("c=IN IP4 192.0.2.1", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"):
        assert line in offer.splitlines()
    assert "a=rtpmap:101 telephone-event/8000" in offer and "a=sendrecv" in offer
    assert offer.endswith("\r\n") and "\n" not in offer.replace("\r\n", "")


def test_the_answer_takes_the_first_g711_in_the_offer_s_order() -> None:
    _, peer = sdp.remote(sdp.parse(CARRIER))
    assert peer.law == "PCMA" and (peer.host, peer.port, peer.rtcp_port) == ("198.51.100.20", 30000, 30011)
    answer = answer_to(CARRIER)
    # The video is refused in its place, G.729 is left out, telephone-event keeps the peer's number.
    assert m_lines(answer) == ["m=video 0 RTP/AVP 96", "m=audio 40000 RTP/AVP 8 120"]
    assert "a=rtpmap:120 telephone-event/8000" in answer and "a=sendrecv" in answer


def test_sipp_s_offer_is_answered_with_pcma_and_its_events() -> None:
    _, peer = sdp.remote(sdp.parse(SIPP))
    assert (peer.law, peer.telephone_event, peer.held) == ("PCMA", 101, False)
    assert m_lines(answer_to(SIPP)) == ["m=audio 40000 RTP/AVP 8 101"]


def test_mu_law_first_is_answered_with_mu_law_and_without_events_when_none_are_offered() -> None:
    offer = SIPP.replace("RTP/AVP 8 101", "RTP/AVP 0 8")
    answer = answer_to(offer)
    assert m_lines(answer) == ["m=audio 40000 RTP/AVP 0"]
    assert "telephone-event" not in answer


def test_a_law_under_a_dynamic_number_is_found_by_its_name() -> None:
    offer = SIPP.replace("RTP/AVP 8 101", "RTP/AVP 97").replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:97 pcma/8000")
    assert m_lines(answer_to(offer)) == ["m=audio 40000 RTP/AVP 97"]


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (SIPP.replace("RTP/AVP 8 101", "RTP/AVP 18 101"), "no codec in common"),
        (SIPP.replace("RTP/AVP 8", "RTP/SAVP 8"), "plain RTP/AVP only"),
        (SIPP.replace("m=audio", "m=video"), "no audio stream"),
        (SIPP.replace("m=audio 6000", "m=audio 0"), "no audio stream"),
        (SIPP.replace("c=IN IP4 127.0.0.1\r\n", ""), "no connection address"),
        (SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 phone.example"), "not an IP address"),
        ("v=0\r\nm=audio 99999 RTP/AVP 0\r\n", "bad port"),
        ("", "no audio stream"),
    ],
)
def test_an_offer_without_anything_usable_is_refused_with_the_reason(offer: str, reason: str) -> None:
    """The signalling answers these 488 Not Acceptable Here."""
    with pytest.raises(ValueError, match=reason):
        sdp.check(offer)


@pytest.mark.parametrize(
    ("change", "answered", "held", "two_way"),
    [
        ("a=sendonly", "a=recvonly", True, False),  # music on hold from the phone
        ("a=inactive", "a=inactive", True, False),
        ("a=recvonly", "a=sendonly", False, False),
        ("a=sendrecv", "a=sendrecv", False, True),
    ],
)
def test_directions_are_answered_and_say_whether_to_send(change: str, answered: str, held: bool, two_way: bool) -> None:
    offer = SIPP + change + "\r\n"
    _, peer = sdp.remote(sdp.parse(offer))
    assert (peer.held, peer.two_way) == (held, two_way)
    assert answered in answer_to(offer).splitlines()


def test_a_session_level_direction_counts_for_the_stream() -> None:
    offer = SIPP.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n")
    assert sdp.remote(sdp.parse(offer))[1].held


def test_the_old_hold_with_address_zero_holds_without_counting_as_silence() -> None:
    offer = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")
    _, peer = sdp.remote(sdp.parse(offer))
    assert peer.held and not peer.two_way
    assert "a=recvonly" in answer_to(offer).splitlines()


def test_rtcp_mux_is_answered_in_kind_and_a_new_description_gets_a_new_version() -> None:
    origin = sdp.Origin("192.0.2.1")
    description = sdp.parse(SIPP + "a=rtcp-mux\r\n")
    index, peer = sdp.remote(description)
    first = sdp.answer(origin, 40000, description, index, peer)
    second = sdp.answer(origin, 40000, description, index, peer)
    assert peer.rtcp_mux and "a=rtcp-mux" in first
    versions = [line.split()[2] for text in (first, second) for line in text.splitlines() if line.startswith("o=")]
    sessions = [line.split()[1] for text in (first, second) for line in text.splitlines() if line.startswith("o=")]
    assert int(versions[1]) == int(versions[0]) + 1 and sessions[0] == sessions[1]


def test_an_ipv6_peer_is_read_and_answered() -> None:
    offer = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP6 2001:db8::5")
    assert sdp.remote(sdp.parse(offer))[1].host == "2001:db8::5"
    assert "c=IN IP6 2001:db8::1" in sdp.offer(sdp.Origin("2001:db8::1"), 40000)


def test_an_oversized_description_is_refused_unread() -> None:
    with pytest.raises(ValueError, match="too long"):
        sdp.check(SIPP + "a=x\r\n" * 10_000)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SIPP.splitlines() + CARRIER.splitlines()), max_size=20), st.text(max_size=60))
def test_hostile_descriptions_are_answered_or_refused_never_crash(lines: list[str], noise: str) -> None:
    """Lines of real descriptions in any order, with anything spliced in: an answer, or a ValueError."""
    text = "\r\n".join([*lines[: len(lines) // 2], noise, *lines[len(lines) // 2 :]])
    try:
        answer_to(text)
    except ValueError:
        return
