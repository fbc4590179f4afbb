"""A call request that names its conference (as the API's do): its id is kept, and a redelivery adds nothing."""

from __future__ import annotations

from talkbox.events.models import Event, UserAddsParticipant, UserRequestsCall
from talkbox.telephony.handler import CallHandler
from talkbox.telephony.provider import ResumeLeg
from talkbox.telephony.rules import DialLeg, HangUpLeg, MuteLeg
from talkbox.telephony.store import MemoryStore


class QuietProvider:
    """Dials and reports nothing: the chair's leg stays queued, so the call stays as the request left it."""

    name = "quiet"

    def __init__(self) -> None:
        self.dialled: list[DialLeg] = []

    async def dial(self, command: DialLeg) -> None:
        self.dialled.append(command)

    async def hang_up(self, command: HangUpLeg) -> None: ...

    async def mute(self, command: MuteLeg) -> None: ...

    async def resume(self, command: ResumeLeg) -> None: ...

    async def close(self) -> None: ...


async def test_the_requested_id_is_the_conference_and_a_redelivered_request_dials_no_one_again() -> None:
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    provider = QuietProvider()
    handler = CallHandler(store=MemoryStore(), providers={"browser": provider, "twilio": provider}, publish=publish)
    request = UserRequestsCall(user="alice", to="bob", conference_id="c-fromtheapi", also=("carol", "+441234567890"))
    await handler.handle(request)
    await handler.handle(request)

    conference = await handler.store.get("c-fromtheapi")
    assert conference is not None and [leg.destination for leg in conference.legs] == ["alice", "bob"]
    assert [command.destination for command in provider.dialled] == ["alice"]
    adds = [event for event in published if isinstance(event, UserAddsParticipant)]
    assert [(a.user, a.conference_id, a.to) for a in adds] == [
        ("alice", "c-fromtheapi", "carol"),
        ("alice", "c-fromtheapi", "+441234567890"),
    ]
