"""The websocket protocol's guard rails: every bad frame gets an error and the socket lives on."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
import websockets

from talkbox.app.main import create_app
from talkbox.app.settings import Settings
from talkbox.ui.identity import issue_token
from talkbox.ui.limits import Limits, RateLimit
from tests.support.frames import welcomed as state_sent
from tests.support.server import running_server

SECRET = "test-secret-that-is-long-enough-for-hs256"


async def exchange(socket: websockets.ClientConnection, frame: str) -> dict:
    """The answer to `frame`; past the `synced` every page of a user gets when another of its pages connects."""
    await socket.send(frame)
    while (answer := json.loads(await socket.recv()))["type"] == "synced":
        pass
    return answer


async def welcomed(url: str) -> websockets.ClientConnection:
    socket = await websockets.connect(url)
    await state_sent(socket)
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
        ('{"type": "transfer", "conference_id": "c-1"}', "invalid_message"),
        (json.dumps({"type": "transfer", "conference_id": "c-1", "to": "c" * 201}), "invalid_message"),
        ('{"type": "dtmf", "conference_id": "c-1", "digits": "A"}', "invalid_message"),
        ('{"type": "dtmf", "conference_id": "c-1", "digits": ""}', "invalid_message"),
        ('{"type": "dtmf", "conference_id": "c-1", "digits": 5}', "invalid_message"),
        (json.dumps({"type": "dtmf", "conference_id": "c-1", "digits": "1" * 33}), "invalid_message"),
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
        welcome = {"type": "welcome", "user": "alice", "provider": "builtin", "ice_servers": []}
        assert json.loads(await socket.recv()) == welcome
        await socket.close()
        forged = jwt.encode(
            {"sub": "alice", "exp": 4_000_000_000}, "another-secret-of-the-same-length!!", algorithm="HS256"
        )
        expired = jwt.encode({"sub": "alice", "exp": 1}, SECRET, algorithm="HS256")
        for query in ("?client_name=alice", f"?token={forged}", f"?token={expired}", "?token=garbage"):
            await assert_refused(f"{base}/ws{query}")


# --- frames the fuzzer found dropping the socket (tests/component/test_fuzz.py) -----------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xfe", "not_text"),
        (b'{"type": "call", "to": "bob"}', "not_text"),  # JSON, but in a binary frame
        ('{"type": {"a": 1}}', "unknown_type"),  # a type that cannot be looked up
        ('{"type": ["call"]}', "unknown_type"),
        ("[" * 5_000 + "]" * 5_000, "invalid_json"),  # nested past Python's recursion limit
        ('{"type": "mute", "muted": ' + "9" * 5_000 + "}", "invalid_json"),  # past int's digit limit
        ('{"type": "call", "to": "\\ud800"}', "invalid_message"),  # a lone surrogate is no string
    ],
)
async def test_frames_that_used_to_drop_the_socket_get_an_answer(frame: str | bytes, code: str) -> None:
    async with running_server() as url:
        socket = await welcomed(f"{url.replace('http', 'ws')}/ws?client_name=alice")
        reply = await exchange(socket, frame)  # type: ignore[arg-type]
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert (await exchange(socket, '{"type": "call", "to": "alice"}'))["code"] == "self_call"
        await socket.close()


# --- limits on bad input: sockets per user, calls per minute ----------------------------------


async def closed_with(url: str) -> websockets.frames.Close:
    socket = await websockets.connect(url)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await socket.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd


async def test_a_user_past_the_socket_cap_gets_4429_and_others_are_not_counted() -> None:
    async with running_server(max_sockets_per_user=3) as url:
        base = url.replace("http", "ws")
        alice = [await welcomed(f"{base}/ws?client_name=alice") for _ in range(3)]
        close = await closed_with(f"{base}/ws?client_name=alice")
        assert close.code == 4429 and "3" in close.reason
        bob = await welcomed(f"{base}/ws?client_name=bob")  # a cap per user, not for everyone
        assert (await exchange(alice[0], '{"type": "call", "to": "alice"}'))["code"] == "self_call"
        await alice.pop().close()
        await asyncio.sleep(0.1)  # the server sees the close
        alice.append(await welcomed(f"{base}/ws?client_name=alice"))  # a slot freed is a slot again
        for socket in (*alice, bob):
            await socket.close()


async def test_hundreds_of_sockets_at_once_cannot_slip_under_the_cap() -> None:
    async with running_server(max_sockets_per_user=5) as url:
        target = f"{url.replace('http', 'ws')}/ws?client_name=mallory"
        sockets = await asyncio.gather(*(websockets.connect(target) for _ in range(100)))
        firsts = await asyncio.gather(*(first_frame(socket) for socket in sockets))
        assert firsts.count("welcome") == 5
        assert firsts.count(4429) == 95
        for socket in sockets:
            await socket.close()


async def test_one_address_cannot_open_sockets_under_ever_new_names() -> None:
    async with running_server(max_sockets_per_address=4) as url:
        base = url.replace("http", "ws")
        sockets = [await welcomed(f"{base}/ws?client_name=name{i}") for i in range(4)]
        close = await closed_with(f"{base}/ws?client_name=name99")
        assert close.code == 4429 and "address" in close.reason
        await sockets.pop().close()
        await asyncio.sleep(0.1)
        sockets.append(await welcomed(f"{base}/ws?client_name=name99"))
        for socket in sockets:
            await socket.close()


async def first_frame(socket: websockets.ClientConnection) -> str | int:
    """The type of the first message, or the close code if the socket was closed instead."""
    try:
        return json.loads(await socket.recv())["type"]
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code


async def test_calls_past_the_rate_limit_are_refused_for_that_user_only() -> None:
    async with running_server(max_calls_per_minute=3) as url:
        base = url.replace("http", "ws")
        alice = await welcomed(f"{base}/ws?client_name=alice")
        for _ in range(3):
            await alice.send('{"type": "call", "to": "alice"}')  # refused by the rules, yet counted
        await alice.send('{"type": "add", "conference_id": "c-1", "to": "bob"}')
        await alice.send('{"type": "transfer", "conference_id": "c-1", "to": "bob"}')  # it rings someone too
        await alice.send('{"type": "call", "to": "alice"}')
        # Said at most once a second per type: add's and transfer's, then call's.
        codes = sorted([json.loads(await alice.recv())["code"] for _ in range(6)])
        assert codes == ["rate_limited"] * 3 + ["self_call"] * 3
        bob = await welcomed(f"{base}/ws?client_name=bob")
        assert (await exchange(bob, '{"type": "call", "to": "bob"}'))["code"] == "self_call"
        await alice.close()
        await bob.close()


def test_the_rate_limit_is_a_sliding_minute() -> None:
    now = [0.0]
    limit = RateLimit(limit=2, clock=lambda: now[0])
    assert [limit.allow("alice"), limit.allow("alice"), limit.allow("alice"), limit.allow("bob")] == [
        True,
        True,
        False,
        True,
    ]
    now[0] = 59.9
    assert not limit.allow("alice")
    now[0] = 60.1
    assert limit.allow("alice")


def test_the_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().max_sockets_per_user, Settings().max_calls_per_minute) == (20, 30)
    monkeypatch.setenv("TALKBOX_MAX_SOCKETS_PER_USER", "4")
    monkeypatch.setenv("TALKBOX_MAX_CALLS_PER_MINUTE", "7")
    settings = Settings()
    assert (settings.max_sockets_per_user, settings.max_calls_per_minute) == (4, 7)
    gateway = create_app(settings.model_copy(update={"database": ":memory:"})).state.talkbox.gateway
    assert gateway.limits == Limits(max_sockets_per_user=4, max_sockets_per_address=200, max_calls_per_minute=7)


async def test_welcome_hands_each_page_turn_credentials_coturn_can_check() -> None:
    turn = {"turn_urls": "turns:turn.example.org:5349?transport=tcp", "turn_secret": "t" * 32}
    async with (
        running_server(**turn) as url,
        websockets.connect(f"{url.replace('http', 'ws')}/ws?client_name=alice") as socket,
    ):
        welcome = json.loads(await socket.recv())
    [server] = welcome["ice_servers"]
    assert server["urls"] == ["turns:turn.example.org:5349?transport=tcp"]
    expiry, user = server["username"].split(":")
    assert user == "alice" and 86000 < int(expiry) - time.time() <= 86400
    mac = hmac.new(b"t" * 32, server["username"].encode(), hashlib.sha1).digest()
    assert server["credential"] == base64.b64encode(mac).decode()


def test_turn_urls_need_a_strong_secret_and_turn_schemes() -> None:
    with pytest.raises(ValueError, match="TALKBOX_TURN_SECRET"):
        Settings(turn_urls="turn:turn.example.org", turn_secret="short")
    with pytest.raises(ValueError, match="turn: or turns:"):
        Settings(turn_urls="stun:stun.example.org", turn_secret="t" * 32)
