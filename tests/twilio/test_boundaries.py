"""The Twilio pieces import only what DESIGN.md lets them (docs/architecture.md, "who may import whom")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "talkbox"

ALLOWED = {
    "callbacks": ("talkbox.events", "talkbox.callbacks", "talkbox.providers.twilio.twiml"),
    "providers/twilio": (
        "talkbox.events",
        "talkbox.providers.twilio",
        "talkbox.telephony.rules",
        "talkbox.telephony.provider",
    ),
}


def talkbox_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("talkbox")}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_the_package_imports_only_what_it_may(package: str) -> None:
    files = sorted((SRC / package).glob("*.py"))
    assert files
    for path in files:
        for name in talkbox_imports(path):
            assert name.startswith(ALLOWED[package]), f"{path.relative_to(SRC)} imports {name}"
