"""Twilio mode as a whole: chosen by the settings, refused when incomplete, tokens for the page."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import jwt
import pytest
import websockets
from twilio.request_validator import RequestValidator

from talkbox.app.main import create_app
from talkbox.app.settings import Settings
from talkbox.providers.twilio.settings import TwilioSettingsError, twilio_settings
from talkbox.ui.identity import issue_token
from tests.support.server import running_server
from tests.twilio.fake_api import ACCOUNT
from tests.twilio.twilio_requests import AUTH_TOKEN, PUBLIC_URL, TWILIO_NUMBER, call_status, post_signed, settings

SECRET = "test-secret-that-is-long-enough-for-hs256"
ENVIRONMENT = {
    "TWILIO_ACCOUNT_SID": ACCOUNT,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_API_KEY": "SK" + "b" * 32,
    "TWILIO_API_SECRET": "api-secret-for-tests-0123456789abcdef",
    "TWILIO_TWIML_APP_SID": "AP" + "c" * 32,
    "TWILIO_CALLER_ID": TWILIO_NUMBER,
    "TALKBOX_PUBLIC_URL": PUBLIC_URL + "/",
    "TALKBOX_TWILIO_RING": "bob, carol",
}


def voice_claims(token: str) -> dict:
    return jwt.decode(token, settings().api_secret, algorithms=["HS256"], options={"verify_aud": False})


async def test_the_page_gets_a_voice_token_for_its_own_name_in_open_mode() -> None:
    async with running_server(app_options={"twilio": settings()}) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/api/twilio/token", params={"client_name": "alice"})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"identity", "token", "ttl"} and body["identity"] == "alice" and body["ttl"] == 3600
        claims = voice_claims(body["token"])
        assert claims["iss"] == settings().api_key and claims["sub"] == ACCOUNT
        assert claims["exp"] - claims["nbf"] == 3600 and abs(claims["nbf"] - time.time()) < 60
        assert claims["grants"] == {
            "identity": "alice",
            "voice": {"incoming": {"allow": True}, "outgoing": {"application_sid": settings().twiml_app_sid}},
        }
        assert (await http.get("/api/twilio/token", params={"client_name": "not a name"})).status_code == 401
        assert (await http.get("/api/twilio/token")).status_code == 401


async def test_in_token_mode_the_name_comes_from_the_talkbox_token_only() -> None:
    options = {"twilio": settings()}
    async with (
        running_server(app_options=options, auth="token", secret=SECRET) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        mine = issue_token(SECRET, "alice")
        response = await http.get("/api/twilio/token", params={"token": mine, "client_name": "bob"})
        assert response.status_code == 200 and response.json()["identity"] == "alice"
        assert voice_claims(response.json()["token"])["grants"]["identity"] == "alice"
        assert (await http.get("/api/twilio/token", params={"client_name": "bob"})).status_code == 401
        forged = issue_token("another-secret-that-is-long-enough", "bob")
        assert (await http.get("/api/twilio/token", params={"token": forged})).status_code == 401


async def test_an_application_page_on_a_listed_origin_may_read_its_voice_token_and_no_other_may() -> None:
    """The embeddable client in Twilio mode: its page is on the application's origin, not Talkbox's."""
    app_page, stranger = "https://app.example.org", "https://evil.example"
    async with (
        running_server(
            app_options={"twilio": settings()}, auth="token", secret=SECRET, allowed_origins=app_page
        ) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        asked = {
            "Origin": app_page,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        preflight = await http.options("/api/twilio/token", headers=asked)
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == app_page
        assert preflight.headers["access-control-allow-headers"] == "Authorization"
        bearer = {"Authorization": f"Bearer {issue_token(SECRET, 'alice')}"}
        answer = await http.get("/api/twilio/token", headers={"Origin": app_page, **bearer})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == app_page
        refused = await http.get("/api/twilio/token", headers={"Origin": app_page})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == app_page

        for headers in ({**asked, "Origin": stranger}, {"Origin": stranger, **bearer}):
            other = await http.request("OPTIONS" if "Access-Control-Request-Method" in headers else "GET",
                                       "/api/twilio/token", headers=headers)  # fmt: skip
            assert "access-control-allow-origin" not in other.headers


async def test_without_twilio_the_builtin_engine_serves_and_there_are_no_twilio_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    async with running_server() as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/api/health")).json()["provider"] == "builtin"
        assert (await http.get("/api/twilio/token", params={"client_name": "alice"})).status_code == 404
        assert (await http.post("/twilio/status")).status_code in (404, 405)
        socket = await websockets.connect(f"{url.replace('http', 'ws')}/ws?client_name=alice")
        assert '"provider":"builtin"' in await socket.recv()
        await socket.close()


async def test_twilio_settings_in_the_environment_choose_twilio(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    async with running_server() as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/api/health")).json()["provider"] == "twilio"
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert {
            "/twilio/voice",
            "/twilio/status",
            "/twilio/conference",
            "/twilio/incoming",
            "/api/twilio/token",
        } <= set(paths)


async def test_a_webhook_signing_key_in_the_environment_checks_shared_key_signatures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a Webhook Rule, Twilio signs with its shared key and says so in X-Twilio-Webhooks-Signature-Settings."""
    key = "shared-key-secret-for-tests-0123456789"
    for name, value in (ENVIRONMENT | {"TWILIO_WEBHOOK_SIGNING_KEY": key}).items():
        monkeypatch.setenv(name, value)
    params = call_status("CA" + "1" * 32, "ringing", 1)
    path = "/twilio/status?conference_id=c-1&leg_id=l-1"
    async with running_server() as url, httpx.AsyncClient(base_url=url) as http:
        for secret, expected in ((key, 204), (AUTH_TOKEN, 403)):
            headers = {
                "X-Twilio-Signature": RequestValidator(secret).compute_signature(
                    PUBLIC_URL + path, params, "HMAC_SHA256"
                ),
                "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_01example,algorithm=HMAC_SHA256",
            }
            assert (await http.post(path, data=params, headers=headers)).status_code == expected
        assert (await post_signed(http, path, params)).status_code == 204  # the auth token, without the header


