"""Issue 13's recording and voicemail end to end: Chromium pages with tones, the built-in engine between them,
and what the recording holds and the callee's page plays back."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import av
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from talkbox.media.tones import GREETING_HZ
from tests.e2e.listen import wait_until_heard, wait_until_silent
from tests.e2e.test_accessibility import assert_accessible
from tests.e2e.test_browser_calls_browser import dial
from tests.e2e.test_conference import ALICE_HZ, BOB_HZ, CAROL_HZ, three_way
from tests.support.audio import level_at

OpenPage = Callable[..., Page]

# Plays the page's own <audio> for a recording through an analyser, so what is measured is what it plays.
_PLAY_JS = """
async ({id, frequency, timeoutMs}) => {
  const audio = document.querySelector(`audio[data-recording-id="${id}"]`);
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 4096;
  analyser.smoothingTimeConstant = 0;
  context.createMediaElementSource(audio).connect(analyser);
  analyser.connect(context.destination);
  await context.resume();
  await audio.play();
  const data = new Float32Array(analyser.frequencyBinCount);
  const binHz = context.sampleRate / analyser.fftSize;
  const started = performance.now();
  let loudest = -200;
  while (performance.now() - started < timeoutMs && !audio.ended) {
    analyser.getFloatFrequencyData(data);
    for (let i = Math.floor((frequency - 15) / binHz); i <= Math.ceil((frequency + 15) / binHz); i++) {
      loudest = Math.max(loudest, data[i]);
    }
    if (loudest > -50) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return loudest;
}
"""


def decoded(data: bytes) -> np.ndarray:
    chunks = []
    with av.open(io.BytesIO(data), format="ogg") as container:
        for frame in container.decode(container.streams.audio[0]):
            samples = frame.to_ndarray()
            samples = samples[0] if samples.ndim == 2 else samples
            chunks.append((samples * 32767 if samples.dtype.kind == "f" else samples).astype(np.int16))
    return np.concatenate(chunks)


def listed(page: Page, user: str) -> list[dict]:
    """What the server lists for the page's user, asked from the page's own origin."""
    return page.request.get(f"{origin(page)}/api/recordings", params={"client_name": user}).json()["recordings"]


def origin(page: Page) -> str:
    found = re.match(r"https?://[^/]+", page.url)
    assert found is not None, page.url
    return found.group(0)


def fetched(page: Page, user: str, kind: str) -> bytes:
    """The file the page lists, fetched as its user."""
    (entry,) = [r for r in listed(page, user) if r["kind"] == kind]
    response = page.request.get(f"{origin(page)}{entry['audio']}", params={"client_name": user})
    assert response.ok and response.headers["content-type"] == "audio/ogg"
    return response.body()


def test_a_recording_of_a_three_way_call_holds_all_three(open_page: OpenPage) -> None:
    alice, bob, carol = three_way(open_page)
    alice.get_by_role("button", name="Record", exact=True).click()
    for page in (alice, bob, carol):
        expect(page.locator("#recording-state")).to_have_text("This call is being recorded", timeout=10_000)
    expect(bob.get_by_role("button", name="Record", exact=True)).to_be_hidden()  # only the chair records
    wait_until_heard(alice, BOB_HZ)
    wait_until_heard(alice, CAROL_HZ)
    assert_accessible(bob, "a call being recorded")
    stop = alice.get_by_role("button", name="Stop recording")
    expect(stop).to_have_attribute("aria-pressed", "true")
    alice.wait_for_timeout(3000)  # three seconds of the call are recorded: a length, not a race
    stop.click()
    for page in (alice, bob, carol):
        expect(page.locator("#recording-state")).to_be_hidden(timeout=10_000)
        expect(page.locator("#recordings")).to_contain_text(re.compile("Call recording with", re.IGNORECASE))
    samples = decoded(fetched(carol, "carol", "call"))
    assert len(samples) > 2 * 48_000
    for frequency in (ALICE_HZ, BOB_HZ, CAROL_HZ):
        assert level_at(samples, frequency) > -40, frequency


def test_a_voicemail_left_by_a_callers_tone_plays_it_back_on_the_callees_page(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    expect(bob.get_by_role("checkbox", name="Send missed calls to my voicemail")).to_be_checked()
    dial(alice, "bob")
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    bob.get_by_role("button", name="Reject").click()
    expect(alice.locator("#call-title")).to_have_text("Leaving a message for bob", timeout=10_000)
    wait_until_heard(alice, GREETING_HZ)  # the beep
    wait_until_silent(alice, GREETING_HZ)  # after it, her message is recorded
    alice.wait_for_timeout(2000)  # two seconds of message: what is left is time, not a race
    alice.get_by_role("button", name="Hang up").click()
    expect(alice.get_by_role("status")).to_contain_text("Your message for bob was left", timeout=10_000)

    expect(bob.locator("#voicemail-badge")).to_have_text("1 new voicemail", timeout=10_000)
    item = bob.locator("#recordings li", has_text="Voicemail from alice")
    expect(item).to_be_visible()
    expect(item.get_by_role("button", name=re.compile("^Delete Voicemail from alice"))).to_be_visible()
    assert_accessible(bob, "a new voicemail listed")
    assert_accessible(alice, "after leaving a voicemail")
    voicemail_id = item.get_attribute("data-recording-id")
    loudest = bob.evaluate(_PLAY_JS, {"id": voicemail_id, "frequency": ALICE_HZ, "timeoutMs": 8000})
    assert loudest > -50, f"alice's tone not heard in the voicemail: {loudest} dB"
    expect(bob.locator("#voicemail-badge")).to_be_hidden(timeout=10_000)  # played: no longer new

    item.get_by_role("button", name=re.compile("^Delete")).click()
    expect(bob.locator("#recordings li")).to_have_count(0, timeout=10_000)
    # Nobody else ever had it.
    assert listed(alice, "alice") == []


def test_turned_off_a_rejected_call_just_ends_busy(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    bob.get_by_role("checkbox", name="Send missed calls to my voicemail").uncheck()
    expect(bob.get_by_role("checkbox", name="Send missed calls to my voicemail")).not_to_be_checked()
    bob.reload()
    expect(bob.get_by_role("checkbox", name="Send missed calls to my voicemail")).not_to_be_checked()  # kept
    dial(alice, "bob")
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    bob.get_by_role("button", name="Reject").click()
    expect(alice.get_by_role("status")).to_contain_text("bob declined", timeout=10_000)  # main's words for a rejection


@pytest.mark.talkbox_env({"TALKBOX_VOICEMAIL": "false"})
def test_a_server_without_voicemail_offers_no_voicemail_switch(open_page: OpenPage) -> None:
    bob = open_page("bob", BOB_HZ)
    expect(bob.locator("#library")).to_be_visible(timeout=10_000)
    expect(bob.get_by_role("checkbox", name="Send missed calls to my voicemail")).to_be_hidden()
    expect(bob.locator("#recordings-empty")).to_be_visible()  # the recordings list is still there
    assert_accessible(bob, "the library on a server without voicemail")
