"""Item 11, at the edge: the page's security headers, no source map served, open mode on loopback only.

Before: the page had no CSP, X-Frame-Options or nosniff; the bundle's source
map (the full sources) was served; and `uvicorn --factory
talkbox.app.main:create_app --host 0.0.0.0` served open mode to anyone,
because the settings still said 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from talkbox.app.main import create_app
from talkbox.app.settings import Settings
from talkbox.ui import page
from tests.twilio.twilio_requests import settings as twilio_settings

LOCAL = "http://127.0.0.1:5000"


async def get(app: Any, url: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 1))) as http:
        return await http.get(url, headers=headers)


async def test_every_response_forbids_framing_and_sniffing_and_the_page_loads_only_from_itself() -> None:
    app = create_app(Settings(database=":memory:"))
    for path in ("/", "/api/health", "/no-such-thing", "/static/app.js"):
        response = await get(app, LOCAL + path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "twilio" not in policy


async def test_in_twilio_mode_the_policy_lets_the_voice_sdk_reach_twilio() -> None:
    app = create_app(Settings(database=":memory:"), twilio_settings())
    policy = (await get(app, LOCAL + "/")).headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert "wss://*.twilio.com" in directives["connect-src"] and "https://*.twilio.com" in directives["connect-src"]
    assert "https://*.twilio.com" in directives["media-src"]
    assert directives["script-src"] == "'self'"


async def test_only_the_files_the_page_loads_are_served(tmp_path: Path) -> None:
    for name in ("index.html", "app.js", "style.css", "app.js.map", "app.js~"):
        (tmp_path / name).write_text(name)
    app = Starlette(routes=page.routes(tmp_path))
    served = {name: (await get(app, f"{LOCAL}/static/{name}")).status_code for name in ("app.js", "style.css")}
    hidden = {name: (await get(app, f"{LOCAL}/static/{name}")).status_code for name in ("app.js.map", "app.js~")}
    assert served == {"app.js": 200, "style.css": 200}
    assert hidden == {"app.js.map": 404, "app.js~": 404}
    assert "sourceMappingURL" not in (page.STATIC / "app.js").read_text()[-200:]


async def test_open_mode_is_refused_on_an_address_other_than_loopback_whatever_the_settings_say() -> None:
    """`uvicorn --factory … --host 0.0.0.0`: Settings say 127.0.0.1; the scope says where the client came in."""
    app = create_app(Settings(database=":memory:"))
    from_afar = await get(app, "http://192.0.2.10:5000/api/health", Host="localhost")
    on_loopback = await get(app, LOCAL + "/api/health")
    assert from_afar.status_code == 403 and "open mode" in from_afar.text
    assert on_loopback.status_code == 200
    assert await websocket_refused(app, server=("192.0.2.10", 5000))
    assert not await websocket_refused(app, server=("127.0.0.1", 5000))

    allowed = create_app(Settings(database=":memory:", allow_open_mode=True, allowed_hosts="*"))
    tokens = create_app(Settings(database=":memory:", auth="token", secret="s" * 32, allowed_hosts="*"))
    assert (await get(allowed, "http://192.0.2.10:5000/api/health")).status_code == 200
    assert (await get(tokens, "http://192.0.2.10:5000/api/health")).status_code == 200


async def websocket_refused(app: Any, server: tuple[str, int]) -> bool:
    """Whether the app closes a websocket to /ws before accepting it."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"client_name=alice",
        "headers": [(b"host", b"localhost")],
        "server": server,
        "client": ("203.0.113.5", 40000),
        "subprotocols": [],
        "scheme": "ws",
        "root_path": "",
    }
    sent: list[dict[str, Any]] = []
    inbox = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["type"] == "websocket.close"
