"""The official twilio REST client, asynchronous, with a timeout it actually applies."""

from __future__ import annotations

from typing import Any

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from talkbox.providers.twilio.settings import TwilioSettings

API_TIMEOUT_SECONDS = 10.0


class _TimedHttpClient(AsyncTwilioHttpClient):
    """AsyncTwilioHttpClient keeps its `timeout` but never passes it on: a hung API would hang a call."""

    async def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return await super().request(*args, timeout=timeout or self.timeout, **kwargs)


def rest_client(settings: TwilioSettings, api_url: str | None = None) -> Client:
    """A client on the API key; `api_url` replaces https://api.twilio.com (tests point it at a recorder).

    Build it inside the running event loop: its HTTP session belongs to that loop.
    """
    client = Client(
        settings.api_key,
        settings.api_secret,
        account_sid=settings.account_sid,
        http_client=_TimedHttpClient(timeout=API_TIMEOUT_SECONDS),
    )
    if api_url is not None:
        client.api.base_url = api_url
    return client
