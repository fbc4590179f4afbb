"""`talkbox serve`, `talkbox token NAME` and `talkbox apikey create|list|revoke`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
from pydantic import ValidationError
from starlette.types import ASGIApp

from talkbox.api.keys import ApiKeyError, ApiKeys
from talkbox.app.logs import configure_logging
from talkbox.app.settings import Settings, SettingsError
from talkbox.telephony.store import StoreError
from talkbox.ui.identity import DEFAULT_TOKEN_TTL, issue_token

if TYPE_CHECKING:
    from talkbox.app.main import Talkbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="talkbox", description="A telephony server for browsers.")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the server (the default)")
    serve.add_argument("--host", help="address to bind (TALKBOX_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (TALKBOX_PORT, default 5000)")
    token = commands.add_parser("token", help="print a signed token for a user (needs TALKBOX_SECRET)")
    token.add_argument("name")
    token.add_argument(
        "--ttl", type=int, help="seconds it stays valid (default 12 hours, at most TALKBOX_MAX_TOKEN_TTL)"
    )
    token.add_argument(
        "--directory", metavar="NAMES", help="comma-separated names the user may see in the directory (default: all)"
    )
    apikey = commands.add_parser("apikey", help="create, list or revoke the HTTP API's keys (in TALKBOX_DATABASE)")
    apikey_commands = apikey.add_subparsers(dest="apikey_command", required=True)
    apikey_commands.add_parser("create", help="make a key and print it, this once").add_argument("name")
    apikey_commands.add_parser("list", help="the keys' names and when they were made or revoked")
    apikey_commands.add_parser("revoke", help="refuse the key from now on").add_argument("name")
    sip = commands.add_parser("sip", help="ask the running server about SIP")
    sip.add_argument("what", choices=["status"], help="status: listening addresses and registration")
    sip.add_argument("--host", help="the server's address (TALKBOX_HOST, default 127.0.0.1)")
    sip.add_argument("--port", type=int, help="the server's port (TALKBOX_PORT, default 5000)")
    args = parser.parse_args(argv)

    overrides = {key: value for key in ("host", "port") if (value := getattr(args, key, None)) is not None}
    try:
        settings = Settings(**overrides)
        if args.command == "token":
            if not settings.secret:
                raise SettingsError("set TALKBOX_SECRET to sign tokens")
            seen = None if args.directory is None else [n.strip() for n in args.directory.split(",") if n.strip()]
            print(issue_token(settings.secret, args.name, token_ttl(args.ttl, settings.max_token_ttl), seen))
            return 0
        if args.command == "apikey":
            return manage_keys(ApiKeys(settings.database), args)
        if args.command == "sip":
            return sip_status(settings)
        return serve_forever(settings)
    except (SettingsError, StoreError, ApiKeyError, ValidationError, ValueError) as error:
        print(f"talkbox: {error}", file=sys.stderr)
        return 2


def manage_keys(keys: ApiKeys, args: argparse.Namespace) -> int:
    try:
        if args.apikey_command == "create":
            print(keys.create(args.name))
        elif args.apikey_command == "revoke":
            keys.revoke(args.name)
            print(f"revoked {args.name}")
        else:
            for key in keys.list():
                state = "active" if key.active else f"revoked {_when(key.revoked_at)}"
                print(f"{key.name}\tcreated {_when(key.created_at)}\t{state}")
        return 0
    finally:
        keys.close()


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at or 0))


def token_ttl(asked: int | None, most: float) -> int:
    """The ttl to sign for: never an expired token, nor one the server would refuse as too long-lived."""
    if asked is None:
        return int(min(DEFAULT_TOKEN_TTL, most))
    if asked <= 0:
        raise SettingsError(f"--ttl must be a positive number of seconds, not {asked}")
    if asked > most:
        raise SettingsError(
            f"--ttl {asked} is longer than TALKBOX_MAX_TOKEN_TTL ({most:.0f} s): the server would refuse it"
        )
    return asked


def sip_status(settings: Settings) -> int:
    """What `GET /api/sip` of the server on this machine says; 1 when SIP is on but not registered."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "localhost") else settings.host
    url = f"http://{host}:{settings.port}/api/sip"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            status = json.load(answer)
    except (urllib.error.URLError, OSError) as error:
        print(f"talkbox: cannot ask {url}: {error}", file=sys.stderr)
        return 2
    print(json.dumps(status, indent=2))
    registration = status.get("registration")
    return 1 if registration is not None and not registration.get("registered") else 0


log = logging.getLogger(__name__)


def serve_forever(settings: Settings) -> int:
    from talkbox.app.main import create_app

    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    talkbox = app.state.talkbox
    StoppingServer(server_config(app, settings), talkbox, drain=talkbox.drain if settings.redis_url else None).run()
    return 0


class StoppingServer(uvicorn.Server):
    """With several nodes, SIGTERM drains the node (`Talkbox.drain`) before it stops as uvicorn does.

    Uvicorn on its own closes every socket at once, and stopping at once drops
    the media of every call the node carries; a balancer that has not noticed
    would go on sending new pages to a node on its way out. A second SIGTERM
    stops at once.
    """

    def __init__(
        self, config: uvicorn.Config, talkbox: Talkbox, *, drain: Callable[[], Awaitable[None]] | None
    ) -> None:
        super().__init__(config)
        self.talkbox = talkbox
        self.drain = drain
        self._draining: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain is None or self.talkbox.gateway.draining:
            super().handle_exit(sig, frame)
            return
        self.talkbox.gateway.draining = True  # readiness fails now, before anything else is scheduled
        log.info("SIGTERM: draining (a second SIGTERM stops at once)")
        loop = asyncio.get_running_loop()
        loop.call_soon_threadsafe(self._start_draining, sig)

    def _start_draining(self, sig: int) -> None:
        self._draining = asyncio.create_task(self._drain_then_exit(sig))

    async def _drain_then_exit(self, sig: int) -> None:
        assert self.drain is not None
        try:
            await self.drain()
        except Exception:
            log.exception("draining failed; stopping now")
        super().handle_exit(sig, None)


def server_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """How Talkbox runs under uvicorn, for `talkbox serve` and for the tests' servers alike."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # Frames past twice our own cap are cut off by the server itself.
        ws_max_size=2 * settings.max_message_bytes,
        # No permessage-deflate: its zlib state held most of an idle page's memory (bench/README.md, "Idle
        # pages"), for frames of a few hundred bytes of JSON that gain little from it.
        ws_per_message_deflate=False,
        # The sans-I/O websockets protocol (uvicorn's coming default) holds less per socket than the legacy one.
        ws="websockets-sansio",
        log_level=settings.log_level,
        # Uvicorn's loggers go to the root handler, which redacts secrets (app/logs.py).
        log_config=None,
        # Uvicorn would believe X-Forwarded-For from 127.0.0.1; Talkbox decides whom to
        # believe itself (TALKBOX_TRUSTED_PROXIES, ui/client_address.py).
        proxy_headers=False,
    )
