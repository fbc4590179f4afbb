"""Blind transfer end to end: three Chromium pages, three tones, and what each one hears.

alice and bob talk; alice transfers bob to carol. bob hears ringback (440 Hz with
480 Hz) while carol rings, alice's page is idle at once; carol answers and she and
bob hear each other. Or carol rejects: bob hears the failed-transfer tone and
alice's page rings again, with the reason, and she takes bob back.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.listen import assert_hears_only, wait_until_heard, wait_until_silent
from tests.e2e.test_browser_calls_browser import dial

# Clear of ringback's 440 and 480 Hz and of the failed tone's 950, 1400 and 1800 Hz, and of their sums.
# 150 Hz or more apart: a codec leaves noise about 50 dB under a loud tone 100 Hz away, which the "not heard" bar
# (50 dB under the loudest) cannot tell from a voice.
ALICE_HZ, BOB_HZ, CAROL_HZ = 300.0, 700.0, 1100.0
RINGBACK_HZ = 480.0
FAILED_HZ = 1400.0

OpenPage = Callable[..., Page]


def alice_talks_to_bob(open_page: OpenPage) -> tuple[Page, Page, Page]:
    alice, bob, carol = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ), open_page("carol", CAROL_HZ)
    dial(alice, "bob")
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    bob.get_by_role("button", name="Accept").click()
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(alice, BOB_HZ)
    return alice, bob, carol


def transfer(alice: Page, to: str) -> None:
    alice.get_by_role("textbox", name="Transfer to").fill(to)
    alice.get_by_role("button", name="Transfer", exact=True).click()


def test_bob_is_transferred_to_carol_and_they_hear_each_other_while_alice_is_idle(open_page: OpenPage) -> None:
    alice, bob, carol = alice_talks_to_bob(open_page)
    transfer(alice, "carol")

    # alice's page is idle at once: no call panel, the dial box back, and why.
    expect(alice.locator("#call-panel")).to_be_hidden(timeout=5_000)
    expect(alice.get_by_role("textbox", name="Call to")).to_be_visible()
    expect(alice.get_by_role("status")).to_contain_text("You transferred bob to carol")

    expect(carol.get_by_text("bob is calling")).to_be_visible(timeout=10_000)
    expect(bob.locator("#call-title")).to_contain_text("alice is transferring you to carol")
    wait_until_heard(bob, RINGBACK_HZ)

    carol.get_by_role("button", name="Accept").click()
    wait_until_heard(bob, CAROL_HZ)
    wait_until_heard(carol, BOB_HZ)
    wait_until_silent(bob, RINGBACK_HZ)
    assert_hears_only(bob, heard=[CAROL_HZ], own=[BOB_HZ, ALICE_HZ, RINGBACK_HZ])
    assert_hears_only(carol, heard=[BOB_HZ], own=[CAROL_HZ, ALICE_HZ, RINGBACK_HZ])
    expect(alice.locator("#call-panel")).to_be_hidden()


def test_a_rejected_transfer_plays_bob_the_failed_tone_and_alice_takes_him_back(open_page: OpenPage) -> None:
    alice, bob, carol = alice_talks_to_bob(open_page)
    transfer(alice, "carol")
    expect(carol.get_by_text("bob is calling")).to_be_visible(timeout=10_000)
    carol.get_by_role("button", name="Reject").click()

    wait_until_heard(bob, FAILED_HZ)
    expect(alice.get_by_text("bob is calling back: carol did not answer the transfer")).to_be_visible(timeout=10_000)
    expect(bob.locator("#call-title")).to_contain_text(re.compile("calling alice back"))
    alice.get_by_role("button", name="Accept").click()
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(alice, BOB_HZ)
    wait_until_silent(bob, RINGBACK_HZ)
    assert_hears_only(bob, heard=[ALICE_HZ], own=[BOB_HZ, CAROL_HZ, RINGBACK_HZ])
    # alice chairs her call again: she may transfer it.
    expect(alice.get_by_role("button", name="Transfer", exact=True)).to_be_visible()
