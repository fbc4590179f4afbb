"""A call on hold after Talkbox restarts, in Chromium: it comes back held, and resume works with no reload."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from talkbox.media.music import PEDAL_HZ
from tests.e2e.conftest import TalkboxProcess
from tests.e2e.listen import assert_hears_only, wait_until_heard, wait_until_silent
from tests.e2e.test_browser_calls_browser import connect, dial
from tests.e2e.test_conference import ALICE_HZ, BOB_HZ, CAROL_HZ, three_way
from tests.e2e.test_hold import assert_hears_the_music_only

OpenPage = Callable[..., Page]
# Pages reconnect with a backoff that reaches 10 s; a restart takes a few more.
BACK_WITHIN = 40.0


def restart(talkbox: TalkboxProcess, page: Page) -> None:
    talkbox.kill()
    expect(page.locator("#connection")).to_contain_text(re.compile("disconnected|reconnecting", re.I))
    talkbox.start()


def test_a_participant_held_by_the_chair_is_still_held_after_a_restart_and_resumed_without_a_reload(
    open_page: OpenPage, talkbox: TalkboxProcess
) -> None:
    alice, bob, carol = three_way(open_page)
    alice.get_by_role("button", name="Hold bob").click()
    wait_until_heard(bob, PEDAL_HZ)

    restart(talkbox, alice)
    wait_until_heard(alice, CAROL_HZ, timeout=BACK_WITHIN)
    wait_until_heard(carol, ALICE_HZ, timeout=BACK_WITHIN)
    wait_until_heard(bob, PEDAL_HZ, timeout=BACK_WITHIN)
    assert_hears_the_music_only(bob, not_heard=[ALICE_HZ, BOB_HZ, CAROL_HZ])
    assert_hears_only(alice, heard=CAROL_HZ, own=[ALICE_HZ, BOB_HZ, PEDAL_HZ])
    assert_hears_only(carol, heard=ALICE_HZ, own=[BOB_HZ, CAROL_HZ, PEDAL_HZ])
    expect(alice.locator("#legs")).to_contain_text(re.compile(r"bob.*on hold", re.DOTALL))

    alice.get_by_role("button", name="Resume bob").click()
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(bob, CAROL_HZ)
    wait_until_heard(alice, BOB_HZ)
    wait_until_silent(bob, PEDAL_HZ)
    assert_hears_only(bob, heard=[ALICE_HZ, CAROL_HZ], own=[BOB_HZ, PEDAL_HZ])


def test_a_call_put_aside_for_a_call_waiting_comes_back_after_a_restart_and_is_switched_to(
    open_page: OpenPage, talkbox: TalkboxProcess
) -> None:
    alice, bob, carol = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ), open_page("carol", CAROL_HZ)
    connect(alice, bob)
    dial(carol, "alice")
    expect(alice.get_by_text("carol is calling")).to_be_visible(timeout=10_000)
    alice.get_by_role("button", name="Accept").click()
    wait_until_heard(alice, CAROL_HZ)
    wait_until_heard(bob, PEDAL_HZ)

    restart(talkbox, alice)
    wait_until_heard(alice, CAROL_HZ, timeout=BACK_WITHIN)
    wait_until_heard(carol, ALICE_HZ, timeout=BACK_WITHIN)
    wait_until_heard(bob, PEDAL_HZ, timeout=BACK_WITHIN)
    assert_hears_only(alice, heard=CAROL_HZ, own=[ALICE_HZ, BOB_HZ, PEDAL_HZ])
    expect(alice.locator("#held-calls")).to_contain_text("Call with bob: on hold")

    alice.get_by_role("button", name="Resume the call with bob").click()
    wait_until_heard(alice, BOB_HZ)
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(carol, PEDAL_HZ)
    assert_hears_only(alice, heard=BOB_HZ, own=[ALICE_HZ, CAROL_HZ, PEDAL_HZ])
    expect(alice.locator("#held-calls")).to_contain_text("Call with carol: on hold")
