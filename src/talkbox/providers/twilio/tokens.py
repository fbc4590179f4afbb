"""Voice access tokens: what lets a page's Twilio Device register as its user."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from talkbox.providers.twilio.settings import TwilioSettings

TOKEN_TTL_SECONDS = 3600


@dataclass(frozen=True)
class VoiceTokens:
    """Mints a token for a user Talkbox has already identified (never a name the page picks)."""

    settings: TwilioSettings
    ttl: int = TOKEN_TTL_SECONDS

    def mint(self, identity: str) -> dict[str, object]:
        token = AccessToken(
            self.settings.account_sid,
            self.settings.api_key,
            self.settings.api_secret,
            identity=identity,
            ttl=self.ttl,
        )
        # Incoming: Talkbox reaches the page by calling client:NAME. Outgoing goes through the TwiML app.
        token.add_grant(VoiceGrant(incoming_allow=True, outgoing_application_sid=self.settings.twiml_app_sid))
        return {"identity": identity, "token": token.to_jwt(), "ttl": self.ttl}
