"""The HTTP edge: pure ASGI middleware every request passes before any route sees it.

Pure ASGI (no BaseHTTPMiddleware) so that a body can be counted as it streams
in and websockets pass through the same checks as HTTP (docs/security.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")


class _BodyTooLarge(Exception):
    """Raised out of `receive` to stop whoever is reading; the middleware answers 413."""


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse_scope(scope: Scope, send: Send, status: int, text: str) -> None:
    """An HTTP answer, or a websocket refused before its handshake (the server answers it 403)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": text[:120]})
    else:
        await _refuse(send, status, text)


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


def host_name(host_header: str) -> str:
    """`Example.org:5000` -> `example.org`; `[::1]:5000` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class AllowedHosts:
    """The names a request's Host may carry. DNS rebinding always arrives with the attacker's own name.

    Bound to a wildcard address, every address of the machine is the bound host:
    any IP literal is allowed then (a rebinding attack cannot send one), names only if listed.
    """

    names: frozenset[str]
    any_ip: bool = False

    @classmethod
    def of(cls, listed: Iterable[str], *, bound_host: str, also: Iterable[str | None] = ()) -> AllowedHosts:
        """`listed` (TALKBOX_ALLOWED_HOSTS) if given, else the bound host, loopback, and `also`."""
        listed = [host_name(host) for host in listed]
        if listed:
            return cls(frozenset(listed))
        defaults = [bound_host, *LOCAL_NAMES, *(host for host in also if host)]
        return cls(frozenset(host_name(host) for host in defaults), any_ip=bound_host in WILDCARD_BINDS)

    def allows(self, host_header: str | None) -> bool:
        if "*" in self.names:
            return True
        if not host_header:
            return False
        host = host_name(host_header)
        return host in self.names or (self.any_ip and _is_ip(host))


def _origin(text: str) -> str:
    parts = urlsplit(text.strip().lower())
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class AllowedOrigins:
    """Which pages may open a websocket: the page's own origin, plus TALKBOX_ALLOWED_ORIGINS.

    A browser always sends Origin on a websocket, and a page cannot forge it; a
    client without one is no browser, so no visited website can be driving it.
    """

    extra: frozenset[str] = frozenset()

    @classmethod
    def of(cls, origins: Iterable[str]) -> AllowedOrigins:
        return cls(frozenset(_origin(origin) for origin in origins))

    def listed(self, origin: str) -> bool:
        """One of TALKBOX_ALLOWED_ORIGINS: an application's page on another origin, which may also read the
        page's HTTP answers meant for it (the Voice token)."""
        return _origin(origin) in self.extra

    def allows(self, origin: str | None, host_header: str | None) -> bool:
        if origin is None:
            return True
        own = urlsplit(origin.strip().lower()).netloc
        return (host_header is not None and own == host_header.strip().lower()) or _origin(origin) in self.extra


def _arrived_on_loopback(scope: Scope) -> bool:
    """The server's own address for this connection: the one the client reached, whatever was bound."""
    server = scope.get("server")
    if not server or not isinstance(server[0], str):
        return False
    try:
        return ipaddress.ip_address(server[0]).is_loopback
    except ValueError:
        return False


@dataclass
class Gatekeeper:
    """Host, websocket Origin, and open mode on loopback only: checked for HTTP and websocket alike.

    `loopback_only` is open mode's guard where it cannot be got round: Settings
    knows only TALKBOX_HOST, while `uvicorn --factory … --host 0.0.0.0` binds
    elsewhere. Each connection's scope says which address it really reached.
    """

    app: ASGIApp
    hosts: AllowedHosts
    origins: AllowedOrigins
    loopback_only: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        if self.loopback_only and not _arrived_on_loopback(scope):
            await _refuse_scope(scope, send, 403, "open mode is served on loopback only: use TALKBOX_AUTH=token")
        elif not self.hosts.allows(host):
            await _refuse_scope(scope, send, 400, "this Host is not served here (TALKBOX_ALLOWED_HOSTS)")
        elif scope["type"] == "websocket" and not self.origins.allows(headers.get("origin"), host):
            await _refuse_scope(scope, send, 403, "this Origin may not connect (TALKBOX_ALLOWED_ORIGINS)")
        else:
            await self.app(scope, receive, send)


@dataclass
class SecurityHeaders:
    """Adds `headers` to every HTTP response, refusals from the other middleware included."""

    app: ASGIApp
    headers: list[tuple[bytes, bytes]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)
