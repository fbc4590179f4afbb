"""TALKBOX_SIP_*: where SIP listens, the trunk, who may call in and what may be dialled.

SIP is off unless TALKBOX_SIP_LISTEN is set; then nothing listens at all.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sipmessage import URI

from talkbox.events.names import E164_NUMBER, is_e164, ring_group

Protocol = Literal["udp", "tcp", "tls"]
PROTOCOLS = ("udp", "tcp", "tls")
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}


@dataclass(frozen=True)
class Listen:
    protocol: Protocol
    host: str
    port: int


LOOPBACK = "127.0.0.1"


def _listen(spec: str) -> Listen:
    """`udp:0.0.0.0:5060`, `tls:[::1]:5061`, `127.0.0.1:5060` (UDP), or just `udp:5060` / `5060` (loopback)."""
    protocol, _, rest = spec.partition(":") if spec.split(":", 1)[0] in PROTOCOLS else ("udp", "", spec)
    host, _, port = rest.rpartition(":")
    host = host.strip("[]") or LOOPBACK
    ipaddress.ip_address(host)  # a ValueError names a host that is not an address
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"{spec!r}: the port must be 0..65535")
    return Listen(protocol, host, number)  # type: ignore[arg-type]


class SipSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALKBOX_SIP_", extra="ignore", populate_by_name=True)

    # Comma list of PROTOCOL:HOST:PORT; loopback unless said otherwise (a SIP port on the internet meets
    # toll fraud within minutes).
    listen: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where calls out go, and whose addresses may call in: sip:HOST[:PORT][;transport=tcp|tls], or sips:HOST[:PORT].
    trunk: str | None = None
    # TLS: our certificate chain and its key (PEM), needed by a tls: listener and shown to a TLS trunk.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The CA certificates (PEM) a TLS trunk's certificate is checked against instead of the system's.
    tls_ca: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    # "register" is BaseSettings' own name: the field has another, the variable stays TALKBOX_SIP_REGISTER.
    registering: bool = Field(False, validation_alias="TALKBOX_SIP_REGISTER")
    # Seconds a registration is asked to last; it is refreshed before it runs out.
    register_expires: int = Field(600, ge=60, le=86400)
    # The ring group for calls from telephones to the number (or to any user that is not a client).
    ring: Annotated[tuple[str, ...], NoDecode] = ()
    # The number calls out come from (the From user); the trunk may overwrite it.
    caller_id: str | None = None
    # Networks besides the trunk's addresses that may send INVITEs (a PBX, a test phone).
    allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # What a page may dial: E.164 by default.
    dial_allow: str = E164_NUMBER.pattern
    # Address put in Contact and Via when the listening one is 0.0.0.0 or behind a 1:1 NAT.
    public_address: str | None = None
    # Messages one source may send in any second; past it they are dropped unread.
    max_messages_per_second: int = Field(50, ge=1, le=100_000)
    max_message_bytes: int = Field(8192, ge=1024, le=65535)
    # Calls at once (in and out); an INVITE past it gets 503.
    max_calls: int = Field(200, ge=1, le=100_000)

    @field_validator("listen", "allow", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("ring", mode="before")
    @classmethod
    def _ring_group(cls, value: object) -> object:
        return ring_group(value, "TALKBOX_SIP_RING")

    @field_validator("listen")
    @classmethod
    def _listens(cls, value: list[str]) -> list[str]:
        for spec in value:
            _listen(spec)
        return value

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("trunk")
    @classmethod
    def _trunk(cls, value: str | None) -> str | None:
        if value is not None:
            uri = URI.parse(value)
            if uri.scheme not in ("sip", "sips"):
                raise ValueError("TALKBOX_SIP_TRUNK must be a sip: or sips: URI such as sip:sip.carrier.example:5060")
            transport = str(uri.parameters.get("transport") or "").lower()
            if transport and transport not in PROTOCOLS:
                raise ValueError(f"TALKBOX_SIP_TRUNK: transport={transport} is not one of udp, tcp, tls")
            if uri.scheme == "sips" and transport == "udp":
                raise ValueError("TALKBOX_SIP_TRUNK: a sips: trunk is reached over TLS, not transport=udp")
        return value

    @field_validator("caller_id")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        if value is not None and not is_e164(value):
            raise ValueError("TALKBOX_SIP_CALLER_ID must be an E.164 number such as +15005550006")
        return value

    @field_validator("dial_allow")
    @classmethod
    def _pattern(cls, value: str) -> str:
        re.compile(value)
        return value

    @model_validator(mode="after")
    def _tls_needs_certificate(self) -> SipSettings:
        if any(listen.protocol == "tls" for listen in self.listens) and not (self.tls_cert and self.tls_key):
            raise ValueError("a tls: TALKBOX_SIP_LISTEN needs TALKBOX_SIP_TLS_CERT and TALKBOX_SIP_TLS_KEY")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TALKBOX_SIP_TLS_CERT and TALKBOX_SIP_TLS_KEY go together")
        # Loaded once here so that a wrong file is a clear error at start, not a failed handshake later.
        if self.tls_cert and self.tls_key:
            self.server_tls()
        if self.tls_ca:
            self.client_tls()
        return self

    @model_validator(mode="after")
    def _register_needs_trunk(self) -> SipSettings:
        if self.registering and not (self.trunk and self.username and self.password):
            raise ValueError("TALKBOX_SIP_REGISTER=1 needs TALKBOX_SIP_TRUNK, _USERNAME and _PASSWORD")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.listen)

    @property
    def listens(self) -> tuple[Listen, ...]:
        return tuple(_listen(spec) for spec in self.listen)

    @property
    def trunk_uri(self) -> URI | None:
        return URI.parse(self.trunk) if self.trunk else None

    @property
    def trunk_protocol(self) -> Protocol:
        """How the trunk is reached: sips: (over TCP, RFC 3261 26.2) or ;transport=tls is TLS, ;transport=tcp TCP."""
        uri = self.trunk_uri
        if uri is None:
            return "udp"
        transport = str(uri.parameters.get("transport") or "").lower()
        return "tls" if uri.scheme == "sips" or transport == "tls" else "tcp" if transport == "tcp" else "udp"

    @property
    def trunk_port(self) -> int:
        uri = self.trunk_uri
        return (uri.port if uri is not None else None) or DEFAULT_PORTS[self.trunk_protocol]

    def server_tls(self) -> ssl.SSLContext | None:
        """What a tls: listener presents: our chain; callers are not asked for one (access is by address)."""
        if not (self.tls_cert and self.tls_key):
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        _load_chain(context, self.tls_cert, self.tls_key)
        return context

    def client_tls(self) -> ssl.SSLContext:
        """How we reach a TLS trunk: its certificate checked (system CAs or TALKBOX_SIP_TLS_CA) for its name."""
        try:
            context = ssl.create_default_context(cafile=str(self.tls_ca) if self.tls_ca else None)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"TALKBOX_SIP_TLS_CA {self.tls_ca}: {error}") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.tls_cert and self.tls_key:
            _load_chain(context, self.tls_cert, self.tls_key)  # for trunks that ask for a client certificate
        return context

    def may_dial(self, number: str) -> bool:
        return re.fullmatch(self.dial_allow, number) is not None


def _load_chain(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"TALKBOX_SIP_TLS_CERT {cert} / TALKBOX_SIP_TLS_KEY {key}: {error}") from None
