"""A Talkbox server for the benches: the real app (create_app), plus what a bench needs.

`python -m bench.server --port P --mode builtin|null|twilio [--redis-url URL --node-id NAME]`

- builtin: the real built-in engine.
- null: the built-in provider with its media left out (no RTCPeerConnection): an offer is a
  placeholder SDP and an answer counts as connected at once. Everything else (gateway,
  router, rules, store) is the real code: the signalling bench measures that.
- twilio: Twilio mode with the tests' settings (signed webhooks); REST calls go to a closed port.

`--sip-port P` (builtin) turns SIP on, on UDP 127.0.0.1:P, open to loopback callers, its flood limits raised.

It adds one route of its own, GET /bench/stats: the mixers' tick counters (read from the
MediaEngine, talkbox.provider.media, in this process; src/ has no debug hook and is not changed) and the
process's CPU time. Prints `ready` on stdout once it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import uvicorn

from talkbox.app import main as app_main
from talkbox.app.cli import server_config
from talkbox.app.settings import Settings
from talkbox.events.models import LegOffered
from talkbox.providers.builtin.provider import BuiltinProvider, MediaLeg
from talkbox.providers.sip.settings import SipSettings

NO_MEDIA_SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


class NoMediaProvider(BuiltinProvider):
    """The built-in provider's signalling with its media left out."""

    async def _offer(self, leg: MediaLeg, auto_answer: bool) -> bool:
        leg.answered = False
        command = leg.command
        leg.offer = LegOffered(
            user=command.destination,
            conference_id=command.conference_id,
            leg_id=command.leg_id,
            caller=command.caller,
            sdp=NO_MEDIA_SDP,
            auto_answer=auto_answer,
        )
        await self.publish(leg.offer)
        return True

    async def _answer(self, leg: MediaLeg, sdp: str, offering: int) -> None:
        leg.answered = True
        self._disarm(leg)
        if not leg.connected:
            leg.connected = True
            await self._report(leg.command, "in-progress")


def _children_cpu() -> float:
    """CPU seconds of the media workers (they are this process's children), from /proc."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("builtin", "null", "twilio"), default="builtin")
    # One worker by default: the capacity benches pin the server to one core and report per core.
    parser.add_argument("--media-workers", type=int, default=1)
    # The API bench: an API key is made and written here.
    parser.add_argument("--api-key-file")
    parser.add_argument("--database", default=":memory:")
    parser.add_argument("--sip-port", type=int, help="SIP on udp:127.0.0.1:PORT, callers from 127.0.0.0/8 let in")
    # The two-node bench (bench/nodes.py): this node's Redis and name.
    parser.add_argument("--redis-url")
    parser.add_argument("--node-id", default="bench")
    args = parser.parse_args()

    settings = Settings(
        port=args.port,
        database=args.database,
        ring_timeout=600,
        connect_timeout=120,
        log_level="warning",
        max_legs=10,
        media_workers=args.media_workers,
        # The benches measure capacity, not the abuse limits: one loopback address opens
        # thousands of sockets, and a caller places calls back to back.
        max_sockets_per_address=100_000,
        max_calls_per_minute=10_000,
        max_messages_per_second=100_000,
        max_user_messages_per_second=100_000,
        api_requests_per_second=1_000_000,
        redis_url=args.redis_url,
        node_id=args.node_id,
    )
    twilio = None
    api_url = None
    if args.mode == "null":
        app_main.BuiltinProvider = NoMediaProvider  # type: ignore[misc]
    elif args.mode == "twilio":
        from tests.twilio.twilio_requests import settings as twilio_settings

        twilio = twilio_settings()
        api_url = "http://127.0.0.1:9"
    sip = None
    if args.sip_port is not None:
        # One loopback sipp places every call: the per-source flood limit would be its ceiling.
        sip = SipSettings(
            listen=[f"udp:127.0.0.1:{args.sip_port}"], allow=["127.0.0.0/8"], max_messages_per_second=100_000
        )
    app = app_main.create_app(settings, twilio, sip, twilio_api_url=api_url)
    talkbox = app.state.talkbox
    if args.api_key_file:
        with open(args.api_key_file, "w") as key_file:
            key_file.write(talkbox.api_keys.create("bench"))

    @app.get("/bench/stats")
    async def stats() -> dict[str, object]:
        times = os.times()
        media = getattr(talkbox.provider, "media", None)
        counters = await media.stats() if media is not None else {}
        own, workers = times.user + times.system, _children_cpu()
        return {
            "cpu": own + workers,
            "server_cpu": own,
            "workers_cpu": workers,
            "wall": time.monotonic(),
            "ticks": counters.get("ticks", 0),
            "late_ticks": counters.get("late_ticks", 0),
            "mixers": counters.get("conferences", 0),
            "legs": len(getattr(talkbox.provider, "legs", {})),
        }

    # As `talkbox serve` runs it (its websocket protocol and limits), but quiet.
    server = uvicorn.Server(server_config(app, settings.model_copy(update={"log_level": "warning"})))

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await task

    asyncio.run(serve())
    sys.exit(0)


if __name__ == "__main__":
    main()
