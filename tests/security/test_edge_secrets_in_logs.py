"""Item 7: no token in any log line, and the page need not put its token in a URL at all.

Before: every token showed in plain text in uvicorn's access log (`/ws?token=…`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from talkbox.ui.identity import issue_token
from tests.support.server import free_port, running_server
from tests.twilio.twilio_requests import settings as twilio_settings

SECRET = "k" * 32
TOKEN_MODE = {"auth": "token", "secret": SECRET}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`talkbox serve` as the operator runs it, its log in a file."""
    port = free_port()
    log = tmp_path / "talkbox.log"
    env = {**os.environ, "TALKBOX_AUTH": "token", "TALKBOX_SECRET": SECRET, "TALKBOX_DATABASE": ":memory:"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "talkbox", "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=1):
                break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    yield url, log
    process.terminate()
    process.wait(timeout=20)


async def test_tokens_never_reach_the_log(served: tuple[str, Path]) -> None:
    url, log = served
    token = issue_token(SECRET, "alice")
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get(f"/?token={token}&audio_processing=off")).status_code in (200, 503)
        await http.get(f"/static/app.js?x=1&token={token}")
    async with websockets.connect(f"{url.replace('http', 'ws')}/ws?token={token}") as socket:
        assert json.loads(await socket.recv())["user"] == "alice"
    garbled = token[:-3] + "xyz"  # an invalid token is just as secret
    async with websockets.connect(f"{url.replace('http', 'ws')}/ws?token={garbled}") as socket:
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
    await asyncio.sleep(0.3)  # the access log line of the last request
    text = log.read_text()
    assert "GET /?token=[redacted]&audio_processing=off" in text
    assert "/ws?token=[redacted]" in text
    assert token not in text and garbled not in text
    assert token.split(".")[2] not in text  # not even the signature alone


async def test_a_token_offered_as_a_subprotocol_identifies_the_socket() -> None:
    async with running_server(**TOKEN_MODE) as url:
        ws = url.replace("http", "ws", 1) + "/ws"
        offered = ["talkbox", "talkbox.token." + issue_token(SECRET, "alice")]
        async with websockets.connect(ws, subprotocols=offered) as socket:
            welcome = json.loads(await socket.recv())
            assert socket.subprotocol == "talkbox"
        async with websockets.connect(ws, subprotocols=["talkbox", "talkbox.token.garbage"]) as refused:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await refused.recv()
            assert refused.subprotocol == "talkbox"
    assert (welcome["type"], welcome["user"]) == ("welcome", "alice")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_the_twilio_token_endpoint_takes_the_token_as_a_bearer_header() -> None:
    async with (
        running_server(app_options={"twilio": twilio_settings()}, **TOKEN_MODE) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        bearer = await http.get("/api/twilio/token", headers={"Authorization": f"Bearer {issue_token(SECRET, 'bob')}"})
        nothing = await http.get("/api/twilio/token", headers={"Authorization": "Basic Ym9iOmJvYg=="})
    assert bearer.status_code == 200 and bearer.json()["identity"] == "bob"
    assert nothing.status_code == 401
