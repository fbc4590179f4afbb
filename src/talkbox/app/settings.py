"""Settings, read from TALKBOX_* environment variables."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from talkbox.events.redis_bus import SENTINEL_SCHEME, sentinel_address

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32


class SettingsError(Exception):
    """Settings that Talkbox refuses to run with."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALKBOX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    auth: Literal["open", "token"] = "open"
    secret: str | None = None
    # The longest a token may be valid for (exp - iat): a leaked token stops working within it.
    max_token_ttl: float = Field(24 * 3600, gt=0)
    # Open mode trusts the name the page sends: only ever on loopback unless said out loud.
    allow_open_mode: bool = False
    ring_timeout: float = Field(30.0, gt=0)
    connect_timeout: float = Field(15.0, gt=0)
    max_legs: int = Field(10, ge=2, le=1000)
    # Calls one user may be on at once, one talking and the rest on hold (call waiting needs two).
    max_calls_per_user: int = Field(3, ge=1, le=20)
    # Conferences and the event log; ":memory:" keeps nothing across restarts.
    database: str = "var/talkbox.sqlite3"
    # Where recordings and voicemails are written (Ogg/Opus, one file each, named by their id).
    recordings: str = "var/recordings"
    # Whether missed calls can go to voicemail at all (each user may still turn theirs off).
    voicemail: bool = True
    voicemail_max_seconds: float = Field(120.0, gt=0, le=3600)
    resume_grace: float = Field(30.0, gt=0)
    media_host: str | None = None
    media_public_address: str | None = None
    ice_servers: list[str] = Field(default_factory=list)
    # Media worker processes; unset, one per core; 0 runs the media in the server's own process.
    media_workers: int | None = Field(None, ge=0, le=64)
    # Telephone legs: RTP ports from this range ("10000-20000"; unset, any free port), and RTP taken from wherever
    # a trunk's first packet comes from rather than its SDP's address (for trunks behind NAT; off: anyone may latch).
    rtp_ports: Annotated[tuple[int, int] | None, NoDecode] = None
    sip_latch: bool = False
    router_workers: int = Field(4, ge=1, le=256)
    # A handler that raises gets the event again, this many times in all, then it is a dead letter.
    router_attempts: int = Field(3, ge=1, le=10)
    max_message_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    # Bad input: a page opening sockets in a loop, a user dialling in a loop.
    max_sockets_per_user: int = Field(20, ge=1, le=10_000)
    max_sockets_per_address: int = Field(200, ge=1, le=100_000)
    max_calls_per_minute: int = Field(30, ge=1, le=10_000)
    # The HTTP edge (docs/security.md): what an unauthenticated request may cost.
    max_form_parameters: int = Field(256, ge=16, le=100_000)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Comma lists. Hosts: empty means the bound host, loopback and the public addresses; "*" any.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Origins besides the page's own that may open the websocket, e.g. https://app.example.org.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # TURN for pages behind networks that let no UDP through (coturn with use-auth-secret; README, "TURN").
    turn_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    turn_secret: str | None = None
    turn_ttl: int = Field(86400, ge=60, le=7 * 86400)
    # Peers whose X-Forwarded-For is believed: addresses or networks (10.0.0.0/8).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Frames of one type in any second, from one page and from all of a user's pages (ui/limits.py).
    max_messages_per_second: int = Field(10, ge=1, le=100_000)
    max_user_messages_per_second: int = Field(20, ge=1, le=100_000)
    # Messages a socket may fall behind before it is closed as too slow (4408; ui/outbox.py).
    max_queued_messages: int = Field(256, ge=8, le=100_000)
    # Requests a second each HTTP API key may make; past it, 429 with Retry-After (docs/api.md).
    api_requests_per_second: int = Field(200, ge=1, le=1_000_000)
    # Every conference change is POSTed here, signed with the secret (docs/api.md, "Webhooks").
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # Seconds before the first retry of a failed POST, doubling after (at most an hour apart, for 24 h).
    webhook_backoff: float = Field(1.0, gt=0)
    log_level: str = "info"
    # `json`: one JSON object per line, with the conference and leg ids a line is about (app/logs.py).
    log_format: Literal["text", "json"] = "text"
    # Several nodes share one deployment through Redis (bus, store, push); unset, this node is alone.
    redis_url: str | None = None
    # Names this node in Redis (partition leases, consumer names, socket registry): unique per process.
    node_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}", min_length=1)
    # Seconds a node holds a bus partition without renewing it: a killed node's share moves after this.
    redis_lease: float = Field(5.0, ge=0.5, le=120)
    # With Redis: seconds after SIGTERM over which a node closes its pages' sockets, each at its own moment, with
    # /readyz failing, so the balancer has moved on and the pages reconnect spread out.
    stop_delay: float = Field(2.0, ge=0, le=300)
    # With Redis: seconds a stopping node goes on carrying its calls' media, for them to end, before it moves them.
    drain_timeout: float = Field(60.0, ge=0, le=86400)

    @field_validator("allowed_hosts", "allowed_origins", "trusted_proxies", "turn_urls", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        """A Redis URL redis-py reads, or a Sentinel one (checked here, so a typo stops the start, not a call)."""
        if value is None:
            return None
        scheme = value.partition("://")[0]
        if scheme not in ("redis", "rediss", "unix", SENTINEL_SCHEME):
            raise ValueError(
                f"TALKBOX_REDIS_URL starts redis://, rediss://, unix:// or {SENTINEL_SCHEME}://, not {scheme}://"
            )
        sentinel_address(value)
        return value

    @field_validator("rtp_ports", mode="before")
    @classmethod
    def _port_range(cls, value: object) -> object:
        if isinstance(value, str):
            low, dash, high = value.partition("-")
            if not dash or not low.strip().isdigit() or not high.strip().isdigit():
                raise ValueError("TALKBOX_RTP_PORTS is a range of ports, like 10000-20000")
            return (int(low), int(high))
        return value

    @field_validator("rtp_ports")
    @classmethod
    def _port_pairs(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        # Each leg takes an even port and the odd one above it.
        if value is not None and not 1024 <= value[0] < value[1] <= 65535:
            raise ValueError("TALKBOX_RTP_PORTS must lie within 1024-65535, its low end first, room for a pair")
        return value

    @field_validator("turn_urls")
    @classmethod
    def _turn_urls(cls, value: list[str]) -> list[str]:
        bad = [url for url in value if not url.startswith(("turn:", "turns:"))]
        if bad:
            raise ValueError(f"TALKBOX_TURN_URLS are turn: or turns: URLs, not {', '.join(bad)}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for proxy in value:
            ipaddress.ip_network(proxy, strict=False)  # a ValueError names the bad one
        return value

    @model_validator(mode="after")
    def _token_needs_secret(self) -> Settings:
        if self.auth == "token" and not self.secret:
            raise ValueError("TALKBOX_AUTH=token needs TALKBOX_SECRET")
        # HS256 is as strong as its key: a short one is guessed offline from any one token.
        if self.secret is not None and len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"TALKBOX_SECRET must be at least {MIN_SECRET_BYTES} bytes; make one with: openssl rand -hex 32"
            )
        if self.turn_urls and (not self.turn_secret or len(self.turn_secret.encode()) < MIN_SECRET_BYTES):
            raise ValueError(
                f"TALKBOX_TURN_URLS needs TALKBOX_TURN_SECRET (coturn's static-auth-secret) of at least "
                f"{MIN_SECRET_BYTES} bytes"
            )
        if self.webhook_url and (not self.webhook_secret or len(self.webhook_secret.encode()) < MIN_SECRET_BYTES):
            raise ValueError(
                f"TALKBOX_WEBHOOK_URL needs TALKBOX_WEBHOOK_SECRET of at least {MIN_SECRET_BYTES} bytes "
                "to sign with; make one with: openssl rand -hex 32"
            )
        return self

    @property
    def media_address(self) -> str:
        """Media binds to the same host as the server unless told otherwise."""
        if self.media_host:
            return self.media_host
        return "127.0.0.1" if self.host == "localhost" else self.host

    @property
    def media_processes(self) -> int:
        return self.media_workers if self.media_workers is not None else (os.cpu_count() or 1)

    @property
    def on_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check_exposure(self) -> None:
        """Refuse open mode off loopback unless explicitly allowed, and then warn."""
        if self.auth != "open" or self.on_loopback:
            return
        if not self.allow_open_mode:
            raise SettingsError(
                f"refusing to serve open mode on {self.host}: anyone could claim any name. "
                "Set TALKBOX_AUTH=token and TALKBOX_SECRET, or TALKBOX_ALLOW_OPEN_MODE=1 to accept the risk."
            )
        log.warning("open mode on %s: any page can claim any name", self.host)
