"""`talkbox serve` and `talkbox token NAME`."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from pydantic import ValidationError

from talkbox.app.settings import Settings, SettingsError
from talkbox.ui.identity import DEFAULT_TOKEN_TTL, issue_token


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
    args = parser.parse_args(argv)

    overrides = {key: value for key in ("host", "port") if (value := getattr(args, key, None)) is not None}
    try:
        settings = Settings(**overrides)
        if args.command == "token":
            if not settings.secret:
                raise SettingsError("set TALKBOX_SECRET to sign tokens")
            print(issue_token(settings.secret, args.name, token_ttl(args.ttl, settings.max_token_ttl)))
            return 0
        return serve_forever(settings)
    except (SettingsError, ValidationError, ValueError) as error:
        print(f"talkbox: {error}", file=sys.stderr)
        return 2


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


def serve_forever(settings: Settings) -> int:
    from talkbox.app.main import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    # Frames past twice our own cap are cut off by the server itself.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ws_max_size=2 * settings.max_message_bytes,
        log_level=settings.log_level,
    )
    return 0
