"""Boot in Twilio mode reconciles the stored conferences with Twilio's REST API.

The store (a real SQLite file) holds conferences as a server that died left
them; the stand-in for api.twilio.com says what Twilio has now. Booting the
whole server must make exactly the expected REST requests, adopt the calls
Twilio still has (the provider can address them again), and end the legs whose
calls Twilio has lost, each with the right status and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest

from talkbox.events.models import Event, LegStatus, LegStatusChanged
from talkbox.providers.twilio.provider import TwilioProvider
from talkbox.providers.twilio.rest import rest_client
from talkbox.providers.twilio.twiml import incoming_ids
from talkbox.telephony.model import Conference, Leg
from talkbox.telephony.provider import ResumeLeg
from talkbox.telephony.store import SqliteStore
from tests.support.server import running_server
from tests.twilio.fake_api import ApiRequest, FakeTwilioApi, fake_twilio_api
from tests.twilio.page import Page, legs
from tests.twilio.test_rest_api import Twilio, summary
from tests.twilio.twilio_requests import PHONE, settings

P = "in-progress"
CID = "c-restarted"
CONFERENCE_SID = "CF" + "e" * 32


def sid(n: int) -> str:
    return f"CA{n:032x}"


def leg(leg_id: str, destination: str, status: LegStatus, sequence: int, call: str | None, muted: bool = False) -> Leg:
    return Leg(leg_id, destination, status, sequence, muted=muted, provider_id=call)


def fetched(*calls: str) -> list[tuple[Any, ...]]:
    return [("GET", f"/Calls/{call}.json", {}) for call in calls]


def looked_up(name: str, status: str = "in-progress") -> tuple[Any, ...]:
    return ("GET", "/Conferences.json", {"FriendlyName": [name], "Status": [status], "PageSize": ["1"]})


def listed(conference_sid: str = CONFERENCE_SID) -> tuple[Any, ...]:
    return ("GET", f"/Conferences/{conference_sid}/Participants.json", {})


def completed(call: str) -> tuple[Any, ...]:
    return ("POST", f"/Calls/{call}.json", {"Status": ["completed"]})


def in_any_order(requests: Iterable[tuple[Any, ...]]) -> list[str]:
    """The checks of different legs run side by side, so their requests interleave."""
    return sorted(repr(request) for request in requests)


async def stored(path: Path, *conferences: Conference) -> None:
    """Leave `conferences` in the store as a server that died would have."""
    store = SqliteStore(path)
    try:
        for conference in conferences:
            await store.put(conference, {"input": "before the restart"})
    finally:
        store.close()


async def reopened(path: Path, conference_id: str) -> Conference:
    store = SqliteStore(path)
    try:
        conference = await store.get(conference_id)
    finally:
        store.close()
    assert conference is not None
    return conference


@contextlib.asynccontextmanager
async def booted(api: FakeTwilioApi, database: Path, **sequences: int) -> AsyncIterator[tuple[str, Twilio]]:
    """The server, booted on `database`; `sequences` are the last SequenceNumber Twilio sent per call."""
    options = {"twilio": settings(), "twilio_api_url": api.url}
    async with (
        running_server(app_options=options, database=str(database), ring_timeout=25) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        yield url, Twilio(api, http, dict(sequences))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_boot_adopts_the_calls_twilio_has_and_ends_the_ones_it_lost(tmp_path: Path) -> None:
    database = tmp_path / "talkbox.sqlite3"
    await stored(
        database,
        Conference(
            CID,
            "l-alice",
            (
                leg("l-alice", "alice", P, 3, sid(1)),
                leg("l-bob", "bob", P, 3, sid(2), muted=True),
                leg("l-carol", "carol", P, 3, sid(3)),
                leg("l-dave", "dave", P, 3, sid(4)),
            ),
        ),
    )
    async with fake_twilio_api() as api:
        api.calls.update({sid(1): P, sid(2): P, sid(3): "completed"})  # Twilio has never heard of sid(4)
        api.conferences[CID] = CONFERENCE_SID
        api.participants[CONFERENCE_SID] = {sid(1): False, sid(2): False}  # bob's mute was lost too
        async with booted(api, database, **{sid(1): 2, sid(2): 2}) as (url, twilio), Page(url, "alice") as alice:
            after_boot = await alice.conference(
                lambda c: legs(c) == {"alice": P, "bob": P, "carol": "completed:lost", "dave": "failed:lost"}
            )
            assert after_boot["status"] == "active"
            assert [leg["muted"] for leg in after_boot["legs"]] == [False, True, False, False]
            requests = summary(await twilio.requests(7))
            mute = ("POST", f"/Conferences/{CONFERENCE_SID}/Participants/{sid(2)}.json", {"Muted": ["true"]})
            assert in_any_order(requests) == in_any_order(
                [*fetched(sid(1), sid(2), sid(3), sid(4)), looked_up(CID), listed(), mute]
            )
            assert requests.index(looked_up(CID)) < requests.index(listed()) < requests.index(mute)

            # Adopted: the provider addresses alice's call as answered (completed at once, no cancel first).
            await alice.send(type="hang_up", conference_id=CID)
            await twilio.requests(8)
            await twilio.report(sid(1), "completed", CID, "l-alice", to="client:alice")
            await twilio.requests(9)  # the rules hang up bob, left alone
            await twilio.report(sid(2), "completed", CID, "l-bob")
            ended = await alice.conference(lambda c: c["status"] == "ended")
            assert ended["end_reason"] == "hung-up"
            assert legs(ended) == {
                "alice": "completed:hung-up",
                "bob": "completed:ended",
                "carol": "completed:lost",
                "dave": "failed:lost",
            }
            assert summary(await twilio.settled())[7:] == [completed(sid(1)), completed(sid(2))]

    conference = await reopened(database, CID)
    assert conference.ended
    assert [leg.provider_id for leg in conference.legs] == [sid(1), sid(2), sid(3), sid(4)]


async def test_a_chair_left_alone_by_what_twilio_lost_is_hung_up(tmp_path: Path) -> None:
    database = tmp_path / "talkbox.sqlite3"
    await stored(
        database, Conference(CID, "l-alice", (leg("l-alice", "alice", P, 3, sid(1)), leg("l-bob", "bob", P, 3, sid(2))))
    )
    async with fake_twilio_api() as api:
        api.calls.update({sid(1): P, sid(2): "completed"})
        api.conferences[CID] = CONFERENCE_SID
        api.participants[CONFERENCE_SID] = {sid(1): False}
        async with booted(api, database, **{sid(1): 2}) as (_url, twilio):
            requests = summary(await twilio.requests(5))
            assert in_any_order(requests) == in_any_order(
                [*fetched(sid(1), sid(2)), looked_up(CID), listed(), completed(sid(1))]
            )
            # Twilio's answer to the hang-up said "completed": its callback, later, changes nothing.
            await twilio.report(sid(1), "completed", CID, "l-alice", to="client:alice")
            assert len(await twilio.settled()) == 5
    ended = await reopened(database, CID)
    assert [(leg.status, leg.end_reason) for leg in ended.legs] == [("completed", "ended"), ("completed", "lost")]
    assert ended.end_reason == "hung-up"


async def test_ringing_calls_are_adopted_and_calls_out_of_the_conference_or_never_placed_end(tmp_path: Path) -> None:
    database = tmp_path / "talkbox.sqlite3"
    await stored(
        database,
        Conference(
            CID,
            "l-alice",
            (
                leg("l-alice", "alice", P, 3, sid(1)),
                leg("l-bob", "bob", "ringing", 2, sid(2)),  # answered while Talkbox was down
                leg("l-carol", "carol", "ringing", 2, sid(3)),  # still ringing
                leg("l-dave", "dave", "queued", 0, None),  # never placed (or Twilio never said so)
                leg("l-erin", "erin", P, 3, sid(5)),  # answered, but no longer in the conference
            ),
        ),
    )
    async with fake_twilio_api() as api:
        api.calls.update({sid(1): P, sid(2): P, sid(3): "ringing", sid(5): P})
        api.conferences[CID] = CONFERENCE_SID
        api.participants[CONFERENCE_SID] = {sid(1): False, sid(2): False}
        sequences = {sid(1): 2, sid(2): 1, sid(3): 1, sid(5): 2}
        async with booted(api, database, **sequences) as (url, twilio), Page(url, "alice") as alice:
            expected = {
                "alice": P,
                "bob": P,
                "carol": "ringing",
                "dave": "failed:server-restart",
                "erin": "completed:lost",
            }
            await alice.conference(lambda c: legs(c) == expected)
            requests = summary(await twilio.requests(7))
            assert in_any_order(requests) == in_any_order(
                [*fetched(sid(1), sid(2), sid(3), sid(5)), looked_up(CID), listed(), completed(sid(5))]
            )
            # Twilio's own report of bob's answer, late: a repeat of what the check reported.
            await twilio.report(sid(2), P, CID, "l-bob")
            # carol answers after the restart: Twilio's next report still counts.
            await twilio.report(sid(3), P, CID, "l-carol", to="client:carol")
            await alice.conference(lambda c: legs(c) == {**expected, "carol": P})
            # ...and so does Twilio's report that bob hung up, numbered after the check's report.
            await twilio.report(sid(2), "completed", CID, "l-bob")
            await alice.conference(lambda c: legs(c) == {**expected, "carol": P, "bob": "completed:hung-up"})
            assert len(await twilio.settled()) == 7


async def test_a_phone_caller_waiting_in_a_conference_not_yet_started_is_adopted(tmp_path: Path) -> None:
    """Twilio's Participants subresource "only manages active participants of in-progress Conferences".

    So a telephone caller waiting in an `init` conference is never listed; the
    stand-in lists nobody there. Still in progress and in that room: adopted,
    not hung up (issue 16, point 5).
    """
    database = tmp_path / "talkbox.sqlite3"
    phone_call = sid(9)
    cid, phone_leg = incoming_ids(phone_call)
    await stored(
        database,
        Conference(
            cid,
            phone_leg,
            (
                leg(phone_leg, PHONE, P, 0, phone_call),
                leg("l-bob", "bob", "ringing", 2, sid(2)),
                leg("l-carol", "carol", "ringing", 2, sid(3)),
            ),
            ring_group=("l-bob", "l-carol"),
        ),
    )
    async with fake_twilio_api() as api:
        api.calls.update({phone_call: P, sid(2): "ringing", sid(3): "no-answer"})
        api.conferences[cid] = CONFERENCE_SID
        api.conference_status[cid] = "init"
        api.participants[CONFERENCE_SID] = {phone_call: False}
        async with booted(api, database, **{sid(2): 1}) as (url, twilio), Page(url, "bob") as bob:
            await bob.conference(lambda c: legs(c) == {PHONE: P, "bob": "ringing", "carol": "no-answer:lost"})
            requests = summary(await twilio.requests(5))
            assert in_any_order(requests) == in_any_order(
                [*fetched(phone_call, sid(2), sid(3)), looked_up(cid), looked_up(cid, "init")]
            )
            assert requests.index(looked_up(cid)) < requests.index(looked_up(cid, "init"))
            await twilio.report(sid(2), P, cid, "l-bob")
            await bob.conference(lambda c: legs(c) == {PHONE: P, "bob": P, "carol": "no-answer:lost"})
            assert len(await twilio.settled()) == 5  # nothing hung up


# --- the provider alone: failures, time limits, close -------------------------------------


def resumed(n: int, status: LegStatus = P) -> ResumeLeg:
    return ResumeLeg(CID, f"l-{n}", f"user{n}", status, False, sid(n), 3)


def provider_on(api: FakeTwilioApi, published: list[Event], **options: Any) -> TwilioProvider:
    async def publish(event: Event) -> None:
        published.append(event)

    return TwilioProvider(
        settings=settings(), publish=publish, make_client=functools.partial(rest_client, settings(), api.url), **options
    )


def posts(requests: list[ApiRequest]) -> list[ApiRequest]:
    return [r for r in requests if r.method == "POST"]


async def test_a_failed_or_slow_check_leaves_the_leg_alone_and_never_holds_up_boot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "talkbox.providers.twilio.provider")
    published: list[Event] = []
    async with fake_twilio_api() as api:
        api.calls.update({sid(n): P for n in (1, 2, 3, 4)} | {sid(5): "completed"})
        api.broken.add(sid(1))
        api.stalled.update({sid(2), sid(3), sid(4)})
        provider = provider_on(api, published, reconcile_timeout=1.0, reconcile_concurrency=2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in (1, 2, 3, 4, 5):
            await provider.resume(resumed(n))
        assert loop.time() - started < 0.1  # boot goes on at once
        # Two checks at a time: the broken one and one stalled one, then the next in line.
        await until(lambda: len(api.requests) == 3)
        await asyncio.sleep(0.2)
        assert len(api.requests) == 3
        await until(lambda: bool(published), timeout=3)
        await until(lambda: not provider._reconciling, timeout=3)
        assert published == [
            LegStatusChanged(
                conference_id=CID,
                leg_id="l-5",
                status="completed",
                sequence=published[0].sequence,  # type: ignore[union-attr]
                reason="lost",
                provider_id=sid(5),
            )
        ]
        assert published[0].sequence > 10**15  # type: ignore[union-attr]
        assert sorted(provider.legs) == ["l-1", "l-2", "l-3", "l-4", "l-5"]  # left as the store had them
        warned = [r.getMessage() for r in caplog.records if "keeping it as it was" in r.getMessage()]
        assert sorted(message.split()[4] for message in warned) == ["l-1", "l-2", "l-3", "l-4"]
        await provider.close()
        assert posts(api.requests) == []


async def test_close_lets_go_of_checks_under_way_and_hangs_up_nothing() -> None:
    published: list[Event] = []
    async with fake_twilio_api() as api:
        api.calls.update({sid(1): P, sid(2): "ringing"})
        api.stalled.add(sid(1))
        provider = provider_on(api, published)
        await provider.resume(resumed(1))
        await provider.resume(resumed(2, "ringing"))
        await until(lambda: len(api.requests) == 2)
        await provider.close()
        assert not provider._reconciling
        assert posts(api.requests) == [] and published == []


async def test_a_leg_with_no_call_sid_ends_at_once_without_asking_twilio() -> None:
    published: list[Event] = []
    async with fake_twilio_api() as api:
        provider = provider_on(api, published)
        await provider.resume(ResumeLeg(CID, "l-1", "bob", "queued", False))
        await provider.resume(ResumeLeg(CID, "l-2", "carol", "initiated", False))
        assert [(e.leg_id, e.status, e.reason) for e in published] == [  # type: ignore[union-attr]
            ("l-1", "failed", "server-restart"),
            ("l-2", "failed", "server-restart"),
        ]
        first, second = (e.sequence for e in published)  # type: ignore[union-attr]
        assert 10**15 < first < second
        await provider.close()
        assert api.requests == [] and provider.legs == {}
