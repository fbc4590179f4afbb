"""`python -m bench [--only router,signalling,...] [--runs N]`: run benches, print tables, write JSON.

Benches, cheapest first: router, signalling, webhooks, api, latency, browser-latency (Chromium), browser-loss,
media (capacity), telephones (calls of a telephone and a browser), sip-media (sipp's calls through the SIP
listener, each mixed with a page), janus, profile,
soak (5 min of good calls under every attack of issue 10), nodes (two nodes on Redis against one),
chaos (calls through two nodes killed and restarted at random, and Redis once; CHAOS_SECONDS).
With media and janus in the same run, the capacity ratio Talkbox / Janus is printed too.
Results go to bench/results/<UTC time>.json, with the machine, its load and the git commit.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, table

BENCHES = (
    "router", "signalling", "webhooks", "api", "latency", "browser-latency", "browser-loss",
    "media", "telephones", "sip-media", "janus", "profile", "soak", "nodes", "chaos",
)
DEFAULT = ("router", "signalling", "webhooks", "latency", "media")


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit.stdout.strip() + ("+dirty src" if dirty.stdout.strip() else ""),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only", default=os.environ.get("ONLY") or ",".join(DEFAULT),
        help=f"comma-separated subset of {','.join(BENCHES)} (default: all but janus and profile; env ONLY)",
    )
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS") or 3), help="runs per figure (env RUNS)")
    parser.add_argument(
        "--sizes", default=os.environ.get("SIZES") or "2,3,10", help="media: conference sizes (env SIZES)"
    )
    parser.add_argument(
        "--steps", default=os.environ.get("STEPS") or "",
        help="media, janus: numbers of legs to try, rising (env STEPS; default: each bench's own)",
    )
    parser.add_argument(
        "--cores", type=int, default=int(os.environ.get("CORES") or 1),
        help="media, janus: 1 = one server core, clients on the other; 2 = the whole node, 2 media workers (env CORES)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        parser.error(f"unknown bench {sorted(unknown)}; choose from {','.join(BENCHES)}")

    started = datetime.datetime.now(datetime.UTC)
    document: dict[str, Any] = {"started": started.isoformat(timespec="seconds"), "machine": machine(),
                                "runs": args.runs, "results": {}}
    options: dict[str, Any] = {
        "sizes": tuple(int(s) for s in args.sizes.split(",")),
        "cores": args.cores,
    }
    if args.steps:
        options["steps"] = tuple(int(s) for s in args.steps.split(","))
    print(f"# Talkbox benchmarks, {document['started']}, {document['machine']['cpu']}, "
          f"{document['machine']['cores']} cores, load {' '.join(document['machine']['loadavg_at_start'])}\n")
    for name in chosen:
        module = importlib.import_module(f"bench.{name.replace('-', '_')}")
        print(f"## {name} ...", flush=True)
        began = time.monotonic()
        result = module.run(args.runs, **options)
        result["seconds"] = round(time.monotonic() - began, 1)
        result["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
        document["results"][name] = result
        for title, header, rows in module.tables(result):
            print(table(title, header, rows))
        print(f"({name}: {result['seconds']} s, load after {' '.join(result['loadavg_after'])})\n", flush=True)

    results = document["results"]
    if "media" in results and "janus" in results and "sizes" in results["janus"]:
        rows, ratios = [], {}
        for size, ours in results["media"]["sizes"].items():
            theirs = results["janus"]["sizes"].get(size, {}).get("largest_holding")
            mine = ours["largest_holding"]
            ratio = mine / theirs if mine and theirs else None
            ratios[size] = ratio
            rows.append([size, mine or "-", theirs or "-", f"{ratio:.2f}" if ratio else "-"])
        document["capacity_ratio_talkbox_to_janus"] = ratios
        where = results["media"].get("placement", "one server core")
        print(table(f"Capacity: Talkbox / Janus (largest N holding quality, {where})",
                    ["conference size", "Talkbox", "Janus", "ratio"], rows))

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{'-'.join(chosen)}.json"
    path.write_text(json.dumps(document, indent=1, default=str))
    print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
