"""`talkbox apikey`: a key printed once, only its digest kept, refused once revoked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import running_server


def apikey(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "talkbox", "apikey", *args],
        capture_output=True,
        text=True,
        env={"TALKBOX_DATABASE": str(database)},
        timeout=30,
        check=False,
    )


def test_a_key_is_printed_once_and_only_its_digest_is_stored(tmp_path: Path) -> None:
    database = tmp_path / "talkbox.sqlite3"
    created = apikey(database, "create", "billing")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("tbk_") and len(key) > 40
    assert key.encode() not in database.read_bytes()
    assert key[4:].encode() not in database.read_bytes()

    again = apikey(database, "create", "billing")
    assert again.returncode == 2 and "exists already" in again.stderr
    listed = apikey(database, "list")
    assert "billing" in listed.stdout and "active" in listed.stdout
    assert key not in listed.stdout


async def test_the_server_takes_a_key_made_while_it_runs_and_refuses_it_once_revoked(tmp_path: Path) -> None:
    database = tmp_path / "talkbox.sqlite3"
    async with running_server(database=str(database)) as url, httpx.AsyncClient(base_url=url) as http:
        key = apikey(database, "create", "crm").stdout.strip()
        headers = {"Authorization": f"Bearer {key}"}
        assert (await http.get("/api/v1/conferences", headers=headers)).status_code == 200

        revoked = apikey(database, "revoke", "crm")
        assert revoked.returncode == 0, revoked.stderr
        answer = await http.get("/api/v1/conferences", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "https://talkbox.dev/problems/unauthorized"
        assert "revoked" in apikey(database, "list").stdout
        assert apikey(database, "revoke", "crm").returncode == 2
