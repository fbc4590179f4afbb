"""Debian's sipp (package sip-tester) as a real SIP peer: a telephone calling in, or a trunk."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).parent / "scenarios"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Sipp:
    process: asyncio.subprocess.Process
    port: int
    errors: Path
    media_port: int  # where its RTP comes from and goes to (all its calls share it)

    async def finished(self, timeout: float = 20.0) -> int:
        """sipp's exit code: 0 when every call went as its scenario says."""
        async with asyncio.timeout(timeout):
            return await self.process.wait()

    def error_log(self) -> str:
        """What went wrong, and the messages that led there: for the assertion's message."""
        messages = self.errors.with_name("sipp-messages.log")
        log = self.errors.read_text(errors="replace") if self.errors.exists() else ""
        return log + ("\n" + messages.read_text(errors="replace")[-6000:] if messages.exists() else "")


@contextlib.asynccontextmanager
async def sipp(
    *args: str, workdir: Path, tcp: bool = False, serving: bool = False, count: bool = True
) -> AsyncIterator[Sipp]:
    """Start sipp on loopback with `args` (a scenario, -set values, a remote host); killed at the end.

    `serving`: sipp waits for calls (a trunk), so over TCP it must be listening before Talkbox dials.
    `count=False` leaves the number of calls (-m) and the message trace to `args`: for the bench.
    """
    binary = shutil.which("sipp")
    assert binary is not None, "sipp is missing: `make system` installs Debian's sip-tester"
    port, media_port = free_udp_port(), free_udp_port()
    errors = workdir / "sipp-errors.log"
    command = [
        binary,
        *args,
        "-i", "127.0.0.1",
        "-p", str(port),
        "-mi", "127.0.0.1",
        "-mp", str(media_port),
        *(["-m", "1", "-timeout", "20s", "-trace_msg", "-message_file", str(workdir / "sipp-messages.log")]
          if count else []),
        "-nostdin",
        "-timeout_error",
        "-trace_err",
        "-error_file", str(errors),
        *(["-t", "t1"] if tcp else []),
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command, cwd=workdir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    if tcp and serving:
        await _listening(port)  # a trunk over TCP: nothing retransmits a connection refused at start
    try:
        yield Sipp(process, port, errors, media_port)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def scenario(name: str) -> str:
    return str(SCENARIOS / name)


def scenario_with(name: str, workdir: Path, **values: str) -> str:
    """A scenario with @NAME@ placeholders filled in, written next to the test's logs."""
    text = (SCENARIOS / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key.upper()}@", value)
    path = workdir / name
    path.write_text(text)
    return str(path)


async def _listening(port: int, timeout: float = 5.0) -> None:
    """Until something accepts TCP on `port` (read from /proc, so sipp sees no stray connection)."""
    wanted = f":{port:04X} "
    async with asyncio.timeout(timeout):
        while not any(
            wanted in line and line.split()[3] == "0A"  # state LISTEN
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        ):
            await asyncio.sleep(0.02)
