"""The shell around the rules: a provider that fails does not leave a leg hanging."""

from __future__ import annotations

from talkbox.events.models import Event, LegStatusChanged, UserRequestsCall
from talkbox.telephony.handler import CallHandler, describe
from talkbox.telephony.model import Conference, Leg, Transfer
from talkbox.telephony.provider import ResumeLeg
from talkbox.telephony.rules import DialLeg, HangUpLeg, IncomingCall, MuteLeg, PlayToLeg, SendDigits
from talkbox.telephony.store import MemoryStore, SqliteStore, dumps


class BrokenProvider:
    name = "broken"

    async def dial(self, command: DialLeg) -> None:
        raise ConnectionError("the provider is down")

    async def hang_up(self, command: HangUpLeg) -> None: ...

    async def mute(self, command: MuteLeg) -> None: ...

    async def play(self, command: PlayToLeg) -> None: ...

    async def send_digits(self, command: SendDigits) -> None: ...

    async def resume(self, command: ResumeLeg) -> None: ...

    async def close(self) -> None: ...


async def test_a_dial_that_raises_becomes_a_failed_leg_the_rules_hear_of() -> None:
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    handler = CallHandler(store=MemoryStore(), providers={"browser": BrokenProvider()}, publish=publish)
    await handler.handle(UserRequestsCall(user="alice", to="bob"))
    failure = next(e for e in published if isinstance(e, LegStatusChanged))
    assert (failure.status, failure.reason) == ("failed", "provider-error")
    await handler.handle(failure)
    conference = (await handler.store.active()) or [await handler.store.get(failure.conference_id)]
    assert conference[0] is not None and conference[0].ended
    assert conference[0].end_reason == "chair-unreachable"


class RecordingProvider(BrokenProvider):
    name = "recording"

    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def dial(self, command: DialLeg) -> None:
        self.dialled.append(command.leg_id)


async def test_a_call_request_delivered_again_changes_nothing() -> None:
    """The Redis bus hands an event out again when its node died before acknowledging it."""
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    provider = RecordingProvider()
    handler = CallHandler(store=MemoryStore(), providers={"browser": provider}, publish=publish)
    request = UserRequestsCall(user="alice", to="bob")
    await handler.handle(request)
    await handler.handle(UserRequestsCall.model_validate_json(request.model_dump_json()))  # as read from a stream
    [conference] = await handler.store.active()
    assert conference.id == request.conference_id
    assert len(provider.dialled) == 1
    assert not [e for e in published if e.type == "call_refused"]


class ResumingProvider(RecordingProvider):
    def __init__(self) -> None:
        super().__init__()
        self.resumed: list[str] = []
        self.played: list[tuple[str, str | None]] = []

    async def resume(self, command: ResumeLeg) -> None:
        self.resumed.append(command.leg_id)

    async def play(self, command: PlayToLeg) -> None:
        self.played.append((command.leg_id, command.sound))


async def test_after_a_restart_the_party_waiting_on_a_transfer_hears_ringback_again() -> None:
    """Its ringback was the media plane's, which died with the process; the store knows it waits."""

    async def publish(_event: Event) -> None: ...

    legs = (
        Leg("l-a", "alice", "completed", sequence=2, end_reason="transferred"),
        Leg("l-b", "bob", "in-progress", sequence=3),
        Leg("l-c", "carol", "ringing", sequence=2, dialled=True),
    )
    waiting = Conference("c-1", "l-b", legs, transfer=Transfer("alice", "l-b", "l-c", "l-a2", by_chair=True))
    store = MemoryStore()
    await store.put(waiting, {"input": "test"})
    provider = ResumingProvider()
    await CallHandler(store=store, providers={"browser": provider}, publish=publish).recover()
    assert provider.resumed == ["l-b", "l-c"]
    assert provider.played == [("l-b", "ringback")]


async def test_a_call_from_a_telephone_with_someone_not_to_be_disturbed_is_kept_in_the_sqlite_log(tmp_path) -> None:
    """The event log is JSON: the ring group's set of people not to disturb must go into it too."""
    store = SqliteStore(tmp_path / "talkbox.sqlite3")
    given = IncomingCall(
        "c-1", "l-phone", "+15005550006", None, (("l-a", "alice"), ("l-b", "bob")), "sip", frozenset({"bob"})
    )
    conference = Conference("c-1", "l-phone", (Leg("l-phone", "+15005550006", "in-progress", kind="sip"),))
    await store.put(conference, describe(given))
    assert (await store.get("c-1")) == conference
    assert "bob" in dumps(describe(given))
