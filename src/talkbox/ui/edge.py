"""The HTTP edge: pure ASGI middleware every request passes before any route sees it.

Pure ASGI (no BaseHTTPMiddleware) so that a body can be counted as it streams
in and websockets pass through the same checks as HTTP (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _BodyTooLarge(Exception):
    """Raised out of `receive` to stop whoever is reading; the middleware answers 413."""


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server itself refuses a malformed one
    return None


@dataclass
class BodyLimit:
    """At most `max_bytes` of request body on any route: 413 as soon as more is declared or arrives.

    Counting happens in `receive`, so no route, parser or dependency ever holds
    more than the cap in memory, whatever it does with the body.
    """

    app: ASGIApp
    max_bytes: int

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, 413, f"request bodies are capped at {self.max_bytes} bytes")
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _BodyTooLarge:
            if started:  # a route that answered before reading: nothing left to say
                return
            await _refuse(send, 413, f"request bodies are capped at {self.max_bytes} bytes")
