"""Twilio's webhooks: TwiML for a leg, call and conference status, calls from telephones.

Each request is signed (TwilioSignature) before anything else happens. A
handler only parses, publishes one event and answers, so it stays well inside
Twilio's time limit; what the event means is for telephony to decide. A request
about something unknown, or missing what we need, gets a harmless empty answer
(an empty <Response/> hangs a call up; 204 to a callback), never an error page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.datastructures import MultiDict
from starlette.responses import Response
from starlette.routing import request_response

import talkbox.providers.twilio.twiml as twiml
from talkbox.callbacks.ringback import ringback_wav, transfer_failed_wav
from talkbox.callbacks.signature import MAX_PARAMETERS, TwilioSignature
from talkbox.callbacks.statuses import end_reason, leg_status, sequence
from talkbox.callbacks.twilio_params import CallParams, ConferenceParams, RecordingParams, form_body
from talkbox.events.models import (
    TERMINAL_STATUSES,
    ConferenceStatusChanged,
    Event,
    IncomingPhoneCall,
    LegStatusChanged,
    RecordingAvailable,
)
from talkbox.events.names import is_e164

log = logging.getLogger(__name__)

ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# A final status that Twilio did not number still ends the leg, whatever came before.
UNNUMBERED_END = 1_000_000_000
WITHHELD = "(withheld)"

TWIML = {200: {"description": "TwiML", "content": {"text/xml": {}}}}
NO_CONTENT = {204: {"description": "Accepted (or ignored: a call or conference Talkbox does not know)"}}
REFUSED = {
    403: {"description": "X-Twilio-Signature missing or wrong: nothing is published"},
    413: {"description": "Too many form parameters (TALKBOX_MAX_FORM_PARAMETERS) or too large a body"},
}


def _xml(document: str) -> Response:
    return Response(document, media_type="text/xml")


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], params: MultiDict) -> M | None:
    try:
        return model.model_validate(dict(params))
    except ValidationError:
        return None


def _known(*ids: str | None) -> bool:
    return all(value is not None and ID.fullmatch(value) for value in ids)


async def _nobody_muted(_conference_id: str, _leg_id: str) -> bool:
    return False


class WebhookRoute(APIRoute):
    """A route documented like FastAPI's, whose endpoint takes the request itself.

    FastAPI's dependency solving and its per-request exit stacks were half of a webhook's cost; an endpoint
    here reads what it needs (the signed form, a query value) and Starlette's own request/response calls it.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(endpoint)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


def _query(*names: str) -> list[dict[str, object]]:
    """The OpenAPI description of optional string query parameters (the endpoints read them themselves)."""
    return [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}} for name in names]


