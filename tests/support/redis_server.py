"""A real redis-server for the test run: Debian's binary, on a free loopback port, in a temp dir.

Never the packaged service: each run starts its own, with nothing saved, so
tests cannot see each other's keys or a developer's data. A missing binary is a
failure, not a skip: `make test` installs it (scripts/ensure-system-packages.sh).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.server import free_port


@dataclass
class RedisServer:
    """One redis-server process; `restart` keeps its port, so clients reconnect to the same URL."""

    folder: Path
    port: int
    persistent: bool = False  # an append-only file synced on every write, so a restart loses nothing
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "`redis-server` is missing: run `make test`, which installs Debian's redis-server"
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        command += ["--save", "", "--daemonize", "no", "--maxmemory-policy", "noeviction"]
        command += ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            assert self.process.poll() is None, (self.folder / "redis.log").read_text()
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            assert time.monotonic() < deadline, "redis-server did not answer PING within 10 s"
            time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def flush(self) -> None:
        with redis.Redis(port=self.port, socket_timeout=5) as client:
            client.flushall()


@contextlib.contextmanager
def redis_server(folder: Path, *, persistent: bool = False) -> Iterator[RedisServer]:
    server = RedisServer(folder, free_port(), persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def sentinel_for(master: RedisServer, folder: Path, service: str = "talkbox") -> Iterator[str]:
    """A Redis Sentinel (redis-server in sentinel mode) watching `master`; yields the redis+sentinel:// URL."""
    binary = shutil.which("redis-server")
    assert binary, "`redis-server` is missing: run `make test`, which installs Debian's redis-server"
    port = free_port()
    config = folder / "sentinel.conf"  # Sentinel rewrites its own config file: it must be writable
    config.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor {service} 127.0.0.1 {master.port} 1\n")
    log = (folder / "sentinel.log").open("ab")
    process = subprocess.Popen([binary, str(config), "--sentinel"], stdout=log, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (folder / "sentinel.log").read_text()
            with contextlib.suppress(redis.ConnectionError):
                if client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service):
                    break
            assert time.monotonic() < deadline, "the sentinel did not name its master within 10 s"
            time.sleep(0.02)
        client.close()
        yield f"redis+sentinel://127.0.0.1:{port}/{service}/0"
    finally:
        process.kill()
        process.wait(timeout=5)
