"""The X-Twilio-Signature check every webhook passes before anything is read or published."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from starlette.datastructures import MultiDict
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TwilioSignature:
    """A FastAPI dependency: the request's form parameters, once Twilio's signature holds.

    The URL Twilio signed is the public one (TALKBOX_PUBLIC_URL + path + query),
    not the one this process sees behind a proxy, so it is rebuilt from the setting.
    """

    auth_token: str
    public_url: str

    async def __call__(self, request: Request) -> MultiDict:
        body = (await request.body()).decode("utf-8", errors="replace")
        params = MultiDict(parse_qsl(body, keep_blank_values=True))
        signature = request.headers.get("X-Twilio-Signature")
        url = self.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        if not signature or not RequestValidator(self.auth_token).validate(url, params, signature):
            # Most often a TALKBOX_PUBLIC_URL that is not the address Twilio requested.
            log.warning("refused a webhook for %s: X-Twilio-Signature missing or wrong", url)
            raise HTTPException(status_code=403, detail="invalid or missing X-Twilio-Signature")
        return params
