"""SIP signalling: how many calls a second Talkbox's SIP side sets up and tears down, and the CPU each costs.

sipp (Debian's sip-tester) calls in (bench/sip_call.xml): an INVITE to a client of
its own per call (a user is busy on one call at a time), ACK, a held call, BYE.
Talkbox's side is the real user agent, SIP provider, rules, handler, bus and
router (tests/sip/talkbox_sip.py) with pages that accept at once and the media
plane's SDP only, so the figure is the signalling's alone; what the RTP of a call
costs is `python -m bench --only telephones`.

`uv run python -m bench.sip_signalling [--calls 500] [--concurrent 50] [--rate 100] [--hold-ms 1000]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tests.sip.sipp import sipp
from tests.sip.talkbox_sip import sip_side

from talkbox.providers.sip.transactions import Timers


async def run(calls: int, concurrent: int, rate: int, hold_ms: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="sip-bench-"))  # kept: sipp's error log, when it says a call failed
    users = folder / "users.csv"
    users.write_text("SEQUENTIAL\n" + "".join(f"user{n}\n" for n in range(calls)))
    scenario = str(Path(__file__).with_name("sip_call.xml"))
    async with sip_side(Timers(), max_messages_per_second=100_000, max_calls=10_000) as side:
        host, port = side.udp
        args = (f"{host}:{port}", "-sf", scenario, "-inf", str(users), "-d", str(hold_ms))
        load = ("-l", str(concurrent), "-r", str(rate), "-m", str(calls))
        cpu, wall = time.process_time(), time.monotonic()
        async with sipp(*args, *load, workdir=folder, count=False) as phone:
            code = await phone.finished(timeout=calls / max(rate, 1) + hold_ms / 1000 + 60)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        await side.bus.drained()
        ended = sum(1 for c in {c.id: c for c in side.conferences()}.values() if c.status == "ended")
    return {
        "sipp exit": code,
        "calls": calls,
        "ended": ended,
        "seconds": wall,
        "cpu s": cpu,
        "calls/s": calls / wall,
        "cpu ms/call": 1000 * cpu / calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sip_signalling", description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--rate", type=int, default=100, help="new calls a second sipp aims for")
    parser.add_argument("--hold-ms", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(run(args.calls, args.concurrent, args.rate, args.hold_ms))
    for key, value in result.items():
        print(f"{key:>12}  {value:.2f}" if isinstance(value, float) else f"{key:>12}  {value}")


if __name__ == "__main__":
    main()
