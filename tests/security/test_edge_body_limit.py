"""Item 2: a request body is capped while it streams in, before anything parses it, on every route.

Before the fix an unsigned 400 MiB POST to a webhook was read whole (the
server's memory went from 120 MB to 921 MB) before it got its 403.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from talkbox.app.main import create_app
from talkbox.app.settings import Settings
from tests.support.server import running_server
from tests.twilio.twilio_requests import settings as twilio_settings

CHUNK = b"k=v&" * (16 * 1024)  # 64 KiB
STATUS = "/twilio/status?conference_id=c-1&leg_id=l-bob"
LIMIT = 64 * 1024


async def test_a_streamed_oversize_body_is_refused_before_it_ends() -> None:
    """A real server and a chunked body that never ends: the 413 must come while it is still being sent."""
    give_up_after = 128 * 1024 * 1024
    async with running_server(app_options={"twilio": twilio_settings()}, max_body_bytes=LIMIT) as url:
        address = urlsplit(url)
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        writer.write(
            f"POST {STATUS} HTTP/1.1\r\nHost: {address.netloc}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: bogus\r\n\r\n".encode()
        )
        status_line = asyncio.create_task(reader.readline())
        sent = 0
        try:
            while not status_line.done() and sent < give_up_after:
                writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                await writer.drain()
                sent += len(CHUNK)
        except ConnectionError:
            pass  # the server may hang up once it has answered
        finally:
            writer.close()
        answer = await asyncio.wait_for(status_line, 5)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    # Kernel buffers on loopback take a few MiB; the body would never have ended.
    assert sent < give_up_after // 4, f"{sent} bytes went in before the answer"


async def test_a_body_is_counted_as_it_is_read_not_as_it_is_declared() -> None:
    """No Content-Length: the cap reads only as far as the limit, then answers 413."""
    app = create_app(Settings(database=":memory:", max_body_bytes=LIMIT), twilio_settings())
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield CHUNK

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        response = await http.post(STATUS, content=endless(), headers={"X-Twilio-Signature": "bogus"})
        declared = await http.post(STATUS, content=b"k=v", headers={"Content-Length": str(400 * 1024 * 1024)})
    assert response.status_code == 413
    assert pulled <= 2
    assert declared.status_code == 413


async def test_a_body_under_the_cap_still_reaches_its_route() -> None:
    app = create_app(Settings(database=":memory:", max_body_bytes=LIMIT), twilio_settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        response = await http.post(STATUS, content=b"k=" + b"v" * (LIMIT // 2), headers={"X-Twilio-Signature": "bogus"})
    assert response.status_code == 403  # read, parsed and checked: the signature is what fails
