"""Fuzz the websocket: whatever a page sends, it gets an answer, and nobody else's call notices.

A real server and a real call (two aiortc pages that hear each other) run on an
event loop in a thread of their own, so that hypothesis can drive a third,
hostile client from the test's thread, one frame per example, and shrink a
frame that breaks something down to its essence.

After each frame the client sends a probe (a frame of unknown type, answered
at once with an error naming it): everything that arrives before the probe's
answer is the frame's answer. The oracle for what that answer must be is the
protocol as docs/protocol.md states it, with the page-message schema as the
judge of which frames are valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from talkbox.ui.protocol import PAGE_MESSAGE_TYPES, page_message
from tests.component.conftest import empty_redis_when_every_test_runs_on_it
from tests.support.peer import Peer
from tests.support.server import running_server

# The server's thread draws on `random` (ICE, SRTP) while hypothesis generates in this one;
# hypothesis takes that for a strategy using `random`. No strategy here does.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module")

MAX_BYTES = 16 * 1024  # TALKBOX_MAX_MESSAGE_BYTES, the default
HARD_CAP = 2 * MAX_BYTES  # what running_server gives uvicorn: past it the socket is closed
ALICE_HZ, BOB_HZ = 440.0, 880.0
HEARD = -35.0
# Every message the server sends (docs/protocol.md, "Server to page"): nothing else may come back.
SERVER_TYPES = {
    "welcome",
    "conference",
    "synced",
    "offer",
    "refused",
    "error",
    "retrying",
    "speaking",
    "recordings_changed",
    "presence",
    "history",
    "leg_stats",
    "missed",
    "digit",
    "resync",
}
ERROR_CODES = {"too_large", "invalid_json", "unknown_type", "invalid_message", "not_text"}
CHECK_THE_CALL_EVERY = 20

T = TypeVar("T")

# --- what to send ------------------------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.text(alphabet=st.characters(categories=["Cs", "Co", "Cc", "Zs", "So"]), max_size=20)  # lone surrogates too
)
ANY_JSON = st.recursive(
    JSON_LEAVES, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
)
FIELDS = ("to", "conference_id", "leg_id", "sdp", "reason", "muted", "type", "user")
ID_LIKE = st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True)


def dumps(value: Any) -> str:
    """ASCII JSON: a lone surrogate travels as its \\u escape, as a browser would send it."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


@st.composite
def typed_messages(draw: st.DrawFn) -> str:
    """A known type with fields that are right, wrong, missing or extra."""
    message: dict[str, Any] = {"type": draw(st.sampled_from(sorted(PAGE_MESSAGE_TYPES)))}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        message[name] = draw(ID_LIKE | ANY_JSON | st.sampled_from(("microphone", "media", True, False)))
    return dumps(message)


