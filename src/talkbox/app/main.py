"""The composition root: settings in, a running ASGI app out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request

from talkbox.app.settings import Settings
from talkbox.callbacks.twilio_routes import twilio_router
from talkbox.events import InProcessBus
from talkbox.providers.builtin import BuiltinProvider
from talkbox.providers.builtin.engine import EngineSettings
from talkbox.providers.twilio.provider import TwilioProvider
from talkbox.providers.twilio.rest import rest_client
from talkbox.providers.twilio.settings import TwilioSettings, twilio_settings
from talkbox.providers.twilio.tokens import VoiceTokens
from talkbox.router import Router
from talkbox.telephony.handler import CallHandler
from talkbox.telephony.store import ConferenceStore, MemoryStore, SqliteStore
from talkbox.ui import page
from talkbox.ui.gateway import Gateway
from talkbox.ui.identity import Identity
from talkbox.ui.limits import Limits
from talkbox.ui.voice_token import voice_token_router

log = logging.getLogger(__name__)

SHUTDOWN_DRAIN_SECONDS = 5.0
DEAD_LETTERS_SHOWN = 20


@dataclass
class Talkbox:
    """Everything one node runs, built in one place."""

    settings: Settings
    bus: InProcessBus
    provider: BuiltinProvider | TwilioProvider
    gateway: Gateway
    router: Router
    calls: CallHandler
    store: ConferenceStore
    twilio: TwilioSettings | None = None


def build(settings: Settings, twilio: TwilioSettings | None = None, *, twilio_api_url: str | None = None) -> Talkbox:
    """With Twilio settings, Twilio is the provider; without, the built-in engine.

    `twilio_api_url` replaces Twilio's REST API address (the tests' recorder).
    """
    bus = InProcessBus()
    provider: BuiltinProvider | TwilioProvider
    if twilio is not None:
        provider = TwilioProvider(
            settings=twilio,
            publish=bus.publish,
            make_client=functools.partial(rest_client, twilio, twilio_api_url),
            ring_timeout=settings.ring_timeout,
        )
    else:
        provider = BuiltinProvider(
            publish=bus.publish,
            settings=EngineSettings(
                media_host=settings.media_address,
                public_address=settings.media_public_address,
                ice_servers=tuple(settings.ice_servers),
                ring_timeout=settings.ring_timeout,
                connect_timeout=settings.connect_timeout,
                resume_grace=settings.resume_grace,
            ),
        )
    store = MemoryStore() if settings.database == ":memory:" else SqliteStore(settings.database)
    calls = CallHandler(
        store=store,
        provider=provider,
        publish=bus.publish,
        max_legs=settings.max_legs,
        ring=twilio.ring if twilio is not None else (),
    )
    gateway = Gateway(
        publish=bus.publish,
        identity=Identity(settings.auth, settings.secret, max_ttl=settings.max_token_ttl),
        provider_name=provider.name,
        max_message_bytes=settings.max_message_bytes,
        limits=Limits(
            max_sockets_per_user=settings.max_sockets_per_user,
            max_sockets_per_address=settings.max_sockets_per_address,
            max_calls_per_minute=settings.max_calls_per_minute,
            max_messages_per_second=settings.max_messages_per_second,
            max_user_messages_per_second=settings.max_user_messages_per_second,
            max_queued_messages=settings.max_queued_messages,
        ),
    )
    # The provider first: it learns from a report (a CallSid, an answer) before the
    # rules, handling the same report, ask it to act on that leg.
    router = Router(
        bus, handlers=(provider, calls, gateway), size=settings.router_workers, attempts=settings.router_attempts
    )
    return Talkbox(settings, bus, provider, gateway, router, calls, store, twilio)


def create_app(
    settings: Settings | None = None, twilio: TwilioSettings | None = None, *, twilio_api_url: str | None = None
) -> FastAPI:
    """`twilio` defaults to what the environment says (TWILIO_ACCOUNT_SID and the rest)."""
    settings = settings or Settings()
    settings.check_exposure()
    talkbox = build(settings, twilio if twilio is not None else twilio_settings(), twilio_api_url=twilio_api_url)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        talkbox.router.start()
        await talkbox.calls.recover()
        try:
            yield
        finally:
            # Uvicorn has closed the sockets (1012, service restart) by now. Finish what is
            # in flight, then let go of the media without ending calls: the next boot resumes them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(talkbox.bus.drained(), SHUTDOWN_DRAIN_SECONDS)
            await talkbox.router.stop()
            await talkbox.provider.close()
            log.info("stopped: %d calls kept for the next start", len(await talkbox.store.active()))
            talkbox.store.close()

    # No /docs or /redoc: they load from a CDN. The OpenAPI document stays at /openapi.json.
    app = FastAPI(title="Talkbox", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.talkbox = talkbox
    app.add_api_websocket_route("/ws", talkbox.gateway.endpoint)

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "provider": talkbox.provider.name}

    @app.get("/api/dead-letters")
    async def dead_letters(request: Request, limit: int = Query(DEAD_LETTERS_SHOWN, ge=0, le=1000)) -> dict[str, Any]:
        """What the handlers gave up on after their retries, newest first (no payloads).

        For the operator on the machine itself: it names users, so only loopback may ask.
        """
        if request.client is None or not _is_loopback(request.client.host):
            raise HTTPException(status_code=403, detail="dead letters are served to loopback only")
        letters = talkbox.router.dead_letters
        return {"total": letters.total, "dead_letters": [letter.as_json() for letter in letters.recent(limit)]}

    if talkbox.twilio is not None:
        app.include_router(twilio_router(talkbox.twilio.auth_token, talkbox.twilio.public_url, talkbox.bus.publish))
        app.include_router(voice_token_router(talkbox.gateway.identity, VoiceTokens(talkbox.twilio).mint))

    app.router.routes.extend(page.routes())
    return app


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
