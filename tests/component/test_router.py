"""The router: one conference's events in order, conferences in parallel, failures contained.

Every test that takes `bus` runs on both buses: in-process, and Redis Streams on a real redis-server.
"""

from __future__ import annotations

import asyncio

import httpx

from talkbox.app.main import create_app
from talkbox.app.settings import Settings
from talkbox.events import Bus, LegStatusChanged, PresenceChanged
from talkbox.events.models import Event
from talkbox.router import DeadLetters, Router


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


async def test_each_conference_sees_its_events_in_publish_order(bus: Bus) -> None:
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


async def test_a_slow_conference_does_not_hold_up_another(bus: Bus) -> None:
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


async def test_a_failing_handler_does_not_stop_the_others_or_later_events(bus: Bus) -> None:
    class Failing:
        handles = (LegStatusChanged,)

        async def handle(self, event: Event) -> None:
            raise RuntimeError("boom")

    recorder = Recorder()
    router = Router(bus, [Failing(), recorder], size=2)
    router.start()
    await bus.publish(report("c-x", 1))
    await bus.publish(report("c-x", 2))
    await bus.publish(PresenceChanged(user="alice", online=True))  # no handler wants it
    await asyncio.wait_for(bus.drained(), 5)
    await router.stop()
    assert recorder.seen == [("c-x", 1), ("c-x", 2)]
    assert await bus.unacknowledged() == 0


# --- at least once, with a bound (issue 5) ------------------------------------------------


class Flaky:
    """Fails the first `failures` times it is handed each event, then takes it."""

    handles = (LegStatusChanged,)

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.tries: dict[int, int] = {}
        self.taken: list[int] = []

    async def handle(self, event: Event) -> None:
        assert isinstance(event, LegStatusChanged)
        self.tries[event.sequence] = self.tries.get(event.sequence, 0) + 1
        if self.tries[event.sequence] <= self.failures:
            raise RuntimeError(f"boom {event.sequence}")
        self.taken.append(event.sequence)


async def run_router(bus: Bus, handlers: list, *events: Event, attempts: int = 3) -> Router:
    router = Router(bus, handlers, size=2, attempts=attempts, backoff=0.001)
    router.start()
    for event in events:
        await bus.publish(event)
    await asyncio.wait_for(bus.drained(), 5)
    await router.stop()
    assert await bus.unacknowledged() == 0
    return router


async def test_a_handler_that_fails_twice_gets_the_event_a_third_time(bus: Bus) -> None:
    flaky, recorder = Flaky(failures=2), Recorder()
    router = await run_router(bus, [flaky, recorder], report("c-x", 1), report("c-x", 2))
    assert flaky.taken == [1, 2]
    assert flaky.tries == {1: 3, 2: 3}
    assert recorder.seen == [("c-x", 1), ("c-x", 2)]  # once each: only the failing handler is retried
    assert router.dead_letters.recent() == []


async def test_after_its_attempts_an_event_becomes_a_dead_letter_and_later_ones_go_on(bus: Bus) -> None:
    class Stubborn:
        handles = (LegStatusChanged,)

        def __init__(self) -> None:
            self.tries = 0

        async def handle(self, event: Event) -> None:
            assert isinstance(event, LegStatusChanged)
            if event.sequence == 1:
                self.tries += 1
                raise ValueError("no such leg, really")

    stubborn, recorder = Stubborn(), Recorder()
    router = await run_router(bus, [stubborn, recorder], report("c-x", 1), report("c-x", 2), report("c-x", 3))
    assert stubborn.tries == 3
    assert recorder.seen == [("c-x", 1), ("c-x", 2), ("c-x", 3)]  # in order, nothing lost
    [letter] = router.dead_letters.recent()
    assert (letter.event_type, letter.key, letter.handler, letter.attempts) == (
        "leg_status_changed",
        "conference:c-x",
        "Stubborn",
        3,
    )
    assert letter.error == "ValueError: no such leg, really"
    assert letter.at > 0


async def test_retries_hold_up_only_their_own_conference_and_only_for_the_backoffs(bus: Bus) -> None:
    router = Router(bus, [], size=4, attempts=3, backoff=0.2)
    stuck, other = next(
        (a, b)
        for a in ("c-1", "c-2", "c-3", "c-4", "c-5")
        for b in ("c-1", "c-2", "c-3", "c-4", "c-5")
        if router.worker_for(report(a, 1)) != router.worker_for(report(b, 1))
    )

    class FailsOn:
        handles = (LegStatusChanged,)

        async def handle(self, event: Event) -> None:
            assert isinstance(event, LegStatusChanged)
            if event.conference_id == stuck and event.sequence == 1:
                raise RuntimeError("down")

    recorder = Recorder()
    router.handlers = [FailsOn(), recorder]
    router.start()
    started = asyncio.get_running_loop().time()
    await bus.publish(report(stuck, 1))
    await bus.publish(report(stuck, 2))
    await bus.publish(report(other, 1))
    async with asyncio.timeout(5):
        while (other, 1) not in recorder.seen:
            await asyncio.sleep(0.01)
    assert (stuck, 2) not in recorder.seen  # still backing off: 0.2 s, then 0.4 s
    await asyncio.wait_for(bus.drained(), 5)
    elapsed = asyncio.get_running_loop().time() - started
    await router.stop()
    assert [s for c, s in recorder.seen if c == stuck] == [1, 2]
    assert 0.55 < elapsed < 3, elapsed
    assert len(router.dead_letters.recent()) == 1


def test_the_dead_letters_keep_the_newest_and_count_them_all() -> None:
    letters = DeadLetters(keep=2, clock=lambda: 1234.5)
    for sequence in range(5):
        letters.add(report("c-x", sequence), "Handler", RuntimeError(f"#{sequence}" + "!" * 1000), 3)
    assert letters.total == 5
    assert [letter.error[:16] for letter in letters.recent()] == ["RuntimeError: #4", "RuntimeError: #3"]
    assert len(letters.recent()[0].error) == 300
    assert [letter.at for letter in letters.recent(1)] == [1234.5]


async def test_dead_letters_are_served_newest_first_without_payloads() -> None:
    app = create_app(Settings(database=":memory:", redis_url=None))  # this node's own letters, not Redis's
    router = app.state.talkbox.router
    router.dead_letters.add(PresenceChanged(user="alice", online=True), "Gateway", KeyError("gone"), 3)
    router.dead_letters.add(report("c-x", 7), "CallHandler", RuntimeError("store down"), 3)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        answer = (await client.get("/api/dead-letters")).json()
        one = (await client.get("/api/dead-letters", params={"limit": 1})).json()
    from_afar = httpx.ASGITransport(app=app, client=("192.0.2.7", 50000))
    async with httpx.AsyncClient(transport=from_afar, base_url="http://127.0.0.1") as client:
        assert (await client.get("/api/dead-letters")).status_code == 403
    assert answer["total"] == 2
    assert [(d["event_type"], d["handler"], d["key"]) for d in answer["dead_letters"]] == [
        ("leg_status_changed", "CallHandler", "conference:c-x"),
        ("presence_changed", "Gateway", "user:alice"),
    ]
    assert answer["dead_letters"][0]["error"] == "RuntimeError: store down"
    assert set(answer["dead_letters"][0]) == {"event_type", "key", "handler", "error", "attempts", "at"}
    assert len(one["dead_letters"]) == 1
