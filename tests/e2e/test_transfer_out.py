"""A blind transfer out of a call of three, end to end: four Chromium pages, four tones, what each one hears.

alice, bob and dave are on a call; alice transfers bob to carol. bob leaves for a call with carol
(ringback while she rings), and alice and dave go on hearing each other and not bob. If carol
rejects, bob hears the failed-transfer tone and is back on the call of three.
"""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.listen import assert_hears_only, wait_until_heard, wait_until_silent
from tests.e2e.test_browser_calls_browser import dial

# Clear of ringback's 440 and 480 Hz, of the failed tone's 950, 1400 and 1800 Hz, and of each other's
# harmonics and simple sums by 150 Hz or more (see test_transfer.py).
ALICE_HZ, BOB_HZ, CAROL_HZ, DAVE_HZ = 300.0, 700.0, 1100.0, 2000.0
RINGBACK_HZ = 480.0
FAILED_HZ = 1400.0

OpenPage = Callable[..., Page]


def accept(page: Page, caller: str) -> None:
    expect(page.get_by_text(f"{caller} is calling")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Accept").click()


def three_way(open_page: OpenPage) -> tuple[Page, Page, Page, Page]:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    carol, dave = open_page("carol", CAROL_HZ), open_page("dave", DAVE_HZ)
    dial(alice, "bob")
    accept(bob, "alice")
    wait_until_heard(alice, BOB_HZ)
    alice.get_by_role("textbox", name="Add to the call").fill("dave")
    alice.get_by_role("button", name="Add", exact=True).click()
    accept(dave, "alice")
    for page, others in ((alice, (BOB_HZ, DAVE_HZ)), (bob, (ALICE_HZ, DAVE_HZ)), (dave, (ALICE_HZ, BOB_HZ))):
        for frequency in others:
            wait_until_heard(page, frequency)
    return alice, bob, carol, dave


def transfer_bob(alice: Page, to: str) -> None:
    alice.get_by_role("textbox", name="Transfer to").fill(to)
    alice.get_by_role("button", name="Transfer bob").click()


def test_bob_is_transferred_to_carol_and_alice_and_dave_talk_on_without_him(open_page: OpenPage) -> None:
    alice, bob, carol, dave = three_way(open_page)
    # A call of three has no Transfer of the whole call: each participant has their own.
    expect(alice.get_by_role("button", name="Transfer", exact=True)).to_be_hidden()
    expect(alice.get_by_role("button", name="Transfer dave")).to_be_visible()
    transfer_bob(alice, "carol")

    # alice's page shows bob gone; the call with dave goes on.
    expect(alice.locator("#legs")).not_to_contain_text("bob", timeout=10_000)
    expect(alice.locator("#legs")).to_contain_text("dave")
    accept(carol, "bob")
    wait_until_heard(bob, CAROL_HZ)
    wait_until_heard(carol, BOB_HZ)
    wait_until_silent(bob, RINGBACK_HZ)
    assert_hears_only(bob, heard=[CAROL_HZ], own=[BOB_HZ, ALICE_HZ, DAVE_HZ, RINGBACK_HZ])
    assert_hears_only(carol, heard=[BOB_HZ], own=[CAROL_HZ, ALICE_HZ, DAVE_HZ])
    wait_until_silent(alice, BOB_HZ)
    assert_hears_only(alice, heard=[DAVE_HZ], own=[ALICE_HZ, BOB_HZ, CAROL_HZ])
    assert_hears_only(dave, heard=[ALICE_HZ], own=[DAVE_HZ, BOB_HZ, CAROL_HZ])
    expect(bob.locator("#legs")).to_contain_text("carol")
    expect(bob.locator("#legs")).not_to_contain_text("dave")


def test_carol_rejects_so_bob_hears_the_failed_tone_and_is_back_on_the_call_of_three(open_page: OpenPage) -> None:
    alice, bob, carol, dave = three_way(open_page)
    transfer_bob(alice, "carol")
    expect(carol.get_by_text("bob is calling")).to_be_visible(timeout=30_000)
    carol.get_by_role("button", name="Reject").click()

    wait_until_heard(bob, FAILED_HZ)
    expect(alice.get_by_role("button", name="Transfer bob")).to_be_visible(timeout=10_000)  # he is back
    for page, others in ((alice, (BOB_HZ, DAVE_HZ)), (bob, (ALICE_HZ, DAVE_HZ)), (dave, (ALICE_HZ, BOB_HZ))):
        for frequency in others:
            wait_until_heard(page, frequency)
    assert_hears_only(bob, heard=[ALICE_HZ, DAVE_HZ], own=[BOB_HZ, CAROL_HZ, RINGBACK_HZ])
