"""Issue 10, item 11: tokens that live too long, tokens born expired, secrets too weak to sign with."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jwt
import pytest
import websockets
from pydantic import ValidationError

from talkbox.app.settings import Settings
from tests.support.server import running_server

SECRET = "a-test-secret-of-at-least-32-bytes!!"
HOUR = 3600


def token(exp_in: float, iat_ago: float | None = 0.0) -> str:
    now = time.time()
    claims: dict[str, object] = {"sub": "alice", "exp": int(now + exp_in)}
    if iat_ago is not None:
        claims["iat"] = int(now - iat_ago)
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def first_frame(url: str) -> str | int:
    socket = await websockets.connect(url)
    try:
        return json.loads(await socket.recv())["type"]
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code
    finally:
        await socket.close()


@pytest.mark.parametrize(
    ("exp_in", "iat_ago", "first"),
    [
        (HOUR, 0.0, "welcome"),
        (24 * HOUR - 60, 0.0, "welcome"),
        (HOUR, None, "welcome"),  # no iat: judged by the time left
        (10 * 365 * 24 * HOUR, 0.0, 4401),  # the ten-year token
        (10 * 365 * 24 * HOUR, None, 4401),
        (HOUR, 30 * HOUR, 4401),  # an hour left, but minted for 31 hours
        (10 * 365 * 24 * HOUR, -(10 * 365 * 24 * HOUR - HOUR), 4401),  # an iat in the future hides nothing
    ],
)
async def test_a_token_valid_for_longer_than_the_maximum_is_refused(
    exp_in: float, iat_ago: float | None, first: str | int
) -> None:
    async with running_server(auth="token", secret=SECRET) as url:
        assert await first_frame(f"{url.replace('http', 'ws', 1)}/ws?token={token(exp_in, iat_ago)}") == first


async def test_the_maximum_is_a_setting() -> None:
    async with running_server(auth="token", secret=SECRET, max_token_ttl=HOUR) as url:
        base = f"{url.replace('http', 'ws', 1)}/ws?token="
        assert await first_frame(base + token(HOUR - 60)) == "welcome"
        assert await first_frame(base + token(2 * HOUR)) == 4401


def talkbox(*args: str, secret: str = SECRET, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "talkbox", *args],
        capture_output=True,
        text=True,
        env={"TALKBOX_SECRET": secret, **env},
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("ttl", ["-100", "0"])
def test_talkbox_token_refuses_a_ttl_that_is_not_positive(ttl: str) -> None:
    result = talkbox("token", "alice", "--ttl", ttl)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "--ttl must be a positive number of seconds" in result.stderr


def test_talkbox_token_refuses_a_ttl_the_server_would_refuse() -> None:
    result = talkbox("token", "alice", "--ttl", str(25 * HOUR))
    assert result.returncode != 0 and result.stdout == ""
    assert "TALKBOX_MAX_TOKEN_TTL" in result.stderr
    shorter = talkbox("token", "alice", TALKBOX_MAX_TOKEN_TTL="600")
    assert shorter.returncode == 0, shorter.stderr  # the default ttl shrinks to fit
    claims = jwt.decode(shorter.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 600


@pytest.mark.parametrize("secret", ["x", "a" * 31, "é" * 15])  # the last: 30 bytes
def test_a_weak_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match="TALKBOX_SECRET must be at least 32 bytes"):
        Settings(auth="token", secret=secret)
    for command in (["token", "alice"], ["serve", "--port", "0"]):
        result = talkbox(*command, secret=secret, TALKBOX_AUTH="token")
        assert result.returncode == 2 and result.stdout == ""
        assert "TALKBOX_SECRET must be at least 32 bytes" in result.stderr


def test_a_secret_of_32_bytes_is_enough() -> None:
    assert Settings(auth="token", secret="é" * 16).secret == "é" * 16
