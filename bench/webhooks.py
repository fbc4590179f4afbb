"""(6) Webhooks: Twilio call status callbacks per second, signature checked, and answer times.

The server runs in Twilio mode (the tests' settings, tests/twilio/twilio_requests.py) in
its own process on core 0. Each request is a status callback as Twilio posts it
(call-progress events, ringing then completed, for 500 different calls), signed with the
`twilio` package's RequestValidator over the public URL, exactly as in tests/twilio. The
server checks the signature, parses, publishes a LegStatusChanged and answers 204; the
router hands the event on as usual. Requests are signed ahead of time and sent over
CONNECTIONS keep-alive HTTP/1.1 connections by a minimal client on core 1, so the client
costs little. Answer time is from the request's first byte sent to its answer's last byte.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.common import cell, idle_cpu, keep_alive_load, pin_self, server, summary

CONNECTIONS = 16
REQUESTS = 6000
CALLS = 500


def requests(host: str) -> list[bytes]:
    from tests.twilio.twilio_requests import PUBLIC_URL, call_status, sign

    from talkbox.providers.twilio.twiml import STATUS_PATH

    out = []
    for i in range(CALLS):
        call_sid = f"CA{i:032x}"
        path = f"{STATUS_PATH}?conference_id=c-bench{i}&leg_id=l-bench{i}"
        for sequence, status in enumerate(("initiated", "ringing", "in-progress", "completed")):
            params = call_status(call_sid, status, sequence)
            body = urlencode(params).encode()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                f"X-Twilio-Signature: {sign(PUBLIC_URL + path, params)}\r\n\r\n"
            )
            out.append(head.encode() + body)
    return out


async def load(url: str, batch: list[bytes]) -> dict[str, float]:
    requests = [batch[i % len(batch)] for i in range(REQUESTS)]
    before = idle_cpu(url)
    figures = await keep_alive_load(url, requests, CONNECTIONS, expected=204)
    used = await asyncio.to_thread(idle_cpu, url) - before
    # CPU seconds are the server's own (answers and the router's work after them): what one core would do.
    return {"requests_per_s": figures.pop("per_s"), **figures, "requests_per_cpu_s": len(requests) / used}


def run(runs: int, **_: Any) -> dict[str, Any]:
    pin_self("1")
    samples = []
    for _ in range(runs):
        with server("twilio") as s:
            batch = requests(urlsplit(s.url).netloc)
            samples.append(asyncio.run(load(s.url, batch)))
    return {"setup": f"{REQUESTS} signed status callbacks, {CONNECTIONS} keep-alive connections"} | {
        key: summary([s[key] for s in samples]) for key in samples[0]
    }


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    return [
        (
            "Webhooks: Twilio status callbacks",
            ["setup", "callbacks/s", "per server CPU second", "answer p50 (ms)", "answer p99 (ms)"],
            [
                [
                    result["setup"],
                    cell(result["requests_per_s"], 0),
                    cell(result["requests_per_cpu_s"], 0),
                    cell(result["answer_p50_ms"]),
                    cell(result["answer_p99_ms"]),
                ]
            ],
        )
    ]
