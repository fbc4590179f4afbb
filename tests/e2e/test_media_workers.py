"""A media worker killed mid-call, in Chromium: the audio comes back without anyone clicking."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.listen import assert_hears_only, wait_until_heard
from tests.e2e.test_browser_calls_browser import ALICE_HZ, BOB_HZ, connect
from tests.support.processes import media_workers

OpenPage = Callable[..., Page]


@pytest.mark.talkbox_env({"TALKBOX_MEDIA_WORKERS": "1"})
def test_killing_the_media_worker_brings_the_audio_back_by_itself(open_page: OpenPage, talkbox) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    connect(alice, bob)
    [worker] = media_workers(talkbox.process.pid)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while media_workers(talkbox.process.pid) in ([], [worker]) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # what the pages' jitter buffers held of the old worker's audio has played out
    wait_until_heard(alice, BOB_HZ, timeout=20)
    wait_until_heard(bob, ALICE_HZ, timeout=20)
    assert_hears_only(bob, heard=ALICE_HZ, own=BOB_HZ)
    assert_hears_only(alice, heard=BOB_HZ, own=ALICE_HZ)
    expect(alice.get_by_role("button", name="Hang up")).to_be_visible()
    assert media_workers(talkbox.process.pid) != [worker], "a new worker carries the call"
