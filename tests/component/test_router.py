"""The router: one conference's events in order, conferences in parallel, failures contained."""

from __future__ import annotations

import asyncio

from talkbox.events import InProcessBus, LegStatusChanged, PresenceChanged
from talkbox.events.models import Event
from talkbox.router import Router


def report(conference: str, sequence: int) -> LegStatusChanged:
    return LegStatusChanged(conference_id=conference, leg_id="l", status="ringing", sequence=sequence)


class Recorder:
    handles = (LegStatusChanged,)

    def __init__(self, slow_conference: str | None = None) -> None:
        self.seen: list[tuple[str, int]] = []
        self.slow_conference = slow_conference
        self.release = asyncio.Event()

    async def handle(self, event: Event) -> None:
        assert isinstance(event, LegStatusChanged)
        if event.conference_id == self.slow_conference:
            await self.release.wait()
        await asyncio.sleep(0.001 * (event.sequence % 3))  # uneven work must not reorder
        self.seen.append((event.conference_id, event.sequence))


async def test_each_conference_sees_its_events_in_publish_order() -> None:
    bus = InProcessBus()
    recorder = Recorder()
    router = Router(bus, [recorder], size=4)
    router.start()
    for sequence in range(50):
        for conference in ("c-a", "c-b", "c-c", "c-d", "c-e"):
            await bus.publish(report(conference, sequence))
    await asyncio.wait_for(bus.drained(), 10)
    await router.stop()
    for conference in ("c-a", "c-b", "c-c", "c-d", "c-e"):
        assert [s for c, s in recorder.seen if c == conference] == list(range(50))


async def test_a_slow_conference_does_not_hold_up_another() -> None:
    bus = InProcessBus()
    router = Router(bus, [], size=4)
    slow, fast = next(
        (a, b)
        for a in ("c-1", "c-2", "c-3", "c-4", "c-5")
        for b in ("c-1", "c-2", "c-3", "c-4", "c-5")
        if router.worker_for(report(a, 1)) != router.worker_for(report(b, 1))
    )
    recorder = Recorder(slow_conference=slow)
    router.handlers = [recorder]
    router.start()
    await bus.publish(report(slow, 1))
    await bus.publish(report(fast, 1))
    async with asyncio.timeout(5):
        while (fast, 1) not in recorder.seen:
            await asyncio.sleep(0.01)
    assert (slow, 1) not in recorder.seen
    recorder.release.set()
    await asyncio.wait_for(bus.drained(), 5)
    await router.stop()
    assert (slow, 1) in recorder.seen


async def test_a_failing_handler_does_not_stop_the_others_or_later_events() -> None:
    class Failing:
        handles = (LegStatusChanged,)

        async def handle(self, event: Event) -> None:
            raise RuntimeError("boom")

    bus = InProcessBus()
    recorder = Recorder()
    router = Router(bus, [Failing(), recorder], size=2)
    router.start()
    await bus.publish(report("c-x", 1))
    await bus.publish(report("c-x", 2))
    await bus.publish(PresenceChanged(user="alice", online=True))  # no handler wants it
    await asyncio.wait_for(bus.drained(), 5)
    await router.stop()
    assert recorder.seen == [("c-x", 1), ("c-x", 2)]
    assert not bus.pending
