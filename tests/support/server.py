"""Run Talkbox in the test's own event loop, on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from talkbox.app.cli import server_config
from talkbox.app.main import create_app
from talkbox.app.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def running_server(*, app_options: dict[str, Any] | None = None, **overrides: Any) -> AsyncIterator[str]:
    """`overrides` are Settings; `app_options` go to create_app (e.g. Twilio's settings)."""
    async with running_app(app_options=app_options, **overrides) as (url, _app):
        yield url


@contextlib.asynccontextmanager
async def running_app(
    *, app_options: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[tuple[str, FastAPI]]:
    """As running_server, with the app too, for a test that reaches its parts (`app.state.talkbox`)."""
    settings = Settings(**{"port": free_port(), "database": ":memory:", **overrides})
    app = create_app(settings, **(app_options or {}))
    server = uvicorn.Server(server_config(app, settings.model_copy(update={"log_level": "warning"})))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://{settings.host}:{settings.port}", app
    finally:
        server.should_exit = True
        await task
