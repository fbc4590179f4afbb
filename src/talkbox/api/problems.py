"""Errors as problem+json (RFC 9457), each with a `type` URI that never changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import request_response

Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)

TYPE_BASE = "https://talkbox.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An answer that is not the resource: `kind` names it for good (it is the end of its `type` URI)."""

    def __init__(self, status: int, kind: str, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.headers = headers or {}
        self.extra: dict[str, Any] = {}

    def response(self, instance: str) -> JSONResponse:
        body = {
            "type": TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            **self.extra,
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers, media_type=MEDIA_TYPE)


def invalid(errors: Iterable[Any]) -> Problem:
    """The 422 for pydantic's `errors`, whoever validated: FastAPI (RequestValidationError.errors()) or a plain
    endpoint (`body_of`)."""
    problem = Problem(422, "invalid-request", "The request is not valid", "see `errors` for each field at fault")
    # Only where and why: the input itself is not echoed (it may carry a key or a token).
    problem.extra["errors"] = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")} for item in errors
    ]
    return problem


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").partition(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def body_of(model: type[M], body: bytes, content_type: str | None, errors: list[Any]) -> M:
    """A plain endpoint's JSON body as `model`, judged as FastAPI judges a body parameter: empty is missing, a
    body that is not declared JSON is not an object, each error's `loc` starts with "body". Raises the 422 with
    `errors` (the headers' and query's, found first) and the body's; raises it for `errors` alone too."""
    found: list[Any] = list(errors)
    parsed: M | None = None
    try:
        if not body:
            found.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
        else:
            parsed = model.model_validate_json(body) if _is_json(content_type) else model.model_validate(body)
    except ValidationError as error:
        found += [{**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)]
    if found or parsed is None:
        raise invalid(found)
    return parsed


def too_long(where: str, name: str, most: int) -> dict[str, Any]:
    """The error pydantic gives a string over `max_length`, for a header or query value a plain endpoint reads."""
    return {"type": "string_too_long", "loc": (where, name), "msg": f"String should have at most {most} characters"}


class PlainRoute(APIRoute):
    """A route documented from `endpoint`'s signature like any of FastAPI's (its body, headers and answer in
    /openapi.json), and served by `serve`, which takes the request itself and does what that signature says.

    For the API's hottest paths: FastAPI's dependency solving, body validation and exit stacks were a third of
    a call creation's HTTP side. The edge (ui/edge.py's PlainRoutes) calls `serve` without FastAPI's routing
    and middleware; reached through the router instead, Starlette's request/response calls it.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], *, serve: Endpoint, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.endpoint = serve
        self.app = request_response(serve)

    def get_route_handler(self) -> Endpoint:
        return self.endpoint


class ProblemRoute(APIRoute):
    """The API's routes answer every error as problem+json, without changing the rest of the app's errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                return invalid(error.errors()).response(request.url.path)
            except Problem as problem:
                return problem.response(request.url.path)

        return answer


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {MEDIA_TYPE: {}}}
    for status, description in (
        (401, "No key, or one unknown or revoked (`unauthorized`)"),
        (404, "No such call or participant (`call-not-found`, `participant-not-found`)"),
        (409, "An Idempotency-Key reused with another body, a change to an ended call (`call-ended`)"),
        (422, "Bad input (`invalid-request`), each field at fault in `errors`"),
        (429, "Too many requests for this key (`rate-limited`); see Retry-After"),
    )
}
