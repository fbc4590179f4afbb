"""The official twilio REST client, asynchronous, with a timeout it actually applies."""

from __future__ import annotations

import base64
from typing import Any

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from talkbox.providers.twilio.settings import TwilioSettings

API_TIMEOUT_SECONDS = 10.0


class _TimedHttpClient(AsyncTwilioHttpClient):
    """AsyncTwilioHttpClient as Talkbox needs it.

    It keeps its `timeout` but never passes it on (a hung API would hang a call),
    and it hands aiohttp credentials in a form aiohttp has deprecated; the same
    Basic credentials go in the header instead.
    """

    async def request(
        self,
        *args: Any,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return await super().request(*args, headers=headers, auth=None, timeout=timeout or self.timeout, **kwargs)


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
