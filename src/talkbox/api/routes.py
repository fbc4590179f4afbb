"""/api/v1: what an application's server asks of Talkbox, with an API key.

Every change is asked for by publishing the same events the websocket gateway
publishes for a page, on behalf of the call's chairperson; the rules decide, as
they do for a page. Reads come from the conference store. So a request is
answered 202 once its event is on the bus, and the call's state is read back
with GET (or seen by the pages, pushed as for any call).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, which name
# dependencies local to api_router.
import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from talkbox.api.keys import ApiKeys
from talkbox.api.problems import PROBLEM_RESPONSES, PlainRoute, Problem, ProblemRoute, body_of, too_long
from talkbox.api.subscriptions import SETTINGS_ID, Subscription, SubscriptionError, check_url
from talkbox.api.webhooks import Webhooks
from talkbox.events.models import (
    ConferenceView,
    Event,
    UserAddsParticipant,
    UserHangsUp,
    UserHoldsLeg,
    UserMutesLeg,
    UserRecords,
    UserRemovesParticipant,
    UserRequestsCall,
)
from talkbox.events.names import CLIENT_NAME, is_valid_destination
from talkbox.events.placement import new_conference_id
from talkbox.telephony.model import Conference
from talkbox.telephony.people import CallRecord
from talkbox.telephony.store import ConferenceStore

PREFIX = "/api/v1"
IDEMPOTENCY_KEY_MOST = 255  # characters
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


class ParticipantChange(_Body):
    muted: bool | None = Field(None, description="mute or unmute them")
    held: bool | None = Field(None, description="hold them (they hear music, the others stop hearing them) or resume")

    @model_validator(mode="after")
    def _something(self) -> "ParticipantChange":
        if self.muted is None and self.held is None:
            raise ValueError("say what to change: `muted`, `held` or both")
        return self


class RecordingRequest(_Body):
    on: bool = Field(strict=True, description="start (true) or stop (false) recording the call, as its chair")


class CallHistory(BaseModel):
    calls: list[CallRecord] = Field(description="times in seconds since the epoch; `outcome` null while it goes on")
    before: float | None = Field(description="pass as `before` for the next page; null on the last one")


class Conferences(BaseModel):
    conferences: list[ConferenceView]


class Delivery(BaseModel):
    id: int
    subscription: str = Field(description="the subscription it is for: `settings` is TALKBOX_WEBHOOK_URL's")
    conference_id: str
    sequence: int
    created_at: float
    attempts: int
    done_at: float | None = Field(description="when it was answered 2xx or given up on; null while still tried")
    outcome: str | None = Field(description="the last answer's status code, an error's name, or gave-up:…")


class Deliveries(BaseModel):
    enabled: bool = Field(description="whether any subscription (or TALKBOX_WEBHOOK_URL) receives POSTs")
    deliveries: list[Delivery]


class SubscriptionRequest(_Body):
    url: str = Field(max_length=2000, description="where the POSTs go: an absolute http(s) URL")

    @field_validator("url")
    @classmethod
    def _valid(cls, value: str) -> str:
        return check_url(value.strip())


class SubscriptionView(BaseModel):
    id: str
    url: str
    created_at: float
    source: str = Field(description="`api`, or `settings` for TALKBOX_WEBHOOK_URL (which the API cannot delete)")

    @classmethod
    def of(cls, subscription: Subscription) -> "SubscriptionView":
        made = subscription
        return cls(id=made.id, url=made.url, created_at=made.created_at, source=made.source)


class SubscriptionCreated(SubscriptionView):
    secret: str = Field(description="the HMAC-SHA256 key of this subscription's signatures: shown this once")


class SubscriptionList(BaseModel):
    webhooks: list[SubscriptionView]


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
    # The subscriptions and their deliveries.
    webhooks: Webhooks
    # A new call's id: with several nodes, one that places its media on the least-loaded node (events/placement.py).
    place: Callable[[], Awaitable[str]] | None = None


def api_router(deps: ApiDeps) -> APIRouter:
    def key_name(authorization: str | None) -> str:
        """The name of the key the request carries; every route needs one, and each request counts once."""
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

    async def caller(authorization: Annotated[str | None, Header()] = None) -> str:
        return key_name(authorization)

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

    # Only its signature is used: what /openapi.json says POST /calls takes and answers. `serve_create_call`
    # serves it (PlainRoute), which checks the same in the same order: the key, then the headers and the body.
    async def create_call(
        body: CallRequest,
        key_name: Annotated[str, Depends(caller)],
        idempotency_key: Annotated[str | None, Header(max_length=IDEMPOTENCY_KEY_MOST)] = None,
    ) -> None:
        raise NotImplementedError

    async def serve_create_call(request: Request) -> Response:
        headers = request.headers
        try:
            key = key_name(headers.get("authorization"))
            idempotency_key = headers.get("idempotency-key")
            errors = []
            if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MOST:
                errors.append(too_long("header", "idempotency-key", IDEMPOTENCY_KEY_MOST))
            body = body_of(CallRequest, await request.body(), headers.get("content-type"), errors)
            return await place_call(key, body, idempotency_key)
        except Problem as problem:
            return problem.response(request.url.path)

    async def place_call(key: str, body: CallRequest, idempotency_key: str | None) -> Response:
        call_id = await deps.place() if deps.place is not None else new_conference_id()
        if idempotency_key is not None:
            request = body.model_dump_json(by_alias=True)
            before, holder = await deps.keys.claim(key, idempotency_key, request, call_id)
            if holder != call_id:  # a request before this one took the key
                if before != request:
                    raise Problem(
                        409, "idempotency-key-reused", "Idempotency-Key reused", "that key was sent with another body"
                    )
                return _accepted(holder)
        first, *more = body.to
        await deps.publish(UserRequestsCall(user=body.from_, to=first, conference_id=call_id, also=tuple(more)))
        return _accepted(call_id)

    router.add_api_route(
        "/calls",
        create_call,
        methods=["POST"],
        status_code=202,
        response_model=CallAccepted,
        summary="Place a call (or a conference)",
        route_class_override=functools.partial(PlainRoute, serve=serve_create_call),  # type: ignore[arg-type]
    )

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

    @router.patch(
        "/calls/{call_id}/participants/{leg_id}", status_code=202, summary="Mute or hold a participant, or undo it"
    )
    async def change(
        body: ParticipantChange, leg_id: Id, conference: Annotated[Conference, Depends(live_call_of)]
    ) -> None:
        _live_leg(conference, leg_id)
        chair, call = conference.chair.destination, conference.id
        if body.muted is not None:
            await deps.publish(UserMutesLeg(user=chair, conference_id=call, leg_id=leg_id, muted=body.muted))
        if body.held is not None:
            await deps.publish(UserHoldsLeg(user=chair, conference_id=call, leg_id=leg_id, held=body.held))

    @router.delete("/calls/{call_id}/participants/{leg_id}", status_code=202, summary="Hang up a participant")
    async def remove(leg_id: Id, conference: Annotated[Conference, Depends(live_call_of)]) -> None:
        _live_leg(conference, leg_id)
        chair = conference.chair.destination
        if leg_id == conference.chair_leg_id:
            await deps.publish(UserHangsUp(user=chair, conference_id=conference.id))
        else:
            await deps.publish(UserRemovesParticipant(user=chair, conference_id=conference.id, leg_id=leg_id))

    @router.put("/calls/{call_id}/recording", status_code=202, summary="Start or stop recording the call")
    async def record(body: RecordingRequest, conference: Annotated[Conference, Depends(live_call_of)]) -> None:
        await deps.publish(UserRecords(user=conference.chair.destination, conference_id=conference.id, on=body.on))

    @router.get("/conferences", response_model=Conferences, summary="The conferences going on now")
    async def conferences() -> Conferences:
        return Conferences(conferences=[c.view() for c in await deps.store.active()])

    Limit = Annotated[int, Query(ge=1, le=1000)]

    @router.get("/users/{user}/calls", response_model=CallHistory, summary="A user's call history, newest first")
    async def history(
        user: Annotated[str, Path(pattern=f"^{CLIENT_NAME.pattern}$")],
        before: Annotated[float | None, Query(description="calls that started before this (epoch s)")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> CallHistory:
        found = await deps.store.calls_of(user, before, limit)
        return CallHistory(calls=found, before=found[-1].started_at if len(found) == limit else None)

    subscriptions = deps.webhooks.subscriptions

    def subscription_of(webhook_id: Id) -> Subscription:
        found = subscriptions.get(webhook_id)
        if found is None:
            raise Problem(404, "webhook-not-found", "No such webhook subscription", f"no subscription {webhook_id!r}")
        return found

    def read_back(limit: int, subscription: str | None = None) -> Deliveries:
        rows = deps.webhooks.queue.recent(limit, subscription)
        return Deliveries(enabled=bool(subscriptions.active()), deliveries=[Delivery(**row) for row in rows])

    @router.post("/webhooks", status_code=201, response_model=SubscriptionCreated, summary="Subscribe a URL")
    async def subscribe(body: SubscriptionRequest, response: Response) -> SubscriptionCreated:
        try:
            made = subscriptions.create(body.url)
        except SubscriptionError as error:
            raise Problem(409, "too-many-webhooks", "Too many webhook subscriptions", str(error)) from error
        response.headers["Location"] = f"{PREFIX}/webhooks/{made.id}"
        response.headers["Cache-Control"] = "no-store"
        return SubscriptionCreated(**SubscriptionView.of(made).model_dump(), secret=made.secret)

    @router.get("/webhooks", response_model=SubscriptionList, summary="The webhook subscriptions (not their secrets)")
    async def list_subscriptions() -> SubscriptionList:
        return SubscriptionList(webhooks=[SubscriptionView.of(s) for s in subscriptions.active()])

    @router.get("/webhooks/deliveries", response_model=Deliveries, summary="The latest webhook POSTs and their answers")
    async def deliveries(limit: Limit = 100) -> Deliveries:
        return read_back(limit)

    @router.get("/webhooks/{webhook_id}", response_model=SubscriptionView, summary="One webhook subscription")
    async def get_subscription(subscription: Annotated[Subscription, Depends(subscription_of)]) -> SubscriptionView:
        return SubscriptionView.of(subscription)

    @router.delete("/webhooks/{webhook_id}", status_code=204, summary="Stop POSTing to a subscription")
    async def unsubscribe(subscription: Annotated[Subscription, Depends(subscription_of)]) -> None:
        if subscription.id == SETTINGS_ID:
            raise Problem(
                409, "webhook-from-settings", "Set in the settings", "unset TALKBOX_WEBHOOK_URL to stop this one"
            )
        deps.webhooks.delete(subscription.id)

    @router.get("/webhooks/{webhook_id}/deliveries", response_model=Deliveries, summary="A subscription's latest POSTs")
    async def subscription_deliveries(
        subscription: Annotated[Subscription, Depends(subscription_of)], limit: Limit = 100
    ) -> Deliveries:
        return read_back(limit, subscription.id)

    return router


def _accepted(call_id: str) -> Response:
    """The answer made here, not by FastAPI from the response model: its validation was a tenth of a call's cost."""
    url = f"{PREFIX}/calls/{call_id}"
    body = json.dumps({"id": call_id, "status": "requested", "url": url}, separators=(",", ":"))
    return Response(body, status_code=202, media_type="application/json", headers={"Location": url})


def _live_leg(conference: Conference, leg_id: str) -> None:
    if not any(leg.id == leg_id for leg in conference.live_legs()):
        raise Problem(404, "participant-not-found", "No such participant", f"no live leg {leg_id!r} in this call")
