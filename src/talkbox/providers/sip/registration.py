"""REGISTER with the trunk, kept alive (RFC 3261 section 10), when TALKBOX_SIP_REGISTER=1.

Refreshed at 80 % of what the registrar granted; after a failure, tried again
with a growing delay (5 s up to 5 min). `status()` is what `GET /api/sip` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from sipmessage import URI, Request, Response

from talkbox.providers.sip.message import new_call_id, new_tag
from talkbox.providers.sip.transport import Peer
from talkbox.providers.sip.ua import UserAgent

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MOST = 5.0, 300.0


@dataclass
class Registration:
    ua: UserAgent
    registrar: URI
    peer: Peer
    username: str
    expires: int = 600
    registered: bool = False
    expires_at: float | None = None  # wall time
    last_error: str | None = None
    attempts: int = 0
    _call_id: str = ""
    _tag: str = field(default_factory=new_tag)
    _cseq: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._call_id = new_call_id(self.registrar.host)
        self._task = asyncio.create_task(self._keep(), name="sip registration")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def status(self) -> dict[str, object]:
        return {
            "registrar": str(self.registrar),
            "username": self.username,
            "registered": self.registered,
            "expires_at": self.expires_at,
            "last_error": self.last_error,
            "attempts": self.attempts,
        }

    async def _keep(self) -> None:
        delay = RETRY_FIRST
        while True:
            granted = await self.register_once()
            if granted is not None:
                delay = RETRY_FIRST
                await asyncio.sleep(max(granted * 0.8, 1.0))
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MOST)

    async def register_once(self) -> int | None:
        """One REGISTER (answering a challenge): the seconds granted, or None and why in `last_error`."""
        self.attempts += 1
        answer = await self.ua.ask(self._request(), self.peer)
        if not 200 <= answer.code < 300:
            self.registered = False
            self.last_error = f"{answer.code} {answer.phrase}"
            log.warning("SIP registration with %s refused: %s", self.registrar.host, self.last_error)
            return None
        granted = _granted(answer, self.expires)
        self.registered, self.last_error = True, None
        self.expires_at = time.time() + granted
        log.info("registered with %s for %d s", self.registrar.host, granted)
        return granted

    def _request(self) -> Request:
        self._cseq += 2  # a challenged REGISTER goes again with the next number
        address = f"<sip:{self.username}@{self.registrar.host}>"
        request = self.ua.new_request(
            "REGISTER",
            URI.parse(
                f"{self.registrar.scheme}:{self.registrar.host}"
                + (f":{self.registrar.port}" if self.registrar.port else "")
            ),
            self.peer.protocol,
            from_=f"{address};tag={self._tag}",
            to=address,
            call_id=self._call_id,
        )
        request.headers.set("CSeq", f"{self._cseq} REGISTER")
        request.headers.set("Contact", self.ua.contact(self.peer.protocol, self.username))
        request.headers.set("Expires", str(self.expires))
        return request


def _granted(answer: Response, asked: int) -> int:
    """What the registrar gave: our Contact's expires, else the Expires header, else what we asked."""
    for contact in answer.headers.getlist("Contact"):
        for part in contact.split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "expires" and value.strip().isdigit():
                return int(value.strip())
    expires = answer.headers.get("Expires")
    return int(expires) if expires and expires.isdigit() else asked
