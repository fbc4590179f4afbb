"""/api/v1: what an application's server asks of Talkbox, with an API key.

Every change is asked for by publishing the same events the websocket gateway
publishes for a page, on behalf of the call's chairperson; the rules decide, as
they do for a page. Reads come from the conference store. So a request is
answered 202 once its event is on the bus, and the call's state is read back
with GET (or seen by the pages, pushed as for any call).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which name
# dependencies local to api_router.
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from talkbox.api.keys import ApiKeys
from talkbox.api.problems import PROBLEM_RESPONSES, Problem, ProblemRoute
from talkbox.events.models import (
    ConferenceView,
    Event,
    UserAddsParticipant,
    UserHangsUp,
    UserMutesLeg,
    UserRemovesParticipant,
    UserRequestsCall,
)
from talkbox.events.names import CLIENT_NAME, is_valid_destination
from talkbox.telephony.model import Conference
from talkbox.telephony.store import ConferenceStore

PREFIX = "/api/v1"
Name = Annotated[str, Field(pattern=f"^{CLIENT_NAME.pattern}$", description="a client name, e.g. alice")]
Id = Annotated[str, Path(max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenRequest(_Body):
    user: Name
    ttl: int | None = Field(None, gt=0, description="seconds it stays valid (default 12 h, at most the server's max)")


class TokenAnswer(BaseModel):
    user: str
    token: str
    ttl: int


def _destination(value: str) -> str:
    value = value.strip()
    if not is_valid_destination(value):
        raise ValueError(f"{value!r} is neither a client name nor an E.164 number")
    return value


class CallRequest(_Body):
    from_: Name = Field(alias="from", description="the chairperson: a user whose page joins first")
    to: list[str] = Field(
        min_length=1, max_length=100, description="users or E.164 numbers; more than one: a conference"
    )

    @field_validator("to")
    @classmethod
    def _destinations(cls, value: list[str]) -> list[str]:
        return [_destination(item) for item in value]


class CallAccepted(BaseModel):
    id: str
    status: str = Field(description="`requested`: GET the call for its state")
    url: str


class ParticipantRequest(_Body):
    to: str

    @field_validator("to")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _destination(value)


class MuteRequest(_Body):
    muted: bool


class Conferences(BaseModel):
    conferences: list[ConferenceView]


class Delivery(BaseModel):
    id: int
    conference_id: str
    sequence: int
    created_at: float
    attempts: int
    done_at: float | None = Field(description="when it was answered 2xx or given up on; null while still tried")
    outcome: str | None = Field(description="the last answer's status code, an error's name, or gave-up:…")


class Deliveries(BaseModel):
    enabled: bool
    deliveries: list[Delivery]


@dataclass(frozen=True)
class ApiDeps:
    """What the API is given by the composition root (app/main.py)."""

    keys: ApiKeys
    store: ConferenceStore
    publish: Callable[[Event], Awaitable[None]]
    # True while a key is within its budget (per key name).
    allow: Callable[[str], bool]
    retry_after: int
    # Mints a client token for (user, ttl seconds or None); None when the server has no secret.
    mint: Callable[[str, int | None], tuple[str, int]] | None
    # The latest webhook deliveries, newest first; None when no TALKBOX_WEBHOOK_URL is set.
    deliveries: Callable[[int], list[dict[str, Any]]] | None = None


def api_router(deps: ApiDeps) -> APIRouter:
    async def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
        """The name of the key the request carries; every route needs one."""
        scheme, _, key = (authorization or "").partition(" ")
        name = deps.keys.name_for(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
        if name is None:
            problem = Problem(401, "unauthorized", "No valid API key", "send Authorization: Bearer KEY")
            problem.headers["WWW-Authenticate"] = 'Bearer realm="talkbox"'
            raise problem
        if not deps.allow(name):
            raise Problem(
                429,
                "rate-limited",
                "Too many requests",
                f"this key is over its budget; try again in {deps.retry_after} s",
                {"Retry-After": str(deps.retry_after)},
            )
        return name

    router = APIRouter(
        prefix=PREFIX,
        tags=["api"],
        route_class=ProblemRoute,
        dependencies=[Depends(caller)],
        responses=PROBLEM_RESPONSES,
    )

    async def call_of(call_id: Id) -> Conference:
        conference = await deps.store.get(call_id)
        if conference is None:
            raise Problem(404, "call-not-found", "No such call", f"no call {call_id!r}")
        return conference

    async def live_call_of(call_id: Id) -> Conference:
        """A call to change: one that has ended takes no more changes (the rules would refuse them to its chair)."""
        conference = await call_of(call_id)
        if conference.ended:
            raise Problem(409, "call-ended", "The call has ended", f"call {call_id!r} ended: {conference.end_reason}")
        return conference

    @router.post("/tokens", response_model=TokenAnswer, summary="A client token for one of your users")
    async def token(body: TokenRequest, response: Response) -> TokenAnswer:
        if deps.mint is None:
            raise Problem(409, "no-secret", "Tokens are not enabled", "the server has no TALKBOX_SECRET to sign with")
        try:
            token, ttl = deps.mint(body.user, body.ttl)
        except ValueError as error:
            raise Problem(422, "invalid-request", "The request is not valid", str(error)) from error
        response.headers["Cache-Control"] = "no-store"
        return TokenAnswer(user=body.user, token=token, ttl=ttl)

    @router.post("/calls", status_code=202, response_model=CallAccepted, summary="Place a call (or a conference)")
    async def create_call(
        body: CallRequest,
        response: Response,
        key_name: Annotated[str, Depends(caller)],
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> CallAccepted:
        call_id = f"c-{uuid.uuid4().hex[:16]}"
        if idempotency_key is not None:
            request = body.model_dump_json(by_alias=True)
            if not deps.keys.claim(key_name, idempotency_key, request, call_id):
                before, call_id = deps.keys.claimed(key_name, idempotency_key)
                if before != request:
                    raise Problem(
                        409, "idempotency-key-reused", "Idempotency-Key reused", "that key was sent with another body"
                    )
                return _accepted(call_id, response)
        first, *more = body.to
        await deps.publish(UserRequestsCall(user=body.from_, to=first, conference_id=call_id, also=tuple(more)))
        return _accepted(call_id, response)

    @router.get("/calls/{call_id}", response_model=ConferenceView, summary="A call's state")
    async def get_call(conference: Annotated[Conference, Depends(call_of)]) -> ConferenceView:
        return conference.view()

    @router.delete("/calls/{call_id}", status_code=202, summary="End the call for everyone")
    async def end_call(conference: Annotated[Conference, Depends(call_of)]) -> None:
        if conference.ended:
            return  # ending it again changes nothing
        chair = conference.chair.destination
        for leg in conference.live_legs():
            if leg.id != conference.chair_leg_id:
                await deps.publish(UserRemovesParticipant(user=chair, conference_id=conference.id, leg_id=leg.id))
        await deps.publish(UserHangsUp(user=chair, conference_id=conference.id))

    @router.post("/calls/{call_id}/participants", status_code=202, summary="Add someone to the call")
    async def add(body: ParticipantRequest, conference: Annotated[Conference, Depends(live_call_of)]) -> None:
        chair = conference.chair.destination
        await deps.publish(UserAddsParticipant(user=chair, conference_id=conference.id, to=body.to))

    @router.patch("/calls/{call_id}/participants/{leg_id}", status_code=202, summary="Mute or unmute a participant")
    async def mute(body: MuteRequest, leg_id: Id, conference: Annotated[Conference, Depends(live_call_of)]) -> None:
        _live_leg(conference, leg_id)
        event = UserMutesLeg(
            user=conference.chair.destination, conference_id=conference.id, leg_id=leg_id, muted=body.muted
        )
        await deps.publish(event)

    @router.delete("/calls/{call_id}/participants/{leg_id}", status_code=202, summary="Hang up a participant")
    async def remove(leg_id: Id, conference: Annotated[Conference, Depends(live_call_of)]) -> None:
        _live_leg(conference, leg_id)
        chair = conference.chair.destination
        if leg_id == conference.chair_leg_id:
            await deps.publish(UserHangsUp(user=chair, conference_id=conference.id))
        else:
            await deps.publish(UserRemovesParticipant(user=chair, conference_id=conference.id, leg_id=leg_id))

    @router.get("/conferences", response_model=Conferences, summary="The conferences going on now")
    async def conferences() -> Conferences:
        return Conferences(conferences=[c.view() for c in await deps.store.active()])

    @router.get("/webhooks/deliveries", response_model=Deliveries, summary="The latest webhook POSTs and their answers")
    async def deliveries(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Deliveries:
        if deps.deliveries is None:
            return Deliveries(enabled=False, deliveries=[])
        return Deliveries(enabled=True, deliveries=[Delivery(**row) for row in deps.deliveries(limit)])

    return router


def _accepted(call_id: str, response: Response) -> CallAccepted:
    url = f"{PREFIX}/calls/{call_id}"
    response.headers["Location"] = url
    return CallAccepted(id=call_id, status="requested", url=url)


def _live_leg(conference: Conference, leg_id: str) -> None:
    if not any(leg.id == leg_id for leg in conference.live_legs()):
        raise Problem(404, "participant-not-found", "No such participant", f"no live leg {leg_id!r} in this call")
