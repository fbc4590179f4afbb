"""Who is on the other end of a socket: the page's name in open mode, a signed token otherwise."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import jwt

from talkbox.events.names import is_client_name

AuthMode = Literal["open", "token"]


class IdentityError(Exception):
    pass


@dataclass(frozen=True)
class Identity:
    mode: AuthMode
    secret: str | None = None

    def user_for(self, client_name: str | None, token: str | None) -> str:
        if self.mode == "token":
            return self._from_token(token)
        if not client_name or not is_client_name(client_name):
            raise IdentityError("client_name must be 1-64 letters, digits, '.', '_' or '-'")
        return client_name

    def _from_token(self, token: str | None) -> str:
        if not token:
            raise IdentityError("a token is required")
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
        except jwt.PyJWTError as error:
            raise IdentityError(f"invalid token: {error}") from error
        user = claims["sub"]
        if not isinstance(user, str) or not is_client_name(user):
            raise IdentityError("the token names no valid user")
        return user


def issue_token(secret: str, user: str, ttl_seconds: int = 12 * 3600) -> str:
    if not is_client_name(user):
        raise ValueError(f"{user!r} is not a valid name")
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + ttl_seconds}, secret, algorithm="HS256")
