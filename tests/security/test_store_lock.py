"""Item 9 of issue 10: two servers on one database file would end each other's calls.

Real `talkbox serve` processes on one file: the second refuses to start and
names the first; a first one killed with -9 leaves its lock file behind, and
that does not stop the next start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.store import SqliteStore, StoreError
from tests.support.server import free_port


def serve(database: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {**os.environ, "TALKBOX_DATABASE": str(database), "TALKBOX_LOG_LEVEL": "warning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "talkbox", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, f"talkbox exited at start: {process.communicate()[1]}"
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("talkbox did not start")


def test_a_second_server_on_the_same_file_refuses_and_names_the_first(tmp_path: Path) -> None:
    database = tmp_path / "talkbox.sqlite3"
    first, first_url = serve(database)
    try:
        wait_healthy(first, first_url)
        second, _ = serve(database)
        _, err = second.communicate(timeout=20)
        assert second.returncode == 2
        assert f"pid {first.pid}" in err
        assert str(database) in err
        assert "Traceback" not in err
        with urllib.request.urlopen(f"{first_url}/api/health", timeout=2) as answer:
            assert answer.status == 200  # the first goes on, untouched
    finally:
        first.terminate()
        first.wait(timeout=20)
    # Stopped cleanly: the file is free again.
    again, again_url = serve(database)
    try:
        wait_healthy(again, again_url)
    finally:
        again.terminate()
        again.wait(timeout=20)


def test_a_server_killed_with_minus_9_does_not_block_the_next_start(tmp_path: Path) -> None:
    database = tmp_path / "talkbox.sqlite3"
    first, url = serve(database)
    wait_healthy(first, url)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert (tmp_path / "talkbox.sqlite3.lock").read_text().strip() == str(first.pid)  # left behind, stale
    second, url = serve(database)
    try:
        wait_healthy(second, url)
    finally:
        second.terminate()
        second.wait(timeout=20)


WRITE_AND_DIE = """
import asyncio, os, signal, sys
from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.store import SqliteStore
store = SqliteStore(sys.argv[1])
asyncio.run(store.put(Conference("c-1", "l-a", (Leg("l-a", "alice", "in-progress", 1),)), {"input": "StartCall"}))
os.kill(os.getpid(), signal.SIGKILL)
"""


async def test_the_store_of_a_killed_process_reopens_with_what_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    child = subprocess.run([sys.executable, "-c", WRITE_AND_DIE, str(path)], capture_output=True, timeout=30)
    assert child.returncode == -signal.SIGKILL
    store = SqliteStore(path)
    try:
        assert await store.active() == [Conference("c-1", "l-a", (Leg("l-a", "alice", "in-progress", 1),))]
        assert store.events_of("c-1") == [{"input": "StartCall"}]
    finally:
        store.close()


def test_one_process_cannot_open_the_same_file_twice(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = SqliteStore(path)
    try:
        with pytest.raises(StoreError, match=f"pid {os.getpid()}"):
            SqliteStore(path)
    finally:
        store.close()
    SqliteStore(path).close()  # closed: free again
