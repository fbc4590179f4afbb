"""GET /api/twilio/token: a Voice access token for the page, in Twilio mode.

It takes the same identity the websocket does (open mode's client_name, or a
Talkbox token, which the page sends as `Authorization: Bearer`), so in token
mode a page can only ever get a token for its own user. Minting is the provider's business and comes in as a function.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Header, HTTPException, Query, Response
from pydantic import BaseModel

from talkbox.ui.identity import Identity, IdentityError

TOKEN_PATH = "/api/twilio/token"


class VoiceToken(BaseModel):
    identity: str
    token: str
    ttl: int


def voice_token_router(identity: Identity, mint: Callable[[str], dict[str, object]]) -> APIRouter:
    router = APIRouter(tags=["page"])

    @router.get(
        TOKEN_PATH,
        response_model=VoiceToken,
        summary="A Twilio Voice access token for the page's user",
        responses={401: {"description": "No valid identity (the websocket would refuse it too)"}},
    )
    async def voice_token(
        response: Response,
        client_name: str | None = Query(None, description="open mode: who you are"),
        token: str | None = Query(None, description="token mode: a Talkbox token (better in Authorization)"),
        authorization: str | None = Header(None, description="token mode: `Bearer` and a Talkbox token"),
    ) -> VoiceToken:
        try:
            user = identity.user_for(client_name, bearer(authorization) or token)
        except IdentityError as error:
            raise HTTPException(status_code=401, detail=str(error)) from error
        response.headers["Cache-Control"] = "no-store"
        return VoiceToken.model_validate(mint(user))

    return router


def bearer(authorization: str | None) -> str | None:
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None
