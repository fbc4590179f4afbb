"""Who is on the other end of a socket: the page's name in open mode, a signed token otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from talkbox.events.names import is_client_name

AuthMode = Literal["open", "token"]


class IdentityError(Exception):
    pass


MAX_DIRECTORY_NAMES = 1000


@dataclass(frozen=True)
class SignedIn:
    """Who the socket is, and whom the directory shows them: everyone (None), or the names listed."""

    user: str
    directory: frozenset[str] | None = None


DEFAULT_MAX_TTL = 24 * 3600
DEFAULT_TOKEN_TTL = 12 * 3600


@dataclass(frozen=True)
class Identity:
    mode: AuthMode
    secret: str | None = None
    # A token valid for longer than this (exp - iat, or exp - now) is refused: it was minted past policy.
    max_ttl: float = DEFAULT_MAX_TTL
    clock: Callable[[], float] = time.time

    def user_for(self, client_name: str | None, token: str | None) -> str:
        return self.signed_in(client_name, token).user

    def signed_in(self, client_name: str | None, token: str | None) -> SignedIn:
        if self.mode == "token":
            return self._from_token(token)
        if not client_name or not is_client_name(client_name):
            raise IdentityError("client_name must be 1-64 letters, digits, '.', '_' or '-'")
        return SignedIn(client_name)

    def _from_token(self, token: str | None) -> SignedIn:
        if not token:
            raise IdentityError("a token is required")
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
        except jwt.PyJWTError as error:
            raise IdentityError(f"invalid token: {error}") from error
        self._check_lifetime(claims)
        user = claims["sub"]
        if not isinstance(user, str) or not is_client_name(user):
            raise IdentityError("the token names no valid user")
        return SignedIn(user, _directory(claims.get("directory", "*")))

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """Both measures: an `iat` set in the future must not stretch a token's life."""
        exp, iat = claims["exp"], claims.get("iat")
        longest = exp - self.clock()
        if isinstance(iat, int | float):
            longest = max(longest, exp - iat)
        if longest > self.max_ttl:
            raise IdentityError(f"invalid token: valid for longer than the {self.max_ttl:.0f} s this server allows")


def _directory(claim: object) -> frozenset[str] | None:
    """The `directory` claim: "*" (everyone, the default) or a list of the names this user may see."""
    if claim == "*":
        return None
    if (
        isinstance(claim, list)
        and len(claim) <= MAX_DIRECTORY_NAMES
        and all(isinstance(name, str) and is_client_name(name) for name in claim)
    ):
        return frozenset(claim)
    most = MAX_DIRECTORY_NAMES
    raise IdentityError(f'invalid token: its directory claim must be "*" or a list of at most {most} names')


def issue_token(
    secret: str, user: str, ttl_seconds: int = DEFAULT_TOKEN_TTL, directory: list[str] | None = None
) -> str:
    """`directory`: the names the user may see in the directory (None: everyone)."""
    if not is_client_name(user):
        raise ValueError(f"{user!r} is not a valid name")
    if ttl_seconds <= 0:
        raise ValueError(f"a token's ttl must be a positive number of seconds, not {ttl_seconds}")
    if directory is not None and not all(is_client_name(name) for name in directory):
        raise ValueError(f"the directory must list valid names, not {directory!r}")  # refused now, not on use
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user, "iat": now, "exp": now + ttl_seconds}
    if directory is not None:
        claims["directory"] = directory
    return jwt.encode(claims, secret, algorithm="HS256")
