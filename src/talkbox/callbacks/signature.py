"""The X-Twilio-Signature check every webhook passes before anything is read or published.

Twilio signs with the account's auth token (HMAC-SHA1), unless a Webhook Rule
matches the URL: then it signs with that rule's shared key and algorithm and
names them in X-Twilio-Webhooks-Signature-Settings. The signed string is the
same either way (the URL, then the sorted parameters); only key and hash change.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qsl, urlparse

from fastapi import HTTPException, Request
from starlette.datastructures import MultiDict
from twilio.request_validator import (
    HMAC_SHA1,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    add_port,
    get_signature_algorithm,
    remove_port,
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


def url_forms(public_url: str) -> tuple[str, str]:
    """The two spellings of the public URL the `twilio` package accepts a signature for: as configured first,
    then with the default port added (or the port removed, when it names one).

    RequestValidator.validate signs both for every request (Twilio's own signing is not consistent about the
    port); a signature is over one of them, so the configured spelling is tried first, the other on mismatch.
    """
    parsed = urlparse(public_url.rstrip("/"))
    other = remove_port(parsed) if parsed.port else add_port(parsed)
    return parsed.geturl(), other


class TwilioSignature:
    """A webhook's form parameters, once Twilio's signature holds.

    The URL Twilio signed is the public one (TALKBOX_PUBLIC_URL + path + query),
    not the one this process sees behind a proxy, so it is rebuilt from the setting.
    More than `max_parameters` form parameters are refused (413) before any is looked at.
    A request that says it was signed with a shared key is checked with
    `signing_key` (TWILIO_WEBHOOK_SIGNING_KEY), never with the auth token.
    """

    def __init__(
        self, auth_token: str, public_url: str, max_parameters: int = MAX_PARAMETERS, signing_key: str | None = None
    ) -> None:
        self.max_parameters = max_parameters
        self._token = RequestValidator(auth_token)
        self._shared = RequestValidator(signing_key) if signing_key else None
        self._bases = url_forms(public_url)

    async def form(self, request: Request) -> MultiDict:
        """The parameters, or HTTPException: 413 for too many, 403 for a signature missing or wrong."""
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=self.max_parameters)
        except ValueError as error:
            raise HTTPException(status_code=413, detail=f"more than {self.max_parameters} form parameters") from error
        signature = request.headers.get(SIGNATURE_HEADER)
        target = request.scope["path"]  # a route's own path (the webhooks' are plain ASCII): what request.url says
        if query := request.scope["query_string"]:
            target += "?" + query.decode("latin-1")
        validator, algorithm = self._key(request.headers.get(SIGNATURE_SETTINGS_HEADER, "").strip())
        if validator is None:
            log.warning(
                "refused a webhook for %s: signed with a shared key, and TWILIO_WEBHOOK_SIGNING_KEY is unset",
                self._bases[0] + target,
            )
            raise HTTPException(status_code=403, detail="signed with a shared key Talkbox does not have")
        if not signature or not self._holds(validator, target, SignedParams.of(pairs), signature, algorithm):
            # Most often a TALKBOX_PUBLIC_URL that is not the address Twilio requested.
            log.warning("refused a webhook for %s: X-Twilio-Signature missing or wrong", self._bases[0] + target)
            raise HTTPException(status_code=403, detail="invalid or missing X-Twilio-Signature")
        return MultiDict(pairs)

    def _key(self, settings: str) -> tuple[RequestValidator | None, str]:
        """What to check with: the auth token's validator, or a Webhook Rule's shared key's, and its algorithm."""
        if not settings:
            return self._token, HMAC_SHA1
        return self._shared, get_signature_algorithm(settings)

    def _holds(
        self, validator: RequestValidator, target: str, params: SignedParams, signature: str, algorithm: str
    ) -> bool:
        """The `twilio` package's own signature (`compute_signature`), over each URL form until one matches."""
        given = signature.encode("latin-1")  # a header's text is its bytes as latin-1
        try:
            return any(
                hmac.compare_digest(validator.compute_signature(base + target, params, algorithm).encode(), given)
                for base in self._bases
            )
        except ValueError:  # an algorithm the package does not know
            log.warning("a webhook signed with %r, which the twilio package cannot check", algorithm[:40])
            return False