def test_settings_come_from_the_environment_and_the_ring_list_is_comma_separated() -> None:
    loaded = twilio_settings(ENVIRONMENT)
    assert loaded is not None
    assert loaded.ring == ("bob", "carol") and loaded.public_url == PUBLIC_URL
    assert loaded.webhook_signing_key is None  # optional: only for a Webhook Rule's shared key
    assert twilio_settings({"TALKBOX_TWILIO_RING": "bob"}) is None
    assert twilio_settings({**ENVIRONMENT, "TALKBOX_TWILIO_RING": ""}).ring == ()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TWILIO_AUTH_TOKEN": "", "TALKBOX_PUBLIC_URL": ""}, "missing: TWILIO_AUTH_TOKEN, TALKBOX_PUBLIC_URL"),
        ({"TWILIO_CALLER_ID": "01234"}, "TWILIO_CALLER_ID must be an E.164 number"),
        ({"TALKBOX_PUBLIC_URL": "talkbox.example.org"}, r"TALKBOX_PUBLIC_URL must be an http\(s\) base URL"),
        ({"TALKBOX_TWILIO_RING": "bob, car ol"}, "not client names: car ol"),
    ],
)
def test_incomplete_or_wrong_twilio_settings_are_refused(change: dict[str, str], message: str) -> None:
    environment = {name: value for name, value in (ENVIRONMENT | change).items() if value}
    with pytest.raises(TwilioSettingsError, match=message):
        twilio_settings(environment)


def test_create_app_refuses_to_start_half_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    with pytest.raises(TwilioSettingsError, match="TWILIO_API_KEY"):
        create_app(Settings())


def test_talkbox_serve_says_what_is_missing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "talkbox", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env={"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": AUTH_TOKEN},
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert (
        "missing: TWILIO_API_KEY, TWILIO_API_SECRET, TWILIO_TWIML_APP_SID, TWILIO_CALLER_ID, TALKBOX_PUBLIC_URL"
        in result.stderr
    )
