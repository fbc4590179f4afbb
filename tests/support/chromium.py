"""How Talkbox's tests, scripts and benchmarks launch Debian's headless Chromium."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("TALKBOX_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out of this
# closed network; the media flags grant the microphone without a prompt.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
]
FAKE_MICROPHONE = "--use-fake-device-for-media-stream"
