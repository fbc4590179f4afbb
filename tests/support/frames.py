"""Reading a page's first frames off a raw websocket, as the page does."""

from __future__ import annotations

import json
from typing import Any

import websockets


async def welcomed(socket: websockets.ClientConnection) -> dict[str, Any]:
    """The `welcome`, then everything up to `synced` (the state on connect is complete); returns `synced`."""
    assert json.loads(await socket.recv())["type"] == "welcome"
    while (frame := json.loads(await socket.recv()))["type"] != "synced":
        pass
    return frame
