"""A running Talkbox with one API key, and an httpx client that carries it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.server import running_app


@dataclass
class Api:
    url: str
    app: FastAPI
    key: str
    http: httpx.AsyncClient

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}


async def api_server(**overrides: Any) -> AsyncIterator[Api]:
    async with running_app(**overrides) as (url, app), httpx.AsyncClient(base_url=url) as http:
        key = app.state.talkbox.api_keys.create("tests")
        http.headers.update({"Authorization": f"Bearer {key}"})
        yield Api(url, app, key, http)
