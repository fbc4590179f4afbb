"""Issue 11 end to end: a Chromium page and a baresip telephone talk through `talkbox serve` over SIP.

Each direction is checked on the audio: the page's analyser hears the telephone's
tone, and the telephone's recording (baresip's sndfile dump) holds the page's.

And the keypad (issue 13): the page's keys reach the telephone as RFC 4733 events
(baresip, with -v, logs each: "received event: '5' (end=1)"), and a key pressed
on a telephone (sipp plays its own recorded RFC 4733 "5") shows on the page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.listen import assert_hears_only, wait_until_heard
from tests.sip.baresip import PHONE_RATE, configure, recorded, took_our_bye
from tests.sip.sipp import free_udp_port, scenario
from tests.support.audio import level_at

PAGE_HZ, PHONE_HZ = 440.0, 1000.0
SIP_PORT, TRUNK_PORT = free_udp_port(), free_udp_port()
NUMBER = "+441234567890"

OpenPage = Callable[..., Page]
SIP_IN = {
    "TALKBOX_SIP_LISTEN": f"udp:127.0.0.1:{SIP_PORT}",
    "TALKBOX_SIP_ALLOW": "127.0.0.0/8",
    "TALKBOX_SIP_RING": "alice",
}
SIP_OUT = {"TALKBOX_SIP_LISTEN": f"udp:127.0.0.1:{SIP_PORT}", "TALKBOX_SIP_TRUNK": f"sip:127.0.0.1:{TRUNK_PORT}"}


class Telephone:
    def __init__(
        self, folder: Path, *, dial: str | None = None, user: str = "phone", port: int, verbose: bool = False
    ) -> None:
        self.folder = folder
        args = configure(folder, PHONE_HZ, 60, dial=dial, user=user, port=port, verbose=verbose)
        with (folder / "baresip.log").open("wb") as log:
            self.process = subprocess.Popen(args, cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def took_our_bye(self) -> bool:
        return took_our_bye((self.folder / "baresip.log").read_text(errors="replace"))

    def log_tail(self) -> str:
        return (self.folder / "baresip.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def telephone(tmp_path: Path) -> Iterator[Callable[..., Telephone]]:
    started: list[Telephone] = []

    def start(**options: object) -> Telephone:
        phone = Telephone(tmp_path / f"phone-{len(started)}", **options)  # type: ignore[arg-type]
        started.append(phone)
        return phone

    yield start
    for phone in started:
        phone.stop()


def wait(condition: Callable[[], bool], timeout: float = 10.0, explain: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out\n{explain()}"
        time.sleep(0.1)


def assert_phone_heard(phone: Telephone, hz: float) -> None:
    heard = recorded(phone.folder)[-3 * PHONE_RATE :]
    assert level_at(heard, hz, rate=PHONE_RATE) > -30, (phone.folder / "baresip.log").read_text()[-3000:]
    assert level_at(heard, PHONE_HZ, rate=PHONE_RATE) < -45  # never its own voice


@pytest.mark.talkbox_env(SIP_IN)
def test_a_telephone_calls_the_page_and_each_hears_the_other(
    open_page: OpenPage, telephone: Callable[..., Telephone]
) -> None:
    alice = open_page("alice", PAGE_HZ)
    phone = telephone(dial=f"sip:+15005550006@127.0.0.1:{SIP_PORT}", port=free_udp_port())
    expect(alice.get_by_text("phone is calling")).to_be_visible(timeout=10_000)
    alice.get_by_role("button", name="Accept").click()
    wait_until_heard(alice, PHONE_HZ)
    assert_hears_only(alice, heard=PHONE_HZ, own=PAGE_HZ)
    time.sleep(3)  # the telephone's recording is read once its call is over
    alice.get_by_role("button", name="Hang up").click()
    wait(phone.took_our_bye, explain=phone.log_tail)
    time.sleep(0.5)
    assert_phone_heard(phone, PAGE_HZ)


@pytest.mark.talkbox_env(SIP_OUT)
def test_the_page_calls_a_telephone_through_the_trunk_and_each_hears_the_other(
    open_page: OpenPage, telephone: Callable[..., Telephone]
) -> None:
    phone = telephone(user=NUMBER, port=TRUNK_PORT)  # the trunk, answering at once
    alice = open_page("alice", PAGE_HZ)
    alice.get_by_role("textbox", name="Call to").fill(NUMBER)
    alice.get_by_role("button", name="Call", exact=True).click()
    wait_until_heard(alice, PHONE_HZ)
    assert_hears_only(alice, heard=PHONE_HZ, own=PAGE_HZ)
    time.sleep(3)
    alice.get_by_role("button", name="Hang up").click()
    wait(phone.took_our_bye, explain=phone.log_tail)
    time.sleep(0.5)
    assert_phone_heard(phone, PAGE_HZ)


def received_digits(phone: Telephone) -> str:
    log = (phone.folder / "baresip.log").read_text(errors="replace")
    return "".join(re.findall(r"received event: '(.)' \(end=1\)", log))


@pytest.mark.talkbox_env(SIP_OUT)
def test_keys_pressed_on_the_page_reach_the_telephone_as_rfc_4733_events(
    open_page: OpenPage, telephone: Callable[..., Telephone]
) -> None:
    phone = telephone(user=NUMBER, port=TRUNK_PORT, verbose=True)
    alice = open_page("alice", PAGE_HZ)
    alice.get_by_role("textbox", name="Call to").fill(NUMBER)
    alice.get_by_role("button", name="Call", exact=True).click()
    wait_until_heard(alice, PHONE_HZ)

    keypad = alice.get_by_role("group", name="Keypad")
    keypad.get_by_role("button", name="1", exact=True).click()
    keypad.get_by_role("button", name="Pound", exact=True).click()
    # The keyboard's digits too, while the call panel has focus.
    alice.get_by_role("button", name="Hang up").focus()
    alice.keyboard.press("9")
    wait(lambda: received_digits(phone) == "1#9", timeout=15)
    expect(alice.locator("#legs")).to_contain_text("pressed 1#9")
    alice.get_by_role("button", name="Hang up").click()
    wait(phone.took_our_bye, explain=phone.log_tail)


@pytest.mark.talkbox_env(SIP_IN)
def test_a_key_pressed_on_the_telephone_shows_on_the_page(open_page: OpenPage, tmp_path: Path) -> None:
    alice = open_page("alice", PAGE_HZ)
    sip_host, sip_port = SIP_IN["TALKBOX_SIP_LISTEN"].removeprefix("udp:").rsplit(":", 1)
    binary = shutil.which("sipp")
    assert binary is not None, "sipp is missing: `make system` installs Debian's sip-tester"
    command = [
        binary, f"{sip_host}:{sip_port}", "-sf", scenario("phone_presses_5_until_hung_up.xml"), "-s", "+15005550006",
        "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mi", "127.0.0.1", "-mp", str(free_udp_port()),
        "-m", "1", "-timeout", "40s", "-nostdin", "-timeout_error",
    ]  # fmt: skip
    with (tmp_path / "sipp.log").open("wb") as log:
        phone = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=log)
    try:
        expect(alice.get_by_text("+15551234567 is calling")).to_be_visible(timeout=10_000)
        alice.get_by_role("button", name="Accept").click()
        expect(alice.locator("#legs")).to_contain_text("pressed 5", timeout=15_000)
        alice.get_by_role("button", name="Hang up").click()
        assert phone.wait(timeout=20) == 0, (tmp_path / "sipp.log").read_text(errors="replace")[-2000:]
    finally:
        if phone.poll() is None:
            phone.kill()
