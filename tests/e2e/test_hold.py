"""Hold, music on hold and call waiting in Chromium, judged on what each page hears."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

from playwright.sync_api import Page, expect

from talkbox.media.music import PEDAL_HZ
from tests.e2e.listen import HEARD_DB, OWN_TONE_DB, assert_hears_only, levels, wait_until_heard, wait_until_silent
from tests.e2e.test_browser_calls_browser import connect, dial

ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 700.0, 1000.0

OpenPage = Callable[..., Page]


def assert_hears_the_music_only(page: Page, not_heard: list[float]) -> None:
    """The music's pedal note is there and nobody's tone is, by the median of ten readings over two seconds.

    Not `assert_hears_only`'s "50 dB under the loudest": the music is a chord, and Opus leaves its noise
    near every tone's frequency at about -85 dB, 45 dB under the pedal. A tone heard would read -20 dB.
    """
    readings = []
    for _ in range(10):
        readings.append(levels(page, PEDAL_HZ, *not_heard))
        time.sleep(0.2)
    median = {f: statistics.median(r[f] for r in readings) for f in (PEDAL_HZ, *not_heard)}
    assert median[PEDAL_HZ] > HEARD_DB, f"no music on hold: {readings}"
    for frequency in not_heard:
        assert median[frequency] < OWN_TONE_DB, f"{frequency} Hz heard over the music: {readings}"


def test_alice_holds_bob_he_hears_the_music_not_her_she_hears_neither_and_resume_brings_both_back(
    open_page: OpenPage,
) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    connect(alice, bob)

    alice.get_by_role("button", name="Hold bob").click()
    wait_until_heard(bob, PEDAL_HZ)
    assert_hears_the_music_only(bob, not_heard=[ALICE_HZ, BOB_HZ])
    wait_until_silent(alice, BOB_HZ)
    assert_hears_only(alice, heard=[], own=[BOB_HZ, PEDAL_HZ, ALICE_HZ])
    expect(alice.locator("#legs")).to_contain_text(re.compile(r"bob.*on hold", re.DOTALL))
    expect(bob.locator("#legs")).to_contain_text(re.compile(r"bob \(you\).*on hold", re.DOTALL))

    alice.get_by_role("button", name="Resume bob").click()
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(alice, BOB_HZ)
    wait_until_silent(bob, PEDAL_HZ)
    assert_hears_only(bob, heard=ALICE_HZ, own=[BOB_HZ, PEDAL_HZ])
    assert_hears_only(alice, heard=BOB_HZ, own=[ALICE_HZ, PEDAL_HZ])


def test_call_waiting_accepted_holds_the_first_call_and_she_switches_between_them(open_page: OpenPage) -> None:
    alice, bob, carol = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ), open_page("carol", CAROL_HZ)
    connect(alice, bob)

    dial(carol, "alice")
    expect(alice.get_by_text("carol is calling")).to_be_visible(timeout=10_000)
    alice.get_by_role("button", name="Accept").click()
    wait_until_heard(alice, CAROL_HZ)
    wait_until_heard(carol, ALICE_HZ)
    wait_until_heard(bob, PEDAL_HZ)  # left alone on the call alice put aside
    assert_hears_only(alice, heard=CAROL_HZ, own=[ALICE_HZ, BOB_HZ, PEDAL_HZ])
    assert_hears_the_music_only(bob, not_heard=[ALICE_HZ, BOB_HZ, CAROL_HZ])
    expect(alice.locator("#held-calls")).to_contain_text("Call with bob: on hold")

    alice.get_by_role("button", name="Resume the call with bob").click()
    wait_until_heard(alice, BOB_HZ)
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(carol, PEDAL_HZ)
    assert_hears_only(alice, heard=BOB_HZ, own=[ALICE_HZ, CAROL_HZ, PEDAL_HZ])
    assert_hears_the_music_only(carol, not_heard=[ALICE_HZ, CAROL_HZ])
    expect(alice.locator("#held-calls")).to_contain_text("Call with carol: on hold")

    alice.get_by_role("button", name="Hang up the call with carol").click()
    expect(carol.get_by_role("button", name="Hang up")).to_be_hidden(timeout=10_000)
    expect(alice.locator("#held-calls")).to_be_hidden()
    assert_hears_only(alice, heard=BOB_HZ, own=[ALICE_HZ, CAROL_HZ, PEDAL_HZ])


def consult(open_page: OpenPage) -> tuple[Page, Page, Page]:
    """alice holds bob, adds carol and talks to her: bob hears the music, not them."""
    alice, bob, carol = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ), open_page("carol", CAROL_HZ)
    connect(alice, bob)
    alice.get_by_role("button", name="Hold bob").click()
    wait_until_heard(bob, PEDAL_HZ)
    alice.get_by_role("textbox", name="Add to the call").fill("carol")
    alice.get_by_role("button", name="Add", exact=True).click()
    expect(carol.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    carol.get_by_role("button", name="Accept").click()
    wait_until_heard(alice, CAROL_HZ)
    wait_until_heard(carol, ALICE_HZ)
    assert_hears_only(alice, heard=CAROL_HZ, own=[ALICE_HZ, BOB_HZ, PEDAL_HZ])
    assert_hears_only(carol, heard=ALICE_HZ, own=[BOB_HZ, CAROL_HZ, PEDAL_HZ])
    assert_hears_the_music_only(bob, not_heard=[ALICE_HZ, BOB_HZ, CAROL_HZ])
    return alice, bob, carol


def test_attended_transfer_completed_connects_bob_and_carol_and_alice_goes(open_page: OpenPage) -> None:
    alice, bob, carol = consult(open_page)
    alice.get_by_role("button", name="Complete transfer").click()
    expect(alice.get_by_role("status")).to_contain_text("You transferred bob to carol", timeout=10_000)
    expect(alice.get_by_role("button", name="Hang up")).to_be_hidden()
    expect(alice.get_by_role("button", name="Call", exact=True)).to_be_visible()
    wait_until_heard(bob, CAROL_HZ)
    wait_until_heard(carol, BOB_HZ)
    assert_hears_only(bob, heard=CAROL_HZ, own=[ALICE_HZ, BOB_HZ, PEDAL_HZ])
    assert_hears_only(carol, heard=BOB_HZ, own=[ALICE_HZ, CAROL_HZ, PEDAL_HZ])


def test_attended_transfer_cancelled_goes_back_to_bob(open_page: OpenPage) -> None:
    alice, bob, carol = consult(open_page)
    alice.get_by_role("button", name="Cancel transfer").click()
    expect(carol.get_by_role("status")).to_contain_text("alice removed you", timeout=10_000)
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(alice, BOB_HZ)
    assert_hears_only(alice, heard=BOB_HZ, own=[ALICE_HZ, CAROL_HZ, PEDAL_HZ])
    assert_hears_only(bob, heard=ALICE_HZ, own=[BOB_HZ, CAROL_HZ, PEDAL_HZ])
