"""The page in Twilio mode: it gets a Voice access token from Talkbox and builds its Twilio Device.

Talkbox runs with Twilio settings (made-up SIDs and secrets in the right
shapes; TALKBOX_PUBLIC_URL is the server's own URL). No call is placed, so
Talkbox never calls Twilio's REST API. The page, in real headless Chromium,
learns from `welcome` that the provider is Twilio, fetches its token from
/api/twilio/token with its own identity, builds a `Device` with it (the Voice
SDK bundled in app.js) and registers it.

There is no internet here: the Device's signalling websocket to Twilio
(wss://voice-js.roaming.twilio.com/signal) cannot connect. So the test checks
that the page tried to open it, and that the page says it is in Twilio mode and
could not reach Twilio; it does not (cannot) check that the Device registered.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Playwright, Response, WebSocket, expect

from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS, TalkboxProcess

TWIML_APP = "AP" + "c" * 32
TWILIO_ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
    "TWILIO_AUTH_TOKEN": "e2e-auth-token-0123456789abcdef",
    "TWILIO_API_KEY": "SK" + "b" * 32,
    "TWILIO_API_SECRET": "e2e-api-secret-0123456789abcdef",
    "TWILIO_TWIML_APP_SID": TWIML_APP,
    "TWILIO_CALLER_ID": "+15005550006",
    "TALKBOX_PUBLIC_URL": "{url}",  # the fixture fills in the server's own URL
}


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()


def jwt_payload(token: str) -> dict:
    """The claims of a JWT, read without checking its signature."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.mark.talkbox_env(TWILIO_ENV)
def test_the_page_fetches_its_token_and_builds_its_twilio_device(talkbox: TalkboxProcess, browser: Browser) -> None:
    page = browser.new_page()
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))

    def is_token(response: Response) -> bool:
        return urlsplit(response.url).path == "/api/twilio/token"

    with page.expect_response(is_token, timeout=15_000) as token_response:
        page.goto(f"{talkbox.url}/?client_name=alice")
    response = token_response.value

    # The page asked for a token with its own identity, and got one for alice.
    assert parse_qs(urlsplit(response.url).query) == {"client_name": ["alice"]}
    assert response.status == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["identity"] == "alice" and body["ttl"] == 3600
    claims = jwt_payload(body["token"])
    assert claims["iss"] == TWILIO_ENV["TWILIO_API_KEY"] and claims["sub"] == TWILIO_ENV["TWILIO_ACCOUNT_SID"]
    assert claims["grants"] == {
        "identity": "alice",
        "voice": {"incoming": {"allow": True}, "outgoing": {"application_sid": TWIML_APP}},
    }

    # The page says it is connected, in Twilio mode.
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    expect(page.locator("#connection")).to_contain_text("Connected as alice")
    media_line = page.locator("#media-provider")
    expect(media_line).to_be_visible()
    expect(media_line).to_contain_text("Twilio")

    # Its Device tried Twilio's signalling websocket, which cannot connect here
    # (no internet), and the page says Twilio is unreachable, with the SDK's code.
    deadline = time.monotonic() + 15
    while not any(re.match(r"wss://[^/]*\.twilio\.com/", s.url) for s in sockets) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    twilio_sockets = [s.url for s in sockets if re.match(r"wss://[^/]*\.twilio\.com/", s.url)]
    assert twilio_sockets, f"no websocket to Twilio among {[s.url for s in sockets]}"
    assert any(s.url.startswith(f"{talkbox.url.replace('http', 'ws')}/ws?client_name=alice") for s in sockets)
    expect(media_line).to_contain_text(re.compile(r"Twilio: (unavailable|not registered) \(.*\d{5}\)"), timeout=15_000)
    expect(media_line).to_have_attribute("data-state", "closed")


def test_in_builtin_mode_the_page_asks_for_no_twilio_token(talkbox: TalkboxProcess, browser: Browser) -> None:
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{talkbox.url}/?client_name=alice")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    page.wait_for_timeout(500)
    expect(page.locator("#media-provider")).to_be_hidden()
    assert not [url for url in requested if "/api/twilio/token" in url or "twilio.com" in url]
