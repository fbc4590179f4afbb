"""Issue 5 end to end: a reload, a SIGKILL and a SIGTERM in the middle of a call."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.conftest import TalkboxProcess
from tests.e2e.listen import assert_hears_only, wait_until_heard
from tests.e2e.test_browser_calls_browser import connect
from tests.e2e.test_conference import ALICE_HZ, BOB_HZ, CAROL_HZ, three_way

OpenPage = Callable[..., Page]
# Pages reconnect with a backoff that reaches 10 s; a restart takes a few more.
BACK_WITHIN = 40.0


def everyone_hears_everyone(alice: Page, bob: Page, carol: Page) -> None:
    for page, others, own in (
        (alice, [BOB_HZ, CAROL_HZ], ALICE_HZ),
        (bob, [ALICE_HZ, CAROL_HZ], BOB_HZ),
        (carol, [ALICE_HZ, BOB_HZ], CAROL_HZ),
    ):
        for frequency in others:
            wait_until_heard(page, frequency, timeout=BACK_WITHIN)
        assert_hears_only(page, heard=others, own=own)


def test_a_reload_during_a_call_brings_the_page_back_into_it(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    connect(alice, bob)
    bob.reload()
    expect(bob.get_by_role("button", name="Hang up")).to_be_visible(timeout=10_000)
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(alice, BOB_HZ)
    assert_hears_only(bob, heard=ALICE_HZ, own=BOB_HZ)
    assert_hears_only(alice, heard=BOB_HZ, own=ALICE_HZ)


def test_an_incoming_call_rings_again_after_a_reload(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    alice.get_by_role("textbox", name="Call to").fill("bob")
    alice.get_by_role("button", name="Call", exact=True).click()
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    bob.reload()
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    bob.get_by_role("button", name="Accept").click()
    wait_until_heard(alice, BOB_HZ)


def test_sigkill_and_restart_during_a_three_person_call(open_page: OpenPage, talkbox: TalkboxProcess) -> None:
    alice, bob, carol = three_way(open_page)
    talkbox.kill()
    expect(alice.locator("#connection")).to_contain_text(re.compile("disconnected|reconnecting", re.I))
    talkbox.start()
    everyone_hears_everyone(alice, bob, carol)  # nobody clicks anything


def test_sigterm_is_graceful_and_the_call_goes_on_after_the_restart(
    open_page: OpenPage, talkbox: TalkboxProcess
) -> None:
    alice, bob, carol = three_way(open_page)
    assert talkbox.stop() in (0, -signal.SIGTERM)
    assert "calls kept for the next start" in talkbox.output()
    expect(alice.locator("#connection")).to_contain_text(re.compile("restarting", re.I))
    talkbox.start()
    everyone_hears_everyone(alice, bob, carol)


def test_two_tabs_both_ring_one_answers_and_the_other_stops(open_page: OpenPage) -> None:
    alice = open_page("alice", ALICE_HZ)
    bob_here, bob_there = open_page("bob", BOB_HZ), open_page("bob", BOB_HZ)
    alice.get_by_role("textbox", name="Call to").fill("bob")
    alice.get_by_role("button", name="Call", exact=True).click()
    expect(bob_here.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    expect(bob_there.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    bob_there.get_by_role("button", name="Accept").click()
    wait_until_heard(bob_there, ALICE_HZ)
    wait_until_heard(alice, BOB_HZ)
    expect(bob_here.get_by_role("button", name="Accept")).to_be_hidden()
    expect(bob_here.get_by_role("status")).to_contain_text(re.compile("another tab", re.I))
    # The tab that did not answer can still end the call for bob.
    bob_here.get_by_role("button", name="Hang up").click()
    expect(alice.get_by_role("status")).to_contain_text(re.compile("bob hung up", re.I), timeout=10_000)
