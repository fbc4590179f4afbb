"""The HTTP edge: pure ASGI middleware every request passes before any route sees it.

Pure ASGI (no BaseHTTPMiddleware) so that a body can be counted as it streams
in and websockets pass through the same checks as HTTP (docs/security.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")


class _BodyTooLarge(Exception):
    """Raised out of `receive` to stop whoever is reading; the middleware answers 413."""


async def _refuse(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server itself refuses a malformed one
    return None


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
class Edge:
    """Every request's checks and additions, in one layer: the Host, a websocket's Origin, open mode on loopback
    only, the body cap (413 as soon as more is declared or arrives), the security headers on every HTTP answer
    (refusals included); the pages' websocket and the plain endpoints served from here.

    One layer, not four: each that wrapped `send` and `receive` cost every request a closure and a call per
    message, a fifth of an API call's HTTP side. `loopback_only` is open mode's guard where it cannot be got
    round: Settings knows only TALKBOX_HOST, while `uvicorn --factory … --host 0.0.0.0` binds elsewhere; each
    connection's scope says which address it really reached. Counting happens in `receive`, so no route, parser
    or dependency ever holds more than `max_bytes` of a body in memory, whatever it does with it.
    """

    app: ASGIApp
    hosts: AllowedHosts
    origins: AllowedOrigins
    headers: list[tuple[bytes, bytes]]
    max_bytes: int
    socket: SocketRoute
    loopback_only: bool = False
    plain: PlainRoutes = field(default_factory=lambda: PlainRoutes(()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self._refused(scope)
        if kind == "websocket":
            if refused is not None:
                await send({"type": "websocket.close", "code": 1008, "reason": refused[1][:120]})
            elif scope["path"] == self.socket.path:
                await self.socket.endpoint(WebSocket(scope, receive, send))
            else:
                await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if refused is None and declared is not None and declared > self.max_bytes:
            refused = 413, f"request bodies are capped at {self.max_bytes} bytes"
        if refused is not None:
            await _refuse(send, *refused, self.headers)
            return
        await self._http(scope, receive, send)

    def _refused(self, scope: Scope) -> tuple[int, str] | None:
        headers = Headers(scope=scope)
        host = headers.get("host")
        if self.loopback_only and not _arrived_on_loopback(scope):
            return 403, "open mode is served on loopback only: use TALKBOX_AUTH=token"
        if not self.hosts.allows(host):
            return 400, "this Host is not served here (TALKBOX_ALLOWED_HOSTS)"
        if scope["type"] == "websocket" and not self.origins.allows(headers.get("origin"), host):
            return 403, "this Origin may not connect (TALKBOX_ALLOWED_ORIGINS)"
        return None

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
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

        async def headed(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        try:
            endpoint = self.plain.endpoint_for(scope)
            if endpoint is None:
                await self.app(scope, counted, headed)
                return
            try:
                response = await endpoint(Request(scope, counted))
            except HTTPException as error:  # answered as FastAPI's handler answers it behind the router
                response = _http_error(error)
            # The endpoint has read all it reads: the answer goes out with no wrapper around `send`.
            response.raw_headers.extend(self.headers)
            started = True
            await response(scope, counted, send)
        except _BodyTooLarge:
            if started:  # a route that answered before reading: nothing left to say
                return
            await _refuse(send, 413, f"request bodies are capped at {self.max_bytes} bytes", self.headers)


def _http_error(error: HTTPException) -> Response:
    if error.status_code in (204, 304):
        return Response(status_code=error.status_code, headers=error.headers)
    return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)


@dataclass(frozen=True)
class PlainRoutes:
    """Routes whose endpoint takes the request itself, served by the edge without FastAPI's routing,
    middleware, dependency solving and exit stacks (they stay in the app's routes for /openapi.json).

    The rest of the app keeps its order: these match first, as they did when first in the app's list.
    """

    routes: Sequence[BaseRoute]

    def endpoint_for(self, scope: Scope) -> Callable[[Request], Awaitable[Response]] | None:
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                return child["endpoint"]  # type: ignore[no-any-return]
            if match is Match.PARTIAL:
                return None  # the path with another method: the router answers 405 with Allow, as for any route
        return None


@dataclass(frozen=True)
class SocketRoute:
    """One websocket path served from the edge, ahead of the routing and the middleware inside it.

    Every layer a socket passes keeps its coroutine frame alive for as long as the socket stays open:
    FastAPI's and Starlette's (exception handling, exit stacks, router, route, session) were a quarter of
    an idle page's memory. The socket passes the Host and Origin checks first.
    """

    path: str
    endpoint: Callable[[WebSocket], Awaitable[None]]
