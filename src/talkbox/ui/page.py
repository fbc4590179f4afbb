"""Serves the page and its bundle; the bundle is built by `make` from web/."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


async def index(_request: object) -> Response:
    if not (STATIC / "app.js").exists():
        return PlainTextResponse("The page is not built: run `make run` (or `make web`).", status_code=503)
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def routes() -> list[Route | Mount]:
    return [
        Route("/", index),
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]
