"""TURN end to end: two pages that may reach the media engine only through a relay still hear each other, through
coturn run with deploy/turnserver.conf and the credentials Talkbox hands each page.

Each browser's RTCPeerConnections are made with `iceTransportPolicy: "relay"` (an init script the test adds; the
page is unchanged), as on a network that lets nothing but TURN out: its only way to the engine is a relay
allocated over TCP on the TURN server. Debian's coturn is the server (`make test` installs it).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.e2e.conftest import TalkboxProcess
from tests.e2e.listen import assert_hears_only, wait_until_heard
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, FAKE_MICROPHONE
from tests.support.server import free_port

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "turnserver.conf"
SECRET = "a-turn-secret-of-at-least-32-bytes"
ALICE_HZ, BOB_HZ = 440.0, 700.0
# Only relay candidates: what a browser behind a network that blocks everything but TURN can use.
RELAY_ONLY = """
(() => {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config) { return new Native({ ...config, iceTransportPolicy: "relay" }); };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""


def local_config(folder: Path, port: int, tls_port: int) -> Path:
    """deploy/turnserver.conf as shipped, but on loopback: its ports, its secret, a certificate of its own, and
    the engine (127.0.0.1) let through the private-address deny list."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=turn.test",
         "-keyout", folder / "key.pem", "-out", folder / "cert.pem"],
        check=True, capture_output=True,
    )  # fmt: skip
    replaced = {
        "listening-port": str(port),
        "tls-listening-port": str(tls_port),
        "static-auth-secret": SECRET,
        "cert": str(folder / "cert.pem"),
        "pkey": str(folder / "key.pem"),
        "min-port": "40000",
        "max-port": "40999",
    }
    lines = []
    for line in CONFIG.read_text().splitlines():
        name = line.split("=", 1)[0].strip()
        if name == "external-ip":
            continue  # loopback has no NAT in front
        lines.append(f"{name}={replaced[name]}" if name in replaced and not line.startswith("#") else line)
    # On loopback the engine is 127.0.0.1, which coturn never relays to unless told (never do so in production).
    lines += ["listening-ip=127.0.0.1", "relay-ip=127.0.0.1", "allowed-peer-ip=127.0.0.1", "allow-loopback-peers",
              "verbose", f"log-file={folder / 'turn.log'}", "simple-log", f"pidfile={folder / 'turn.pid'}"]  # fmt: skip
    path = folder / "turnserver.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    assert shutil.which("turnserver"), "coturn's turnserver is missing: run `make test`, which installs it"
    port = free_port()
    config = local_config(tmp_path, port, free_port())
    process = subprocess.Popen(["turnserver", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    log = tmp_path / "turn.log"
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, log.read_text() if log.exists() else "turnserver exited"
            assert time.monotonic() < deadline, log.read_text() if log.exists() else "no turn log"
            time.sleep(0.1)
    yield port, log
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def talkbox_with_turn(coturn: tuple[int, Path], tmp_path: Path) -> Iterator[TalkboxProcess]:
    port, _ = coturn
    env = {"TALKBOX_TURN_URLS": f"turn:127.0.0.1:{port}?transport=tcp", "TALKBOX_TURN_SECRET": SECRET}
    server = TalkboxProcess(env, tmp_path / "talkbox.sqlite3")
    yield server
    server.stop()


@pytest.fixture
def relay_only_page(
    playwright: Playwright, tones: Callable[[float], Path], talkbox_with_turn: TalkboxProcess
) -> Iterator[Callable[[str, float], Page]]:
    browsers: list[Browser] = []

    def open_as(name: str, tone_hz: float) -> Page:
        flags = [*CHROMIUM_FLAGS, FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={tones(tone_hz)}"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        browsers.append(browser)
        page = browser.new_page()
        page.add_init_script(RELAY_ONLY)
        page.goto(f"{talkbox_with_turn.url}/?client_name={name}&audio_processing=off")
        page.locator('#connection[data-state="open"]').wait_for()
        return page

    yield open_as
    for browser in browsers:
        browser.close()


def test_pages_that_can_use_only_a_turn_relay_hear_each_other_through_coturn(
    relay_only_page: Callable[[str, float], Page], coturn: tuple[int, Path]
) -> None:
    alice, bob = relay_only_page("alice", ALICE_HZ), relay_only_page("bob", BOB_HZ)
    alice.get_by_role("textbox", name="Call to").fill("bob")
    alice.get_by_role("button", name="Call", exact=True).click()
    expect(bob.get_by_text("alice is calling")).to_be_visible(timeout=15_000)
    bob.get_by_role("button", name="Accept").click()
    wait_until_heard(bob, ALICE_HZ, timeout=20)
    wait_until_heard(alice, BOB_HZ, timeout=20)
    assert_hears_only(alice, heard=BOB_HZ, own=ALICE_HZ)

    # Closing the pages ends their relays; coturn then says how much each one carried to and from the engine.
    for page in (alice, bob):
        page.context.browser.close()  # type: ignore[union-attr]
    _, log = coturn
    deadline = time.monotonic() + 10
    while (carried := relayed(log.read_text())).keys() != {"alice", "bob"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(packets > 50 for packets in carried.values()) and carried.keys() == {"alice", "bob"}, carried


def relayed(log: str) -> dict[str, int]:
    """Per user, the packets their relay received from the engine: coturn's "peer usage" line as a session closes."""
    found = re.finditer(r"peer usage: realm=<[^>]*>, username=<\d+:(\w+)>, rp=(\d+)", log)
    return {match.group(1): int(match.group(2)) for match in found}
