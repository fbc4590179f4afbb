"""A page stand-in for Twilio mode: the websocket only (Twilio carries the media)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Self

import websockets


class Page:
    def __init__(self, base_url: str, name: str) -> None:
        self.url = f"{base_url.replace('http', 'ws', 1)}/ws?client_name={name}"
        self.messages: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Self:
        self.socket = await websockets.connect(self.url)
        self._listener = asyncio.create_task(self._listen())
        await self.wait_for(lambda m: m["type"] == "welcome")
        return self

    async def __aexit__(self, *_: object) -> None:
        self._listener.cancel()
        await self.socket.close()

    async def _listen(self) -> None:
        async for frame in self.socket:
            self.messages.append(json.loads(frame))
            self._changed.set()

    async def send(self, **message: Any) -> None:
        await self.socket.send(json.dumps(message))

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        async def first() -> dict[str, Any]:
            seen = 0
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(first(), timeout)

    async def conference(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first conference update that satisfies `predicate`."""
        message = await self.wait_for(lambda m: m["type"] == "conference" and predicate(m["conference"]), timeout)
        return message["conference"]


def legs(conference: dict[str, Any]) -> dict[str, str]:
    """destination -> "status" or "status:end_reason" (a rejoined destination's later legs win)."""
    return {
        leg["destination"]: leg["status"] + (f":{leg['end_reason']}" if leg["end_reason"] else "")
        for leg in conference["legs"]
    }


def leg_id(conference: dict[str, Any], destination: str) -> str:
    return next(leg["id"] for leg in conference["legs"] if leg["destination"] == destination)
