"""The websocket protocol's guard rails: every bad frame gets an error and the socket lives on."""

from __future__ import annotations

import json

import jwt
import pytest
import websockets

from talkbox.ui.identity import issue_token
from tests.support.server import running_server

SECRET = "test-secret-that-is-long-enough-for-hs256"


async def exchange(socket: websockets.ClientConnection, frame: str) -> dict:
    await socket.send(frame)
    return json.loads(await socket.recv())


async def welcomed(url: str) -> websockets.ClientConnection:
    socket = await websockets.connect(url)
    assert json.loads(await socket.recv())["type"] == "welcome"
    return socket


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "unknown_type"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": "call"}', "invalid_message"),
        ('{"type": "call", "to": "bob", "extra": 1}', "invalid_message"),
        ('{"type": "answer", "leg_id": "../../etc", "sdp": "x"}', "invalid_message"),
        ('{"type": "leg_failed", "leg_id": "l-1", "reason": "bored"}', "invalid_message"),
        (json.dumps({"type": "call", "to": "b" * 20_000}), "too_large"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(frame: str, code: str) -> None:
    async with running_server() as url:
        socket = await welcomed(f"{url.replace('http', 'ws')}/ws?client_name=alice")
        reply = await exchange(socket, frame)
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert (await exchange(socket, '{"type": "call", "to": "alice"}'))["code"] == "self_call"
        await socket.close()


async def test_a_frame_far_past_the_cap_closes_only_that_socket() -> None:
    async with running_server() as url:
        base = url.replace("http", "ws")
        bystander = await welcomed(f"{base}/ws?client_name=bob")
        socket = await welcomed(f"{base}/ws?client_name=alice")
        await socket.send("x" * 200_000)
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()
        assert (await exchange(bystander, '{"type": "call", "to": "bob"}'))["code"] == "self_call"


@pytest.mark.parametrize("query", ["", "?client_name=", "?client_name=al%20ice", "?client_name=" + "a" * 65])
async def test_open_mode_needs_a_valid_name(query: str) -> None:
    async with running_server() as url:
        await assert_refused(f"{url.replace('http', 'ws')}/ws{query}")


async def assert_refused(url: str) -> None:
    """Closed with 4401 and a reason, before any welcome."""
    socket = await websockets.connect(url)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason


async def test_token_mode_takes_the_name_from_the_token_only() -> None:
    async with running_server(auth="token", secret=SECRET) as url:
        base = url.replace("http", "ws")
        socket = await websockets.connect(f"{base}/ws?token={issue_token(SECRET, 'alice')}&client_name=mallory")
        assert json.loads(await socket.recv()) == {"type": "welcome", "user": "alice", "provider": "builtin"}
        await socket.close()
        forged = jwt.encode(
            {"sub": "alice", "exp": 4_000_000_000}, "another-secret-of-the-same-length!!", algorithm="HS256"
        )
        expired = jwt.encode({"sub": "alice", "exp": 1}, SECRET, algorithm="HS256")
        for query in ("?client_name=alice", f"?token={forged}", f"?token={expired}", "?token=garbage"):
            await assert_refused(f"{base}/ws{query}")
