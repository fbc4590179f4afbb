"""GET /api/twilio/token: a Voice access token for the page, in Twilio mode.

It takes the same identity the websocket does (open mode's client_name, or a
Talkbox token, which the page sends as `Authorization: Bearer`), so in token
mode a page can only ever get a token for its own user. Minting is the provider's business and comes in as a function.

An application's page on one of TALKBOX_ALLOWED_ORIGINS (the embeddable client) may read the answer too: the
route answers CORS for those origins only, and its preflight (an Authorization header needs one).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Header, HTTPException, Query, Response
from pydantic import BaseModel

from talkbox.ui.edge import AllowedOrigins
from talkbox.ui.identity import Identity, IdentityError

TOKEN_PATH = "/api/twilio/token"


class VoiceToken(BaseModel):
    identity: str
    token: str
    ttl: int


def voice_token_router(
    identity: Identity, mint: Callable[[str], dict[str, object]], origins: AllowedOrigins
) -> APIRouter:
    router = APIRouter(tags=["page"])

    def cross_origin(origin: str | None) -> dict[str, str]:
        """The CORS headers for a listed origin's page; none for anyone else (the browser then withholds the answer)."""
        if origin is None or not origins.listed(origin):
            return {"Vary": "Origin"}
        return {"Vary": "Origin", "Access-Control-Allow-Origin": origin.strip()}

    @router.options(TOKEN_PATH, status_code=204, include_in_schema=False)
    async def preflight(response: Response, origin: str | None = Header(None)) -> None:
        headers = cross_origin(origin)
        if "Access-Control-Allow-Origin" in headers:
            headers |= {"Access-Control-Allow-Methods": "GET", "Access-Control-Allow-Headers": "Authorization"}
            headers["Access-Control-Max-Age"] = "600"
        response.headers.update(headers)

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
        origin: str | None = Header(None, include_in_schema=False),
    ) -> VoiceToken:
        headers = cross_origin(origin)
        try:
            user = identity.user_for(client_name, bearer(authorization) or token)
        except IdentityError as error:
            raise HTTPException(status_code=401, detail=str(error), headers=headers) from error
        response.headers.update(headers | {"Cache-Control": "no-store"})
        return VoiceToken.model_validate(mint(user))

    return router


def bearer(authorization: str | None) -> str | None:
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None
