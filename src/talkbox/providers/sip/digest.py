"""Digest authentication as a client (RFC 2617 / RFC 8760): the answer to a trunk's 401 or 407.

MD5 and SHA-256, with qop=auth or without qop. The password never leaves this
module except as a hash in the answer. Challenges are parsed here, not by
sipmessage: its parser splits `qop="auth,auth-int"` at the comma inside the
quotes, which is how most carriers write it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_PARAMETER = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*(?:,|$)')


class CannotAnswer(ValueError):
    """A challenge this client does not speak (another scheme, algorithm or qop), or not a challenge."""


@dataclass(frozen=True)
class Challenge:
    scheme: str
    parameters: dict[str, str]

    @classmethod
    def parse(cls, value: str) -> Challenge:
        scheme, _, rest = value.strip().partition(" ")
        parameters: dict[str, str] = {}
        position = 0
        rest = rest.strip()
        while position < len(rest):
            match = _PARAMETER.match(rest, position)
            if match is None or match.end() == position:
                raise CannotAnswer("not a challenge")
            key, raw = match.group(1).lower(), match.group(2)
            parameters[key] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
            position = match.end()
        return cls(scheme, parameters)


def _hash(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode()).hexdigest()


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def answer(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nonce_count: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization (or Proxy-Authorization) header value for one request, answering `challenge`."""
    if challenge.scheme.lower() != "digest":
        raise CannotAnswer(f"scheme {challenge.scheme}")
    given = challenge.parameters
    algorithm = given.get("algorithm", "MD5").upper()
    if algorithm not in ALGORITHMS:
        raise CannotAnswer(f"algorithm {algorithm}")
    realm, nonce = given.get("realm", ""), given.get("nonce", "")
    if not nonce:
        raise CannotAnswer("no nonce")
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    offered = [q.strip() for q in given.get("qop", "").split(",") if q.strip()]
    fields = {"username": _quoted(username), "realm": _quoted(realm), "nonce": _quoted(nonce), "uri": _quoted(uri)}
    if offered:
        if "auth" not in offered:
            raise CannotAnswer(f"qop {','.join(offered)}")
        cnonce = cnonce or secrets.token_hex(8)
        nc = f"{nonce_count:08x}"
        fields["response"] = _quoted(_hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
        fields |= {"qop": "auth", "nc": nc, "cnonce": _quoted(cnonce)}
    else:
        fields["response"] = _quoted(_hash(algorithm, f"{ha1}:{nonce}:{ha2}"))
    fields["algorithm"] = algorithm
    if "opaque" in given:
        fields["opaque"] = _quoted(given["opaque"])
    return "Digest " + ", ".join(f"{key}={value}" for key, value in fields.items())
