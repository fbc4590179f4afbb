"""The composition root: settings in, a running ASGI app out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.routing import BaseRoute

from talkbox.api.keys import ApiKeys
from talkbox.api.problems import PlainRoute
from talkbox.api.routes import ApiDeps, api_router
from talkbox.api.subscriptions import SETTINGS_ID, Subscription, Subscriptions
from talkbox.api.webhooks import WebhookQueue, Webhooks
from talkbox.app.cli import token_ttl
from talkbox.app.metrics import CONTENT_TYPE, Levels, Metrics
from talkbox.app.settings import Settings, SettingsError
from talkbox.callbacks.ringback import wav
from talkbox.callbacks.twilio_routes import WebhookRoute, twilio_router
from talkbox.events import Bus, InProcessBus
from talkbox.events.models import LegKind, conference_key
from talkbox.events.placement import Placement, id_in
from talkbox.events.redis_bus import RedisBus, redis_client
from talkbox.media import music, tones
from talkbox.media.engine import DtmfSink, MediaSettings, SpeakingSink, StateSink, no_dtmf
from talkbox.media.recorder import save_wav
from talkbox.media.tones import telephone_wav
from talkbox.media.workers import media_factory
from talkbox.providers.builtin import BuiltinProvider
from talkbox.providers.builtin.provider import EngineSettings
from talkbox.providers.sip.book import CallBook, MemoryBook, RedisBook, SqliteBook
from talkbox.providers.sip.provider import SipProvider
from talkbox.providers.sip.settings import SipSettings
from talkbox.providers.sip.stack import SipStack
from talkbox.providers.twilio.memory import SharedMemory
from talkbox.providers.twilio.provider import API_URL, TwilioProvider
from talkbox.providers.twilio.rest import rest_client
from talkbox.providers.twilio.settings import TwilioSettings, twilio_settings
from talkbox.providers.twilio.tokens import VoiceTokens
from talkbox.router import Router
from talkbox.telephony.book import PeopleBook
from talkbox.telephony.handler import CallHandler
from talkbox.telephony.history import HistoryHandler
from talkbox.telephony.provider import Provider
from talkbox.telephony.redis_store import RedisStore
from talkbox.telephony.store import ConferenceStore, MemoryStore, SqliteStore, leg_muted
from talkbox.ui import page
from talkbox.ui.client_address import ClientAddresses
from talkbox.ui.directory import Directory
from talkbox.ui.edge import AllowedHosts, AllowedOrigins, Edge, PlainRoutes, SocketRoute
from talkbox.ui.gateway import Gateway
from talkbox.ui.identity import Identity, issue_token
from talkbox.ui.limits import Limits, RateLimit
from talkbox.ui.presence import BEAT_SECONDS as PRESENCE_BEAT_SECONDS
from talkbox.ui.presence import Presence
from talkbox.ui.protocol import IceServer
from talkbox.ui.recordings import recordings_router
from talkbox.ui.shared_limits import SharedRateLimit
from talkbox.ui.turn import Turn, no_turn
from talkbox.ui.user_streams import UserStreams
from talkbox.ui.voice_token import voice_token_router

log = logging.getLogger(__name__)

SHUTDOWN_DRAIN_SECONDS = 5.0
DEAD_LETTERS_SHOWN = 20


@dataclass
class Talkbox:
    """Everything one node runs, built in one place."""

    settings: Settings
    bus: Bus
    provider: BuiltinProvider | TwilioProvider
    gateway: Gateway
    router: Router
    calls: CallHandler
    store: ConferenceStore
    api_keys: ApiKeys
    metrics: Metrics
    webhooks: Webhooks
    twilio: TwilioSettings | None = None
    addresses: ClientAddresses = field(default_factory=ClientAddresses)
    # SIP telephones, on the built-in engine when TALKBOX_SIP_LISTEN is set.
    sip: SipStack | None = None
    sip_provider: SipProvider | None = None
    redis: Redis | None = None  # the client the Redis store and streams share; the bus has its own
    placement: Placement | None = None  # with Redis and the built-in engine: new calls go to the least-loaded node

    async def drain(self) -> None:
        """SIGTERM with several nodes: take no new work, and let the calls this node carries end here.

        Readiness fails and new sockets are refused at once (the balancer moves on); no new call is placed
        here; the pages are told to reconnect, each at its own moment within `stop_delay`, to the other
        nodes (the calls' media stays here); each partition of the bus goes to the others once no call is
        live on it. Returns once none is left, or `drain_timeout` has passed: stopping then moves the rest.
        """
        self.gateway.draining = True
        if self.placement is not None:
            await self.placement.withdraw()
        if not isinstance(self.bus, RedisBus):
            return
        self.bus.leave()
        self.gateway.move_pages(within=self.settings.stop_delay)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + max(self.settings.stop_delay, self.settings.drain_timeout)
        while loop.time() < deadline and (loop.time() < started + self.settings.stop_delay or self.bus.owned()):
            await asyncio.sleep(0.1)
        left = len(self.bus.owned())
        log.info("drained: %s", f"{left} partitions with calls move now" if left else "no call left here")

    async def ready(self) -> bool:
        """Ready for new traffic: not stopping, and Redis (when there is one) answering."""
        if self.gateway.draining:
            return False
        if self.redis is None:
            return True
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False


@dataclass
class Shared:
    """What the nodes of a deployment share: on one node, its own bus and file; on several, Redis."""

    bus: Bus
    store: ConferenceStore
    redis: Redis | None = None
    streams: UserStreams | None = None
    presence: Presence | None = None


def _shared(settings: Settings) -> Shared:
    """The one choice between one node and several."""
    if settings.redis_url is None:
        store = MemoryStore() if settings.database == ":memory:" else SqliteStore(settings.database)
        return Shared(InProcessBus(), store)
    client = redis_client(settings.redis_url)
    return Shared(
        RedisBus(settings.redis_url, node_id=settings.node_id, lease=settings.redis_lease),
        RedisStore(client),
        client,
        UserStreams(client, redis_client(settings.redis_url, blocking=True), settings.node_id),
        # A socket counts while its node beat within the lease, but never fewer than three beats.
        Presence(client, settings.node_id, ttl=max(settings.redis_lease, 3 * PRESENCE_BEAT_SECONDS)),
    )


@dataclass
class MediaReports:
    """The media plane's reports, for both providers that share it: each ignores the legs it does not carry."""

    states: list[StateSink] = field(default_factory=list)
    speaking: SpeakingSink = lambda _conference, _legs: None
    digits: DtmfSink = no_dtmf

    def state(self, leg_id: str, state: str) -> None:
        for sink in self.states:
            sink(leg_id, state)

    def dtmf(self, conference_id: str, leg_id: str, digit: str) -> None:
        self.digits(conference_id, leg_id, digit)

    def speaking_changed(self, conference_id: str, legs: frozenset[str]) -> None:
        self.speaking(conference_id, legs)


def build(
    settings: Settings,
    twilio: TwilioSettings | None = None,
    sip: SipSettings | None = None,
    *,
    twilio_api_url: str | None = None,
) -> Talkbox:
    """With Twilio settings, Twilio is the provider; without, the built-in engine, and SIP if it listens.

    `twilio_api_url` replaces Twilio's REST API address (the tests' recorder).
    """
    shared = _shared(settings)
    bus, store = shared.bus, shared.store

    async def online_here(name: str) -> bool:
        # The gateway's own sockets, read when asked: presence events reach the router on the user's worker,
        # maybe after a call the page made the moment it was welcomed (bench/README.md, fifth pass).
        return name in gateway.sockets

    online = shared.presence.online if shared.presence is not None else online_here
    if twilio is not None and sip is not None and sip.enabled:
        raise ValueError("TALKBOX_SIP_LISTEN and TWILIO_ACCOUNT_SID are both set: choose SIP or Twilio")
    if twilio is not None:
        twilio_provider = TwilioProvider(
            settings=twilio,
            publish=bus.publish,
            make_client=functools.partial(rest_client, twilio, twilio_api_url),
            ring_timeout=settings.ring_timeout,
            voicemail_max_seconds=settings.voicemail_max_seconds,
            api_url=twilio_api_url or API_URL,
            save_audio=save_wav,
            shared=SharedMemory(shared.redis) if shared.redis is not None else None,
        )
        chosen = Providers(twilio_provider, {"browser": twilio_provider, "twilio": twilio_provider}, twilio.ring)
    else:
        listening = sip if sip is not None and sip.enabled else None
        chosen = _engine(settings, listening, bus, online, _book(settings, shared))
    provider, sip_provider = chosen.browsers, chosen.sip_provider
    placement = (
        Placement(shared.redis, settings.node_id, load=_legs_on(provider), ttl=max(3.0, settings.redis_lease))
        if shared.redis is not None and isinstance(provider, BuiltinProvider)
        else None
    )
    calls = CallHandler(
        store=store,
        providers=chosen.by_kind,
        publish=bus.publish,
        max_legs=settings.max_legs,
        max_calls=settings.max_calls_per_user,
        ring=chosen.ring,
        recordings=Path(settings.recordings),
        voicemail=settings.voicemail,
    )
    addresses = ClientAddresses.trusting(settings.trusted_proxies)
    directory = Directory(
        PeopleBook(store, provider.media.leg_stats if isinstance(provider, BuiltinProvider) else None),
        is_online=online,
        send=lambda parcel: gateway.send(parcel),
        open_mode=settings.auth == "open",
        listeners=(lambda: gateway.listening) if shared.streams is None else None,
    )
    gateway = Gateway(
        publish=bus.publish,
        addresses=addresses,
        identity=Identity(settings.auth, settings.secret, max_ttl=settings.max_token_ttl),
        provider_name=provider.name,
        directory=directory,
        ice_servers=_turn(settings),
        streams=shared.streams,
        presence=shared.presence,
        place=placement.conference_id if placement is not None else None,
        shared_calls=(
            SharedRateLimit(shared.redis, "calls", settings.max_calls_per_minute) if shared.redis is not None else None
        ),
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
    webhooks = _webhooks(settings)
    metrics = Metrics(
        Levels(
            active=store.active,
            sockets=lambda: sum(len(sockets) for sockets in gateway.sockets.values()),
            media_stats=provider.media.stats if isinstance(provider, BuiltinProvider) else None,
            webhooks=webhooks.queue.counts,
        )
    )
    # The provider first: it learns from a report (a CallSid, an answer) before the
    # rules, handling the same report, ask it to act on that leg.
    telephones = (sip_provider,) if sip_provider is not None else ()
    router = Router(
        bus,
        handlers=(
            provider,
            *telephones,
            calls,
            gateway,
            directory,
            HistoryHandler(store, bus.publish),
            metrics,
            *([webhooks] if webhooks else []),
        ),
        size=settings.router_workers,
        attempts=settings.router_attempts,
        share_dead_letter=bus.record_dead_letter if isinstance(bus, RedisBus) else None,
    )
    if isinstance(bus, RedisBus):
        offer_again = provider.offer_again if isinstance(provider, BuiltinProvider) else None
        _move_calls_with_partitions(bus, calls, store, offer_again)
    return Talkbox(
        settings,
        bus,
        provider,
        gateway,
        router,
        calls,
        store,
        # The claims join the store's group commit when both are on the one file.
        ApiKeys(settings.database, store.commits.commit if isinstance(store, SqliteStore) else None),
        metrics,
        webhooks,
        twilio,
        addresses,
        chosen.sip,
        chosen.sip_provider,
        shared.redis,
        placement,
    )


def _turn(settings: Settings) -> Callable[[str], list[IceServer]]:
    """TURN credentials for each page, when TALKBOX_TURN_URLS names coturn."""
    if not settings.turn_urls or not settings.turn_secret:
        return no_turn
    return Turn(tuple(settings.turn_urls), settings.turn_secret, settings.turn_ttl).servers_for


def _webhooks(settings: Settings) -> Webhooks:
    """TALKBOX_WEBHOOK_URL's subscription, if set, and those made through the API."""
    configured = None
    if settings.webhook_url and settings.webhook_secret:
        configured = Subscription(SETTINGS_ID, settings.webhook_url, settings.webhook_secret, 0.0)
    subscriptions = Subscriptions(settings.database, from_settings=configured)
    return Webhooks(subscriptions, WebhookQueue(settings.database), backoff=settings.webhook_backoff)


def _api(talkbox: Talkbox) -> ApiDeps:
    settings = talkbox.settings
    budget = RateLimit(settings.api_requests_per_second, window=1.0)
    return ApiDeps(
        keys=talkbox.api_keys,
        store=talkbox.store,
        publish=talkbox.bus.publish,
        allow=budget.allow,
        retry_after=1,
        mint=functools.partial(_mint, settings.secret, settings.max_token_ttl) if settings.secret else None,
        webhooks=talkbox.webhooks,
        place=talkbox.placement.conference_id if talkbox.placement is not None else None,
    )


def _mint(secret: str, most: float, user: str, ttl: int | None) -> tuple[str, int]:
    """What `talkbox token` prints, for the API: the same ttl rules."""
    try:
        seconds = token_ttl(ttl, most)
    except SettingsError as error:
        raise ValueError(str(error).replace("--ttl", "ttl")) from error
    return issue_token(secret, user, seconds), seconds


@dataclass
class Providers:
    """Who carries which legs: the browsers' provider, every kind's, and the ring group for telephones."""

    browsers: BuiltinProvider | TwilioProvider
    by_kind: dict[LegKind, Provider]
    ring: tuple[str, ...] = ()
    sip: SipStack | None = None
    sip_provider: SipProvider | None = None


def _engine(
    settings: Settings,
    sip: SipSettings | None,
    bus: Bus,
    is_online: Callable[[str], Awaitable[bool]],
    book: Callable[[], CallBook],
) -> Providers:
    """The built-in engine: one media plane, shared by the browsers' provider and (if SIP listens) SIP's."""
    reports = MediaReports()
    make_media = media_factory(
        MediaSettings(
            media_host=settings.media_address,
            public_address=settings.media_public_address,
            ice_servers=tuple(settings.ice_servers),
            rtp_ports=settings.rtp_ports,
            sip_latch=settings.sip_latch,
        ),
        workers=settings.media_processes,
    )
    media = make_media(reports.state, reports.speaking_changed, reports.dtmf)
    browsers = BuiltinProvider(
        publish=bus.publish,
        is_online=is_online,
        media=media,
        settings=EngineSettings(
            ring_timeout=settings.ring_timeout,
            connect_timeout=settings.connect_timeout,
            resume_grace=settings.resume_grace,
            voicemail_max_seconds=settings.voicemail_max_seconds,
        ),
    )
    reports.states.append(browsers.media_state)
    reports.speaking = browsers.speaking
    if sip is None:
        return Providers(browsers, {"browser": browsers})
    stack = SipStack(sip)
    # With several nodes, a call that comes in is decided where its media is: on the node its INVITE came to.
    here = {"new_conference_id": functools.partial(_id_here, bus)} if isinstance(bus, RedisBus) else {}
    telephones = SipProvider(sip, stack.ua, media, bus.publish, ring_timeout=settings.ring_timeout, book=book(), **here)
    reports.states.append(telephones.media_state)
    reports.digits = telephones.media_dtmf
    return Providers(browsers, {"browser": browsers, "sip": telephones}, sip.ring, stack, telephones)


def _id_here(bus: RedisBus) -> str:
    return id_in(bus.owned(), bus.partitions)


def _book(settings: Settings, shared: Shared) -> Callable[[], CallBook]:
    """Where answered SIP calls are kept to outlive this process: beside the store (made only if SIP listens)."""
    if shared.redis is not None:
        return functools.partial(RedisBook, shared.redis)
    if settings.database == ":memory:":
        return MemoryBook
    return functools.partial(SqliteBook, settings.database)


def _legs_on(provider: BuiltinProvider) -> Callable[[], Awaitable[int]]:
    """This node's media load: the legs on its engine, all its workers together."""

    async def legs() -> int:
        return (await provider.media.stats()).get("legs", 0)

    return legs


def _move_calls_with_partitions(
    bus: RedisBus,
    calls: CallHandler,
    store: ConferenceStore,
    offer_again: Callable[[Callable[[str], bool]], Awaitable[None]] | None,
) -> None:
    """A partition's calls come back on the node that takes it, as all of them do at boot on one node, their
    browser legs offered again there at once; and a partition moves to another node only while no call is live
    on it (its media stays put), but for a node that died or drained past its timeout."""

    def on(partition: int) -> Callable[[str], bool]:
        return lambda conference_id: bus.partition_for(conference_key(conference_id)) == partition

    async def recover(partition: int) -> None:
        await calls.recover(on(partition))
        if offer_again is not None:  # the pages need not first notice that the old node's media is gone
            await offer_again(on(partition))

    async def idle(partition: int) -> bool:
        return not any(on(partition)(conference.id) for conference in await store.active())

    bus.on_acquire.append(recover)
    bus.can_release = idle


def create_app(
    settings: Settings | None = None,
    twilio: TwilioSettings | None = None,
    sip: SipSettings | None = None,
    *,
    twilio_api_url: str | None = None,
) -> FastAPI:
    """`twilio` and `sip` default to what the environment says (TWILIO_ACCOUNT_SID, TALKBOX_SIP_*)."""
    settings = settings or Settings()
    settings.check_exposure()
    talkbox = build(
        settings,
        twilio if twilio is not None else twilio_settings(),
        sip if sip is not None else SipSettings(),
        twilio_api_url=twilio_api_url,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        talkbox.router.start()
        talkbox.webhooks.start()
        if talkbox.sip is not None:
            await talkbox.sip.start()
        talkbox.gateway.start()
        await talkbox.bus.start()
        if talkbox.redis is None:
            await talkbox.calls.recover()  # with Redis, each partition's calls come back as it is taken
        advertising = asyncio.create_task(talkbox.placement.run()) if talkbox.placement is not None else None
        try:
            yield
        finally:
            if advertising is not None:
                advertising.cancel()
            # Uvicorn has closed the sockets (1012, service restart) by now. Finish what is
            # in flight, then let go of the media without ending calls: the next boot resumes them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(talkbox.bus.drained(), SHUTDOWN_DRAIN_SECONDS)
            await talkbox.router.stop()
            await talkbox.calls.stop()
            await talkbox.webhooks.stop()
            await talkbox.provider.close()
            if talkbox.sip_provider is not None and talkbox.sip is not None:
                await talkbox.sip_provider.close()
                await talkbox.sip.close()
            await talkbox.gateway.stop()
            await talkbox.bus.close()  # with Redis, hands this node's partitions to the others at once
            if talkbox.redis is None:
                log.info("stopped: %d calls kept for the next start", len(await talkbox.store.active()))
            talkbox.store.close()
            talkbox.api_keys.close()
            if talkbox.redis is not None:
                await talkbox.redis.aclose()

    # No /docs or /redoc: they load from a CDN. The OpenAPI document stays at /openapi.json.
    app = FastAPI(title="Talkbox", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.talkbox = talkbox

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "provider": talkbox.provider.name}

    @app.get("/healthz")
    async def alive() -> dict[str, str]:
        return {"status": "alive", "node": talkbox.settings.node_id}

    @app.get("/readyz")
    async def ready() -> JSONResponse:
        """For the balancer: 503 while stopping or cut off from Redis, so new pages go to another node."""
        if await talkbox.ready():
            return JSONResponse({"status": "ready", "node": talkbox.settings.node_id})
        return JSONResponse({"status": "not ready", "node": talkbox.settings.node_id}, status_code=503)

    @app.get("/api/dead-letters")
    async def dead_letters(request: Request, limit: int = Query(DEAD_LETTERS_SHOWN, ge=0, le=1000)) -> dict[str, Any]:
        """What the handlers gave up on after their retries, newest first (no payloads).

        For the operator on the machine itself: it names users, so only loopback may ask.
        """
        if not talkbox.addresses.is_local(request):
            raise HTTPException(status_code=403, detail="dead letters are served to loopback only")
        if isinstance(talkbox.bus, RedisBus):  # every node's, the bus's own among them
            total, shared = await talkbox.bus.dead_letters(limit)
            return {"total": total, "dead_letters": shared}
        letters = talkbox.router.dead_letters
        return {"total": letters.total, "dead_letters": [letter.as_json() for letter in letters.recent(limit)]}

    # The API's routes and the webhooks' (below) go first in the app's own list: matched before the rest,
    # without FastAPI's included-router matching, on the paths an application's server calls thousands a second.
    plain: list[BaseRoute] = []
    app.router.routes[:0] = api_router(_api(talkbox)).routes

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(await talkbox.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/api/sip")
    async def sip_status(request: Request) -> dict[str, Any]:
        """Whether SIP listens, and whether the trunk has us registered. Loopback only: it names the trunk."""
        if not talkbox.addresses.is_local(request):
            raise HTTPException(status_code=403, detail="SIP status is served to loopback only")
        if talkbox.sip is None:
            return {"enabled": False}
        return {"enabled": True, **talkbox.sip.status()}

    if talkbox.twilio is not None:
        app.router.routes[:0] = twilio_router(
            talkbox.twilio.auth_token,
            talkbox.twilio.public_url,
            talkbox.bus.publish,
            max_parameters=settings.max_form_parameters,
            signing_key=talkbox.twilio.webhook_signing_key,
            muted=functools.partial(leg_muted, talkbox.store),
            announcement=telephone_wav(tones.announcement()),
            hold_music=wav(music.loop(8000)),
        ).routes
        plain += [route for route in app.router.routes if isinstance(route, WebhookRoute)]
        origins = AllowedOrigins.of(talkbox.settings.allowed_origins)
        app.include_router(voice_token_router(talkbox.gateway.identity, VoiceTokens(talkbox.twilio).mint, origins))
    app.include_router(
        recordings_router(
            talkbox.gateway.identity,
            talkbox.store,
            Path(settings.recordings),
            talkbox.bus.publish,
            voicemail_available=settings.voicemail,
        )
    )

    app.router.routes.extend(page.routes())
    plain += [route for route in app.router.routes if isinstance(route, PlainRoute)]
    app.add_middleware(
        Edge,
        hosts=AllowedHosts.of(settings.allowed_hosts, bound_host=settings.host, also=_public_hosts(talkbox)),
        origins=AllowedOrigins.of(settings.allowed_origins),
        headers=page.security_headers(talkbox.provider.name),
        max_bytes=settings.max_body_bytes,
        # The pages' websocket, past the Host and Origin checks and nothing else (ui/edge.py says why).
        socket=SocketRoute("/ws", talkbox.gateway.endpoint),
        loopback_only=settings.auth == "open" and not settings.allow_open_mode,
        plain=PlainRoutes(plain),
    )
    return app


def _public_hosts(talkbox: Talkbox) -> list[str | None]:
    """Names this node is reached by besides its bound host: the media's public address, Twilio's URL."""
    public_url = urlsplit(talkbox.twilio.public_url).hostname if talkbox.twilio is not None else None
    return [talkbox.settings.media_public_address, public_url]
