"""Media in worker processes: the same interface as MediaEngine, carried out by children.

A conference lives on one worker, placed by load (the fewest legs) when its
first leg is offered; signalling stays in the main process. The pool keeps what
it needs to place a conference again (each leg's conference and mute), so a
worker that dies is started again and its legs are reported `restarted`: the
provider offers them again, the pages answer on their own, and the rules hear
nothing of it. A telephone cannot be offered again without a re-INVITE, so the
pool also keeps each telephone leg's port and the telephone's latest SDP, and
puts the leg back on the fresh worker itself, on the same port: the telephone
never notices, and is not reported `restarted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from talkbox.events.log_context import ids
from talkbox.media.engine import (
    DtmfSink,
    Media,
    MediaEngine,
    MediaFactory,
    MediaSettings,
    SpeakingSink,
    StateSink,
    no_dtmf,
)
from talkbox.media.tones import SoundName

log = logging.getLogger(__name__)

REPLY_TIMEOUT = 10.0


class WorkerError(RuntimeError):
    """A worker refused a request, or died before it answered."""


@dataclass
class Worker:
    index: int
    process: asyncio.subprocess.Process
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    legs: set[str] = field(default_factory=set)
    reader: asyncio.Task[None] | None = None


@dataclass
class Telephone:
    """What puts a telephone leg back on a fresh worker: our latest description and the telephone's."""

    ours: str
    remote: str | None = None


@dataclass
class LegPlace:
    conference_id: str
    muted: bool = False
    held: bool = False
    music: bool = False
    sound: SoundName | None = None
    telephone: Telephone | None = None