@st.composite
def huge(draw: st.DrawFn) -> str:
    """Long strings around the cap and the hard cap, in one- to four-byte characters."""
    char = draw(st.sampled_from(("x", "é", "語", "🎉")))
    size = draw(st.sampled_from((MAX_BYTES // 4, MAX_BYTES - 40, MAX_BYTES + 1, HARD_CAP - 100, HARD_CAP + 10)))
    body = char * (size // len(char.encode()))
    return draw(st.sampled_from((dumps({"type": "call", "to": body}), body, dumps({"type": "answer", "sdp": body}))))


@st.composite
def deep(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from((10, 500, 999, 1_001, 3_000, 8_000)))
    inner = draw(st.sampled_from(("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth)))
    return draw(st.sampled_from((inner, '{"type": "call", "to": ' + inner + "}", '{"type": ' + inner + "}")))


FRAMES = st.one_of(
    ANY_JSON.map(dumps),
    typed_messages(),
    st.text(max_size=200),  # not JSON at all, mostly
    st.binary(max_size=300),
    huge(),
    deep(),
    st.integers(4_000, 6_000).map(lambda digits: '{"type": "mute", "muted": ' + "9" * digits + "}"),
    st.sampled_from(("", " ", "null", "{}", '{"type": null}', '{"type": ["call"]}', '{"type": {"a": 1}}')),
)


def expected_error(frame: str | bytes) -> str | None:
    """The error code docs/protocol.md promises for this frame; None for a valid message."""
    if isinstance(frame, bytes):
        return "not_text"
    if len(frame.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return "too_large"
    try:
        raw = json.loads(frame)
    except (ValueError, RecursionError):
        return "invalid_json"
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or raw["type"] not in PAGE_MESSAGE_TYPES:
        return "unknown_type"
    try:
        page_message.validate_python(raw)
    except (ValidationError, RecursionError):
        return "invalid_message"
    return None


def wire_size(frame: str | bytes) -> int:
    return len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))


# --- the world: a server and a call, on a loop of their own ------------------------------


class World:
    """Talkbox with alice and bob on a call, run in a background thread; a hostile client on top."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="talkbox-under-fuzz", daemon=True)
        self.stack = contextlib.AsyncExitStack()
        self.probes = itertools.count(1)
        self.frames_sent = 0
        self.client: ClientConnection | None = None
        self._client_exit = contextlib.ExitStack()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    def stop(self) -> None:
        self.disconnect()
        self.run(self.stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _start(self) -> None:
        # The fuzzer sends as fast as it can: the rate limits (tests/security) would answer most of it.
        unlimited = {"max_messages_per_second": 100_000, "max_user_messages_per_second": 100_000}
        self.url = await self.stack.enter_async_context(running_server(**unlimited))
        self.alice = await self.stack.enter_async_context(Peer(self.url, "alice", ALICE_HZ, amplitude=0.2))
        self.bob = await self.stack.enter_async_context(Peer(self.url, "bob", BOB_HZ, amplitude=0.2, auto_accept=True))
        await self.alice.call("bob")
        await self._hear_each_other()

    async def _hear_each_other(self) -> None:
        await self.alice.wait_for(lambda: self.alice.level(BOB_HZ) > HEARD, timeout=15)
        await self.bob.wait_for(lambda: self.bob.level(ALICE_HZ) > HEARD, timeout=15)

    def connected(self) -> ClientConnection:
        """The hostile client's socket, opened again if the last example lost it."""
        if self.client is None:
            self.client = self._client_exit.enter_context(
                connect(f"{self.url.replace('http', 'ws', 1)}/ws?client_name=mallory", max_size=None)
            )
            assert json.loads(self.client.recv(timeout=5))["type"] == "welcome"
        return self.client

    def disconnect(self) -> None:
        self.client = None
        with contextlib.suppress(Exception):
            self._client_exit.close()

    def exchange(self, frame: str | bytes) -> list[dict[str, Any]]:
        """Send one frame; what arrives before the probe's answer (ConnectionClosed if it closed)."""
        client, probe = self.connected(), f"probe-{next(self.probes)}"
        self.frames_sent += 1
        try:
            client.send(frame)
            client.send(json.dumps({"type": probe}))
            return self._answers_until(client, probe)
        except ConnectionClosed:
            self.disconnect()
            raise

    @staticmethod
    def _answers_until(client: ClientConnection, probe: str) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        while True:
            message = json.loads(client.recv(timeout=10))
            if message["type"] == "error" and probe in message["message"]:
                return answers
            answers.append(message)

    def check_the_call(self) -> None:
        """alice and bob still on their call, and still hearing each other."""
        self.run(self._hear_each_other())
        conference = self.alice.last_conference()
        assert conference["status"] == "active", conference
        assert [leg["status"] for leg in conference["legs"]] == ["in-progress", "in-progress"], conference


@pytest.fixture(scope="module", autouse=True)
def _empty_redis() -> None:
    """Once, before the world starts: it serves every test of this module."""
    empty_redis_when_every_test_runs_on_it()


@pytest.fixture(scope="module")
def world(_empty_redis: None) -> Iterator[World]:
    world = World()
    world.start()
    try:
        yield world
    finally:
        world.stop()


# --- the properties -----------------------------------------------------------------------


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frame=FRAMES)
def test_every_frame_gets_its_answer_and_the_socket_stays_open(world: World, frame: str | bytes) -> None:
    if wire_size(frame) > HARD_CAP:
        closes_only_this_socket(world, frame)
        return
    answers = world.exchange(frame)
    for answer in answers:
        assert answer["type"] in SERVER_TYPES, answer
    errors = [a for a in answers if a["type"] == "error"]
    code = expected_error(frame)
    if code is None:
        assert errors == [], f"a valid frame got an error: {errors}"
    else:
        assert [e["code"] for e in errors] == [code], answers
        assert all(e["code"] in ERROR_CODES and e["message"] for e in errors)
    if world.frames_sent % CHECK_THE_CALL_EVERY == 0:
        world.check_the_call()


def closes_only_this_socket(world: World, frame: str | bytes) -> None:
    """Past the hard cap the frame is never read: that one socket is closed (1009), nothing else."""
    with pytest.raises(ConnectionClosed) as closed:
        world.exchange(frame)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value


def test_the_call_went_on_undisturbed_throughout(world: World) -> None:
    assert world.frames_sent > 0, "runs after the fuzzing, on the same server"
    world.check_the_call()
    assert world.alice.refusals() == [] and world.bob.refusals() == []
    assert not any(m["type"] == "error" for m in world.alice.messages + world.bob.messages)
