"""The composition root: settings in, a running ASGI app out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import FastAPI

from talkbox.app.settings import Settings
from talkbox.events import InProcessBus
from talkbox.providers.builtin import BuiltinProvider
from talkbox.providers.builtin.engine import EngineSettings
from talkbox.router import Router
from talkbox.telephony.handler import CallHandler
from talkbox.telephony.store import ConferenceStore, MemoryStore, SqliteStore
from talkbox.ui import page
from talkbox.ui.gateway import Gateway
from talkbox.ui.identity import Identity


SHUTDOWN_DRAIN_SECONDS = 5.0


@dataclass
class Talkbox:
    """Everything one node runs, built in one place."""

    settings: Settings
    bus: InProcessBus
    provider: BuiltinProvider
    gateway: Gateway
    router: Router
    calls: CallHandler
    store: ConferenceStore


def build(settings: Settings) -> Talkbox:
    bus = InProcessBus()
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
    calls = CallHandler(store=store, provider=provider, publish=bus.publish, max_legs=settings.max_legs)
    gateway = Gateway(
        publish=bus.publish,
        identity=Identity(settings.auth, settings.secret),
        provider_name=provider.name,
        max_message_bytes=settings.max_message_bytes,
    )
    router = Router(bus, handlers=(calls, provider, gateway), size=settings.router_workers)
    return Talkbox(settings, bus, provider, gateway, router, calls, store)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_exposure()
    talkbox = build(settings)

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
            talkbox.store.close()

    # No /docs or /redoc: they load from a CDN. The OpenAPI document stays at /openapi.json.
    app = FastAPI(title="Talkbox", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.talkbox = talkbox
    app.add_api_websocket_route("/ws", talkbox.gateway.endpoint)

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "provider": talkbox.provider.name}

    app.router.routes.extend(page.routes())
    return app
