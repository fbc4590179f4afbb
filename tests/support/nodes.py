"""Talkbox nodes as real processes on one Redis, behind the repo's own nginx config (deploy/nginx.conf).

For the tests that SIGKILL or SIGTERM a node: each node is `talkbox serve` in a
process of its own; nginx is Debian's, run from a temp prefix with the sample
config's ports replaced by free ones. A missing nginx is a failure, not a skip:
`make test` installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis.asyncio as redis

from talkbox.events.redis_bus import PARTITIONS
from tests.support.peer import Peer
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "deploy" / "nginx.conf"


@dataclass
class Node:
    """One `talkbox serve`; `env` are its TALKBOX_* settings."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {**os.environ, **self.env, "TALKBOX_NODE_ID": self.name, "TALKBOX_PORT": str(self.port)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "talkbox", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        await self.wait_ready()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        async with httpx.AsyncClient() as client, asyncio.timeout(timeout):
            while True:
                assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz", timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.1)

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    async def exited(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        async with asyncio.timeout(timeout):
            while self.process.poll() is None:
                await asyncio.sleep(0.05)
        return self.process.returncode

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            await self.exited()


@dataclass
class Balancer:
    """nginx with deploy/nginx.conf, on free ports."""

    folder: Path
    port: int
    upstreams: list[int]
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        assert Path(binary).exists(), "`nginx` is missing: run `make test`, which installs Debian's nginx"
        for sub in ("logs", "tmp"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        config = SAMPLE.read_text().replace("127.0.0.1:8080", f"127.0.0.1:{self.port}")
        ports = iter(self.upstreams)
        config = re.sub(r"server 127\.0\.0\.1:500\d", lambda _m: f"server 127.0.0.1:{next(ports)}", config)
        (self.folder / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(
            [binary, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "logs" / "stderr.log").open("ab"),
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextlib.asynccontextmanager
async def nodes_behind_nginx(
    folder: Path, redis_url: str, own: dict[str, dict[str, str]] | None = None, **env: str
) -> AsyncIterator[tuple[Balancer, list[Node]]]:
    """Node one starts first (and so owns every partition of the bus), then node two, then nginx.

    `own`: settings of one node only, by its name (each its own SIP port, say).
    """
    settings = {
        "TALKBOX_REDIS_URL": redis_url,
        "TALKBOX_MEDIA_WORKERS": "0",
        "TALKBOX_DATABASE": ":memory:",
        "TALKBOX_TRUSTED_PROXIES": "127.0.0.1",
        "TALKBOX_LOG_LEVEL": "info",
        **env,
    }
    own = own or {}
    nodes = [
        Node(name, free_port(), {**settings, **own.get(name, {})}, folder / f"{name}.log") for name in ("one", "two")
    ]
    balancer = Balancer(folder / "nginx", free_port(), [node.port for node in nodes])
    try:
        for node in nodes:
            await node.start()
        balancer.start()
        async with httpx.AsyncClient() as client, asyncio.timeout(10):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{balancer.url}/healthz", timeout=1)).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        yield balancer, nodes
    finally:
        balancer.stop()
        for node in nodes:
            await node.stop()


async def node_of(client: redis.Redis, user: str) -> set[str]:
    """Where the user's sockets are, as the cluster-wide presence says (registered just after `welcome`)."""
    async with asyncio.timeout(2):
        while not (nodes := await client.hvals(f"talkbox:presence:{user}")):
            await asyncio.sleep(0.02)
    return {node.decode() for node in nodes}


async def owners(client: redis.Redis) -> list[str]:
    """Which node holds each partition's lease ("" for none)."""
    leases = await client.mget([f"talkbox:lease:{p}" for p in range(PARTITIONS)])
    return [(lease or b"").decode().split(":")[0] for lease in leases]


async def hear_each_other(a: Peer, b: Peer) -> None:
    a.heard.clear()
    b.heard.clear()
    await a.wait_for(lambda: len(a.heard) > 20 and a.level(b.frequency) > -20, timeout=15)
    await b.wait_for(lambda: len(b.heard) > 20 and b.level(a.frequency) > -20, timeout=15)