def twilio_router(
    auth_token: str,
    public_url: str,
    publish: Callable[[Event], Awaitable[None]],
    *,
    max_parameters: int = MAX_PARAMETERS,
    signing_key: str | None = None,
    muted: Callable[[str, str], Awaitable[bool]] = _nobody_muted,
    announcement: bytes = b"",
    hold_music: bytes = b"",
) -> APIRouter:
    """The webhooks, signed with `auth_token` or a Webhook Rule's `signing_key`.

    `muted(conference_id, leg_id)` says whether a leg was muted before it joined (the store);
    `announcement` is the WAV a conference hears when its recording starts (the media's tone, from the app);
    `hold_music`: the WAV a held participant hears (the app makes it from the media engine's loop).
    """
    webhooks = twiml.Webhooks(public_url)
    router = APIRouter(tags=["Twilio webhooks"], responses=REFUSED, route_class=WebhookRoute)
    signed = TwilioSignature(auth_token, public_url, max_parameters, signing_key).form
    leg_query = _query("conference_id", "leg_id")

    @router.post(
        twiml.VOICE_PATH,
        summary="TwiML for a leg Talkbox placed (and the TwiML app's voice URL)",
        response_class=Response,
        responses=TWIML,
        openapi_extra=form_body(CallParams) | {"parameters": leg_query},
    )
    async def voice(request: Request) -> Response:
        """The leg was answered: put it in its conference. A call Talkbox did not place is hung up."""
        params = await signed(request)
        conference_id, leg_id = request.query_params.get("conference_id"), request.query_params.get("leg_id")
        if not _known(conference_id, leg_id) or _parse(CallParams, params) is None:
            return _xml(twiml.empty())
        assert conference_id is not None and leg_id is not None
        return _xml(twiml.join_conference(webhooks, conference_id, leg_id, muted=await muted(conference_id, leg_id)))

    @router.post(
        twiml.STATUS_PATH,
        summary="Call status callback",
        status_code=204,
        response_class=Response,
        responses=NO_CONTENT,
        openapi_extra=form_body(CallParams) | {"parameters": leg_query},
    )
    async def status(request: Request) -> Response:
        params = await signed(request)
        call = _parse(CallParams, params)
        query = request.query_params
        report = _leg_report(call, query.get("conference_id"), query.get("leg_id")) if call is not None else None
        if report is None:
            log.info("ignored a status callback for a call Talkbox does not know (%s)", params.get("CallSid"))
        else:
            await publish(report)
        return Response(status_code=204)

    @router.post(
        twiml.CONFERENCE_PATH,
        summary="Conference status callback",
        status_code=204,
        response_class=Response,
        responses=NO_CONTENT,
        openapi_extra=form_body(ConferenceParams) | {"parameters": _query("conference_id")},
    )
    async def conference(request: Request) -> Response:
        event = _parse(ConferenceParams, await signed(request))
        conference_id = request.query_params.get("conference_id")
        if event is not None and _known(conference_id):
            assert conference_id is not None
            await publish(
                ConferenceStatusChanged(
                    conference_id=conference_id,
                    provider_id=event.ConferenceSid,
                    status=event.StatusCallbackEvent,
                    sequence=sequence(event.SequenceNumber),
                    leg_id=event.ParticipantLabel if _known(event.ParticipantLabel) else None,
                    call_provider_id=event.CallSid,
                    muted={"true": True, "false": False}.get((event.Muted or "").lower()),
                )
            )
        return Response(status_code=204)

    @router.post(
        twiml.WAIT_PATH,
        summary="Where a lone participant waits for the conference to start (the conference's waitUrl)",
        response_class=Response,
        responses=TWIML,
        openapi_extra=form_body(CallParams),
    )
    async def wait(request: Request) -> Response:
        """Ringback while the people called are rung, instead of Twilio's hold music."""
        await signed(request)
        return _xml(twiml.ringback(webhooks))

    @router.post(
        twiml.RECORDING_PATH,
        summary="Recording status callback (a conference recording, a call recording or a voicemail)",
        status_code=204,
        response_class=Response,
        responses=NO_CONTENT,
        openapi_extra=form_body(RecordingParams),
    )
    async def recording(request: Request) -> Response:
        """A finished recording is published for the provider to fetch; anything else is ignored.

        A conference's own recording names no recording id (its URL is in the conference's TwiML, written
        before the chair records): the provider knows which recording of the call it is.
        """
        event = _parse(RecordingParams, await signed(request))
        query = request.query_params
        conference_id, recording_id = query.get("conference_id"), query.get("recording_id")
        named = recording_id is None or _known(recording_id)
        if event is None or event.RecordingStatus != "completed" or not _known(conference_id) or not named:
            return Response(status_code=204)
        assert conference_id is not None
        await publish(
            RecordingAvailable(
                conference_id=conference_id,
                recording_id=recording_id,
                provider_id=event.RecordingSid,
                url=event.RecordingUrl,
            )
        )
        return Response(status_code=204)

    @router.post(
        twiml.RECORDED_PATH,
        summary="Where a voicemail's <Record> goes when the message is left: the call ends",
        response_class=Response,
        responses=TWIML,
        openapi_extra=form_body(CallParams),
    )
    async def recorded(request: Request) -> Response:
        await signed(request)
        return _xml(twiml.hang_up())

    @router.post(
        twiml.ANNOUNCE_PATH,
        summary="What a conference hears when its recording starts (the conference's announceUrl)",
        response_class=Response,
        responses=TWIML,
    )
    async def announce(request: Request) -> Response:
        await signed(request)
        return _xml(twiml.announce(webhooks))

    @router.get(
        twiml.ANNOUNCEMENT_PATH,
        summary="The recording announcement tone",
        response_class=Response,
        responses={200: {"description": "WAV, 8 kHz mono", "content": {"audio/wav": {}}}},
    )
    async def announcement_tone(_request: Request) -> Response:
        # Unsigned, as the ringback tone: <Play> fetches it with a plain GET.
        return Response(announcement, media_type="audio/wav", headers={"Cache-Control": "public, max-age=86400"})

    tone = ringback_wav()

    @router.get(
        twiml.RINGBACK_PATH,
        summary="The ringback tone the wait URL plays",
        response_class=Response,
        responses={200: {"description": "WAV, 8 kHz mono", "content": {"audio/wav": {}}}},
    )
    async def ringback(_request: Request) -> Response:
        # Unsigned: Twilio fetches what <Play> names as a plain GET, and the tone is no secret.
        return Response(tone, media_type="audio/wav", headers={"Cache-Control": "public, max-age=86400"})

    failed = transfer_failed_wav()

    @router.get(
        twiml.TRANSFER_FAILED_PATH,
        summary="The tone a transferred caller hears when the transfer was not answered",
        response_class=Response,
        responses={200: {"description": "WAV, 8 kHz mono", "content": {"audio/wav": {}}}},
    )
    async def transfer_failed(_request: Request) -> Response:
        # Unsigned, like the ringback: a plain GET from <Play>.
        return Response(failed, media_type="audio/wav", headers={"Cache-Control": "public, max-age=86400"})

    @router.post(
        twiml.HOLD_PATH,
        summary="What a held participant hears (the participant's holdUrl)",
        response_class=Response,
        responses=TWIML,
        openapi_extra=form_body(CallParams) | {"parameters": _query("music")},
    )
    async def on_hold(request: Request) -> Response:
        await signed(request)
        return _xml(twiml.on_hold(webhooks, music=request.query_params.get("music", "1") != "0"))

    @router.get(
        twiml.HOLD_MUSIC_PATH,
        summary="Talkbox's music on hold, which the holdUrl plays",
        response_class=Response,
        responses={200: {"description": "WAV, 8 kHz mono", "content": {"audio/wav": {}}}},
    )
    async def music(_request: Request) -> Response:
        # Unsigned, like the ringback: Twilio's <Play> fetches it with a plain GET.
        return Response(hold_music, media_type="audio/wav", headers={"Cache-Control": "public, max-age=86400"})

    @router.post(
        twiml.INCOMING_PATH,
        summary="A call from a telephone to the Twilio number (the number's voice webhook)",
        response_class=Response,
        responses=TWIML,
        openapi_extra=form_body(CallParams),
    )
    async def incoming(request: Request) -> Response:
        """Answer at once into a new conference, where the caller waits while the clients ring."""
        call = _parse(CallParams, await signed(request))
        if call is None or not _known(call.CallSid):
            return _xml(twiml.empty())
        conference_id, leg_id = twiml.incoming_ids(call.CallSid)
        caller = call.From if call.From and is_e164(call.From) else WITHHELD
        await publish(
            IncomingPhoneCall(conference_id=conference_id, leg_id=leg_id, caller=caller, provider_id=call.CallSid)
        )
        return _xml(twiml.join_conference(webhooks, conference_id, leg_id, start=False))

    return router


def _leg_report(call: CallParams, conference_id: str | None, leg_id: str | None) -> LegStatusChanged | None:
    status = leg_status(call.CallStatus)
    if status is None:
        return None
    if conference_id is None and leg_id is None and (call.Direction or "").lower() == "inbound":
        # The phone number's own status callback: the call came from a telephone.
        conference_id, leg_id = twiml.incoming_ids(call.CallSid)
    if not _known(conference_id, leg_id):
        return None
    if call.SequenceNumber is None and status not in TERMINAL_STATUSES:
        return None  # cannot be ordered against the others
    assert conference_id is not None and leg_id is not None
    return LegStatusChanged(
        conference_id=conference_id,
        leg_id=leg_id,
        status=status,
        sequence=UNNUMBERED_END if call.SequenceNumber is None else sequence(call.SequenceNumber),
        reason=end_reason(status),
        provider_id=call.CallSid,
    )
