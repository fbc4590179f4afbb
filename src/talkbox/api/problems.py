"""Errors as problem+json (RFC 9457), each with a `type` URI that never changes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

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


def invalid(error: RequestValidationError) -> Problem:
    problem = Problem(422, "invalid-request", "The request is not valid", "see `errors` for each field at fault")
    # Only where and why: the input itself is not echoed (it may carry a key or a token).
    problem.extra["errors"] = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
        for item in error.errors()
    ]
    return problem


class ProblemRoute(APIRoute):
    """The API's routes answer every error as problem+json, without changing the rest of the app's errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                return invalid(error).response(request.url.path)
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
