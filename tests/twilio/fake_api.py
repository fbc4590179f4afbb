"""A local stand-in for api.twilio.com: records every request, answers with Twilio-shaped JSON.

The provider talks to it through the real `twilio` REST client (only the base
URL changes), so the tests see the exact requests Talkbox would send Twilio.
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
from starlette.responses import JSONResponse
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
        wanted = recorded.one("Status")
        # Twilio's rule: "canceled" ends only a call that is queued or ringing.
        if wanted == "completed" or self.calls[sid] in ("queued", "initiated", "ringing"):
            self.calls[sid] = wanted
        return JSONResponse(self._call(sid))

    async def list_conferences(self, request: Request) -> JSONResponse:
        recorded = await self._record(request)
        name = recorded.query.get("FriendlyName", [""])[0]
        found = [
            {"sid": sid, "account_sid": ACCOUNT, "friendly_name": name, "status": "in-progress"}
            for friendly, sid in self.conferences.items()
            if friendly == name
        ]
        meta = {"key": "conferences", "page": 0, "page_size": 1, "next_page_url": None}
        return JSONResponse({"conferences": found, "meta": meta, "next_page_uri": None})

    async def update_participant(self, request: Request) -> JSONResponse:
        recorded = await self._record(request)
        return JSONResponse(
            {
                "account_sid": ACCOUNT,
                "call_sid": request.path_params["call"],
                "conference_sid": request.path_params["conference"],
                "muted": recorded.one("Muted") == "true",
                "status": "connected",
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"{API}/Calls.json", self.create_call, methods=["POST"]),
                Route(API + "/Calls/{sid}.json", self.update_call, methods=["POST"]),
                Route(f"{API}/Conferences.json", self.list_conferences, methods=["GET"]),
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
        server.should_exit = True
        await task
