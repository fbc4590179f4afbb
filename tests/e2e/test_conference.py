"""Issue 3 end to end: three Chromium pages, three tones, one conference."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.listen import assert_hears_only, wait_until_heard, wait_until_silent
from tests.e2e.test_browser_calls_browser import connect, dial

# None is a harmonic or simple intermodulation product of the others.
ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 700.0, 1000.0

OpenPage = Callable[..., Page]


def add(chair: Page, guest: Page, name: str) -> None:
    chair.get_by_role("textbox", name="Add to the call").fill(name)
    chair.get_by_role("button", name="Add", exact=True).click()
    expect(guest.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    guest.get_by_role("button", name="Accept").click()


def three_way(open_page: OpenPage) -> tuple[Page, Page, Page]:
    alice, bob, carol = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ), open_page("carol", CAROL_HZ)
    connect(alice, bob)
    add(alice, carol, "carol")
    for page, others in ((alice, (BOB_HZ, CAROL_HZ)), (bob, (ALICE_HZ, CAROL_HZ)), (carol, (ALICE_HZ, BOB_HZ))):
        for frequency in others:
            wait_until_heard(page, frequency)
    return alice, bob, carol


def test_three_hear_each_other_then_mute_then_removal(open_page: OpenPage) -> None:
    alice, bob, carol = three_way(open_page)
    assert_hears_only(alice, heard=[BOB_HZ, CAROL_HZ], own=ALICE_HZ)
    assert_hears_only(bob, heard=[ALICE_HZ, CAROL_HZ], own=BOB_HZ)
    assert_hears_only(carol, heard=[ALICE_HZ, BOB_HZ], own=CAROL_HZ)

    bob.get_by_role("button", name="Mute", exact=True).click()
    wait_until_silent(alice, BOB_HZ)
    wait_until_silent(carol, BOB_HZ)
    assert_hears_only(carol, heard=[ALICE_HZ], own=[BOB_HZ, CAROL_HZ])
    expect(carol.locator("#legs")).to_contain_text(re.compile("bob.*muted", re.IGNORECASE | re.DOTALL))
    bob.get_by_role("button", name="Unmute", exact=True).click()
    wait_until_heard(carol, BOB_HZ)

    alice.get_by_role("button", name="Remove bob").click()
    expect(bob.get_by_role("status")).to_contain_text(re.compile("alice removed you", re.IGNORECASE), timeout=10_000)
    wait_until_silent(carol, BOB_HZ)
    assert_hears_only(carol, heard=[ALICE_HZ], own=[BOB_HZ, CAROL_HZ])
    expect(bob.get_by_role("button", name="Hang up")).to_be_hidden()


def test_the_chair_mutes_a_guest(open_page: OpenPage) -> None:
    alice, bob, _carol = three_way(open_page)
    alice.get_by_role("button", name="Mute carol").click()
    wait_until_silent(bob, CAROL_HZ)
    assert_hears_only(bob, heard=[ALICE_HZ], own=[BOB_HZ, CAROL_HZ])
    expect(alice.get_by_role("button", name="Unmute carol")).to_be_visible()


def test_the_chair_leaves_the_others_go_on_and_she_rejoins(open_page: OpenPage) -> None:
    alice, bob, _carol = three_way(open_page)
    alice.get_by_role("button", name="Hang up").click()
    wait_until_silent(bob, ALICE_HZ)
    assert_hears_only(bob, heard=[CAROL_HZ], own=[ALICE_HZ, BOB_HZ])
    alice.get_by_role("button", name="Rejoin").click()
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(alice, BOB_HZ)
    assert_hears_only(alice, heard=[BOB_HZ, CAROL_HZ], own=ALICE_HZ)


@pytest.mark.talkbox_env({"TALKBOX_MAX_CALLS_PER_USER": "1"})
def test_someone_on_as_many_calls_as_they_may_be_is_busy(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    carol = open_page("carol", CAROL_HZ)
    connect(alice, bob)
    dial(carol, "bob")
    expect(carol.get_by_role("status")).to_contain_text(re.compile("bob is busy", re.IGNORECASE), timeout=10_000)
    expect(bob.get_by_role("button", name="Accept")).to_be_hidden()
    assert_hears_only(bob, heard=[ALICE_HZ], own=[BOB_HZ, CAROL_HZ])
