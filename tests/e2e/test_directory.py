"""The directory and the call history in Chromium, driven by what each control is called."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Playwright, expect

from tests.e2e.conftest import TalkboxProcess
from tests.e2e.listen import wait_until_heard
from tests.e2e.test_browser_calls_browser import connect, dial, expect_idle, ring
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, FAKE_MICROPHONE

ALICE_HZ, BOB_HZ, CAROL_HZ = 440.0, 700.0, 1100.0

OpenPage = Callable[..., Page]


def person(page: Page, name: str) -> Locator:
    return (
        page.get_by_role("list", name="People")
        .get_by_role("listitem")
        .filter(has=page.get_by_role("button", name=f"Call {name}", exact=True))
    )


def test_bob_sees_alice_come_online_go_into_a_call_and_set_do_not_disturb(open_page: OpenPage) -> None:
    bob = open_page("bob", BOB_HZ)
    expect(bob.get_by_text("Nobody else is here yet")).to_be_visible()
    alice = open_page("alice", ALICE_HZ)
    expect(person(bob, "alice")).to_contain_text("online")
    carol = open_page("carol", CAROL_HZ)
    dial(alice, "carol")
    expect(carol.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    carol.get_by_role("button", name="Accept").click()
    expect(person(bob, "alice")).to_contain_text("in a call", timeout=10_000)
    expect(person(bob, "carol")).to_contain_text("in a call")
    alice.get_by_role("button", name="Hang up").click()
    expect(person(bob, "alice")).to_contain_text("online", timeout=10_000)
    alice.get_by_role("checkbox", name="Do not disturb").check()
    expect(person(bob, "alice")).to_contain_text("do not disturb")
    bob.get_by_role("searchbox", name="Search people").fill("car")
    expect(person(bob, "alice")).to_have_count(0)
    expect(person(bob, "carol")).to_be_visible()
    alice.close()
    bob.get_by_role("searchbox", name="Search people").fill("")
    expect(person(bob, "alice")).to_contain_text("offline", timeout=10_000)


@pytest.mark.talkbox_env({"TALKBOX_VOICEMAIL": "false"})  # with voicemail, the call goes there instead
def test_a_call_to_someone_not_to_be_disturbed_is_refused_with_the_reason(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    bob.get_by_role("checkbox", name="Do not disturb").check()
    expect(person(alice, "bob")).to_contain_text("do not disturb")
    person(alice, "bob").get_by_role("button").click()
    expect(alice.get_by_role("status")).to_contain_text("bob does not want to be disturbed")
    expect(bob.get_by_text("alice is calling")).to_be_hidden()
    # A reload keeps it: it is the server's.
    bob.reload()
    expect(bob.get_by_role("checkbox", name="Do not disturb")).to_be_checked()
    bob.get_by_role("checkbox", name="Do not disturb").uncheck()
    expect(person(alice, "bob")).to_contain_text("online")
    person(alice, "bob").get_by_role("button").click()
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=10_000)


@pytest.mark.talkbox_env({"TALKBOX_RING_TIMEOUT": "3", "TALKBOX_VOICEMAIL": "false"})  # missed ends the call
def test_history_after_a_missed_an_answered_and_a_declined_call_with_the_badge_and_call_back(
    open_page: OpenPage,
) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    history = bob.locator("#history summary")
    ring(alice, bob)  # nobody answers
    expect_idle(alice, "bob did not answer")
    expect(history).to_contain_text("1 missed call", timeout=10_000)
    connect(alice, bob)
    bob.get_by_role("button", name="Hang up").click()
    expect_idle(alice, "bob hung up")
    ring(alice, bob)
    bob.get_by_role("button", name="Reject").click()
    expect_idle(alice, "bob declined")

    history.click()
    calls = bob.get_by_role("list", name="Calls").get_by_role("listitem")
    expect(calls).to_have_count(3)
    expect(calls.nth(0)).to_contain_text("You declined a call from alice")
    expect(calls.nth(1)).to_contain_text(re.compile(r"Call from alice, \d+:\d\d \(you hung up\)"))
    expect(calls.nth(2)).to_contain_text("Missed call from alice")
    expect(history).not_to_contain_text("missed")  # looked at: the badge is gone
    bob.reload()
    expect(bob.locator("#history summary")).not_to_contain_text("missed")

    alice.locator("#history summary").click()
    alice_calls = alice.get_by_role("list", name="Calls").get_by_role("listitem")
    expect(alice_calls.nth(0)).to_contain_text("bob declined")
    expect(alice_calls.nth(2)).to_contain_text("bob did not answer")

    bob.locator("#history summary").click()  # closed again after the reload
    bob.get_by_role("list", name="Calls").get_by_role("button", name="Call back alice").first.click()
    expect(alice.get_by_text("bob is calling")).to_be_visible(timeout=10_000)


# The page's Notification as the desktop would show it: recorded, so the test can see and click it.
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) {
    super(title, options);
    window.shownNotifications.push(this);
  }
};
Object.defineProperty(window.Notification, "permission", { get: () => Real.permission });
window.Notification.requestPermission = (...args) => Real.requestPermission(...args);
"""


