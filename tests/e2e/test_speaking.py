"""Speaking indicators in Chromium: the call panel shows who is talking, from the engine's levels."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.test_browser_calls_browser import ALICE_HZ, BOB_HZ, connect

OpenPage = Callable[..., Page]


def test_the_panel_shows_who_speaks_and_stops_when_they_mute(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    connect(alice, bob)
    bob_row = alice.locator("#legs li", has_text="bob")
    expect(bob_row.get_by_text("speaking", exact=True)).to_be_visible(timeout=10_000)
    expect(bob.locator("#legs li", has_text="alice").get_by_text("speaking", exact=True)).to_be_visible()

    bob.get_by_role("button", name="Mute", exact=True).click()
    expect(bob_row.get_by_text("speaking", exact=True)).to_be_hidden(timeout=10_000)
    expect(bob_row).to_have_attribute("data-speaking", "false")
