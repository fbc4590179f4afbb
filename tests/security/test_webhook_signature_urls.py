"""A webhook's signature is checked once per URL form, and accepted exactly when the `twilio` package accepts it.

Twilio's signing is not consistent about the port: the package's RequestValidator signs the
URL with and without it and takes either. Talkbox computes the configured spelling first and
the other only on a mismatch; these tests hold it to the package's verdict for each form.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from talkbox.callbacks.twilio_routes import twilio_router
from talkbox.events.models import Event
from tests.twilio.twilio_requests import AUTH_TOKEN, call_status

STATUS = "/twilio/status?conference_id=c-1&leg_id=l-bob"
SHARED_KEY = "shared-key-secret-for-tests-0123456789"

# (TALKBOX_PUBLIC_URL, the URL Twilio signed, accepted?)
FORMS = [
    ("https://talkbox.example.org", "https://talkbox.example.org", True),
    ("https://talkbox.example.org", "https://talkbox.example.org:443", True),
    ("https://talkbox.example.org/", "https://talkbox.example.org:443", True),
    ("https://talkbox.example.org", "https://talkbox.example.org:8443", False),
    ("https://talkbox.example.org", "http://talkbox.example.org", False),
    ("https://talkbox.example.org:443", "https://talkbox.example.org", True),
    ("https://talkbox.example.org:443", "https://talkbox.example.org:443", True),
    ("https://talkbox.example.org:8443", "https://talkbox.example.org:8443", True),
    ("https://talkbox.example.org:8443", "https://talkbox.example.org", True),
    ("https://talkbox.example.org:8443", "https://talkbox.example.org:443", False),
    ("http://talkbox.example.org", "http://talkbox.example.org:80", True),
    ("http://talkbox.example.org", "http://talkbox.example.org:443", False),
]


async def _answer(public_url: str, headers: dict[str, str | bytes], params: dict[str, str]) -> tuple[int, list[Event]]:
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    app = FastAPI()
    app.include_router(twilio_router(AUTH_TOKEN, public_url, publish, signing_key=SHARED_KEY))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://talkbox.internal") as http:
        response = await http.post(STATUS, data=params, headers=headers)
    return response.status_code, published


@pytest.mark.parametrize(("public_url", "signed_base", "accepted"), FORMS)
async def test_each_url_form_is_accepted_as_the_twilio_package_accepts_it(
    public_url: str, signed_base: str, accepted: bool
) -> None:
    params = call_status("CA" + "1" * 32, "ringing", 1)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_base + STATUS, params)
    package = RequestValidator(AUTH_TOKEN).validate(public_url.rstrip("/") + STATUS, params, signature)
    assert package is accepted  # the table above is the package's own verdict

    status, published = await _answer(public_url, {"X-Twilio-Signature": signature}, params)

    assert status == (204 if accepted else 403)
    assert len(published) == (1 if accepted else 0)


@pytest.mark.parametrize("signed_base", ["https://talkbox.example.org", "https://talkbox.example.org:443"])
async def test_a_shared_key_signature_holds_in_either_form(signed_base: str) -> None:
    params = call_status("CA" + "1" * 32, "ringing", 1)
    signature = RequestValidator(SHARED_KEY).compute_signature(signed_base + STATUS, params, "HMAC_SHA256")
    headers = {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_01example,algorithm=HMAC_SHA256",
    }
    assert (await _answer("https://talkbox.example.org", headers, params))[0] == 204


async def test_an_algorithm_the_package_does_not_know_is_refused() -> None:
    params = call_status("CA" + "1" * 32, "ringing", 1)
    signature = RequestValidator(SHARED_KEY).compute_signature("https://talkbox.example.org" + STATUS, params)
    headers = {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_01example,algorithm=HMAC_MD5",
    }
    assert await _answer("https://talkbox.example.org", headers, params) == (403, [])


async def test_a_signature_header_outside_ascii_is_refused_not_an_error() -> None:
    params = call_status("CA" + "1" * 32, "ringing", 1)
    headers = {"X-Twilio-Signature": "sïgnature".encode("latin-1")}
    assert await _answer("https://talkbox.example.org", headers, params) == (403, [])
