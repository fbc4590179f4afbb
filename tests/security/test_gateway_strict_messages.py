"""Issue 10, item 11: a page message's booleans are JSON booleans, nothing that merely looks true."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.support.frames import welcomed
from tests.support.server import running_server


@pytest.mark.parametrize("muted", [1, 0, "yes", "true", "on", 1.0, None, [True]])
async def test_mute_takes_only_true_or_false(muted: object) -> None:
    async with (
        running_server() as url,
        websockets.connect(f"{url.replace('http', 'ws', 1)}/ws?client_name=alice") as page,
    ):
        await welcomed(page)
        frame = {"type": "mute", "conference_id": "c-1", "leg_id": "l-1", "muted": muted}
        await page.send(json.dumps(frame))
        reply = json.loads(await asyncio.wait_for(page.recv(), 5))
        assert (reply["type"], reply["code"]) == ("error", "invalid_message"), reply
        assert "muted" in reply["message"]


@pytest.mark.parametrize("muted", [True, False])
async def test_true_and_false_are_accepted(muted: bool) -> None:
    async with (
        running_server() as url,
        websockets.connect(f"{url.replace('http', 'ws', 1)}/ws?client_name=alice") as page,
    ):
        await welcomed(page)
        await page.send(json.dumps({"type": "mute", "conference_id": "c-1", "leg_id": "l-1", "muted": muted}))
        await page.send(json.dumps({"type": "call", "to": "alice"}))  # answered only after the mute is taken
        assert json.loads(await page.recv())["code"] == "self_call"  # the mute itself has no answer, no error
