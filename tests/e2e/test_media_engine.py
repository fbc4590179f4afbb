"""Issue 9 end to end: what users hear through the media engine's forwarding of a call of two.

A call of two is forwarded packet by packet; a third leg, or loss on the
network, must not be something either person notices.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.listen import (
    BLOCK_MS,
    HEARD_DB,
    SILENT_DB,
    levels,
    longest_below,
    start_recording,
    stop_recording,
    wait_until_heard,
    wait_until_silent,
)
from tests.e2e.test_browser_calls_browser import connect
from tests.e2e.test_conference import CAROL_HZ, add
from tests.support.lossy_network import Network

ALICE_HZ, BOB_HZ = 440.0, 700.0
# Over this long a user notices a tone drop out; Opus concealment covers single lost packets well under it.
LONGEST_GAP_MS = 100.0
LISTEN_SECONDS = 10.0

OpenPage = Callable[..., Page]


def heard_blocks(recording: list[float]) -> str:
    """A recording, compressed for an assertion message: one character per block, '#' heard, '.' not."""
    return "".join("#" if level >= HEARD_DB else "." for level in recording)


@pytest.mark.udp_loss(3)
def test_a_call_of_two_under_three_percent_loss_keeps_both_tones_audible(open_page: OpenPage, network: Network) -> None:
    alice, bob = open_page("alice", ALICE_HZ, recorder=True), open_page("bob", BOB_HZ, recorder=True)
    connect(alice, bob)
    dropped_before = network.dropped()
    readings: list[tuple[float, float]] = []
    deadline = time.monotonic() + LISTEN_SECONDS
    while time.monotonic() < deadline:
        readings.append((levels(bob, ALICE_HZ)[ALICE_HZ], levels(alice, BOB_HZ)[BOB_HZ]))
        time.sleep(0.3)
    assert len(readings) >= 10, readings
    assert all(bob_hears > HEARD_DB and alice_hears > HEARD_DB for bob_hears, alice_hears in readings), readings
    # 3% of ~100 packets a second each way over ten seconds: dozens lost while they listened.
    assert network.dropped() - dropped_before >= 10


def test_carol_joining_a_forwarded_call_leaves_no_gap_in_what_bob_hears_of_alice(open_page: OpenPage) -> None:
    alice, bob, carol = (
        open_page(name, hz, recorder=True) for name, hz in (("alice", ALICE_HZ), ("bob", BOB_HZ), ("carol", CAROL_HZ))
    )
    connect(alice, bob)
    start_recording(bob, ALICE_HZ, CAROL_HZ)
    time.sleep(1)
    add(alice, carol, "carol")
    wait_until_heard(bob, CAROL_HZ)
    time.sleep(2)
    recording = stop_recording(bob, ALICE_HZ, CAROL_HZ)

    of_alice, of_carol = recording[ALICE_HZ], recording[CAROL_HZ]
    tail = int(1000 / BLOCK_MS)
    # The recording spans the switch: forwarded alice alone at first, the mix with carol at the end.
    assert statistics.median(of_carol[:tail]) < SILENT_DB, heard_blocks(of_carol)
    assert statistics.median(of_carol[-tail:]) > HEARD_DB, heard_blocks(of_carol)
    assert longest_below(of_alice, HEARD_DB) < LONGEST_GAP_MS, heard_blocks(of_alice)


def test_mute_and_unmute_in_a_forwarded_call_of_two(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ, recorder=True), open_page("bob", BOB_HZ, recorder=True)
    connect(alice, bob)
    start_recording(alice, BOB_HZ)

    alice.get_by_role("button", name="Mute", exact=True).click()
    wait_until_silent(bob, ALICE_HZ)
    time.sleep(1)
    assert levels(bob, ALICE_HZ)[ALICE_HZ] < SILENT_DB, "alice came back while still muted"

    alice.get_by_role("button", name="Unmute", exact=True).click()
    wait_until_heard(bob, ALICE_HZ)
    time.sleep(1)
    expect(alice.get_by_role("button", name="Mute", exact=True)).to_be_visible()

    of_bob = stop_recording(alice, BOB_HZ)[BOB_HZ]
    assert len(of_bob) * BLOCK_MS > 2000, "the recording did not span the mute"
    assert longest_below(of_bob, HEARD_DB) < LONGEST_GAP_MS, heard_blocks(of_bob)
