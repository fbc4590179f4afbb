"""SIP over TLS (RFC 3261 26.2) against a real peer: Debian's baresip, speaking TLS with a certificate made here.

Debian's sipp (3.6.1) is built without OpenSSL (`-t l1`: "To use a TLS transport you must compile
SIPp with OpenSSL"), so baresip is the TLS peer: it calls in over TLS, and it is the TLS trunk we call.
baresip 1.0 does not check the certificate Talkbox shows it; Talkbox checks the trunk's.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from talkbox.providers.sip.settings import SipSettings
from tests.sip.baresip import PHONE_RATE, baresip
from tests.sip.certificates import Certificate, self_signed
from tests.support.audio import level_at
from tests.support.peer import Peer
from tests.support.server import running_app

PAGE_HZ, PHONE_HZ = 440.0, 1000.0


def tls_settings(certificate: Certificate, **settings: object) -> SipSettings:
    return SipSettings(listen="tls:127.0.0.1:0", tls_cert=certificate.cert, tls_key=certificate.key, **settings)


async def test_a_telephone_calls_in_over_tls_and_each_hears_the_other(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path / "tls")
    sip = tls_settings(certificate, ring=("alice",), allow=["127.0.0.0/8"])
    async with (
        running_app(app_options={"sip": sip}, media_workers=0) as (url, app),
        Peer(url, "alice", PAGE_HZ) as alice,
    ):
        status = app.state.talkbox.sip.status()
        _, port = app.state.talkbox.sip.transports.local["tls"]
        assert status["listening"] == [f"tls:127.0.0.1:{port}"]
        dial = f"sip:+15005550006@127.0.0.1:{port};transport=tls"
        async with baresip(tmp_path / "phone", PHONE_HZ, seconds=8, dial=dial, certificate=certificate.both) as phone:
            await alice.wait_for(lambda: alice.offers, timeout=10)
            await alice.accept()
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > -30, timeout=10)
            await alice.wait_for(lambda: alice.last_conference()["status"] == "ended", timeout=15)
        heard = phone.heard()
        assert level_at(heard[-4 * PHONE_RATE :], PAGE_HZ, rate=PHONE_RATE) > -30, phone.log()
        # Its trace: the INVITE went out over TLS and our answers came back on it.
        assert "SIP/2.0/TLS" in phone.log() and "200 OK" in phone.log()
    legs = {leg["destination"]: (leg["status"], leg["end_reason"]) for leg in alice.last_conference()["legs"]}
    assert legs["phone"] == ("completed", "hung-up")


async def test_a_page_calls_out_through_a_tls_trunk_whose_certificate_it_trusts(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path / "tls")
    async with baresip(
        tmp_path / "trunk", PHONE_HZ, seconds=60, user="+441234567890", certificate=certificate.both
    ) as trunk:
        # baresip listens for TLS one port above its UDP/TCP port; its certificate is trusted through TLS_CA.
        sip = tls_settings(certificate, trunk=f"sip:127.0.0.1:{trunk.port + 1};transport=tls", tls_ca=certificate.cert)
        async with (
            running_app(app_options={"sip": sip}, media_workers=0) as (url, _app),
            Peer(url, "alice", PAGE_HZ) as alice,
        ):
            await alice.call("+441234567890")
            await alice.wait_for(lambda: alice.level(PHONE_HZ) > -30, timeout=15)
            await asyncio.sleep(3)  # for the telephone to hear her: its recording is read once the call is over
            await alice.hang_up()
            await alice.wait_for(lambda: alice.last_conference()["status"] == "ended", timeout=10)
        await asyncio.sleep(0.5)  # the dump is closed when the call ends
        heard = trunk.heard()
        assert level_at(heard[-3 * PHONE_RATE :], PAGE_HZ, rate=PHONE_RATE) > -30, trunk.log()
        log = trunk.log()
        assert "SIP/2.0/TLS" in log and "BYE sip:" in log, log
    legs = {leg["destination"]: (leg["status"], leg["end_reason"]) for leg in alice.last_conference()["legs"]}
    assert legs["+441234567890"] == ("completed", "ended")


async def test_a_tls_trunk_whose_certificate_does_not_verify_gets_no_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    certificate = self_signed(tmp_path / "tls")
    async with baresip(
        tmp_path / "trunk", PHONE_HZ, seconds=60, user="+441234567890", certificate=certificate.both
    ) as trunk:
        # No TLS_CA: the system's CAs do not know a self-signed certificate, so the handshake is refused.
        sip = tls_settings(certificate, trunk=f"sip:127.0.0.1:{trunk.port + 1};transport=tls")
        async with (
            running_app(app_options={"sip": sip}, media_workers=0) as (url, _app),
            Peer(url, "alice", PAGE_HZ) as alice,
        ):
            await alice.call("+441234567890")
            await alice.wait_for(
                lambda: (
                    alice.conferences
                    and any(
                        (leg["destination"], leg["status"], leg["end_reason"])
                        == ("+441234567890", "failed", "unavailable")
                        for leg in alice.last_conference()["legs"]
                    )
                ),
                timeout=20,
            )
        assert "INVITE sip:" not in trunk.log()
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text  # what the operator reads in the log


def test_tls_settings_that_cannot_work_are_refused_with_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TALKBOX_SIP_TLS_CERT and TALKBOX_SIP_TLS_KEY"):
        SipSettings(listen="tls:127.0.0.1:5061")
    (tmp_path / "broken.crt").write_text("not a certificate")
    with pytest.raises(ValidationError, match="broken.crt"):
        SipSettings(listen="tls:127.0.0.1:5061", tls_cert=tmp_path / "broken.crt", tls_key=tmp_path / "broken.crt")
    with pytest.raises(ValidationError, match="TALKBOX_SIP_TLS_CA"):
        SipSettings(trunk="sips:sip.carrier.example", tls_ca=tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="over TLS"):
        SipSettings(trunk="sips:sip.carrier.example;transport=udp")
    with pytest.raises(ValidationError, match="transport=sctp"):
        SipSettings(trunk="sip:sip.carrier.example;transport=sctp")


def test_a_sips_trunk_is_reached_over_tls_on_5061_unless_a_port_is_given() -> None:
    sips = SipSettings(trunk="sips:sip.carrier.example")
    assert (sips.trunk_protocol, sips.trunk_port) == ("tls", 5061)
    tls = SipSettings(trunk="sip:sip.carrier.example:5081;transport=TLS")
    assert (tls.trunk_protocol, tls.trunk_port) == ("tls", 5081)
    udp = SipSettings(trunk="sip:sip.carrier.example")
    assert (udp.trunk_protocol, udp.trunk_port) == ("udp", 5060)


async def test_a_tls_listener_that_meets_plain_text_keeps_serving_tls(tmp_path: Path) -> None:
    """Python's own TLS client speaking SIP: what a scanner sends in clear is dropped, and OPTIONS still works."""
    certificate = self_signed(tmp_path / "tls")
    sip = tls_settings(certificate, allow=["127.0.0.0/8"])
    async with running_app(app_options={"sip": sip}, media_workers=0) as (_url, app):
        host, port = app.state.talkbox.sip.transports.local["tls"]
        options = (
            f"OPTIONS sip:talkbox@{host}:{port} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bK-tls1\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:scanner@127.0.0.1>;tag=a\r\nTo: <sip:talkbox@127.0.0.1>\r\n"
            "Call-ID: tls-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(options.encode())
        assert await asyncio.wait_for(reader.read(), 15) == b""  # the handshake failed: closed, nothing said
        writer.close()
        trusting = ssl.create_default_context(cafile=str(certificate.cert))
        reader, writer = await asyncio.open_connection(host, port, ssl=trusting, server_hostname="127.0.0.1")
        writer.write(options.encode())
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert answer.startswith(b"SIP/2.0 200")
    assert b"Via: SIP/2.0/TLS 127.0.0.1:1;branch=z9hG4bK-tls1" in answer
