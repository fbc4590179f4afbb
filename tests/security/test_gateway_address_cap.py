"""Issue 10, item 6: sockets from one address must not lock out a normal user on that address.

Before, TALKBOX_MAX_SOCKETS_PER_ADDRESS counted every socket from an address
whatever its name: one user's tabs (or a hostile page's) filled it, and nobody
else behind the same NAT or proxy could connect at all.
"""

from __future__ import annotations

import json

import pytest
import websockets

from talkbox.ui.identity import issue_token
from tests.support.server import running_server

SECRET = "a-test-secret-of-at-least-32-bytes!!"


async def first_frame(url: str) -> tuple[websockets.ClientConnection, str | int]:
    """The socket and its first message's type, or the close code if it was closed instead."""
    socket = await websockets.connect(url)
    try:
        return socket, json.loads(await socket.recv())["type"]
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        return socket, closed.rcvd.code


async def test_in_token_mode_other_names_on_the_address_never_lock_a_user_out() -> None:
    async with running_server(auth="token", secret=SECRET, max_sockets_per_address=4) as url:
        base = f"{url.replace('http', 'ws', 1)}/ws?token="
        crowd = [await first_frame(base + issue_token(SECRET, f"colleague{i}")) for _ in range(3) for i in range(4)]
        assert [frame for _, frame in crowd] == ["welcome"] * 12
        alice, frame = await first_frame(base + issue_token(SECRET, "alice"))
        assert frame == "welcome"
        for socket, _ in (*crowd, (alice, frame)):
            await socket.close()


async def test_in_open_mode_a_connected_user_is_not_pushed_out_by_made_up_names() -> None:
    async with running_server(max_sockets_per_address=4, max_sockets_per_user=3) as url:
        base = f"{url.replace('http', 'ws', 1)}/ws?client_name="
        alice = [await first_frame(base + "alice")]
        made_up = [await first_frame(base + f"name{i}") for i in range(3)]
        assert [frame for _, frame in (*alice, *made_up)] == ["welcome"] * 4
        # The address is full for new names: a page claiming a fresh one each time is held to the cap.
        _, refused = await first_frame(base + "name99")
        assert refused == 4429
        # Alice, already connected from there, still opens her second and third tab, up to her own cap.
        alice += [await first_frame(base + "alice") for _ in range(3)]
        assert [frame for _, frame in alice] == ["welcome", "welcome", "welcome", 4429]
        for socket, _ in (*alice, *made_up):
            await socket.close()


@pytest.mark.parametrize("auth", ["open", "token"])
async def test_the_per_user_cap_still_holds(auth: str) -> None:
    async with running_server(auth=auth, secret=SECRET, max_sockets_per_user=2) as url:
        query = f"token={issue_token(SECRET, 'mallory')}" if auth == "token" else "client_name=mallory"
        sockets = [await first_frame(f"{url.replace('http', 'ws', 1)}/ws?{query}") for _ in range(3)]
        assert [frame for _, frame in sockets] == ["welcome", "welcome", 4429]
        for socket, _ in sockets:
            await socket.close()
