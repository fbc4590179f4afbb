"""Digest answers checked against the RFCs' own worked examples, and the 401/407 retry a request gets."""

from __future__ import annotations

import re

import pytest
from sipmessage import Response

from talkbox.providers.sip.access import Access
from talkbox.providers.sip.digest import CannotAnswer, Challenge, answer
from talkbox.providers.sip.message import response
from talkbox.providers.sip.transport import Transports
from talkbox.providers.sip.ua import Credentials, UserAgent


def response_of(credentials: str) -> str:
    found = re.search(r'response="([0-9a-f]+)"', credentials)
    assert found
    return found.group(1)


def test_rfc_2617_md5_with_qop_auth() -> None:
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    credentials = answer(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa", password="Circle Of Life", cnonce="0a4f113b"
    )
    assert response_of(credentials) == "6629fae49393a05397450978507c4ef1"
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in credentials and "qop=auth," in credentials


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_md5_and_sha_256(algorithm: str, expected: str) -> None:
    challenge = Challenge.parse(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    credentials = answer(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert response_of(credentials) == expected


@pytest.mark.parametrize(
    "challenge",
    [
        'Basic realm="x"',
        'Digest realm="x", nonce="n", algorithm=SHA-512-256',
        'Digest realm="x", nonce="n", qop="auth-int"',
    ],
)
def test_a_challenge_it_does_not_speak_is_declined(challenge: str) -> None:
    with pytest.raises(CannotAnswer):
        answer(Challenge.parse(challenge), method="INVITE", uri="sip:x", username="u", password="p")


def _ua() -> UserAgent:
    access = Access()
    return UserAgent(Transports(lambda _d, _p: None, access), access, credentials=Credentials("talkbox", "s3cret"))


def _challenge(request_text: bytes, code: int, header: str) -> tuple[object, Response]:
    from talkbox.providers.sip.message import parse

    request = parse(request_text)
    challenge = response(request, code, to_tag="t")  # type: ignore[arg-type]
    challenge.headers.set(header, 'Digest realm="carrier", nonce="abc", qop="auth"')
    return request, challenge


INVITE = (
    b"INVITE sip:+441234567890@carrier SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKone;rport\r\n"
    b"From: <sip:talkbox@carrier>;tag=f\r\nTo: <sip:+441234567890@carrier>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize(
    ("code", "asked", "given"),
    [(401, "WWW-Authenticate", "Authorization"), (407, "Proxy-Authenticate", "Proxy-Authorization")],
)
def test_a_challenged_request_goes_again_once_with_credentials(code: int, asked: str, given: str) -> None:
    ua = _ua()
    request, challenge = _challenge(INVITE, code, asked)
    retry = ua.authorized(request, challenge)  # type: ignore[arg-type]
    assert retry is not None
    assert retry.cseq.sequence == 2 and retry.headers["Call-ID"] == "c"
    assert "z9hG4bKone" not in retry.headers["Via"]  # a new transaction
    assert 'username="talkbox"' in retry.headers[given] and "s3cret" not in retry.headers[given]
    assert ua.authorized(retry, challenge) is None  # challenged again: the credentials are wrong, give up
