"""TALKBOX_LOG_FORMAT=json: a whole call's log, every line one JSON object naming the conference and leg it is
about, and no token, key, password, secret or SDP in any line, even at debug level."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.peer import Peer, connect
from tests.support.server import free_port

SECRET = "a-secret-of-thirty-two-bytes-or-more"
SIP_PASSWORD = "sip-password-never-logged"
WEBHOOK_SECRET = "webhook-secret-of-32-bytes-or-more!"
SDP = re.compile(r"v=0|a=fingerprint|a=ice-pwd|a=ice-ufrag|m=audio")


@dataclass
class Served:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`talkbox serve` with JSON logs at debug level, token mode, SIP registering and webhooks failing."""
    port, nowhere = free_port(), free_port()
    log = tmp_path / "talkbox.log"
    env = {
        **os.environ,
        "TALKBOX_LOG_FORMAT": "json",
        "TALKBOX_LOG_LEVEL": "debug",
        "TALKBOX_AUTH": "token",
        "TALKBOX_SECRET": SECRET,
        "TALKBOX_DATABASE": str(tmp_path / "talkbox.sqlite3"),
        "TALKBOX_MEDIA_WORKERS": "1",
        "TALKBOX_SIP_LISTEN": "udp:127.0.0.1:0",
        "TALKBOX_SIP_TRUNK": f"sip:127.0.0.1:{nowhere}",
        "TALKBOX_SIP_USERNAME": "talkbox",
        "TALKBOX_SIP_PASSWORD": SIP_PASSWORD,
        "TALKBOX_SIP_REGISTER": "1",
        "TALKBOX_WEBHOOK_URL": f"http://127.0.0.1:{nowhere}/hooks",
        "TALKBOX_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "talkbox", "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    served = Served(f"http://127.0.0.1:{port}", log, process)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{served.url}/api/health", timeout=1):
                break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    yield served
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=20)


def token_peer(url: str, name: str, frequency: float, token: str) -> Peer:
    peer = Peer(url, name, frequency)
    peer.url = f"{url.replace('http', 'ws', 1)}/ws?token={token}"  # the query form, which uvicorn's access log sees
    return peer


async def test_a_calls_log_is_json_naming_its_conference_and_legs_and_holds_no_secret(served: Served) -> None:
    key = subprocess.run(
        [sys.executable, "-m", "talkbox", "apikey", "create", "app"],
        env={**os.environ, "TALKBOX_DATABASE": str(served.log.with_name("talkbox.sqlite3"))},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Bearer {key}"}) as http:
        minted = [await http.post("/api/v1/tokens", json={"user": name}) for name in ("alice", "bob")]
        tokens = {answer.json()["user"]: answer.json()["token"] for answer in minted}
    async with (
        token_peer(served.url, "alice", 440.0, tokens["alice"]) as alice,
        token_peer(served.url, "bob", 880.0, tokens["bob"]) as bob,
    ):
        offered = await connect(alice, bob)
        conference = alice.active_conference()
        await alice.hang_up()
        await alice.wait_for(lambda: alice.last_conference()["status"] == "ended")
    served.process.terminate()
    served.process.wait(timeout=20)

    lines: list[dict[str, Any]] = []
    for text in served.lines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {text!r}")
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)

    call_id, legs = conference["id"], [leg["id"] for leg in conference["legs"]]
    about_call = [line for line in lines if line.get("conference_id") == call_id]
    for leg_id in legs:  # each leg's life: dialled, ringing, answered, ended
        statuses = [line["message"] for line in about_call if line.get("leg_id") == leg_id]
        assert any("in-progress" in message for message in statuses), statuses
        assert any("completed" in message for message in statuses), statuses
    for line in lines:  # a line that names a leg or the call in words carries it as a field too
        for leg_id in legs:
            if leg_id in line["message"]:
                assert line.get("leg_id") == leg_id and line.get("conference_id") == call_id, line
        if call_id in line["message"]:
            assert line.get("conference_id") == call_id, line

    log = served.log.read_text()
    for secret in (*tokens.values(), key, SECRET, SIP_PASSWORD, WEBHOOK_SECRET):
        assert secret not in log
    assert offered.split("\r\n")[1] not in log  # the o= line of the SDP alice's engine offered bob
    assert not SDP.search(log), SDP.search(log)
