"""The composition root: settings in, a running ASGI app out."""

from __future__ import annotations

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
from talkbox.telephony.store import MemoryStore
from talkbox.ui import page
from talkbox.ui.gateway import Gateway
from talkbox.ui.identity import Identity


@dataclass
class Talkbox:
    """Everything one node runs, built in one place."""

    settings: Settings
    bus: InProcessBus
    provider: BuiltinProvider
    gateway: Gateway
    router: Router


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
        ),
    )
    calls = CallHandler(store=MemoryStore(), provider=provider, publish=bus.publish, max_legs=settings.max_legs)
    gateway = Gateway(
        publish=bus.publish,
        identity=Identity(settings.auth, settings.secret),
        provider_name=provider.name,
        max_message_bytes=settings.max_message_bytes,
    )
    router = Router(bus, handlers=(calls, provider, gateway), size=settings.router_workers)
    return Talkbox(settings, bus, provider, gateway, router)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_exposure()
    talkbox = build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        talkbox.router.start()
        try:
            yield
        finally:
            await talkbox.provider.close()
            await talkbox.router.stop()

    # No /docs or /redoc: they load from a CDN. The OpenAPI document stays at /openapi.json.
    app = FastAPI(title="Talkbox", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.talkbox = talkbox
    app.add_api_websocket_route("/ws", talkbox.gateway.endpoint)

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "provider": talkbox.provider.name}

    app.router.routes.extend(page.routes())
    return app
