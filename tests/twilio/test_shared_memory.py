"""Several nodes in Twilio mode: the leg -> CallSid and conference -> ConferenceSid maps are kept in Redis.

Two providers stand for two nodes on one real redis-server and one stand-in for
api.twilio.com. Node one places a call and dies before Twilio's first report
(which is how the store would have learnt the CallSid); node two, taking the
conference over, must still be able to hang that call up, adopt it, and mute
its participant without looking the conference up again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from talkbox.events.models import ConferenceStatusChanged, Event, LegStatusChanged, RecordingAvailable
from talkbox.events.redis_bus import redis_client
from talkbox.media.recorder import save_wav
from talkbox.providers.twilio.memory import SharedMemory
from talkbox.providers.twilio.provider import TwilioProvider
from talkbox.telephony.provider import ResumeLeg
from talkbox.telephony.rules import DialLeg, HangUpLeg, MuteLeg, StartRecording
from tests.support.redis_server import redis_server
from tests.twilio.fake_api import ACCOUNT, FakeTwilioApi, fake_twilio_api
from tests.twilio.test_reconcile import provider_on
from tests.twilio.test_recording import RECORDING, VOICEMAIL, wav

CID = "c-shared"
CONFERENCE_SID = "CF" + "a" * 32


def node(api: FakeTwilioApi, published: list[Event], memory: SharedMemory | None) -> TwilioProvider:
    return provider_on(api, published, shared=memory)


def dial(leg_id: str, to: str = "+441234567890") -> DialLeg:
    return DialLeg(CID, leg_id, to, "alice", auto_answer=False, kind="twilio")


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_a_call_placed_on_one_node_is_hung_up_by_another(tmp_path: Path) -> None:
    published: list[Event] = []
    with redis_server(tmp_path) as redis:
        client = redis_client(redis.url)
        async with fake_twilio_api() as api:
            one = node(api, published, SharedMemory(client))
            await one.dial(dial("l-bob"))
            [placed] = [r for r in api.requests if r.method == "POST" and r.path.endswith("/Calls.json")]
            await one.close()  # node one is gone before Twilio said a word

            two = node(api, published, SharedMemory(client))
            await two.hang_up(HangUpLeg(CID, "l-bob", "hung-up", kind="twilio"))
            assert api.calls[placed.sid] == "canceled", "the telephone stops ringing"
            assert [e.status for e in published if isinstance(e, LegStatusChanged)] == ["canceled"]
            await two.close()
        await client.aclose()


async def test_without_redis_the_other_node_cannot_reach_the_call(tmp_path: Path) -> None:
    """What the shared maps are for: the same steps with each node's memory alone leave the telephone ringing."""
    published: list[Event] = []
    async with fake_twilio_api() as api:
        one = node(api, published, None)
        await one.dial(dial("l-bob"))
        [placed] = [r for r in api.requests if r.method == "POST" and r.path.endswith("/Calls.json")]
        two = node(api, published, None)
        await two.hang_up(HangUpLeg(CID, "l-bob", "hung-up", kind="twilio"))
        assert api.calls[placed.sid] == "queued"
        await one.close()
        await two.close()


async def test_the_node_taking_over_adopts_a_call_the_store_never_heard_of_and_mutes_it(tmp_path: Path) -> None:
    published: list[Event] = []
    with redis_server(tmp_path) as redis:
        client = redis_client(redis.url)
        async with fake_twilio_api() as api:
            one = node(api, published, SharedMemory(client))
            await one.dial(dial("l-bob"))
            [placed] = [r for r in api.requests if r.method == "POST" and r.path.endswith("/Calls.json")]
            assert placed.sid is not None
            api.calls[placed.sid] = "in-progress"
            api.conferences[CID] = CONFERENCE_SID
            api.participants[CONFERENCE_SID] = {placed.sid: False}
            joined = ConferenceStatusChanged(
                conference_id=CID,
                provider_id=CONFERENCE_SID,
                status="participant-join",
                leg_id="l-bob",
                muted=False,
                sequence=1,
            )
            await one.handle(joined)
            await one.close()

            two = node(api, published, SharedMemory(client))
            # The store had it queued, with no CallSid: Twilio's reports never reached node one's successor.
            await two.resume(ResumeLeg(CID, "l-bob", "+441234567890", "queued", False, None, 0, "twilio"))
            await until(lambda: not two._reconciling)
            assert not [e for e in published if isinstance(e, LegStatusChanged) and e.status == "failed"]
            assert [(e.status, e.provider_id) for e in published if isinstance(e, LegStatusChanged)] == [
                ("in-progress", placed.sid)
            ]
            before = len(api.requests)
            await two.mute(MuteLeg(CID, "l-bob", True, kind="twilio"))
            assert api.participants[CONFERENCE_SID][placed.sid] is True
            assert [r.path.split("/Accounts/")[1].split("/", 1)[1] for r in api.requests[before:]] == [
                f"Conferences/{CONFERENCE_SID}/Participants/{placed.sid}.json"
            ]
            await two.close()
        await client.aclose()


async def test_a_voicemail_started_on_one_node_is_fetched_by_the_node_twilios_callback_reaches(tmp_path: Path) -> None:
    """Twilio posts a recording's status callback to any node: where its file goes is kept in Redis too."""
    published: list[Event] = []
    path = tmp_path / f"{VOICEMAIL}.ogg"
    with redis_server(tmp_path) as redis:
        client = redis_client(redis.url)
        async with fake_twilio_api() as api:
            media = {"api_url": api.url, "save_audio": save_wav}
            one = provider_on(api, published, shared=SharedMemory(client), **media)
            start = StartRecording(CID, VOICEMAIL, "voicemail", ("bob",), "alice", "l-alice", kind="twilio")
            await one.resume_recording(start, str(path))  # no REST request: only where the file goes
            await one.close()

            two = provider_on(api, published, shared=SharedMemory(client), **media)
            api.media["RE" + "9" * 32] = wav(440, 1.0)
            url = f"{api.url}/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'9' * 32}"
            await two.handle(RecordingAvailable(conference_id=CID, recording_id=VOICEMAIL, provider_id="RE1", url=url))
            assert path.is_file() and path.stat().st_size > 0
            assert await SharedMemory(client).recording(VOICEMAIL) is None, "fetched: forgotten"
            await two.close()
        await client.aclose()


async def test_a_conferences_recording_started_on_one_node_is_fetched_by_another(tmp_path: Path) -> None:
    """The conference's own recording callback names no recording: which one it is, is kept in Redis too."""
    published: list[Event] = []
    path = tmp_path / f"{RECORDING}.ogg"
    with redis_server(tmp_path) as redis:
        client = redis_client(redis.url)
        async with fake_twilio_api() as api:
            media = {"api_url": api.url, "save_audio": save_wav}
            one = provider_on(api, published, shared=SharedMemory(client), **media)
            start = StartRecording(CID, RECORDING, "call", ("alice", "bob"), "alice", "l-alice", kind="twilio")
            await one.resume_recording(start, str(path))
            await one.close()

            two = provider_on(api, published, shared=SharedMemory(client), **media)
            api.media["RE" + "8" * 32] = wav(440, 1.0)
            url = f"{api.url}/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{'8' * 32}"
            await two.handle(RecordingAvailable(conference_id=CID, provider_id="RE" + "8" * 32, url=url))
            assert path.is_file() and path.stat().st_size > 0
            assert api.deleted == []
            assert await SharedMemory(client).taping(CID) is None, "fetched: forgotten"
            await two.close()
        await client.aclose()
