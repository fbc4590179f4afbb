"""Serves the page and its bundle; the bundle is built by `make` from web/.

Only the files the page loads are served, by name: whatever else lies in
static/ (a source map from a development build, an editor's backup) is not.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

STATIC = Path(__file__).parent / "static"
ASSETS = ("app.js", "style.css")
# Where Twilio's Voice SDK connects (signalling, insights) and fetches its ring sounds from.
TWILIO_SOURCES = "https://*.twilio.com wss://*.twilio.com"


def content_security_policy(provider: str) -> str:
    """Everything from Talkbox itself; in Twilio mode, Twilio's servers too. Never framed."""
    extra = f" {TWILIO_SOURCES}" if provider == "twilio" else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"media-src 'self' blob:{extra}",
            f"connect-src 'self'{extra}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(provider: str) -> list[tuple[bytes, bytes]]:
    """For every response: the page's policy, no framing, no sniffing, and no URL (with its token) as Referer."""
    return [
        (b"content-security-policy", content_security_policy(provider).encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


def routes(static: Path = STATIC) -> list[Route]:
    async def index(_request: Request) -> Response:
        if not (static / "app.js").exists():
            return PlainTextResponse("The page is not built: run `make run` (or `make web`).", status_code=503)
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-cache"})

    def asset(name: str) -> Route:
        async def serve(_request: Request) -> Response:
            if not (static / name).exists():
                return PlainTextResponse("Not Found", status_code=404)
            return FileResponse(static / name, headers={"Cache-Control": "no-cache"})

        return Route(f"/static/{name}", serve, methods=["GET", "HEAD"])

    return [Route("/", index), *(asset(name) for name in ASSETS)]
