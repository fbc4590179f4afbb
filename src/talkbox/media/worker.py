"""A media worker process: one MediaEngine on its own event loop, driven over stdin and stdout.

`python -m talkbox.media.worker SETTINGS_JSON`. One JSON object
a line each way: requests carry an `id` and get a reply with the same `id`;
what the engine reports (a leg's media up or lost, who is speaking) comes
unasked as an `event`. JSON over a pipe, not pickles: a worker that is killed
or corrupt can send nothing the main process would execute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

import uvloop

from talkbox.events.log_context import JsonFormatter
from talkbox.media.engine import MediaEngine, MediaSettings

log = logging.getLogger(__name__)


async def serve(settings: MediaSettings) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def write(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    engine = MediaEngine(
        on_state=lambda leg_id, state: write({"event": "state", "leg_id": leg_id, "state": state}),
        on_speaking=lambda conference_id, legs: write(
            {"event": "speaking", "conference_id": conference_id, "legs": sorted(legs)}
        ),
        on_dtmf=lambda conference_id, leg_id, digit: write(
            {"event": "dtmf", "conference_id": conference_id, "leg_id": leg_id, "digit": digit}
        ),
        settings=settings,
    )
    # Requests run side by side, one leg's in the order they came: a leg whose
    # set-up waits (digits being played, say) holds up no other leg's.
    latest: dict[str, asyncio.Task[None]] = {}
    running: set[asyncio.Task[None]] = set()

    async def answer(request: dict[str, Any], after: asyncio.Task[None] | None) -> None:
        if after is not None:
            await asyncio.wait([after])
        write(await _reply(engine, request))

    try:
        while line := await reader.readline():
            request = json.loads(line)
            leg_id = request.get("leg_id")
            task = asyncio.create_task(answer(request, latest.get(leg_id) if leg_id else None))
            running.add(task)
            task.add_done_callback(running.discard)
            if leg_id:
                latest[leg_id] = task
                task.add_done_callback(lambda done, leg=leg_id: _forget(latest, leg, done))
        if running:
            await asyncio.wait(running)
    finally:
        await engine.close()


def _forget(latest: dict[str, asyncio.Task[None]], leg_id: str, done: asyncio.Task[None]) -> None:
    """A finished request leaves the table, unless a later one of its leg has taken its place."""
    if latest.get(leg_id) is done:
        del latest[leg_id]


async def _reply(engine: MediaEngine, request: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"id": request["id"], "ok": True, **(await _run(engine, request))}
    except ValueError as error:  # an SDP or digits it cannot use: the message says why, never the SDP
        return {"id": request["id"], "ok": False, "error": "ValueError", "message": str(error)}
    except Exception as error:  # the caller decides; the worker goes on
        return {"id": request["id"], "ok": False, "error": type(error).__name__}


async def _run(engine: MediaEngine, request: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    if op == "offer":
        return {"sdp": await engine.offer(request["conference_id"], request["leg_id"])}
    if op == "rtp_offer":
        return {"sdp": await engine.rtp_offer(request["conference_id"], request["leg_id"], request.get("after"))}
    if op == "rtp_answer":
        return {"sdp": await engine.rtp_answer(request["conference_id"], request["leg_id"], request["sdp"])}
    if op == "rtp_update":
        return {"sdp": await engine.rtp_update(request["leg_id"], request["sdp"])}
    if op == "accept":
        await engine.accept(request["leg_id"], request["sdp"])
    elif op == "rtp_accept":
        await engine.rtp_accept(request["leg_id"], request["sdp"])
    elif op == "send_dtmf":
        await engine.send_dtmf(request["leg_id"], request["digits"])
    elif op == "rtp_restore":
        await engine.rtp_restore(request["conference_id"], request["leg_id"], request["ours"], request["sdp"])
    elif op == "mute":
        engine.mute(request["conference_id"], request["leg_id"], request["muted"])
    elif op == "start_recording":
        await engine.start_recording(request["conference_id"], request["path"], request["tone"])
    elif op == "stop_recording":
        await engine.stop_recording(request["conference_id"])
    elif op == "hold":
        engine.hold(request["conference_id"], request["leg_id"], request["held"], request["music"])
    elif op == "move":
        await engine.move(request["leg_id"], request["conference_id"])
    elif op == "play":
        engine.play(request["conference_id"], request["leg_id"], request["sound"])
    elif op == "drop":
        await engine.drop(request["leg_id"])
    elif op == "remove":
        await engine.remove(request["conference_id"], request["leg_id"])
    elif op == "stats":
        return {"stats": await engine.stats()}
    elif op == "leg_stats":
        return {"legs": await engine.leg_stats(request["conference_id"])}
    else:
        raise ValueError(op)
    return {}


def main() -> None:
    handler = logging.StreamHandler(sys.stderr)
    # Inherited from the server's environment, so a worker's lines read like the server's.
    if os.environ.get("TALKBOX_LOG_FORMAT") == "json":
        handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    given = json.loads(sys.argv[1])
    ports = given.get("rtp_ports")
    settings = MediaSettings(
        **{**given, "ice_servers": tuple(given.get("ice_servers", ())), "rtp_ports": tuple(ports) if ports else None}
    )
    uvloop.install()  # a third of asyncio's cost per datagram, which is what a media worker does most
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
