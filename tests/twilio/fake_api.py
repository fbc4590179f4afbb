"""A local stand-in for api.twilio.com: records every request, answers with Twilio-shaped JSON.

The provider talks to it through the real `twilio` REST client (only the base
URL changes), so the tests see the exact requests Talkbox would send Twilio.
Where Twilio's documentation says how a resource behaves, the stand-in behaves
so (each rule is quoted where it is kept); it sends no callbacks itself: the
tests play those, and leave out the ones Twilio says it does not send.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.server import free_port

ACCOUNT = "AC" + "a" * 32
# Twilio's test number for "invalid": calls to it are refused with error 21211.
INVALID_NUMBER = "+15005550001"
API = f"/2010-04-01/Accounts/{ACCOUNT}"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    form: dict[str, list[str]]
    query: dict[str, list[str]]
    auth: str | None
    # The CallSid the stand-in gave a call it created.
    sid: str | None = None

    def one(self, name: str) -> str:
        (value,) = self.form[name]
        return value


@dataclass
class FakeTwilioApi:
    requests: list[ApiRequest] = field(default_factory=list)
    # The state each call is in at Twilio, as the test says it is.
    calls: dict[str, str] = field(default_factory=dict)
    conferences: dict[str, str] = field(default_factory=dict)  # FriendlyName -> ConferenceSid
    # A conference's status when not "in-progress" ("init": a caller waits for someone who starts it).
    conference_status: dict[str, str] = field(default_factory=dict)  # FriendlyName -> status
    participants: dict[str, dict[str, bool]] = field(default_factory=dict)  # ConferenceSid -> CallSid -> muted
    holds: dict[str, dict[str, bool]] = field(default_factory=dict)  # ConferenceSid -> CallSid -> hold
    # Calls whose fetch (and conferences whose participant updates) fail with a 500,
    # and calls whose fetch is never answered (until the stand-in stops).
    broken: set[str] = field(default_factory=set)
    stalled: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    # Each conference's own recording (`record="record-from-start"`), by ConferenceSid: "in-progress",
    # "paused" or "stopped"; and the recordings deleted.
    conference_recordings: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    # Recordings' media as Twilio serves it, by RecordingSid (`GET .../Recordings/RE….wav`).
    media: dict[str, bytes] = field(default_factory=dict)
    url: str = ""
    _count: int = 0

    def next_sid(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count:032x}"

    async def _record(self, request: Request, sid: str | None = None) -> ApiRequest:
        body = (await request.body()).decode()
        recorded = ApiRequest(
            method=request.method,
            path=request.url.path,
            form=parse_qs(body, keep_blank_values=True),
            query=parse_qs(request.url.query, keep_blank_values=True),
            auth=request.headers.get("authorization"),
            sid=sid,
        )
        self.requests.append(recorded)
        return recorded

    def _call(self, sid: str, recorded: ApiRequest | None = None) -> dict[str, object]:
        form = recorded.form if recorded else {}
        return {
            "sid": sid,
            "account_sid": ACCOUNT,
            "to": form.get("To", [""])[0],
            "from": form.get("From", [""])[0],
            "status": self.calls[sid],
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": "Fri, 27 Nov 2026 16:00:00 +0000",
            "uri": f"{API}/Calls/{sid}.json",
        }

    async def create_call(self, request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode())
        if form["To"] == [INVALID_NUMBER]:
            await self._record(request)
            error = {"code": 21211, "message": "Invalid 'To' Phone Number", "more_info": "", "status": 400}
            return JSONResponse(error, status_code=400)
        sid = self.next_sid("CA")
        recorded = await self._record(request, sid)
        self.calls[sid] = "queued"
        return JSONResponse(self._call(sid, recorded), status_code=201)

    async def update_call(self, request: Request) -> JSONResponse:
        recorded = await self._record(request)
        sid = request.path_params["sid"]
        if sid not in self.calls:
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        if "Status" not in recorded.form:
            return self._redirect(sid, recorded)
        wanted = recorded.one("Status")
        # Twilio's rule: "canceled" ends only a call that is queued or ringing. The Call resource
        # adds: "If the call is canceled while still in `queued` status, no status callbacks are fired."
        if wanted == "completed" or self.calls[sid] in ("queued", "initiated", "ringing"):
            self.calls[sid] = wanted
        return JSONResponse(self._call(sid))

    def _redirect(self, sid: str, recorded: ApiRequest) -> JSONResponse:
        """New instructions for a live call: `Twiml` to run, or a `Url` to fetch them from.

        Only a call in progress takes new instructions (error 21220, "Call is not in-progress.
        Cannot redirect."). A call that runs new TwiML has left its `<Dial><Conference>`: it is
        no longer a participant.
        """
        assert ("Twiml" in recorded.form) != ("Url" in recorded.form), "the Call resource: mutually exclusive"
        if self.calls[sid] != "in-progress":
            error = {"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "status": 400}
            return JSONResponse(error, status_code=400)
        for present in self.participants.values():
            present.pop(sid, None)
        return JSONResponse(self._call(sid))

    async def fetch_call(self, request: Request) -> JSONResponse:
        await self._record(request)
        sid = request.path_params["sid"]
        if sid in self.stalled:
            await self.release.wait()
        if sid in self.broken:
            return JSONResponse({"code": 20500, "message": "Internal Server Error", "status": 500}, status_code=500)
        if sid not in self.calls:
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        return JSONResponse(self._call(sid))

    async def list_conferences(self, request: Request) -> JSONResponse:
        recorded = await self._record(request)
        name = recorded.query.get("FriendlyName", [""])[0]
        wanted = recorded.query.get("Status", [None])[0]
        found = []
        for friendly, sid in self.conferences.items():
            status = self.conference_status.get(friendly, "in-progress")
            if friendly == name and wanted in (None, status):
                found.append({"sid": sid, "account_sid": ACCOUNT, "friendly_name": name, "status": status})
        meta = {"key": "conferences", "page": 0, "page_size": 1, "next_page_url": None}
        return JSONResponse({"conferences": found, "meta": meta, "next_page_uri": None})

    def _in_progress(self, conference_sid: str) -> bool:
        """The Participants subresource "only manages active participants of in-progress Conferences"."""
        names = [name for name, sid in self.conferences.items() if sid == conference_sid]
        return any(self.conference_status.get(name, "in-progress") == "in-progress" for name in names)

    async def list_participants(self, request: Request) -> JSONResponse:
        await self._record(request)
        conference = request.path_params["conference"]
        listed = self.participants.get(conference, {}) if self._in_progress(conference) else {}
        found = [
            {
                "account_sid": ACCOUNT,
                "call_sid": call,
                "conference_sid": conference,
                "muted": muted,
                "hold": self.holds.get(conference, {}).get(call, False),
                "status": "connected",
            }
            for call, muted in listed.items()
        ]
        meta = {"key": "participants", "page": 0, "page_size": 50, "next_page_url": None}
        return JSONResponse({"participants": found, "meta": meta, "next_page_uri": None})

    async def update_participant(self, request: Request) -> JSONResponse:
        recorded = await self._record(request)
        conference, call = request.path_params["conference"], request.path_params["call"]
        if conference in self.broken:
            return JSONResponse({"code": 20500, "message": "Internal Server Error", "status": 500}, status_code=500)
        if not self._in_progress(conference) or call not in self.participants.get(conference, {}):
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        # Twilio changes only what the request names: a hold leaves the mute as it was, and the other way round.
        if "Muted" in recorded.form:
            self.participants[conference][call] = recorded.one("Muted") == "true"
        if "Hold" in recorded.form:
            self.holds.setdefault(conference, {})[call] = recorded.one("Hold") == "true"
        return JSONResponse(
            {
                "account_sid": ACCOUNT,
                "call_sid": call,
                "conference_sid": conference,
                "muted": self.participants[conference][call],
                "hold": self.holds.get(conference, {}).get(call, False),
                "status": "connected",
            }
        )

    async def update_conference(self, request: Request) -> JSONResponse:
        await self._record(request)
        sid = request.path_params["conference"]
        if not self._in_progress(sid):
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        return JSONResponse({"sid": sid, "account_sid": ACCOUNT, "status": "in-progress"})

    async def create_recording(self, request: Request) -> JSONResponse:
        """Call Recordings: "create a recording of an in-progress call", 201 with the new RecordingSid."""
        await self._record(request)
        sid = request.path_params["sid"]
        if self.calls.get(sid) != "in-progress":
            return JSONResponse({"code": 21220, "message": "call not in progress", "status": 400}, status_code=400)
        recording = self.next_sid("RE")
        return JSONResponse(self._recording(sid, recording, "in-progress"), status_code=201)

    async def update_recording(self, request: Request) -> JSONResponse:
        recorded = await self._record(request)
        sid, recording = request.path_params["sid"], request.path_params["recording"]
        return JSONResponse(self._recording(sid, recording, recorded.one("Status")))

    async def update_conference_recording(self, request: Request) -> JSONResponse:
        """A conference's recording is paused, resumed or stopped; `Twilio.CURRENT` is its active one.

        It exists once the conference is in progress (recorded from its start) and, stopped, is no longer
        the current one: nothing is left to resume.
        """
        recorded = await self._record(request)
        conference = request.path_params["conference"]
        status = self.conference_recordings.setdefault(conference, "in-progress")
        if not self._in_progress(conference) or status == "stopped":
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        self.conference_recordings[conference] = recorded.one("Status")
        return JSONResponse(
            {"sid": "RE" + conference[2:], "account_sid": ACCOUNT, "conference_sid": conference, "status": status}
        )

    async def delete_recording(self, request: Request) -> Response:
        await self._record(request)
        self.deleted.append(request.path_params["recording"])
        return Response(status_code=204)

    def _recording(self, call: str, recording: str, status: str) -> dict[str, object]:
        return {"sid": recording, "account_sid": ACCOUNT, "call_sid": call, "status": status, "channels": 1}

    async def fetch_media(self, request: Request) -> Response:
        recorded = await self._record(request)
        recording = request.path_params["recording"]
        if recorded.auth is None or recording not in self.media:
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        return Response(self.media[recording], media_type="audio/x-wav")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"{API}/Calls.json", self.create_call, methods=["POST"]),
                Route(API + "/Calls/{sid}.json", self.update_call, methods=["POST"]),
                Route(API + "/Calls/{sid}.json", self.fetch_call, methods=["GET"]),
                Route(API + "/Calls/{sid}/Recordings.json", self.create_recording, methods=["POST"]),
                Route(API + "/Calls/{sid}/Recordings/{recording}.json", self.update_recording, methods=["POST"]),
                Route(API + "/Recordings/{recording}.wav", self.fetch_media, methods=["GET"]),
                Route(API + "/Recordings/{recording}.json", self.delete_recording, methods=["DELETE"]),
                Route(
                    API + "/Conferences/{conference}/Recordings/{recording}.json",
                    self.update_conference_recording,
                    methods=["POST"],
                ),
                Route(f"{API}/Conferences.json", self.list_conferences, methods=["GET"]),
                Route(API + "/Conferences/{conference}.json", self.update_conference, methods=["POST"]),
                Route(API + "/Conferences/{conference}/Participants.json", self.list_participants, methods=["GET"]),
                Route(
                    API + "/Conferences/{conference}/Participants/{call}.json",
                    self.update_participant,
                    methods=["POST"],
                ),
            ]
        )


@contextlib.asynccontextmanager
async def fake_twilio_api() -> AsyncIterator[FakeTwilioApi]:
    fake = FakeTwilioApi()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        server.should_exit = True
        await task
