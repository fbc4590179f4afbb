"""(15) The HTTP API: call creations per second, media left out, and answer times.

The server runs in null mode (bench/server.py: the real gateway, router, rules and store,
on a SQLite file, no RTCPeerConnection) in its own process on core 0, with an API key it writes to a file
for the bench and no per-key rate limit in the way. Each request is POST /api/v1/calls
with that key and its own Idempotency-Key, from one of CALLERS users to another: the API
validates, claims the Idempotency-Key in SQLite, publishes UserRequestsCall and answers
202; the router then runs the rules and stores the conference (whose chair has no page,
so it ends unreachable). Requests are built ahead of time and sent over CONNECTIONS
keep-alive connections by the webhooks bench's minimal client on core 1.

Besides the rate (wall clock, so it falls when others load the machine), the server's own CPU time for the
whole run, answers and the router's work after them until it is idle: creations per CPU second is what one
core of its own would do, and moves far less with the machine's load.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import cell, idle_cpu, keep_alive_load, pin_self, server, summary

CONNECTIONS = 16
REQUESTS = 6000
CALLERS = 500


def requests(host: str, key: str) -> list[bytes]:
    out = []
    for i in range(REQUESTS):
        body = json.dumps({"from": f"u{i % CALLERS}", "to": [f"v{i % CALLERS}"]}).encode()
        head = (
            f"POST /api/v1/calls HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            f"Idempotency-Key: bench-{i}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def load(url: str, batch: list[bytes]) -> dict[str, float]:
    before = idle_cpu(url)
    figures = await keep_alive_load(url, batch, CONNECTIONS, expected=202)
    used = await asyncio.to_thread(idle_cpu, url) - before
    return {"creations_per_s": figures.pop("per_s"), **figures, "creations_per_cpu_s": len(batch) / used}


def run(runs: int, **_: Any) -> dict[str, Any]:
    pin_self("1")
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            key_file = Path(folder) / "key"
            # A real SQLite file, as `talkbox serve` has: the memory store scans every call it ever held.
            extra = ("--api-key-file", str(key_file), "--database", str(Path(folder) / "talkbox.sqlite3"))
            with server("null", extra=extra) as s:
                batch = requests(urlsplit(s.url).netloc, key_file.read_text().strip())
                samples.append(asyncio.run(load(s.url, batch)))
    return {"setup": f"{REQUESTS} POST /api/v1/calls, {CONNECTIONS} keep-alive connections"} | {
        key: summary([s[key] for s in samples]) for key in samples[0]
    }


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        (
            "HTTP API: call creations (media left out)",
            ["setup", "creations/s", "per server CPU second", "answer p50 (ms)", "answer p99 (ms)"],
            [
                [
                    result["setup"],
                    cell(result["creations_per_s"], 0),
                    cell(result["creations_per_cpu_s"], 0),
                    cell(result["answer_p50_ms"]),
                    cell(result["answer_p99_ms"]),
                ]
            ],
        )
    ]