def test_a_call_rings_a_background_tab_with_a_notification_and_is_answered_there(open_page: OpenPage) -> None:
    alice, first = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    # Bob's browser (its fake microphone), with tabs of one window: his Talkbox tab and another in front.
    browser, url = first.context.browser, first.url
    first.close()
    assert browser is not None
    window = browser.new_context(permissions=["notifications"])
    bob = window.new_page()
    bob.add_init_script(RECORD_NOTIFICATIONS)
    bob.goto(url)
    bob.locator('#connection[data-state="open"]').wait_for()
    # Playwright tells every page it has focus; the browser's own word says which tab is in front.
    window.new_cdp_session(bob).send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    other = window.new_page()
    other.goto("about:blank")
    other.bring_to_front()

    dial(alice, "bob")
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    expect(bob).to_have_title(re.compile("alice is calling", re.IGNORECASE))
    notifications = lambda: bob.evaluate("window.shownNotifications.length")  # noqa: E731
    deadline = time.monotonic() + 10
    while notifications() == 0 and time.monotonic() < deadline:  # the page's CSP forbids wait_for_function
        bob.wait_for_timeout(100)
    assert notifications() == 1
    assert bob.evaluate("window.shownNotifications[0].title") == "alice is calling"
    bob.evaluate("window.shownNotifications[0].onclick()")  # the person clicks it: the tab comes to the front
    bob.bring_to_front()
    expect(bob.get_by_role("button", name="Accept")).to_be_focused()
    bob.keyboard.press("Enter")
    wait_until_heard(bob, ALICE_HZ)
    wait_until_heard(alice, BOB_HZ)
    window.close()


def test_a_ringtone_the_browser_keeps_silent_is_said_and_played_on_a_press(
    open_page: OpenPage, playwright: Playwright, talkbox: TalkboxProcess, tones: Callable[[float], Path]
) -> None:
    alice = open_page("alice", ALICE_HZ)
    # Chromium as people run it: sound only once the person has pressed something on the page.
    flags = [flag for flag in CHROMIUM_FLAGS if not flag.startswith("--autoplay-policy")]
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*flags, FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={tones(BOB_HZ)}"]
    )
    try:
        bob = browser.new_page()
        bob.goto(f"{talkbox.url}/?client_name=bob")
        # Nothing of Playwright's touches bob's page until he presses: its queries count as presses.
        expect(person(alice, "bob")).to_contain_text("online", timeout=10_000)
        dial(alice, "bob")
        looks = bob.context.new_cdp_session(bob)

        def shown(element: str) -> bool:
            expression = f"!document.getElementById({element!r}).hidden"
            reply = looks.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
            return bool(reply["result"]["value"])

        deadline = time.monotonic() + 10
        while not shown("ringtone-blocked") and time.monotonic() < deadline:
            alice.wait_for_timeout(100)
        assert shown("ringtone-blocked") and shown("allow-ringtone") and shown("incoming")
        expect(bob.locator("#incoming").get_by_text("Your browser is keeping the ringtone silent")).to_be_visible()
        bob.get_by_role("button", name="Play ringtone").click()
        expect(bob.locator("#incoming").get_by_text("Your browser is keeping the ringtone silent")).to_be_hidden()
        expect(bob.get_by_role("button", name="Play ringtone")).to_be_hidden()
        bob.get_by_role("button", name="Accept").click()
        wait_until_heard(alice, BOB_HZ)
    finally:
        browser.close()
