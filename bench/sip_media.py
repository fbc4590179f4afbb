"""SIP calls with their audio: sipp's telephones call browser pages through Talkbox's SIP listener, all at once.

One run: Talkbox (bench/server.py, SIP on UDP loopback, one media worker) pinned to core 0. On core 1:
CALLS pages (bench/clients.py's light legs, in CLIENT_PROCESSES processes) that wait to be called and
accept, and Debian's sipp placing CALLS calls at once (`-l CALLS -m CALLS`, RATE new calls a second at
most, bench/sip_media_call.xml), each to its own page by name. Every call is a conference of a telephone
(plain RTP, PCMU) and a page (WebRTC, Opus), mixed by the engine: G.711 decoded, resampled to 48 kHz,
Opus-encoded for the page; the page's Opus decoded, resampled to 8 kHz, G.711-encoded for the telephone.

- The telephones speak: sipp's `rtp_stream` loops tone.ulaw (PHONE_HZ, PCMU, 50 packets a second).
- The pages speak their own tone (PAGE_HZ, pre-encoded Opus) and count what they get (packets, loss,
  RFC 3550 jitter); CHECKERS of them decode it and look for the telephone's tone in every 20 ms frame.
- The telephones' side is read off loopback (bench/loopback_capture.py: sipp never reads its media
  socket): the same counts per call, and the page's tone looked for in every frame of every call.

Measured over MEASURE seconds once every call's media is up and WARMUP has passed: CPU of the server
process and of its media worker per call (share of one core), the engine's late ticks, and both sides
against the media bench's quality bar (bench/media.py `quality_problems`). Set-ups a second are sipp's:
its calls over the span from the first INVITE to the last 200 OK (`-trace_rtt`), with the INVITE-to-200
time each call took (it includes the page's ICE and DTLS: the 200 goes once the page's leg is connected);
"all up" is from sipp's start to every page's media flowing, and the CPU each process spent in that span,
per call, is the set-up's cost. A run that broke while others took over 10% of a core is run again (twice at
most), as the media bench does; the runs left out are kept in the JSON.

`python -m bench --only sip-media [--runs 3] [--steps 50]`; needs root (the capture) and sipp.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tests.sip.sipp import free_udp_port, sipp

from bench.clients import Stream, frequency_for, tones_present
from bench.common import CLIENT_CORE, SERVER_CORE, cell, core_busy_seconds, cpu_seconds, pin_self, server, summary
from bench.loopback_capture import LoopbackCapture
from bench.media import RETRIES_WHEN_CONTENDED, _client_entry, judge, quality_problems, server_stats
from talkbox.media import g711

CALLS = (50,)
RATE = 100  # new calls a second sipp may start: above what the server sets up, so the figure is the server's
CLIENT_PROCESSES = 2
CHECKERS = 4
WARMUP = 4.0
MEASURE = 10.0
AMPLITUDE = 0.4
PAGE_HZ = frequency_for(0)  # what clients.called_page sends
PHONE_HZ = frequency_for(1)  # what the checkers listen for
PHONE_RATE = 8000
SCENARIO = Path(__file__).with_name("sip_media_call.xml")


def write_tone(path: Path) -> None:
    """One second of PHONE_HZ in PCMU, whole cycles, so sipp's loop is seamless."""
    t = np.arange(PHONE_RATE) / PHONE_RATE
    path.write_bytes(g711.encode("PCMU", (AMPLITUDE * 32767 * np.sin(2 * np.pi * PHONE_HZ * t)).astype(np.int16)))


async def expect(pipe: Any, kind: str, timeout: float) -> Any:
    if not await asyncio.to_thread(pipe.poll, timeout):
        raise TimeoutError(f"no {kind!r} from a client process within {timeout:.0f} s")
    got, value = pipe.recv()
    if got != kind:
        raise RuntimeError(f"a client process said {got!r}, not {kind!r}")
    return value


