"""Issue 15 end to end: an application's own page calls with the embeddable client (web/dist/talkbox.js).

The application is a small HTTP server of the test's own, on another origin: it serves examples/call.html as an
application would copy it, the built client beside it, and the token its back end gets from Talkbox's API with a
key. Talkbox runs in token mode and lets that origin open its websocket. Alice is on the example page; Bob is on
Talkbox's own page. Both hear each other's tone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.e2e.conftest import TalkboxProcess
from tests.e2e.listen import assert_hears_only, wait_until_heard, wait_until_silent
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, FAKE_MICROPHONE
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "call.html"
DIST = ROOT / "web" / "dist"
ALICE_HZ, BOB_HZ = 440.0, 700.0
SECRET = "an-e2e-secret-of-at-least-32-bytes!!"


@dataclass
class Application:
    """The application's server: its page, the client library beside it, and a token for its signed-in user."""

    url: str
    talkbox: TalkboxProcess
    key: str
    user: str = "alice"

    def token(self, user: str) -> str:
        request = urllib.request.Request(
            f"{self.talkbox.url}/api/v1/tokens",
            data=json.dumps({"user": user}).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)["token"]


def _handler(application: Callable[[], Application]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?")[0]
            if path == "/talkbox-token":
                app = application()
                self._send(
                    json.dumps({"url": app.talkbox.url, "token": app.token(app.user)}).encode(), "application/json"
                )
            elif path == "/":
                self._send(EXAMPLE.read_bytes(), "text/html")
            elif (DIST / path.lstrip("/")).resolve().is_relative_to(DIST) and (DIST / path.lstrip("/")).is_file():
                self._send((DIST / path.lstrip("/")).read_bytes(), "text/javascript")
            else:
                self.send_error(404)

        def _send(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass  # the application's own access log is not the test's output

    return Handler


@pytest.fixture
def application(tmp_path: Path) -> Iterator[Application]:
    assert (DIST / "talkbox.js").is_file(), "web/dist/talkbox.js is missing: run `make web`"
    holder: list[Application] = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(lambda: holder[0]))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = {"TALKBOX_AUTH": "token", "TALKBOX_SECRET": SECRET, "TALKBOX_ALLOWED_ORIGINS": url}
    talkbox = TalkboxProcess(env, tmp_path / "talkbox.sqlite3")
    made = subprocess.run(
        [sys.executable, "-m", "talkbox", "apikey", "create", "app"],
        env=talkbox.env,
        capture_output=True,
        text=True,
        check=True,
    )
    holder.append(Application(url, talkbox, made.stdout.strip()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield holder[0]
    server.shutdown()
    talkbox.stop()


@pytest.fixture
def browser_with_tone(playwright: Playwright, tones: Callable[[float], Path]) -> Iterator[Callable[[float], Page]]:
    browsers: list[Browser] = []

    def launch(tone_hz: float) -> Page:
        flags = [*CHROMIUM_FLAGS, FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={tones(tone_hz)}"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        browsers.append(browser)
        page = browser.new_page()
        page.on("console", lambda message: print(f"[{tone_hz:.0f} Hz page] {message.text}"))
        return page

    yield launch
    for browser in browsers:
        browser.close()


def open_both(application: Application, launch: Callable[[float], Page]) -> tuple[Page, Page]:
    alice = launch(ALICE_HZ)
    alice.goto(f"{application.url}/?audio_processing=off")
    expect(alice.get_by_role("status")).to_have_text("Signed in as alice", timeout=15_000)
    bob = launch(BOB_HZ)
    bob.goto(f"{application.talkbox.url}/?token={application.token('bob')}&audio_processing=off")
    bob.locator('#connection[data-state="open"]').wait_for()
    return alice, bob


def test_the_example_page_calls_talkboxs_page_and_both_hear_each_other(
    application: Application, browser_with_tone: Callable[[float], Page]
) -> None:
    alice, bob = open_both(application, browser_with_tone)
    alice.get_by_role("textbox", name="Call to").fill("bob")
    alice.get_by_role("button", name="Call").click()
    expect(alice.get_by_role("status")).to_have_text("bob: ringing", timeout=10_000)
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=10_000)
    bob.get_by_role("button", name="Accept").click()

    expect(alice.get_by_role("status")).to_have_text("bob: connected", timeout=10_000)
    wait_until_heard(alice, BOB_HZ)
    wait_until_heard(bob, ALICE_HZ)
    assert_hears_only(alice, heard=BOB_HZ, own=ALICE_HZ)
    assert_hears_only(bob, heard=ALICE_HZ, own=BOB_HZ)

    alice.get_by_role("button", name="Mute").click()
    expect(alice.get_by_role("button", name="Unmute")).to_be_visible()
    wait_until_silent(bob, ALICE_HZ)

    alice.get_by_role("button", name="Hang up").click()
    expect(alice.get_by_role("status")).to_have_text("bob: ended (hung-up)", timeout=10_000)
    expect(bob.get_by_role("status")).to_contain_text("alice hung up", timeout=10_000)
    wait_until_silent(alice, BOB_HZ)


def test_talkboxs_page_calls_the_example_page_which_accepts(
    application: Application, browser_with_tone: Callable[[float], Page]
) -> None:
    alice, bob = open_both(application, browser_with_tone)
    bob.get_by_role("textbox", name="Call to").fill("alice")
    bob.get_by_role("button", name="Call", exact=True).click()
    expect(alice.get_by_role("status")).to_have_text("bob is calling", timeout=10_000)
    alice.get_by_role("button", name="Accept").click()

    wait_until_heard(alice, BOB_HZ)
    wait_until_heard(bob, ALICE_HZ)
    assert_hears_only(alice, heard=BOB_HZ, own=ALICE_HZ)

    bob.get_by_role("button", name="Hang up").click()
    expect(alice.get_by_role("status")).to_have_text("bob: ended (hung-up)", timeout=10_000)
