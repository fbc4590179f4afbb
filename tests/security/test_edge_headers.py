"""Item 6: the headers nobody checked. Origin on the websocket, Host everywhere, X-Forwarded-For.

Before: any website a user visited could open a socket in open mode as any
name; DNS rebinding reached the loopback-only endpoints; and a client on
loopback could claim a new address per socket with X-Forwarded-For (uvicorn
believed it), getting past the per-address socket cap.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
import websockets

from talkbox.app.main import create_app
from talkbox.app.settings import Settings
from talkbox.events.models import PresenceChanged
from tests.support.frames import welcomed
from tests.support.server import running_server

SECRET = "s" * 32


async def handshake(url: str, headers: dict[str, str]) -> bytes:
    """The status line the server answers a websocket upgrade to /ws with (101 when it is taken)."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    lines = {
        "Host": address.netloc,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        **headers,
    }
    request = "GET /ws?client_name=alice HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines.items()) + "\r\n"
    writer.write(request.encode())
    try:
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def test_the_websocket_takes_only_its_own_origin_and_the_allowed_ones() -> None:
    async with running_server(allowed_origins="https://app.example.org") as url:
        own = await handshake(url, {"Origin": url})
        elsewhere = await handshake(url, {"Origin": "https://evil.example"})
        allowed = await handshake(url, {"Origin": "https://app.example.org"})
        sandboxed = await handshake(url, {"Origin": "null"})
        no_browser = await handshake(url, {})
    assert own.startswith(b"HTTP/1.1 101")
    assert elsewhere.startswith(b"HTTP/1.1 403")
    assert allowed.startswith(b"HTTP/1.1 101")
    assert sandboxed.startswith(b"HTTP/1.1 403")
    assert no_browser.startswith(b"HTTP/1.1 101")


async def test_a_rebound_name_reaches_neither_the_page_nor_the_socket() -> None:
    """DNS rebinding: the attacker's name now points at 127.0.0.1, and the browser sends it as Host."""
    async with running_server() as url:
        port = urlsplit(url).port
        socket = await handshake(
            url, {"Host": f"rebind.evil.example:{port}", "Origin": f"http://rebind.evil.example:{port}"}
        )
        async with httpx.AsyncClient() as http:
            page = await http.get(f"{url}/api/dead-letters", headers={"Host": f"rebind.evil.example:{port}"})
            by_name = await http.get(f"{url}/api/health", headers={"Host": f"localhost:{port}"})
    assert socket.startswith(b"HTTP/1.1 403")
    assert page.status_code == 400
    assert by_name.status_code == 200


async def test_allowed_hosts_replace_the_defaults() -> None:
    settings = Settings(
        database=":memory:", allowed_hosts="talk.example.org, [2001:db8::1]", auth="token", secret=SECRET
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 1))) as http:
        named = await http.get("http://talk.example.org/api/health")
        literal = await http.get("http://[2001:db8::1]:5000/api/health")
        local = await http.get("http://localhost/api/health")
    assert (named.status_code, literal.status_code, local.status_code) == (200, 200, 400)


async def open_sockets(url: str, forwarded_for: list[str]) -> list[int | None]:
    """Open one socket per X-Forwarded-For value; the close code of each (None: it stayed open)."""
    sockets = []
    codes: list[int | None] = []
    try:
        for hop in forwarded_for:
            socket = await websockets.connect(
                f"{url.replace('http', 'ws', 1)}/ws?client_name=u{len(sockets)}",
                additional_headers={"X-Forwarded-For": hop},
            )
            sockets.append(socket)
            try:
                await welcomed(socket)
                await asyncio.wait_for(socket.recv(), 0.3)
            except TimeoutError:
                codes.append(None)
            except websockets.ConnectionClosed as closed:
                codes.append(closed.rcvd.code if closed.rcvd else None)
    finally:
        for socket in sockets:
            await socket.close()
    return codes


async def test_forwarded_for_from_an_untrusted_peer_does_not_multiply_an_address() -> None:
    async with running_server(max_sockets_per_address=2) as url:
        codes = await open_sockets(url, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
    assert codes == [None, None, 4429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_address() -> None:
    async with running_server(max_sockets_per_address=2, trusted_proxies="127.0.0.1") as url:
        distinct = await open_sockets(url, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
        # What a client wrote itself sits left of what the proxy appended: only the proxy's entry counts.
        spoofed = await open_sockets(url, ["1.1.1.1, 198.51.100.7", "2.2.2.2, 198.51.100.7", "198.51.100.7"])
    assert distinct == [None, None, None]
    assert spoofed == [None, None, 4429]


async def test_dead_letters_stay_on_the_machine_whoever_forwards_the_request() -> None:
    for trusted, forwarded, expected in [
        ("", None, 200),  # the operator on the machine
        ("", "127.0.0.1", 403),  # forwarded by a proxy nobody named: not local
        ("127.0.0.1", "203.0.113.9", 403),  # a trusted proxy says who it is: a stranger
        ("127.0.0.1", "127.0.0.1, 203.0.113.9", 403),  # and the client cannot prepend its way in
    ]:
        app = create_app(Settings(database=":memory:", trusted_proxies=trusted))
        app.state.talkbox.router.dead_letters.add(PresenceChanged(user="a", online=True), "Gateway", KeyError(), 3)
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            answer = await http.get("/api/dead-letters", headers=headers)
        assert answer.status_code == expected, (trusted, forwarded)
