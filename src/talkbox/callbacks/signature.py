"""The X-Twilio-Signature check every webhook passes before anything is read or published.

Twilio signs with the account's auth token (HMAC-SHA1), unless a Webhook Rule
matches the URL: then it signs with that rule's shared key and algorithm and
names them in X-Twilio-Webhooks-Signature-Settings. The signed string is the
same either way (the URL, then the sorted parameters); only key and hash change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from starlette.datastructures import MultiDict
from twilio.request_validator import (
    HMAC_SHA1,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

log = logging.getLogger(__name__)

# Twilio posts a few dozen parameters; this leaves room for what it may add.
MAX_PARAMETERS = 256


class SignedParams(dict[str, list[str]]):
    """Every value of each form key, grouped once, in linear time.

    RequestValidator asks for each key's values with `getall` (as it would ask a
    MultiDict). Starlette's MultiDict answers that by scanning all its pairs, so
    a body of n distinct keys cost n² before any signature was checked.
    """

    @classmethod
    def of(cls, pairs: list[tuple[str, str]]) -> SignedParams:
        grouped = cls()
        for key, value in pairs:
            grouped.setdefault(key, []).append(value)
        return grouped

    def getall(self, key: str) -> list[str]:
        return self[key]


@dataclass(frozen=True)
class TwilioSignature:
    """A FastAPI dependency: the request's form parameters, once Twilio's signature holds.

    The URL Twilio signed is the public one (TALKBOX_PUBLIC_URL + path + query),
    not the one this process sees behind a proxy, so it is rebuilt from the setting.
    More than `max_parameters` form parameters are refused (413) before any is looked at.
    A request that says it was signed with a shared key is checked with
    `signing_key` (TWILIO_WEBHOOK_SIGNING_KEY), never with the auth token.
    """

    auth_token: str
    public_url: str
    max_parameters: int = MAX_PARAMETERS
    signing_key: str | None = None

    async def __call__(self, request: Request) -> MultiDict:
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=self.max_parameters)
        except ValueError as error:
            raise HTTPException(status_code=413, detail=f"more than {self.max_parameters} form parameters") from error
        signature = request.headers.get(SIGNATURE_HEADER)
        url = self.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        key, algorithm = self._key(request.headers.get(SIGNATURE_SETTINGS_HEADER, "").strip())
        if key is None:
            log.warning(
                "refused a webhook for %s: signed with a shared key, and TWILIO_WEBHOOK_SIGNING_KEY is unset", url
            )
            raise HTTPException(status_code=403, detail="signed with a shared key Talkbox does not have")
        if not signature or not RequestValidator(key).validate(url, SignedParams.of(pairs), signature, algorithm):
            # Most often a TALKBOX_PUBLIC_URL that is not the address Twilio requested.
            log.warning("refused a webhook for %s: X-Twilio-Signature missing or wrong", url)
            raise HTTPException(status_code=403, detail="invalid or missing X-Twilio-Signature")
        return MultiDict(pairs)

    def _key(self, settings: str) -> tuple[str | None, str]:
        """The secret and algorithm to check with: the auth token's, or a Webhook Rule's shared key's."""
        if not settings:
            return self.auth_token, HMAC_SHA1
        return self.signing_key, get_signature_algorithm(settings)
