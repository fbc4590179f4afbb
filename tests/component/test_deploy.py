"""deploy/: what can be checked of it without a registry or systemd running (README, "Run it in production").

The Dockerfile cannot be built here (its base images come from a registry this machine cannot reach); it is read
instead: its instructions, that what it copies is in the build context, that it runs as a user of its own, and that
its settings are ones Talkbox accepts. The systemd unit goes through `systemd-analyze verify`, the nginx site
through `nginx -t`, the settings file through Talkbox's own Settings.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from talkbox.app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTRUCTIONS = {"FROM", "RUN", "COPY", "WORKDIR", "ENV", "USER", "VOLUME", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "CMD"}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word, rest.strip()))
    return found


def ignored(path: str) -> bool:
    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_the_dockerfile_uses_known_instructions_and_copies_only_what_the_context_has() -> None:
    steps = instructions()
    assert {word for word, _ in steps} <= INSTRUCTIONS, steps
    for word, rest in steps:
        if word != "COPY" or rest.startswith("--from"):
            continue
        *sources, _target = shlex.split(rest)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not ignored(source.rstrip("/")), f"COPY {source}: left out by .dockerignore"
    # Built files come from the web stage, never from the developer's tree.
    assert ignored("web/node_modules") and ignored("src/talkbox/ui/static/app.js") and ignored(".venv")


def test_the_image_runs_talkbox_as_its_own_user_with_settings_talkbox_accepts() -> None:
    steps = instructions()
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    users = [rest for word, rest in final if word == "USER"]
    assert users == ["talkbox"]
    assert ("CMD", '["talkbox", "serve"]') in final
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(rest for word, rest in final if word == "ENV")))
    talkbox = {key.removeprefix("TALKBOX_").lower(): value for key, value in env.items() if key.startswith("TALKBOX_")}
    with pytest.raises(ValidationError, match="TALKBOX_SECRET"):
        Settings(**talkbox)  # token mode: it refuses to start without a secret, as it should
    settings = Settings(**talkbox, secret="s" * 32)
    assert (settings.auth, settings.log_format, str(settings.database)) == (
        "token",
        "json",
        "/var/lib/talkbox/talkbox.sqlite3",
    )
    health = next(rest for word, rest in final if word == "HEALTHCHECK")
    assert "/healthz" in health and f":{settings.port}/" in health


def test_the_settings_file_names_only_settings_talkbox_has_and_loads_once_filled_in() -> None:
    values = dict(
        line.split("=", 1)
        for line in (DEPLOY / "talkbox.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    names = {name.removeprefix("TALKBOX_").lower() for name in values}
    assert names <= set(Settings.model_fields), names - set(Settings.model_fields)
    blanks = {name for name, value in values.items() if value == ""}
    assert blanks == {"TALKBOX_SECRET", "TALKBOX_TURN_SECRET"}  # the secrets, for the operator to make
    filled = {name.removeprefix("TALKBOX_").lower(): value or "x" * 32 for name, value in values.items()}
    settings = Settings(**filled)
    assert settings.auth == "token" and settings.turn_urls[1].startswith("turns:")


def test_the_systemd_unit_verifies() -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian's systemd package)"
    unit = (DEPLOY / "talkbox.service").read_text()
    # Where the unit expects an installed Talkbox, this checkout's own.
    unit = unit.replace("/opt/talkbox/.venv/bin/talkbox", str(ROOT / ".venv" / "bin" / "talkbox"))
    unit = unit.replace("/etc/talkbox/talkbox.env", str(DEPLOY / "talkbox.env")).replace("=/opt/talkbox", f"={ROOT}")
    folder = ROOT / "build" / "systemd"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "talkbox.service").write_text(unit)
    checked = subprocess.run([analyze, "verify", str(folder / "talkbox.service")], capture_output=True, text=True)
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


def test_the_tls_site_for_nginx_is_valid(tmp_path: Path) -> None:
    nginx = shutil.which("nginx")
    assert nginx, "nginx is missing: run `make test`, which installs it"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=talkbox.test",
         "-keyout", tmp_path / "key.pem", "-out", tmp_path / "cert.pem"],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (DEPLOY / "nginx-tls.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/talkbox.example.org/fullchain.pem", str(tmp_path / "cert.pem"))
    site = site.replace("/etc/letsencrypt/live/talkbox.example.org/privkey.pem", str(tmp_path / "key.pem"))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;\n"
        f"fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;\n"
        f"include {tmp_path}/site.conf; }}\n"
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
