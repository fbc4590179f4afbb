"""SIP in the running app: off unless it listens, its status for the operator, registration kept alive."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from talkbox.app.cli import main
from talkbox.app.main import create_app
from talkbox.app.settings import Settings
from talkbox.providers.sip.settings import SipSettings
from tests.sip.sipp import scenario, sipp
from tests.sip.wire import request, wire_to
from tests.support.server import free_port, running_app
from tests.twilio.twilio_requests import settings as twilio_settings


async def get_sip(app: object, client: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(client, 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        return await http.get("/api/sip")


async def test_without_talkbox_sip_listen_nothing_listens() -> None:
    app = create_app(Settings(database=":memory:"), sip=SipSettings(listen=[]))
    assert app.state.talkbox.sip is None
    assert "sip" not in app.state.talkbox.calls.providers
    assert (await get_sip(app)).json() == {"enabled": False}


async def test_a_number_is_refused_at_once_when_sip_is_off() -> None:
    app = create_app(Settings(database=":memory:"), sip=SipSettings(listen=[]))
    assert app.state.talkbox.calls.telephones is None


def test_sip_listens_on_loopback_unless_told_otherwise() -> None:
    assert [(x.protocol, x.host, x.port) for x in SipSettings(listen="udp:5060,tcp:5061").listens] == [
        ("udp", "127.0.0.1", 5060),
        ("tcp", "127.0.0.1", 5061),
    ]
    assert SipSettings(listen="5062").listens[0].host == "127.0.0.1"


@pytest.mark.parametrize(
    "bad",
    [
        {"listen": "udp:not-an-address:5060"},
        {"allow": "10.0.0.0/33"},
        {"ring": "alice,+441234"},
        {"caller_id": "0800 123"},
        {"trunk": "http://carrier.example"},
        {"registering": True, "trunk": "sip:carrier.example"},  # no credentials to register with
    ],
)
def test_settings_that_cannot_work_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SipSettings(**bad)


def test_sip_and_twilio_together_are_refused() -> None:
    with pytest.raises(ValueError, match="choose SIP or Twilio"):
        create_app(Settings(database=":memory:"), twilio_settings(), SipSettings(listen="udp:0"))


async def test_registration_is_answered_kept_alive_and_shown_and_the_password_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    registrar_args = ("-sf", scenario("registrar.xml"), "-set", "user", "talkbox", "-set", "password", "pa55-w0rd")
    async with sipp(*registrar_args, workdir=tmp_path) as registrar:
        sip = SipSettings(
            listen="udp:127.0.0.1:0",
            trunk=f"sip:127.0.0.1:{registrar.port}",
            username="talkbox",
            password="pa55-w0rd",
            registering=True,
        )
        async with running_app(app_options={"sip": sip}) as (_url, app):
            # Two rounds: the first registration, and its refresh before the 2 s granted run out.
            assert await registrar.finished(timeout=10) == 0, registrar.error_log()
            status = (await get_sip(app)).json()
            assert status["enabled"] and status["registration"]["registered"]
            assert status["registration"]["attempts"] == 2
            assert (await get_sip(app, client="192.0.2.7")).status_code == 403
            host, port = app.state.talkbox.sip.transports.local["udp"]
            async with wire_to((host, port)) as prober:
                prober.send(request("OPTIONS", prober, branch="z9hG4bK-app"))
                await prober.next("SIP/2.0 200")
    assert not any("pa55-w0rd" in record.getMessage() for record in caplog.records)
    assert "pa55-w0rd" not in repr(sip)


async def test_talkbox_sip_status_asks_the_running_server(capsys: pytest.CaptureFixture[str]) -> None:
    async with running_app(app_options={"sip": SipSettings(listen="udp:127.0.0.1:0")}) as (url, _app):
        port = url.rsplit(":", 1)[1]
        code = await asyncio.to_thread(main, ["sip", "status", "--port", port])
    printed = capsys.readouterr().out
    assert code == 0
    assert '"enabled": true' in printed and "udp:127.0.0.1:" in printed
    assert main(["sip", "status", "--port", str(free_port())]) == 2  # nobody there: said so, not a traceback


async def test_listening_on_every_address_advertises_the_one_the_trunk_reaches() -> None:
    from talkbox.providers.sip.stack import SipStack

    stack = SipStack(SipSettings(listen="udp:0.0.0.0:0", trunk="sip:127.0.0.1:5999"))
    await stack.start()
    try:
        assert stack.ua.contact("udp").startswith("<sip:talkbox@127.0.0.1:")
    finally:
        await stack.close()
