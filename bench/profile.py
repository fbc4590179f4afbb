"""Where the engine's time goes: py-spy samples the server during one media capacity step.

`python -m bench --only profile` (or `python -m bench.profile --size 2 --legs 30`). py-spy
samples the server process from outside at 100 Hz during the measuring window, without
pausing it (so Python frames only: native work shows under the Python call that made it).
Threads sampled as running include threads waiting for the GIL, so the thread table can
add up to more than the process's CPU. The event loop's samples are put in the category of
their innermost frame that names one. The raw collapsed stacks are kept in bench/results/.
"""

from __future__ import annotations

import argparse
import collections
import datetime
from pathlib import Path
from typing import Any

from bench import media
from bench.common import ROOT

# (category, substrings of a frame), innermost match wins.
CATEGORIES = [
    ("Opus encode (talkbox opus.py, libopus)", ("Encoder.encode",)),
    ("Opus decode and concealment (talkbox opus.py, libopus)", ("Decoder.decode", "Decoder.conceal", "Decoder._run")),
    ("SRTP protect/unprotect (pylibsrtp, aiortc_bridge.Srtp)", ("pylibsrtp", "protect", "Srtp.")),
    ("jitter buffers (talkbox jitter.py)", ("media/jitter.py",)),
    ("mixing and forwarding (talkbox conference.py)", ("media/conference.py",)),
    ("RTP parse and build (talkbox rtp.py)", ("media/rtp.py",)),
    ("RTCP reports (talkbox rtcp.py)", ("media/rtcp.py",)),
    ("the engine's clock (talkbox engine.py)", ("media/engine.py",)),
    ("endpoints: datagram checks, send (talkbox endpoint.py, aiortc_bridge.py)",
     ("media/endpoint.py", "aiortc_bridge.py")),
    ("DTLS transport (aiortc)", ("rtcdtlstransport.py",)),
    ("ICE / UDP (aioice)", ("aioice",)),
    ("other aiortc", ("aiortc/",)),
    ("asyncio event loop itself", ("asyncio/", "uvloop")),
    ("uvicorn / websockets / the app's signalling", ("uvicorn", "websockets", "starlette", "talkbox/")),
]


def categorise(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def thread_group(name: str) -> str:
    if name.startswith("MainThread"):
        return "event loop (MainThread)"
    return "other threads (the engine starts none)"


def summarise(raw: Path, seconds: float) -> dict[str, Any]:
    """Per thread group: samples (a thread-second is 100), and the main thread's time by category."""
    groups: collections.Counter[str] = collections.Counter()
    main: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        frames = stack_text.split(";")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        group = thread_group(frames[0].split(": ", 1)[-1])
        groups[group] += count
        if group.startswith("event loop"):
            main[categorise(frames[1:])] += count
            leaf = frames[-1]
            leaves[leaf.rsplit(":", 1)[0] + ")" if ":" in leaf else leaf] += count
    main_total = sum(main.values()) or 1
    return {
        "seconds": seconds,
        "thread_groups_busy_pct_of_a_core": {k: v / seconds for k, v in groups.most_common()},
        "main_thread_pct": {k: 100 * v / main_total for k, v in main.most_common()},
        "main_thread_top_frames_pct": {k: 100 * v / main_total for k, v in leaves.most_common(12)},
    }


def run(runs: int, size: int = 2, legs: int = 150, **_: Any) -> dict[str, Any]:
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"profile-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}-size{size}-legs{legs}.txt"
    step = media.one_step(size, legs, profile=str(raw))
    return {"size": size, "legs": legs, "step": step, "raw": str(raw.relative_to(ROOT))} | summarise(
        raw, media.MEASURE
    )


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    title = (
        f"Profile of the server: {result['legs']} legs in conferences of {result['size']}, "
        f"server CPU {100 * result['step']['server_cpu']:.0f}% of a core"
    )
    groups = result["thread_groups_busy_pct_of_a_core"].items()
    return [
        (title + ": threads", ["threads", "sampled as running, % of one core"], [[k, f"{v:.0f}"] for k, v in groups]),
        ("The event loop's time by category", ["where", "% of the loop's samples"],
         [[k, f"{v:.1f}"] for k, v in result["main_thread_pct"].items()]),
        ("The event loop's innermost frames", ["frame", "%"],
         [[k, f"{v:.1f}"] for k, v in result["main_thread_top_frames_pct"].items()]),
    ]


if __name__ == "__main__":
    from bench.common import table

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2)
    parser.add_argument("--legs", type=int, default=150)
    args = parser.parse_args()
    result = run(1, args.size, args.legs)
    for t, h, rows in tables(result):
        print(table(t, h, rows))
