"""Issue 14, the page's side: devices and call quality, in real Chromium with its fake devices.

- the Devices panel lists Chromium's fake microphones and speakers, and a choice survives a reload;
- its level meter follows the fake microphone's tone, and rests when the panel is closed;
- a speaker chosen mid-call leaves the call and its audio as they were;
- during a call the panel shows the quality measured by getStats, and warns under packet loss.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.listen import wait_until_heard
from tests.e2e.test_browser_calls_browser import ALICE_HZ, BOB_HZ, connect
from tests.support.lossy_network import Network

OpenPage = Callable[..., Page]


def open_devices(page: Page) -> None:
    page.get_by_text("Devices", exact=True).click()
    expect(page.get_by_role("meter", name="Microphone level")).to_be_visible()


def option_labels(picker: Locator) -> list[str]:
    return picker.locator("option").all_inner_texts()


def meter_level(page: Page) -> float:
    # By id: in the closed panel it is hidden, so out of the accessibility tree.
    return float(page.locator("#microphone-level").evaluate("m => m.value"))


def test_the_pickers_list_chromiums_fake_devices_and_a_choice_survives_a_reload(open_page: OpenPage) -> None:
    page = open_page("alice", ALICE_HZ)
    open_devices(page)
    microphone = page.get_by_role("combobox", name="Microphone", exact=True)
    # Named once the meter has opened the microphone: "Default", then each fake device.
    expect(microphone.locator("option", has_text="Fake")).not_to_have_count(0, timeout=10_000)
    labels = option_labels(microphone)
    assert labels[0] == "Default" and len(labels) >= 2, labels
    chosen = labels[-1]
    microphone.select_option(label=chosen)
    speaker = page.get_by_role("combobox", name="Speaker", exact=True)
    speakers = option_labels(speaker)
    speaker.select_option(label=speakers[-1])

    page.reload()
    page.locator('#connection[data-state="open"]').wait_for()
    open_devices(page)
    expect(microphone.locator("option:checked")).to_have_text(chosen, timeout=10_000)
    expect(speaker.locator("option:checked")).to_have_text(speakers[-1])


def test_the_level_meter_moves_with_the_microphone_and_rests_when_closed(open_page: OpenPage) -> None:
    page = open_page("alice", ALICE_HZ)
    assert meter_level(page) == 0
    open_devices(page)
    deadline = time.monotonic() + 10
    while meter_level(page) < 0.3 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert meter_level(page) >= 0.3, "the fake microphone's tone does not move the meter"
    page.get_by_text("Devices", exact=True).click()
    page.wait_for_timeout(300)
    assert meter_level(page) == 0


def test_a_speaker_chosen_mid_call_keeps_the_call_and_its_audio(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    connect(alice, bob)
    open_devices(bob)
    speaker = bob.get_by_role("combobox", name="Speaker", exact=True)
    expect(speaker.locator("option")).not_to_have_count(1, timeout=10_000)
    speaker.select_option(index=len(option_labels(speaker)) - 1)
    bob.get_by_role("combobox", name="Microphone", exact=True).select_option(index=1)
    expect(bob.get_by_role("button", name="Hang up")).to_be_visible()
    # The microphone was replaced on the sender, not renegotiated: alice still hears bob's tone.
    wait_until_heard(alice, BOB_HZ)
    wait_until_heard(bob, ALICE_HZ)


def test_the_quality_indicator_shows_during_a_call(open_page: OpenPage) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    connect(alice, bob)
    quality = alice.locator("#quality")
    expect(quality).to_have_text(re.compile(r"^Call quality: MOS \d\.\d · delay \d+ ms · jitter"), timeout=10_000)
    expect(alice.locator("#quality-warning")).to_be_hidden()
    alice.get_by_role("button", name="Hang up").click()
    expect(quality).to_be_hidden()


@pytest.mark.udp_loss(15)
def test_the_quality_indicator_warns_under_packet_loss(open_page: OpenPage, network: Network) -> None:
    alice, bob = open_page("alice", ALICE_HZ), open_page("bob", BOB_HZ)
    connect(alice, bob)
    expect(alice.locator("#quality-warning")).to_contain_text("audio dropping out", timeout=15_000)
    assert network.dropped() > 0


def test_a_machine_without_a_microphone_is_told_what_to_do(open_page: OpenPage) -> None:
    alice = open_page("alice", None)
    open_devices(alice)
    expect(alice.locator("#microphone-help")).to_have_text(re.compile("No microphone was found. Plug one in"))
    alice.get_by_text("Devices", exact=True).click()
    alice.reload()
    alice.locator('#connection[data-state="open"]').wait_for()
    expect(alice.locator("#microphone-help")).to_be_hidden()
    # A call placed without one says the same, the panel closed.
    alice.get_by_role("textbox", name="Call to").fill("bob")
    alice.get_by_role("button", name="Call", exact=True).click()
    expect(alice.locator("#microphone-help")).to_have_text(re.compile("No microphone was found"), timeout=10_000)
