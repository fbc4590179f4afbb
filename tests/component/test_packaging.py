"""What `pip install talkbox` (or `uv sync --no-dev`, as deploy/Dockerfile does) brings is enough to run it.

Every third-party module src/talkbox imports must come from a runtime dependency, or from one of theirs: a
module only the dev group brings works in tests and fails in production.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "talkbox"


def imported_modules() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"talkbox", "__future__"}


def runtime_closure() -> set[str]:
    """The distributions talkbox needs at run time: its requirements, theirs, and the extras it asks for."""
    wanted = [("talkbox", frozenset[str]())]
    seen: set[str] = set()
    while wanted:
        name, extras = wanted.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # for another platform or Python
        for requirement in requirements:
            spec, _, marker = requirement.partition(";")
            match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", spec)
            assert match is not None, requirement
            extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            if extra is not None and extra.group(1) not in extras:
                continue
            asked = frozenset(part.strip() for part in (match.group(2) or "").split(",") if part.strip())
            wanted.append((match.group(1), asked))
    return seen


def test_every_module_talkbox_imports_comes_with_its_runtime_dependencies() -> None:
    providers = metadata.packages_distributions()
    closure = runtime_closure()
    missing = {
        module: providers.get(module, ["?"])
        for module in imported_modules()
        if not any(re.sub(r"[-_.]+", "-", dist).lower() in closure for dist in providers.get(module, []))
    }
    assert not missing, f"imported, but not a runtime dependency of talkbox (pyproject's dependencies): {missing}"
