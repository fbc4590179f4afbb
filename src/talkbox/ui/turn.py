"""TURN credentials for a page: coturn's "TURN REST API" scheme (`use-auth-secret`), so no user list is kept.

The username is `EXPIRY:USER` and the password the base64 of HMAC-SHA1 over it with the secret Talkbox
shares with coturn (its `static-auth-secret`): coturn checks both and the expiry, and a leaked pair is
good for one user until it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from talkbox.ui.protocol import IceServer


@dataclass(frozen=True)
class Turn:
    urls: tuple[str, ...]
    secret: str
    ttl: int = 86400
    clock: Callable[[], float] = time.time

    def servers_for(self, user: str) -> list[IceServer]:
        username = f"{int(self.clock()) + self.ttl}:{user}"
        mac = hmac.new(self.secret.encode(), username.encode(), hashlib.sha1).digest()
        return [IceServer(urls=list(self.urls), username=username, credential=base64.b64encode(mac).decode())]


def no_turn(_user: str) -> list[IceServer]:
    return []
