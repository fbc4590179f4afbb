"""Twilio's settings: TWILIO_* as in the original, plus where Twilio reaches Talkbox.

Talkbox uses Twilio when TWILIO_ACCOUNT_SID is set; from then on every other
setting below (but the ring list and the webhook signing key) is required, and
a missing one stops the start with a message that names them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from talkbox.events.names import is_e164, ring_group

REQUIRED = {
    "account_sid": "TWILIO_ACCOUNT_SID",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "api_key": "TWILIO_API_KEY",
    "api_secret": "TWILIO_API_SECRET",
    "twiml_app_sid": "TWILIO_TWIML_APP_SID",
    "caller_id": "TWILIO_CALLER_ID",
    "public_url": "TALKBOX_PUBLIC_URL",
}


class TwilioSettingsError(ValueError):
    """Twilio was asked for (TWILIO_ACCOUNT_SID is set) but cannot be used as configured."""


class TwilioSettings(BaseModel):
    """Built by twilio_settings() from the environment, or directly (by field name) in tests."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    account_sid: str = Field(alias="TWILIO_ACCOUNT_SID")
    # Signs the webhooks Twilio sends us: the key to every X-Twilio-Signature.
    auth_token: str = Field(alias="TWILIO_AUTH_TOKEN")
    # The REST API and access tokens use an API key, so the auth token stays out of both.
    api_key: str = Field(alias="TWILIO_API_KEY")
    api_secret: str = Field(alias="TWILIO_API_SECRET")
    twiml_app_sid: str = Field(alias="TWILIO_TWIML_APP_SID")
    caller_id: str = Field(alias="TWILIO_CALLER_ID")
    public_url: str = Field(alias="TALKBOX_PUBLIC_URL")
    ring: tuple[str, ...] = Field((), alias="TALKBOX_TWILIO_RING")
    # The secret of a Webhook Rule's shared key, for webhooks that say they are signed with one.
    webhook_signing_key: str | None = Field(None, alias="TWILIO_WEBHOOK_SIGNING_KEY")

    @model_validator(mode="before")
    @classmethod
    def _all_there(cls, values: object) -> object:
        if isinstance(values, Mapping):
            missing = [env for name, env in REQUIRED.items() if not values.get(name) and not values.get(env)]
            if missing:
                raise ValueError(
                    "TWILIO_ACCOUNT_SID is set, so Talkbox uses Twilio, but these settings are missing: "
                    + ", ".join(missing)
                )
        return values

    @field_validator("ring", mode="before")
    @classmethod
    def _ring_group(cls, value: object) -> object:
        return ring_group(value, "TALKBOX_TWILIO_RING")

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("TALKBOX_PUBLIC_URL must be an http(s) base URL such as https://talkbox.example.org")
        return value.rstrip("/")

    @field_validator("caller_id")
    @classmethod
    def _number(cls, value: str) -> str:
        if not is_e164(value):
            raise ValueError("TWILIO_CALLER_ID must be an E.164 number such as +441234567890")
        return value


def twilio_settings(environ: Mapping[str, str] | None = None) -> TwilioSettings | None:
    """Twilio's settings when TWILIO_ACCOUNT_SID asks for Twilio, else None (the built-in engine)."""
    environ = os.environ if environ is None else environ
    if not environ.get("TWILIO_ACCOUNT_SID"):
        return None
    names = {*REQUIRED.values(), "TALKBOX_TWILIO_RING", "TWILIO_WEBHOOK_SIGNING_KEY"}
    try:
        return TwilioSettings(**{name: environ[name] for name in names if name in environ})
    except ValidationError as error:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        raise TwilioSettingsError(problems) from error
