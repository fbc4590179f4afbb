"""Take the README's pictures: docs/screenshot.png (alice's page during a three-way call) and
docs/directory.png (bob's page: the people, one not to be disturbed and two in a call, and his
history after a declined, an answered and a missed call).

Run with `make screenshot`. It starts its own Talkbox and headless Chromium pages with fake
microphones, exactly as the e2e tests do, so the pictures come out the same every time.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, Playwright, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.conftest import TalkboxProcess
from tests.support.audio import write_tone_wav
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, FAKE_MICROPHONE

DOCS = Path(__file__).resolve().parent.parent / "docs"
TONES = {"alice": 440, "bob": 700, "carol": 1000, "dave": 1300}


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    # A short ring, so the missed call of the second picture rings out quickly.
    # Voicemail off: the declined and the missed call of the second picture end at once rather than take messages.
    server = TalkboxProcess({"TALKBOX_RING_TIMEOUT": "2", "TALKBOX_VOICEMAIL": "false"}, folder / "talkbox.sqlite3")
    try:
        with sync_playwright() as driver:
            pages = {name: open_page(driver, server, folder, name) for name in TONES}
            conference(pages)
            directory(pages)
    finally:
        server.stop()


def open_page(driver: Playwright, server: TalkboxProcess, folder: Path, name: str) -> Page:
    wav = write_tone_wav(folder / f"{name}.wav", TONES[name], seconds=60)
    browser = driver.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={wav}"]
    )
    page = browser.new_page(viewport={"width": 900, "height": 720}, device_scale_factor=1)
    page.goto(f"{server.url}/?client_name={name}")
    page.locator('#connection[data-state="open"]').wait_for()
    return page


def call(caller: Page, callee: Page, name: str) -> None:
    caller.get_by_role("textbox", name="Call to").fill(name)
    caller.get_by_role("button", name="Call", exact=True).click()
    callee.get_by_role("button", name="Accept").wait_for()


def ended(page: Page) -> None:
    page.get_by_role("button", name="Call", exact=True).wait_for()


def conference(pages: dict[str, Page]) -> None:
    alice, bob, carol = pages["alice"], pages["bob"], pages["carol"]
    call(alice, bob, "bob")
    bob.get_by_role("button", name="Accept").click()
    alice.get_by_role("button", name="Hang up").wait_for()
    alice.get_by_role("textbox", name="Add to the call").fill("carol")
    alice.get_by_role("button", name="Add", exact=True).click()
    carol.get_by_role("button", name="Accept").click()
    bob.get_by_role("button", name="Mute", exact=True).click()
    alice.locator("#legs").get_by_text("muted", exact=True).filter(visible=True).first.wait_for()
    alice.wait_for_timeout(3000)  # the timer and the chair's view of each leg have come in
    alice.screenshot(path=str(DOCS / "screenshot.png"))
    print(f"wrote {DOCS / 'screenshot.png'}")
    for page in (bob, carol):  # the guests leave first: a chair leaving would leave them talking
        page.get_by_role("button", name="Hang up").click()
        ended(page)
    ended(alice)


def directory(pages: dict[str, Page]) -> None:
    alice, bob, carol, dave = pages["alice"], pages["bob"], pages["carol"], pages["dave"]
    call(carol, bob, "bob")  # bob answers, then hangs up
    bob.get_by_role("button", name="Accept").click()
    bob.locator("#media-state").get_by_text("Audio connected").wait_for()
    bob.wait_for_timeout(2000)  # a call of a couple of seconds
    bob.get_by_role("button", name="Hang up").click()
    ended(carol)
    call(alice, bob, "bob")  # bob declines
    bob.get_by_role("button", name="Reject").click()
    ended(alice)
    call(dave, bob, "bob")  # nobody answers
    ended(dave)
    bob.locator("#history summary").get_by_text("1 missed call").wait_for()
    carol.get_by_role("checkbox", name="Do not disturb").check()
    call(alice, dave, "dave")
    dave.get_by_role("button", name="Accept").click()
    people = bob.get_by_role("list", name="People")
    people.get_by_text("do not disturb").wait_for()
    people.get_by_text("in a call").first.wait_for()
    bob.locator("#history summary").click()
    bob.get_by_role("list", name="Calls").get_by_role("listitem").nth(2).wait_for()
    bob.wait_for_timeout(500)
    bob.screenshot(path=str(DOCS / "directory.png"), full_page=True)
    print(f"wrote {DOCS / 'directory.png'}")


if __name__ == "__main__":
    main()
