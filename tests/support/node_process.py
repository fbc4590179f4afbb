"""A node of the Redis bus in a process of its own (tests/support/bus_node.py, call_node.py), which a test kills
with SIGKILL or freezes with SIGSTOP for real, and talks to line by line: JSON lines out, one word a line in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from talkbox.events.redis_bus import PARTITIONS

ROOT = Path(__file__).resolve().parents[2]


class NodeProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        text = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert text, f"the node exited ({await self.process.wait()})"
        return json.loads(text)

    async def say(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{word}\n".encode())
        await self.process.stdin.drain()

    def signal(self, number: int) -> None:
        os.kill(self.process.pid, number)


@contextlib.asynccontextmanager
async def node_process(module: str, *args: str) -> AsyncIterator[NodeProcess]:
    """`python -m module args…`, once it says it owns every partition (alone, it takes them all); killed at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    started = NodeProcess(process)
    try:
        assert (await started.line())["owns"] == list(range(PARTITIONS))
        yield started
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
