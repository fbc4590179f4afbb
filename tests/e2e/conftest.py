"""End-to-end fixtures: a real Talkbox process and real headless Chromium per user.

Each user gets a browser of their own, because the fake microphone (a WAV file
of one tone) is a launch flag. A missing Chromium fails the run: `make test`
installs it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.audio import write_tone_wav
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, FAKE_MICROPHONE
from tests.support.lossy_network import Network, lossy_loopback
from tests.support.server import free_port

TIMINGS: dict[str, list[float]] = {}


def record(name: str, seconds: float) -> None:
    """Keep a duration for the session's summary (reported, never asserted)."""
    TIMINGS.setdefault(name, []).append(seconds)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("e2e timings (median of this run)")
    for name, values in sorted(TIMINGS.items()):
        terminalreporter.write_line(
            f"{name:<22} median {statistics.median(values) * 1000:7.0f} ms   runs {len(values)}"
        )
    out = Path("build/e2e-timings.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(TIMINGS, indent=2))


class TalkboxProcess:
    """`talkbox serve` in its own process, which a test may kill and start again."""

    def __init__(self, env: dict[str, str], database: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # "{url}" in a value stands for this server's own URL (TALKBOX_PUBLIC_URL, say).
        own = {key: value.replace("{url}", self.url) for key, value in env.items()}
        recordings = str(database.parent / "recordings")
        self.env = {**os.environ, "TALKBOX_DATABASE": str(database), "TALKBOX_RECORDINGS": recordings, **own}
        self.log = database.with_suffix(".log")
        self.start()

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "talkbox", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # A minute: on CI's busy two cores a start (imports, the media workers, Redis) has taken over 20 s.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=1):
                    return
            except OSError:
                assert self.process.poll() is None, f"talkbox exited at start: {self.output()[-2000:]}"
                time.sleep(0.1)
        raise RuntimeError(f"talkbox did not start within a minute: {self.output()[-2000:]}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM, and the exit code (uvicorn re-raises the signal once it has shut down)."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=20)

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Network]:
    """The machine's network, or with @pytest.mark.udp_loss(percent) a private loopback that loses UDP."""
    marker = request.node.get_closest_marker("udp_loss")
    if marker is None:
        yield Network()
        return
    with lossy_loopback(marker.args[0], tmp_path) as lossy:
        yield lossy


@pytest.fixture
def talkbox(request: pytest.FixtureRequest, tmp_path: Path, network: Network) -> Iterator[TalkboxProcess]:
    marker = request.node.get_closest_marker("talkbox_env")
    server = TalkboxProcess(marker.args[0] if marker else {}, tmp_path / "talkbox.sqlite3")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make test`, which installs it"
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Callable[[float], Path]:
    folder = tmp_path_factory.mktemp("tones")
    return lambda hz: write_tone_wav(folder / f"{int(hz)}.wav", hz, seconds=30)


@pytest.fixture
def open_page(
    playwright: Playwright, talkbox: TalkboxProcess, tones: Callable[[float], Path], network: Network
) -> Iterator[Callable[..., Page]]:
    """open_page("alice", 440) -> alice's page, her microphone playing 440 Hz."""
    browsers: list[Browser] = []

    def open_as(
        name: str, tone_hz: float | None, *, query: str | None = None, connected: bool = True, recorder: bool = False
    ) -> Page:
        flags = [*CHROMIUM_FLAGS, *network.flags]
        if tone_hz is not None:  # None: a machine with no microphone at all
            flags += [FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={tones(tone_hz)}"]
        browser = playwright.chromium.launch(executable_path=network.chromium, args=flags)
        browsers.append(browser)
        # The page's CSP allows no blob: scripts; the tests' fine-grained recorder (an AudioWorklet
        # from a blob) is let in only where a test asks for it, and the page's own code is unchanged.
        page = browser.new_page(bypass_csp=recorder)
        page.goto(f"{talkbox.url}/?{query or f'client_name={name}'}&audio_processing=off")
        if connected:
            page.locator('#connection[data-state="open"]').wait_for()
        return page

    yield open_as
    for browser in browsers:
        browser.close()
