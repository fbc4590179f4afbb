"""Token mode in the browser: the token says who you are, never the URL's name."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from talkbox.ui.identity import issue_token
from tests.e2e.test_browser_calls_browser import ALICE_HZ, BOB_HZ, ring

SECRET = "e2e-secret-0123456789abcdef0123456789"


@pytest.mark.talkbox_env({"TALKBOX_AUTH": "token", "TALKBOX_SECRET": SECRET})
def test_token_mode_pages_call_each_other_and_a_bare_name_is_refused(open_page: Callable[..., Page]) -> None:
    alice = open_page("alice", ALICE_HZ, query=f"token={issue_token(SECRET, 'alice')}&client_name=mallory")
    bob = open_page("bob", BOB_HZ, query=f"token={issue_token(SECRET, 'bob')}")
    expect(alice.locator("#connection")).to_contain_text("alice")
    ring(alice, bob)

    impostor = open_page("bob", BOB_HZ, query="client_name=bob", connected=False)
    expect(impostor.get_by_role("status")).to_contain_text(re.compile("token", re.IGNORECASE), timeout=10_000)
    expect(impostor.locator("#connection")).not_to_have_attribute("data-state", "open")