def setup_rate(folder: Path) -> dict[str, float]:
    """From sipp's -trace_rtt file: calls answered over the first INVITE to the last 200, and INVITE-to-200."""
    rows = []
    for path in folder.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            date_ms, response_ms, _ = line.split(";")
            rows.append((float(date_ms), float(response_ms)))
    if not rows:
        return {"answered": 0, "setups_per_s": float("nan"), "invite_to_200_p50_ms": float("nan"),
                "invite_to_200_max_ms": float("nan")}  # fmt: skip
    span = max(d for d, _ in rows) - min(d - r for d, r in rows)
    return {
        "answered": len(rows),
        "setups_per_s": 1000 * len(rows) / span if span > 0 else float("nan"),
        "invite_to_200_p50_ms": statistics.median(r for _, r in rows),
        "invite_to_200_max_ms": max(r for _, r in rows),
    }


def telephones_heard(capture: LoopbackCapture, start: float, stop: float, calls: int) -> dict[str, Any]:
    """What the telephones got in the window, per call (a call is one Talkbox source port): the bar's figures.

    The rate is against every call's 50 packets a second, so a call that got nothing counts as lost rate."""
    streams: dict[int, Stream] = {}
    frames: list[np.ndarray] = []
    for datagram in capture.datagrams:
        data = datagram.payload
        if not start <= datagram.arrived <= stop or len(data) <= 12 or data[0] >> 6 != 2 or data[1] & 0x7F != 0:
            continue  # outside the window, or RTCP
        stream = streams.setdefault(datagram.source_port, Stream(rate=PHONE_RATE))
        stream.packet(int.from_bytes(data[2:4]), int.from_bytes(data[4:8]), datagram.arrived)
        frames.append(g711.decode("PCMU", data[12 + 4 * (data[0] & 0x0F) :]))
    reports = [s.report() for s in streams.values()]
    packets = sum(r["packets"] for r in reports)
    lost = sum(r["lost"] for r in reports)
    present, total = tones_present(frames, [PAGE_HZ], AMPLITUDE, frame_size=PHONE_RATE // 50)
    own, _ = tones_present(frames, [PHONE_HZ], AMPLITUDE, frame_size=PHONE_RATE // 50)
    return {
        "calls_heard": len(streams),
        "received_pct": 100 * packets / (50 * (stop - start) * calls),
        "lost_pct": 100 * lost / max(1, packets + lost),
        "jitter_p95_ms": float(np.percentile([r["jitter_ms"] for r in reports], 95)) if reports else float("nan"),
        "tones_present_pct": 100 * present / total if total else None,
        "own_tone_pct": 100 * own / total if total else None,  # the telephone's own voice back: mix-minus broken
    }


async def one_run(calls: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="sip-media-"))  # kept: sipp's logs, when a run fails
    write_tone(folder / "tone.ulaw")
    groups = [(f"sip{i}", 2, i < CHECKERS) for i in range(calls)]
    (folder / "users.csv").write_text("SEQUENTIAL\n" + "".join(f"{tag}p0\n" for tag, _, _ in groups))
    load = Path("/proc/loadavg").read_text().split()[:3]
    sip_port = free_udp_port()
    context = multiprocessing.get_context("spawn")
    with server("builtin", core=SERVER_CORE, extra=["--media-workers", "1", "--sip-port", str(sip_port)]) as s:
        pipes, processes = [], []
        for part in (groups[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_client_entry, args=(theirs, s.url, CLIENT_CORE, part, AMPLITUDE, "sip", "127.0.0.1")
            )
            process.start()
            pipes.append(mine)
            processes.append(process)
        try:
            for pipe in pipes:
                await expect(pipe, "connected", 120)
            unset = server_stats(s.url)
            args = ("-sf", str(SCENARIO), "-inf", str(folder / "users.csv"), "-l", str(calls), "-m", str(calls))
            pace = ("-r", str(RATE), "-rp", "1000", "-timeout", "300s", "-trace_rtt", "-rtt_freq", "1")
            async with sipp(f"127.0.0.1:{sip_port}", *args, *pace, workdir=folder, count=False) as phones:
                capture = LoopbackCapture(phones.media_port)
                capture.start()
                began = time.monotonic()
                try:
                    for pipe in pipes:
                        await expect(pipe, "ready", 180)
                    all_up_s = time.monotonic() - began
                    up = server_stats(s.url)
                    await asyncio.sleep(WARMUP)
                    before, cores_before = server_stats(s.url), core_busy_seconds()
                    sipp_before, own_before = cpu_seconds(phones.process.pid), sum(os.times()[:2])
                    start = time.monotonic()
                    for pipe in pipes:
                        pipe.send("start")
                    await asyncio.sleep(MEASURE)
                    stop = time.monotonic()
                    after, cores_after = server_stats(s.url), core_busy_seconds()
                    sipp_cpu, own_cpu = cpu_seconds(phones.process.pid) - sipp_before, sum(os.times()[:2]) - own_before
                    for pipe in pipes:
                        pipe.send("stop")
                    results = [await expect(pipe, "result", 60) for pipe in pipes]
                    for pipe in pipes:
                        pipe.send("quit")  # the pages hang up: Talkbox's BYEs end sipp's calls
                    code = await phones.finished(timeout=60)
                finally:
                    capture.stop()
        finally:
            for process in processes:
                process.join(20)
                if process.is_alive():
                    process.terminate()
    wall = after["wall"] - before["wall"]
    pages = judge(2, calls, all_up_s, before, after, results)
    phone_side = telephones_heard(capture, start, stop, calls)
    server_core = sum(cores_after[c] - cores_before[c] for c in (int(SERVER_CORE),)) / wall
    client_core = sum(cores_after[c] - cores_before[c] for c in (int(CLIENT_CORE),)) / wall
    ours_on_client = pages["client_cpu"] + (sipp_cpu + own_cpu) / wall
    return {
        "calls": calls,
        "load_at_start": " ".join(load),
        "sipp_exit": code,
        "sipp_log": str(folder) if code else None,
        "all_up_s": all_up_s,
        **setup_rate(folder),
        "setup_server_ms_per_call": 1000 * (up["server_cpu"] - unset["server_cpu"]) / calls,
        "setup_worker_ms_per_call": 1000 * (up["workers_cpu"] - unset["workers_cpu"]) / calls,
        "server_process_pct_per_call": 100 * (after["server_cpu"] - before["server_cpu"]) / wall / calls,
        "media_worker_pct_per_call": 100 * (after["workers_cpu"] - before["workers_cpu"]) / wall / calls,
        "cpu_per_call_pct": pages["cpu_per_leg_pct"],
        "late_ticks_pct": pages["late_ticks_pct"],
        "sipp_cpu_pct": 100 * sipp_cpu / wall,
        "pages": {key: pages[key] for key in ("received_pct", "lost_pct", "jitter_p95_ms", "tones_present_pct")}
        | {"problems": pages["problems"]},
        "telephones": phone_side
        | {"problems": quality_problems(phone_side["received_pct"], phone_side["lost_pct"],
                                        phone_side["jitter_p95_ms"], phone_side["tones_present_pct"])},
        "other_on_server_core_pct": 100 * max(0.0, server_core - pages["server_cpu"]),
        "other_on_client_core_pct": 100 * max(0.0, client_core - ours_on_client),
    }  # fmt: skip


FIGURES = (
    "setup_server_ms_per_call", "setup_worker_ms_per_call",
    "server_process_pct_per_call", "media_worker_pct_per_call", "cpu_per_call_pct", "late_ticks_pct",
    "setups_per_s", "invite_to_200_p50_ms", "invite_to_200_max_ms", "all_up_s", "sipp_cpu_pct",
    "other_on_server_core_pct", "other_on_client_core_pct",
)  # fmt: skip
SIDES = ("received_pct", "lost_pct", "jitter_p95_ms", "tones_present_pct")


def run(runs: int, steps: tuple[int, ...] = CALLS, **_options: Any) -> dict[str, Any]:
    pin_self(CLIENT_CORE)  # sipp and the capture with the pages, off the server's core
    result: dict[str, Any] = {"setup": __doc__.split("\n\n")[1].replace("\n", " "), "calls": {}}
    for calls in steps:
        samples, contended = [], []
        for n in range(runs):
            sample = asyncio.run(one_run(calls))
            for _ in range(RETRIES_WHEN_CONTENDED):
                if not (broken(sample) and busy_elsewhere(sample)):
                    break
                print(f"  sip-media calls={calls} run {n + 1}: {short(sample)}; others were on its cores: again")
                contended.append(sample)
                sample = asyncio.run(one_run(calls))
            samples.append(sample)
            print(f"  sip-media calls={calls} run {n + 1}: {short(sample)}", flush=True)
        result["calls"][str(calls)] = {
            "runs": samples,
            "contended_runs_left_out": contended,
            **{key: summary([s[key] for s in samples if s[key] is not None]) for key in FIGURES},
            **{
                f"{side}.{key}": summary([s[side][key] for s in samples if s[side][key] is not None])
                for side in ("pages", "telephones")
                for key in SIDES
            },
        }
    return result


def broken(sample: dict[str, Any]) -> bool:
    return bool(sample["pages"]["problems"] or sample["telephones"]["problems"])


def busy_elsewhere(sample: dict[str, Any]) -> bool:
    """Others (the machine is shared) took over 10% of a core during the run: as bench/media.py judges it."""
    return sample["other_on_server_core_pct"] > 10 or sample["other_on_client_core_pct"] > 10


def verdict(side: dict[str, Any]) -> str:
    return "holds" if not side["problems"] else "breaks: " + ",".join(side["problems"])


def short(s: dict[str, Any]) -> str:
    return (
        f"load {s['load_at_start']}, {s['answered']} answered at {s['setups_per_s']:.0f}/s, all up in "
        f"{s['all_up_s']:.1f} s, server {s['server_process_pct_per_call']:.2f} + worker "
        f"{s['media_worker_pct_per_call']:.2f} %/call, late {s['late_ticks_pct'] or 0:.1f}%, pages "
        f"{verdict(s['pages'])}, telephones {verdict(s['telephones'])} ({s['telephones']['calls_heard']} heard), "
        f"others on server/client core {s['other_on_server_core_pct']:.0f}/{s['other_on_client_core_pct']:.0f}%, "
        f"sipp exit {s['sipp_exit']}"
    )


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    cost, quality, runs = [], [], []
    for calls, r in result["calls"].items():
        cost.append([
            calls, cell(r["setup_server_ms_per_call"]), cell(r["setup_worker_ms_per_call"]),
            cell(r["server_process_pct_per_call"], 2), cell(r["media_worker_pct_per_call"], 2),
            cell(r["cpu_per_call_pct"], 2), cell(r["late_ticks_pct"]), cell(r["setups_per_s"], 0),
            cell(r["invite_to_200_p50_ms"], 0), cell(r["invite_to_200_max_ms"], 0), cell(r["all_up_s"]),
        ])  # fmt: skip
        for side, hears in (("pages", f"the telephone's {PHONE_HZ} Hz"), ("telephones", f"the page's {PAGE_HZ} Hz")):
            quality.append([
                calls, f"{side} (hear {hears})", *(cell(r[f"{side}.{key}"], 2 if key == "lost_pct" else 1)
                                                  for key in SIDES),
                " ".join(verdict(s[side]).split(":")[0] for s in r["runs"]),
            ])  # fmt: skip
        for n, s in enumerate(r["runs"], start=1):
            runs.append([
                calls, n, s["load_at_start"],
                f"{s['other_on_server_core_pct']:.0f} / {s['other_on_client_core_pct']:.0f}",
                f"{s['cpu_per_call_pct']:.2f}", f"{s['setups_per_s']:.0f}", f"{s['sipp_cpu_pct']:.0f}",
                f"{s['telephones']['calls_heard']}", verdict(s["pages"]), verdict(s["telephones"]),
                f"{s['telephones']['own_tone_pct'] or 0:.1f}", str(s["sipp_exit"]),
            ])  # fmt: skip
    return [
        ("SIP calls with audio: CPU per call (set-up: ms of CPU; in the call: % of one core), median (min–max)",
         ["calls", "set-up: server ms CPU", "set-up: worker ms CPU", "server process", "media worker", "both",
          "late ticks %", "set-ups/s", "INVITE→200 p50 ms",
          "INVITE→200 max ms", "all media up s"], cost),
        ("SIP calls with audio: the quality bar, each side, median (min–max)",
         ["calls", "side", "received %", "lost %", "jitter p95 ms", "tones %", "runs"], quality),
        ("SIP calls with audio: each run",
         ["calls", "run", "load at start", "others on server / client core %", "CPU/call %", "set-ups/s",
          "sipp CPU %", "telephones heard", "pages", "telephones", "own tone back %", "sipp exit"], runs),
    ]  # fmt: skip
