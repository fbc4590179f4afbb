"""Take docs/screenshot.png: alice's page during a three-way call.

Run with `make screenshot`. It starts its own Talkbox and three headless
Chromium pages with fake microphones, exactly as the e2e tests do.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.conftest import TalkboxProcess
from tests.support.audio import write_tone_wav
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, FAKE_MICROPHONE

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    server = TalkboxProcess({}, folder / "talkbox.sqlite3")
    try:
        with sync_playwright() as driver:
            pages = {}
            for name, hz in (("alice", 440), ("bob", 700), ("carol", 1000)):
                wav = write_tone_wav(folder / f"{name}.wav", hz, seconds=30)
                browser = driver.chromium.launch(
                    executable_path=CHROMIUM,
                    args=[
                        *CHROMIUM_FLAGS,
                        FAKE_MICROPHONE,
                        f"--use-file-for-fake-audio-capture={wav}",
                    ],
                )
                page = browser.new_page(viewport={"width": 900, "height": 720}, device_scale_factor=1)
                page.goto(f"{server.url}/?client_name={name}")
                page.locator('#connection[data-state="open"]').wait_for()
                pages[name] = page
            alice, bob, carol = pages["alice"], pages["bob"], pages["carol"]
            alice.get_by_role("textbox", name="Call to").fill("bob")
            alice.get_by_role("button", name="Call", exact=True).click()
            bob.get_by_role("button", name="Accept").click()
            alice.get_by_role("button", name="Hang up").wait_for()
            alice.get_by_role("textbox", name="Add to the call").fill("carol")
            alice.get_by_role("button", name="Add", exact=True).click()
            carol.get_by_role("button", name="Accept").click()
            bob.get_by_role("button", name="Mute", exact=True).click()
            alice.locator("#legs").get_by_text("muted", exact=True).filter(visible=True).first.wait_for()
            alice.wait_for_timeout(1000)
            alice.screenshot(path=str(OUT))
            print(f"wrote {OUT}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
