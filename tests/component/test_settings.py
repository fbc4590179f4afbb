"""Settings and the command line: loopback by default, open mode only where it is safe."""

from __future__ import annotations

import subprocess
import sys

import jwt
import pytest

from talkbox.app.settings import Settings, SettingsError


def test_defaults_bind_to_loopback_in_open_mode() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.auth) == ("127.0.0.1", 5000, "open")
    settings.check_exposure()


def test_open_mode_off_loopback_is_refused_unless_allowed(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(SettingsError, match="open mode"):
        Settings(host="0.0.0.0").check_exposure()
    Settings(host="0.0.0.0", allow_open_mode=True).check_exposure()
    assert "open mode on 0.0.0.0" in caplog.text
    Settings(host="0.0.0.0", auth="token", secret="s" * 32).check_exposure()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALKBOX_PORT", "5099")
    monkeypatch.setenv("TALKBOX_RING_TIMEOUT", "12.5")
    settings = Settings()
    assert (settings.port, settings.ring_timeout) == (5099, 12.5)


def test_telephone_rtp_ports_and_latching_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALKBOX_RTP_PORTS", "20000-20099")
    monkeypatch.setenv("TALKBOX_SIP_LATCH", "1")
    settings = Settings()
    assert (settings.rtp_ports, settings.sip_latch) == ((20000, 20099), True)
    for bad in ("20000", "20000-", "9-99", "30000-20000", "20000-70000"):
        with pytest.raises(ValueError, match="TALKBOX_RTP_PORTS"):
            Settings(rtp_ports=bad)


def test_token_mode_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="TALKBOX_SECRET"):
        Settings(auth="token")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "talkbox", *args], capture_output=True, text=True, env=env, timeout=30, check=False
    )


def test_talkbox_token_prints_a_signed_token() -> None:
    secret = "x" * 32
    result = run_cli("token", "alice", env={"TALKBOX_SECRET": secret, "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "alice"
    assert run_cli("token", "al ice", env={"TALKBOX_SECRET": secret}).returncode == 2
    assert "TALKBOX_SECRET" in run_cli("token", "alice", env={}).stderr


def test_serve_refuses_open_mode_on_a_public_address() -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", env={})
    assert result.returncode == 2
    assert "refusing to serve open mode" in result.stderr
