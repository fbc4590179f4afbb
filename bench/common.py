"""What every bench shares: summaries (median and spread), tables, CPU time, the server process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CORE = "0"
CLIENT_CORE = "1"


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def summary(values: Sequence[float]) -> dict[str, Any]:
    """The median of several runs and their spread (min, max, and max-min as a share of the median)."""
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return {"median": None, "min": None, "max": None, "runs": 0, "values": []}
    median = statistics.median(values)
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "spread": (max(values) - min(values)) / median if median else 0.0,
        "runs": len(values),
        "values": values,
    }


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def cell(s: dict[str, Any], digits: int = 1) -> str:
    """`median (min–max)`."""
    if not s.get("runs"):
        return "-"
    if s["runs"] == 1:
        return fmt(s["median"], digits)
    return f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}–{fmt(s['max'], digits)})"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table, so the README can take it as printed."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def core_busy_seconds() -> dict[int, float]:
    """Per core: seconds spent not idle (user, nice, system, irq, softirq, steal), from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            v = [int(x) for x in values]
            out[int(name[3:])] = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLOCK_TICKS
    return out


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def cores_of(spec: str) -> set[int]:
    """The cores a taskset-style list names ("0", "0,1"), those this machine has."""
    return {int(c) for c in spec.split(",") if int(c) < (os.cpu_count() or 1)}


def pinned(cores: str) -> list[str]:
    """`taskset -c CORES` when the machine has those cores."""
    return ["taskset", "-c", cores] if cores_of(cores) == {int(c) for c in cores.split(",")} else []


def pin_self(cores: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        if wanted := cores_of(cores):
            os.sched_setaffinity(0, wanted)


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def server(mode: str = "builtin", *, core: str = SERVER_CORE, extra: Sequence[str] = ()) -> Iterator[ServerProcess]:
    """A Talkbox server in its own process (bench/server.py), pinned to `core`, on a free loopback port."""
    port = free_port()
    command = [*pinned(core), sys.executable, "-m", "bench.server", "--port", str(port), "--mode", mode, *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError(f"bench server did not start: {line!r}")
        yield ServerProcess(process, f"http://127.0.0.1:{port}")
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not gone within 10 s: a bench never leaves a process behind."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)

async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def keep_alive_load(url: str, requests: list[bytes], connections: int, expected: int) -> dict[str, float]:
    """Raw HTTP/1.1 requests sent back to back over `connections` keep-alive sockets: the rate, and answer times.

    A client this thin (no HTTP library) keeps the bench's own cost out of what the server is timed at.
    """
    parts = urlsplit(url)
    times: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(reversed(requests))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while queue:
                request = queue.pop()
                sent = time.perf_counter()
                writer.write(request)
                status = await read_response(reader)
                times.append(time.perf_counter() - sent)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    start = time.perf_counter()
    async with asyncio.timeout(120):
        await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    if set(statuses) != {expected}:
        raise RuntimeError(f"unexpected answers: {statuses}")
    return {
        "per_s": len(requests) / elapsed,
        "answer_p50_ms": percentile(times, 0.5) * 1e3,
        "answer_p99_ms": percentile(times, 0.99) * 1e3,
    }


def server_cpu(url: str) -> float:
    with urllib.request.urlopen(f"{url}/bench/stats", timeout=10) as answer:
        return float(json.load(answer)["cpu"])


def idle_cpu(url: str) -> float:
    """The server's CPU seconds (a `bench/server.py`) once it has stopped working: after the answers the router
    still finishes what they published."""
    last = server_cpu(url)
    while True:
        time.sleep(0.3)
        now = server_cpu(url)
        if now - last < 0.01:
            return now
        last = now