@dataclass
class WorkerPool:
    size: int
    on_state: StateSink = lambda _leg, _state: None
    on_speaking: SpeakingSink = lambda _conference, _legs: None
    settings: MediaSettings = field(default_factory=MediaSettings)
    on_dtmf: DtmfSink = no_dtmf
    command: Callable[[str], list[str]] = lambda settings: [sys.executable, "-m", "talkbox.media.worker", settings]
    workers: dict[int, Worker] = field(default_factory=dict)
    conferences: dict[str, int] = field(default_factory=dict)  # conference id -> worker index
    recordings: dict[str, str] = field(default_factory=dict)  # conference id -> the file its mix goes to
    legs: dict[str, LegPlace] = field(default_factory=dict)
    restarts: int = 0
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _starting: dict[int, asyncio.Task[Worker]] = field(default_factory=dict)
    _closing: bool = False

    # --- the MediaEngine interface --------------------------------------------------

    async def offer(self, conference_id: str, leg_id: str) -> str:
        return await self._new_endpoint(conference_id, leg_id, op="offer")

    async def accept(self, leg_id: str, sdp: str) -> None:
        await self._ask(await self._worker_of(leg_id), op="accept", leg_id=leg_id, sdp=sdp)

    async def rtp_offer(self, conference_id: str, leg_id: str, after: str | None = None) -> str:
        offer = await self._new_endpoint(conference_id, leg_id, op="rtp_offer", after=after)
        self.legs[leg_id].telephone = Telephone(offer)
        return offer

    async def rtp_answer(self, conference_id: str, leg_id: str, offer: str) -> str:
        answer = await self._new_endpoint(conference_id, leg_id, op="rtp_answer", sdp=offer)
        self.legs[leg_id].telephone = Telephone(answer, offer)
        return answer

    async def rtp_accept(self, leg_id: str, sdp: str) -> None:
        await self._ask(await self._worker_of(leg_id), op="rtp_accept", leg_id=leg_id, sdp=sdp)
        self._remember(leg_id, remote=sdp)

    async def rtp_update(self, leg_id: str, offer: str) -> str:
        answer = str((await self._ask(await self._worker_of(leg_id), op="rtp_update", leg_id=leg_id, sdp=offer))["sdp"])
        self._remember(leg_id, remote=offer, ours=answer)
        return answer

    async def send_dtmf(self, leg_id: str, digits: str) -> None:
        await self._ask(await self._worker_of(leg_id), op="send_dtmf", leg_id=leg_id, digits=digits)

    async def move(self, leg_id: str, conference_id: str) -> None:
        """On the leg's own worker: the conference it moves to is placed there (a new call), or is there already
        (the call it comes back to)."""
        place = self.legs.get(leg_id)
        if place is None or place.conference_id == conference_id:
            return
        index = self.conferences.get(place.conference_id)
        moved_from = place.conference_id
        place.conference_id = conference_id
        place.muted = place.held = False
        place.sound = None
        if index is None:
            return  # no endpoint yet: it is placed with the conference it is on by then
        if self.conferences.setdefault(conference_id, index) != index:
            log.error(
                "leg %s cannot move to a conference on another media worker", leg_id, extra=ids(conference_id, leg_id)
            )
            return
        if not any(other.conference_id == moved_from for other in self.legs.values()):
            self.conferences.pop(moved_from, None)
        worker = await self._started(index)
        await self._ask(worker, op="move", conference_id=conference_id, leg_id=leg_id)

    def mute(self, conference_id: str, leg_id: str, muted: bool) -> None:
        self.legs.setdefault(leg_id, LegPlace(conference_id)).muted = muted
        index = self.conferences.get(conference_id)
        if index is not None and index in self.workers:
            self._tell(self.workers[index], op="mute", conference_id=conference_id, leg_id=leg_id, muted=muted)

    async def start_recording(self, conference_id: str, path: str, tone: str) -> None:
        self.recordings[conference_id] = path
        worker = await self._worker_for(conference_id)
        await self._ask(worker, op="start_recording", conference_id=conference_id, path=path, tone=tone)

    async def stop_recording(self, conference_id: str) -> None:
        self.recordings.pop(conference_id, None)
        worker = self._placed(conference_id)
        if worker is not None:
            with contextlib.suppress(WorkerError):
                await self._ask(worker, op="stop_recording", conference_id=conference_id)

    def hold(self, conference_id: str, leg_id: str, held: bool, music: bool) -> None:
        place = self.legs.setdefault(leg_id, LegPlace(conference_id))
        place.held, place.music = held, music
        index = self.conferences.get(conference_id)
        if index is not None and index in self.workers:
            self._tell(
                self.workers[index], op="hold", conference_id=conference_id, leg_id=leg_id, held=held, music=music
            )

    def play(self, conference_id: str, leg_id: str, sound: SoundName | None) -> None:
        self.legs.setdefault(leg_id, LegPlace(conference_id)).sound = sound
        index = self.conferences.get(conference_id)
        if index is not None and index in self.workers:
            self._tell(self.workers[index], op="play", conference_id=conference_id, leg_id=leg_id, sound=sound)

    async def drop(self, leg_id: str) -> None:
        place = self.legs.get(leg_id)
        if place is not None:
            place.telephone = None
        worker = self._placed(place.conference_id) if place else None
        if worker is not None:
            with contextlib.suppress(WorkerError):
                await self._ask(worker, op="drop", leg_id=leg_id)

    async def remove(self, conference_id: str, leg_id: str) -> None:
        self.legs.pop(leg_id, None)
        worker = self._placed(conference_id)
        if worker is None:
            return
        worker.legs.discard(leg_id)
        with contextlib.suppress(WorkerError):
            await self._ask(worker, op="remove", conference_id=conference_id, leg_id=leg_id)
        if not any(place.conference_id == conference_id for place in self.legs.values()):
            self.conferences.pop(conference_id, None)
            self.recordings.pop(conference_id, None)

    async def close(self) -> None:
        self._closing = True
        for worker in list(self.workers.values()):
            await self._stop(worker)
        self.workers.clear()

    async def stats(self) -> dict[str, int]:
        totals: dict[str, int] = {"workers": len(self.workers), "restarts": self.restarts}
        for worker in list(self.workers.values()):
            with contextlib.suppress(WorkerError):
                for name, value in (await self._ask(worker, op="stats"))["stats"].items():
                    totals[name] = totals.get(name, 0) + value
        return totals

    async def leg_stats(self, conference_id: str) -> dict[str, dict[str, float | int | bool | None]]:
        worker = self._placed(conference_id)
        if worker is None:
            return {}
        try:
            return dict((await self._ask(worker, op="leg_stats", conference_id=conference_id))["legs"])
        except (WorkerError, TimeoutError):
            return {}

    # --- placement ------------------------------------------------------------------

    async def _new_endpoint(self, conference_id: str, leg_id: str, **request: Any) -> str:
        place = self.legs.setdefault(leg_id, LegPlace(conference_id))
        worker = await self._worker_for(conference_id)
        worker.legs.add(leg_id)
        await self._place_state(worker, leg_id, place)
        reply = await self._ask(worker, conference_id=conference_id, leg_id=leg_id, **request)
        return str(reply["sdp"])

    async def _place_state(self, worker: Worker, leg_id: str, place: LegPlace) -> None:
        """A leg's mute, hold and sound, on the worker it is (again) placed on, before its audio flows."""
        if place.muted:
            await self._ask(worker, op="mute", conference_id=place.conference_id, leg_id=leg_id, muted=True)
        if place.held:
            await self._ask(
                worker, op="hold", conference_id=place.conference_id, leg_id=leg_id, held=True, music=place.music
            )
        if place.sound is not None:
            await self._ask(worker, op="play", conference_id=place.conference_id, leg_id=leg_id, sound=place.sound)

    def _remember(self, leg_id: str, remote: str, ours: str | None = None) -> None:
        place = self.legs.get(leg_id)
        if place is not None and place.telephone is not None:
            place.telephone.remote = remote
            place.telephone.ours = ours or place.telephone.ours

    async def _worker_of(self, leg_id: str) -> Worker:
        place = self.legs.get(leg_id)
        if place is None:
            raise KeyError(leg_id)
        return await self._worker_for(place.conference_id)

    def _placed(self, conference_id: str) -> Worker | None:
        index = self.conferences.get(conference_id)
        return self.workers.get(index) if index is not None else None

    async def _worker_for(self, conference_id: str) -> Worker:
        index = self.conferences.get(conference_id)
        if index is None:
            index = min(range(self.size), key=self._load)
            self.conferences[conference_id] = index
        return await self._started(index)

    def _load(self, index: int) -> int:
        """The legs placed on a worker, counted from the placements themselves.

        Not from the worker's own count, which grows only once it has started
        and taken the leg: conferences placed while workers are still starting
        (a burst of calls at boot) would all see empty workers and pile onto
        the first.
        """
        return sum(1 for place in self.legs.values() if self.conferences.get(place.conference_id) == index)

    async def _started(self, index: int) -> Worker:
        if index in self.workers:
            return self.workers[index]
        if index not in self._starting:
            self._starting[index] = asyncio.ensure_future(self._spawn(index))
        try:
            return await asyncio.shield(self._starting[index])
        finally:
            if self._starting.get(index) is not None and self._starting[index].done():
                del self._starting[index]

    async def _spawn(self, index: int) -> Worker:
        settings = json.dumps(dataclasses.asdict(self.settings))
        process = await asyncio.create_subprocess_exec(
            *self.command(settings), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20
        )
        worker = Worker(index, process)
        worker.reader = asyncio.ensure_future(self._read(worker))
        self.workers[index] = worker
        return worker

    # --- the pipe -------------------------------------------------------------------

    def _tell(self, worker: Worker, **request: Any) -> asyncio.Future[dict[str, Any]]:
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        worker.pending[request_id] = future
        stdin = worker.process.stdin
        if stdin is None or stdin.is_closing():
            future.set_exception(WorkerError("worker is gone"))
        else:
            stdin.write((json.dumps({"id": request_id, **request}) + "\n").encode())
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a told request's error is not news
        return future

    async def _ask(self, worker: Worker, **request: Any) -> dict[str, Any]:
        reply = await asyncio.wait_for(self._tell(worker, **request), REPLY_TIMEOUT)
        if reply.get("error") == "ValueError":
            raise ValueError(str(reply.get("message", "")))  # the same refusal as the engine's own
        if not reply.get("ok"):
            raise WorkerError(f"{request['op']} refused: {reply.get('error')}")
        return reply

    async def _read(self, worker: Worker) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while line := await stdout.readline():
                self._message(worker, json.loads(line))
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(WorkerError("worker died"))
        worker.pending.clear()
        if not self._closing and self.workers.get(worker.index) is worker:
            await self._restart(worker)

    def _message(self, worker: Worker, message: dict[str, Any]) -> None:
        if "id" in message:
            future = worker.pending.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message)
        elif message.get("event") == "state":
            self.on_state(message["leg_id"], message["state"])
        elif message.get("event") == "speaking":
            self.on_speaking(message["conference_id"], frozenset(message["legs"]))
        elif message.get("event") == "dtmf":
            self.on_dtmf(message["conference_id"], message["leg_id"], message["digit"])

    async def _restart(self, worker: Worker) -> None:
        """A worker died: a fresh one takes its index, and each of its legs is offered again."""
        code = await worker.process.wait()
        log.warning("media worker %d exited (%s); starting it again", worker.index, code)
        self.restarts += 1
        del self.workers[worker.index]
        for leg_id in sorted(worker.legs):
            place = self.legs.get(leg_id)
            if place is None:
                continue
            if place.telephone is None:
                self.on_state(leg_id, "restarted")
            elif not await self._restore(leg_id, place, place.telephone):
                self.on_state(leg_id, "lost")  # its port is taken: the signalling ends the call
        for conference_id, path in list(self.recordings.items()):
            if self.conferences.get(conference_id) == worker.index:
                # The file so far is whole up to its last page; the rest follows as a chained stream.
                with contextlib.suppress(WorkerError, TimeoutError, OSError):
                    fresh = await self._worker_for(conference_id)
                    await self._ask(fresh, op="start_recording", conference_id=conference_id, path=path, tone="")

    async def _restore(self, leg_id: str, place: LegPlace, telephone: Telephone) -> bool:
        try:
            fresh = await self._worker_for(place.conference_id)
            fresh.legs.add(leg_id)
            await self._place_state(fresh, leg_id, place)
            await self._ask(
                fresh, op="rtp_restore", conference_id=place.conference_id, leg_id=leg_id,
                ours=telephone.ours, sdp=telephone.remote,
            )  # fmt: skip
        except (WorkerError, TimeoutError, OSError):
            log.warning(
                "could not put telephone leg %s back on a media worker", leg_id, extra=ids(place.conference_id, leg_id)
            )
            return False
        return True

    async def _stop(self, worker: Worker) -> None:
        if worker.process.stdin is not None:
            worker.process.stdin.close()
        try:
            await asyncio.wait_for(worker.process.wait(), 5)
        except TimeoutError:
            worker.process.kill()
            await worker.process.wait()
        if worker.reader is not None:
            worker.reader.cancel()


def media_factory(settings: MediaSettings, workers: int) -> MediaFactory:
    """What the provider builds its media with: `workers` processes, or (0) the engine in this process."""

    def make(on_state: StateSink, on_speaking: SpeakingSink, on_dtmf: DtmfSink = no_dtmf) -> Media:
        if workers > 0:
            return WorkerPool(workers, on_state=on_state, on_speaking=on_speaking, settings=settings, on_dtmf=on_dtmf)
        return MediaEngine(on_state=on_state, on_speaking=on_speaking, settings=settings, on_dtmf=on_dtmf)

    return make
