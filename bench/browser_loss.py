"""(2c) Latency browser to browser under random UDP loss: the direct pair against a call through Talkbox.

The bursts of browser_latency.py (one Chromium, two pages, a 30 ms 1 kHz burst every second,
timed from alice's track to bob's decoder), run with the server and Chromium inside a private
network namespace whose loopback drops LOSSES percent of UDP packets at random on its input
hook (tests/support/lossy_network.py: all traffic is on that loopback, so one rule loses both
ways). The `direct` path (no server) shows what Chromium's own NetEq does with the loss; the
`talkbox` path puts the engine's forwarding in between, whose gaps (the loss) reach bob's
NetEq unchanged.

Per loss and path: latency p50 and p95; the drift, the p50 of the last third of the bursts
minus the p50 of the first third (a jitter buffer that grows with every loss and never shrinks
shows here as a large positive drift); and how many bursts bob heard of those alice sent.
The table also gives the packets the loopback dropped, proof that the run had its loss.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tests.support.lossy_network import lossy_loopback

from bench.browser_latency import BURST, BURSTS, PERIOD, WARMUP, by_burst, once
from bench.common import CLIENT_CORE, cell, percentile, pin_self, server, summary

LOSSES = (1, 3, 10)
PATHS = {"direct": "direct (no server)", "talkbox": "call of two through Talkbox"}


def drift(latencies: list[float | None]) -> float:
    """p50 of the last third of the bursts minus p50 of the first third (bursts not heard left out)."""
    third = len(latencies) // 3
    first = [x for x in latencies[:third] if x is not None]
    last = [x for x in latencies[-third:] if x is not None]
    return percentile(last, 0.5) - percentile(first, 0.5)


def run_once(percent: int, path: str) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as folder,
        lossy_loopback(percent, Path(folder)) as network,
        server("builtin") as s,
    ):
        sample = once(s.url, path, s.pid, chromium=network.chromium, flags=network.flags)
        sample["dropped_packets"] = network.dropped()
    return sample


def run(runs: int, **_: Any) -> dict[str, Any]:
    pin_self(CLIENT_CORE)  # Chromium, started from here, inherits core 1
    result: dict[str, Any] = {
        "setup": f"{BURSTS} bursts of {BURST * 1000:.0f} ms, one every {PERIOD * 1000:.0f} ms, after {WARMUP} "
        f"uncounted; random UDP loss on the input hook of a private loopback, both ways",
        "losses": {},
    }
    for percent in LOSSES:
        paths: dict[str, Any] = {}
        for path in PATHS:
            samples = []
            for _ in range(runs):
                sample = run_once(percent, path)
                sample["by_burst_ms"] = by_burst(sample.pop("sent_at"), sample.pop("heard_at"))
                samples.append(sample)
                print(
                    f"loss {percent}% {path}",
                    json.dumps({k: v for k, v in sample.items() if k not in ("latencies_ms", "by_burst_ms")}),
                    flush=True,
                )
            paths[path] = {
                "p50_ms": summary([percentile(s["latencies_ms"], 0.5) for s in samples]),
                "p95_ms": summary([percentile(s["latencies_ms"], 0.95) for s in samples]),
                "drift_ms": summary([drift(s["by_burst_ms"]) for s in samples]),
                "heard": [s["heard"] for s in samples],
                "sent": [s["sent"] for s in samples],
                "dropped_packets": [s["dropped_packets"] for s in samples],
                "samples": samples,
            }
        result["losses"][str(percent)] = paths
    return result


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    rows = []
    for percent, paths in result["losses"].items():
        for path, label in PATHS.items():
            r = paths[path]
            rows.append(
                [
                    f"{percent}%",
                    label,
                    cell(r["p50_ms"]),
                    cell(r["p95_ms"]),
                    cell(r["drift_ms"]),
                    f"{sum(r['heard'])} of {sum(r['sent'])}",
                    ", ".join(str(d) for d in r["dropped_packets"]),
                ]
            )
    return [
        (
            "Latency browser to browser under random UDP loss both ways (ms)",
            [
                "loss",
                "path",
                "p50",
                "p95",
                "drift: last third p50 − first third p50",
                "bursts heard",
                "packets dropped per run",
            ],
            rows,
        )
    ]
