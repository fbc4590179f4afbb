"""(1) Capacity of the built-in engine: N legs in conferences of 2, 3 and 10, N rising until quality breaks.

The server (bench/server.py, the real engine) is pinned to core 0; the legs are aiortc
clients (bench/clients.py) in CLIENT_PROCESSES processes pinned to core 1. Each step sets
up N legs through the websocket protocol, lets them run WARMUP seconds, then measures for
MEASURE seconds:

- CPU per leg: the server process's CPU time over the window / wall time / N (share of a core);
- late ticks: the share of the engine's 20 ms ticks that ran late (MediaEngine.ticks / late_ticks,
  read in the server process through bench/server.py's /bench/stats);
- received audio: every leg counts the packets it gets (rate against the 50/s it should get),
  the ones lost (sequence gaps) and RFC 3550 jitter; the checker legs (the chair of up to
  CHECKERS conferences) decode and look for each other leg's tone in every 20 ms frame.

Quality holds when: packets received >= 97% of 50/s, lost <= 1%, 95th percentile jitter <= 30 ms,
tones present in >= 97% of (frame, tone) pairs, and the client core was not saturated (else
the step says "client-bound" and proves nothing about the server). Other processes on the
two cores (busy time from /proc/stat that is not the server's, or not the clients') are
reported; a step that breaks while they took over 10% of either core is "contended" and is
tried again (twice at most).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import media_workers

from bench.common import CLIENT_CORE, SERVER_CORE, cell, core_busy_seconds, cores_of, percentile, server, summary

CLIENT_PROCESSES = 3
CHECKERS = 4
WARMUP = 4.0
MEASURE = 10.0
SIZES = (2, 3, 10)
RETRIES_WHEN_CONTENDED = 2
STEPS = (10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 120)


@dataclass(frozen=True)
class Placement:
    """Where the server and the client processes run, and how many media workers the server has."""

    server: str  # a taskset list of cores
    clients: str
    workers: int
    label: str


# The per-core figure: the server on core 0 with one worker, the clients on core 1.
ONE_CORE = Placement(SERVER_CORE, CLIENT_CORE, 1, "one server core")
# The whole node: TALKBOX_MEDIA_WORKERS=2 (Janus's threads likewise free) on both cores, which the clients share.
NODE = Placement("0,1", "0,1", 2, "the whole two-core node, clients sharing it")


def placement_for(cores: int) -> Placement:
    return NODE if cores == 2 else ONE_CORE


def amplitude_for(size: int) -> float:
    return min(0.4, 0.7 / (size - 1))


def server_stats(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/bench/stats", timeout=10) as answer:
        return json.loads(answer.read())


@contextlib.contextmanager
def target_server(target: str, placement: Placement) -> Iterator[Any]:
    """Talkbox's server (its stats from /bench/stats) or Janus, both pinned to the placement's server cores."""
    if target == "janus":
        from bench import janus

        with janus.running(placement.server) as gateway:
            yield gateway
        return
    with server("builtin", core=placement.server, extra=["--media-workers", str(placement.workers)]) as s:
        s.stats = lambda: server_stats(s.url)  # type: ignore[attr-defined]
        s.media_address = "127.0.0.1"  # type: ignore[attr-defined]
        yield s


def one_step(
    size: int, legs: int, *, profile: str | None = None, target: str = "talkbox", placement: Placement = ONE_CORE
) -> dict[str, Any]:
    conferences = legs // size
    groups = [(f"s{size}c{i}", size, i < CHECKERS) for i in range(conferences)]
    per_process: list[list[tuple[str, int, bool]]] = [groups[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)]
    per_process = [g for g in per_process if g]
    context = multiprocessing.get_context("spawn")
    with target_server(target, placement) as s:
        pipes, processes = [], []
        for groups_here in per_process:
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_client_entry,
                args=(theirs, s.url, placement.clients, groups_here, amplitude_for(size), target, s.media_address),
            )
            process.start()
            pipes.append(mine)
            processes.append(process)
        try:
            setup_start = time.monotonic()
            try:
                for pipe in pipes:
                    if not pipe.poll(240):
                        raise TimeoutError("client set-up took over 240 s")
                    kind, count = pipe.recv()
                    assert kind == "ready", kind
            except (EOFError, TimeoutError) as error:
                # An overloaded server can fail to set the legs up at all (a client gave up
                # waiting and exited): that step breaks; the sweep goes on.
                return unset(size, legs, target, placement, time.monotonic() - setup_start, repr(error))
            setup_s = time.monotonic() - setup_start
            time.sleep(WARMUP)
            before = s.stats()
            cores_before = core_busy_seconds()
            for pipe in pipes:
                pipe.send("start")
            spy = None
            if profile:
                # py-spy samples the server from outside (100 Hz, not pausing it; Python frames only):
                # its media worker, where the audio is, when it has one.
                spy_binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                sampled = ([*media_workers(s.pid), s.pid])[0]
                spy = subprocess.Popen(
                    [spy_binary, "record", "-p", str(sampled), "-d", str(int(MEASURE)), "-r", "100",
                     "--nonblocking", "--threads", "--format", "raw", "-o", profile],
                    stdout=subprocess.DEVNULL,
                )
            time.sleep(MEASURE)
            after = s.stats()
            cores_after = core_busy_seconds()
            for pipe in pipes:
                pipe.send("stop")
            results = []
            for pipe in pipes:
                if not pipe.poll(60):
                    raise TimeoutError("client results took over 60 s")
                results.append(pipe.recv()[1])
            for pipe in pipes:
                pipe.send("quit")
            if spy is not None:
                spy.wait(30)
        finally:
            for process in processes:
                process.join(20)
                if process.is_alive():
                    process.terminate()
    shared_core = len(cores_of(placement.clients)) == 1
    step = judge(size, legs, setup_s, before, after, results, shared_core)
    step |= {"target": target, "placement": placement.label}
    wall = after["wall"] - before["wall"]

    def busy(cores: str) -> float:
        return sum(cores_after[c] - cores_before[c] for c in cores_of(cores)) / wall

    # What else ran on each core meanwhile (other engineers' tests): busy time not ours.
    if placement.server == placement.clients:
        others = max(0.0, busy(placement.server) - step["server_cpu"] - step["client_cpu"])
        step["other_on_server_core"] = step["other_on_client_core"] = others
    else:
        step["other_on_server_core"] = max(0.0, busy(placement.server) - step["server_cpu"])
        step["other_on_client_core"] = max(0.0, busy(placement.clients) - step["client_cpu"])
    step["contended"] = step["other_on_server_core"] > 0.10 or step["other_on_client_core"] > 0.10
    return step


def unset(size: int, legs: int, target: str, placement: Placement, setup_s: float, error: str) -> dict[str, Any]:
    """A step whose legs never all came up: it breaks on set-up, with nothing measured."""
    nan = float("nan")
    return {
        "size": size,
        "legs": legs,
        "setup_s": setup_s,
        "setup_error": error,
        "target": target,
        "placement": placement.label,
        "server_cpu": nan,
        "cpu_per_leg_pct": nan,
        "late_ticks_pct": None,
        "received_pct": nan,
        "lost_pct": nan,
        "jitter_p95_ms": nan,
        "tones_present_pct": None,
        "client_cpu": nan,
        "other_on_server_core": 0.0,
        "other_on_client_core": 0.0,
        "client_bound": False,
        "contended": False,
        "holds": False,
        "problems": ["setup"],
    }


def _client_entry(*args: Any) -> None:
    from bench.clients import client_main

    client_main(*args)


def judge(
    size: int, legs: int, setup_s: float, before: dict, after: dict, results: list[dict], shared_core: bool = True
) -> dict[str, Any]:
    wall = after["wall"] - before["wall"]
    ticks = after["ticks"] - before["ticks"]
    late = after["late_ticks"] - before["late_ticks"]
    counted = [leg for r in results for leg in r["legs"]]
    checks = [c for r in results for c in r["checks"]]
    client_wall = max(r["wall"] for r in results)
    packets = sum(leg["packets"] for leg in counted) + sum(c["received"] for c in checks)
    expected_rate = 50 * client_wall * legs
    lost = sum(leg["lost"] for leg in counted) + sum(c["lost"] for c in checks)
    jitters = [leg["jitter_ms"] for leg in counted] + [c["jitter_ms"] for c in checks]
    present = sum(c["present"] for c in checks)
    total = sum(c["total"] for c in checks)
    client_cpu = sum(r["cpu"] for r in results) / client_wall
    busiest_client = max(r["cpu"] / r["wall"] for r in results)
    step = {
        "size": size,
        "legs": legs,
        "setup_s": setup_s,
        "server_cpu": (after["cpu"] - before["cpu"]) / wall,
        "cpu_per_leg_pct": 100 * (after["cpu"] - before["cpu"]) / wall / legs,
        "late_ticks_pct": 100 * late / ticks if ticks else None,  # None for Janus: it has no such counter
        "received_pct": 100 * packets / expected_rate,
        "lost_pct": 100 * lost / max(1, packets + lost),
        "jitter_p95_ms": percentile(jitters, 0.95),
        "gaps_over_40ms": sum(leg["gaps_over_40ms"] for leg in counted),
        "tones_present_pct": 100 * present / total if total else None,
        "client_cpu": client_cpu,
    }
    problems = quality_problems(
        step["received_pct"], step["lost_pct"], step["jitter_p95_ms"], step["tones_present_pct"]
    )
    # Clients that share one core saturate it together; clients spread over two, one at a time.
    step["client_bound"] = client_cpu > 0.9 if shared_core else busiest_client > 0.9
    step["holds"] = not problems
    step["problems"] = problems
    return step


def quality_problems(received_pct: float, lost_pct: float, jitter_p95_ms: float, tones_pct: float | None) -> list[str]:
    """The quality bar, what of it a stream broke: >= 97% of 50 packets/s, <= 1% lost, p95 jitter <= 30 ms,
    its tones in >= 97% of (frame, tone) pairs."""
    problems = []
    if not received_pct >= 97:
        problems.append("rate")
    if not lost_pct <= 1:
        problems.append("loss")
    if not jitter_p95_ms <= 30:
        problems.append("jitter")
    if tones_pct is None or tones_pct < 97:
        problems.append("tone")
    return problems


def run(
    runs: int,
    sizes: tuple[int, ...] = SIZES,
    steps: tuple[int, ...] = STEPS,
    target: str = "talkbox",
    cores: int = 1,
    **_: Any,
) -> dict[str, Any]:
    """For each size: rise through `steps` until a step fails (once), then repeat the first failing
    N and the largest holding N `runs` times in all, for the median and spread. The headline is the
    largest N that held in most of its runs."""
    placement = placement_for(cores)
    out: dict[str, Any] = {
        "setup": __doc__.split("\n\n")[1].replace("\n", " "),
        "target": target,
        "placement": placement.label,
        "sizes": {},
    }
    for size in sizes:
        sweep = []
        for wanted in steps:
            legs = wanted // size * size
            step = one_step(size, legs, target=target, placement=placement)
            for _ in range(RETRIES_WHEN_CONTENDED):
                if step["holds"] or not step["contended"]:
                    break
                print(f"  {target} size={size} legs={legs}: {short(step)}; others were on its core: again", flush=True)
                step = one_step(size, legs, target=target, placement=placement)
            sweep.append(step)
            print(f"  {target} size={size} legs={legs}: {short(step)}", flush=True)
            if not step["holds"] or step["client_bound"]:
                break
        # Repeat the first failing N and the largest holding one `runs` times in all; if the
        # largest holding N does not hold in most of its runs, step down to the next one.
        repeats: dict[str, Any] = {}
        holding = sorted({s["legs"] for s in sweep if s["holds"] and not s["client_bound"]}, reverse=True)
        failing = [s["legs"] for s in sweep if not s["holds"] or s["client_bound"]][-1:]
        best = None
        for legs in failing + holding:
            samples = [s for s in sweep if s["legs"] == legs]
            while len(samples) < runs:
                samples.append(one_step(size, legs, target=target, placement=placement))
                print(f"  {target} size={size} legs={legs} (repeat): {short(samples[-1])}", flush=True)
            repeats[str(legs)] = {
                key: summary([s[key] for s in samples if s.get(key) is not None])
                for key in ("cpu_per_leg_pct", "late_ticks_pct", "received_pct", "lost_pct", "jitter_p95_ms",
                            "tones_present_pct", "client_cpu", "server_cpu", "other_on_server_core",
                            "other_on_client_core")
            } | {"holds": [s["holds"] for s in samples], "client_bound": [s["client_bound"] for s in samples]}
            if legs in holding and 2 * sum(s["holds"] for s in samples) > len(samples):
                best = legs
                break
        out["sizes"][str(size)] = {"sweep": sweep, "largest_holding": best, "repeats": repeats}
    return out


def short(step: dict[str, Any]) -> str:
    return (
        f"server {100 * step['server_cpu']:.0f}% ({step['cpu_per_leg_pct']:.2f}%/leg), "
        f"late {step['late_ticks_pct'] or 0:.1f}%, rx {step['received_pct']:.1f}%, lost {step['lost_pct']:.2f}%, "
        f"jit95 {step['jitter_p95_ms']:.1f}ms, tones {step['tones_present_pct'] or 0:.1f}%, "
        f"clients {100 * step['client_cpu']:.0f}%, others on server/client core "
        f"{100 * step['other_on_server_core']:.0f}/{100 * step.get('other_on_client_core', 0):.0f}%, "
        f"setup {step['setup_s']:.0f}s -> "
        f"{'holds' if step['holds'] else 'breaks ' + ','.join(step['problems'])}"
        f"{' (client-bound)' if step['client_bound'] else ''}{' (contended)' if step['contended'] else ''}"
    )


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    sweep_rows = []
    for size, data in result["sizes"].items():
        for step in data["sweep"]:
            sweep_rows.append(
                [
                    size,
                    step["legs"],
                    f"{100 * step['server_cpu']:.0f}",
                    f"{step['cpu_per_leg_pct']:.2f}",
                    f"{step['late_ticks_pct']:.1f}" if step["late_ticks_pct"] is not None else "-",
                    f"{step['received_pct']:.1f}",
                    f"{step['lost_pct']:.2f}",
                    f"{step['jitter_p95_ms']:.1f}",
                    f"{step['tones_present_pct']:.1f}" if step["tones_present_pct"] is not None else "-",
                    f"{100 * step['client_cpu']:.0f}",
                    f"{100 * step['other_on_server_core']:.0f} / {100 * step.get('other_on_client_core', 0):.0f}",
                    ("holds" if step["holds"] else "breaks: " + ",".join(step["problems"]))
                    + (" (client-bound)" if step["client_bound"] else "")
                    + (" (contended)" if step["contended"] else ""),
                ]
            )
    repeat_rows = []
    for size, data in result["sizes"].items():
        for legs, s in sorted(data["repeats"].items(), key=lambda kv: int(kv[0])):
            repeat_rows.append(
                [
                    size,
                    legs,
                    cell(s["cpu_per_leg_pct"], 2),
                    cell(s["late_ticks_pct"]),
                    cell(s["received_pct"]),
                    cell(s["lost_pct"], 2),
                    cell(s["jitter_p95_ms"]),
                    cell(s["tones_present_pct"]),
                    " ".join("holds" if h else "breaks" for h in s["holds"]),
                ]
            )
    headline = [[size, data["largest_holding"] or "< first step"] for size, data in result["sizes"].items()]
    return [
        ("Media capacity: the sweep (one run per step)",
         ["size", "legs", "server CPU %", "CPU/leg %", "late ticks %", "received %", "lost %", "jitter p95 ms",
          "tones %", "clients CPU %", "others on server / client core %", "quality"], sweep_rows),
        ("Media capacity: repeated steps, median (min–max)",
         ["size", "legs", "CPU/leg %", "late ticks %", "received %", "lost %", "jitter p95 ms", "tones %", "runs"],
         repeat_rows),
        (f"Media capacity: largest N holding quality ({result.get('placement', ONE_CORE.label)})",
         ["conference size", "legs"], headline),
    ]
