"""The page's recordings and voicemails over HTTP: list, play (with ranges, so `<audio>` can seek), mark heard,
delete, and the user's voicemail setting.

Who asks is who their identity says, exactly as for the websocket (open mode's `client_name`, or a token
as `Authorization: Bearer` or `?token=`, which `<audio src>` needs since it cannot send headers). A recording
is anyone's only if the index lists them among its owners; anything else, a recording of others, an id
Talkbox never minted, a path, is the same 404, so a guess learns nothing. The file is found from the
id in the index, never from what the request names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from talkbox.events.models import Event, RecordingKind, RecordingsChanged
from talkbox.telephony.recordings import RECORDING_ID, Recording, RecordingIndex
from talkbox.telephony.store import StoreUnavailable
from talkbox.ui.identity import Identity, IdentityError
from talkbox.ui.voice_token import bearer

PREFIX = "/api/recordings"


class RecordingView(BaseModel):
    id: str
    kind: RecordingKind
    caller: str
    # The others who were on the call (a voicemail: none).
    others: tuple[str, ...]
    started_at: float
    seconds: float
    new: bool  # a voicemail this user has not played yet
    audio: str  # where to play it from

    @classmethod
    def of(cls, recording: Recording, user: str) -> RecordingView:
        ended = recording.ended_at if recording.ended_at is not None else recording.started_at
        return cls(
            id=recording.id,
            kind=recording.kind,
            caller=recording.caller,
            others=tuple(owner for owner in recording.owners if owner != user),
            started_at=recording.started_at,
            seconds=round(max(0.0, ended - recording.started_at), 1),
            new=recording.kind == "voicemail" and user not in recording.heard_by,
            audio=f"{PREFIX}/{recording.id}/audio",
        )


class Library(BaseModel):
    recordings: list[RecordingView]
    new_voicemails: int
    voicemail: bool  # whether a missed call to this user becomes a voicemail
    # Whether this server takes voicemail at all (TALKBOX_VOICEMAIL): when not, nobody's can be turned on.
    voicemail_available: bool = True


class VoicemailSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    on: bool


def _store_reachable() -> Iterator[None]:
    """The store out of reach (a full disk, Redis away) is the server's passing trouble, not the page's error."""
    try:
        yield
    except StoreUnavailable as error:
        raise HTTPException(status_code=503, detail="recordings cannot be reached just now; try again") from error


def recordings_router(
    identity: Identity,
    index: RecordingIndex,
    folder: Path,
    publish: Callable[[Event], Awaitable[None]],
    voicemail_available: bool = True,
) -> APIRouter:
    router = APIRouter(tags=["page"], dependencies=[Depends(_store_reachable)])
    folder = folder.resolve()

    def who(
        client_name: str | None = Query(None), token: str | None = Query(None), authorization: str | None = Header(None)
    ) -> str:
        """Who asks, by the page's own identity (a name in open mode, a token otherwise): every route's first step."""
        try:
            return identity.user_for(client_name, bearer(authorization) or token)
        except IdentityError as error:
            raise HTTPException(status_code=401, detail=str(error)) from error

    async def owned(recording_id: str, user: str) -> Recording:
        recording = await index.recording(recording_id) if RECORDING_ID.match(recording_id) else None
        if recording is None or user not in recording.owners or recording.ended_at is None:
            raise HTTPException(status_code=404, detail="no such recording")
        return recording

    @router.get(PREFIX, response_model=Library, summary="The user's recordings and voicemails, newest first")
    async def library(
        response: Response,
        user: str = Depends(who),
    ) -> Library:
        views = [RecordingView.of(r, user) for r in await index.recordings_of(user) if r.ended_at is not None]
        response.headers["Cache-Control"] = "no-store"
        return Library(
            recordings=views,
            new_voicemails=sum(1 for view in views if view.new),
            voicemail=voicemail_available and await index.voicemail_on(user),
            voicemail_available=voicemail_available,
        )

    @router.get(f"{PREFIX}/{{recording_id}}/audio", summary="The recording as Ogg/Opus (byte ranges honoured)")
    async def audio(
        recording_id: str,
        user: str = Depends(who),
    ) -> FileResponse:
        recording = await owned(recording_id, user)
        path = folder / recording.file_name
        if path.parent != folder or not path.is_file():
            raise HTTPException(status_code=404, detail="no such recording")
        return FileResponse(
            path,
            media_type="audio/ogg",
            headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
            content_disposition_type="inline",
            filename=recording.file_name,
        )

    @router.post(f"{PREFIX}/{{recording_id}}/heard", status_code=204, summary="The user has played it")
    async def heard(
        recording_id: str,
        user: str = Depends(who),
    ) -> Response:
        recording = await owned(recording_id, user)
        if user not in recording.heard_by:
            await index.put_recording(replace(recording, heard_by=(*recording.heard_by, user)))
        return Response(status_code=204)

    @router.delete(f"{PREFIX}/{{recording_id}}", status_code=204, summary="Gone from the user's list")
    async def delete(
        recording_id: str,
        user: str = Depends(who),
    ) -> Response:
        """A recording others were on stays theirs; the file goes with its last owner."""
        recording = await owned(recording_id, user)
        rest = recording.without(user)
        if rest.owners:
            await index.put_recording(rest)
        else:
            await index.delete_recording(recording.id)
            with contextlib.suppress(FileNotFoundError):
                (folder / recording.file_name).unlink()
        await publish(RecordingsChanged(conference_id=recording.conference_id, users=(user,), kind=recording.kind))
        return Response(status_code=204)

    @router.put("/api/voicemail", response_model=VoicemailSetting, summary="Turn the user's voicemail on or off")
    async def voicemail(
        request: Request,
        user: str = Depends(who),
    ) -> VoicemailSetting:
        try:
            setting = VoicemailSetting.model_validate_json(await request.body())
        except ValueError as error:
            raise HTTPException(status_code=422, detail='the body must be {"on": true} or {"on": false}') from error
        if not voicemail_available:
            # Kept would mean nothing, and read as on once the server takes voicemail again.
            raise HTTPException(status_code=409, detail="voicemail is turned off on this server (TALKBOX_VOICEMAIL)")
        await index.set_voicemail(user, setting.on)
        return setting

    return router
