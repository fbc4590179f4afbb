"""Child processes, read from /proc: which media workers a server has."""

from __future__ import annotations

from pathlib import Path


def children(parent: int, marker: bytes) -> list[int]:
    """The pids of `parent`'s children whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and marker in command:
            found.append(int(entry.name))
    return found


def media_workers(parent: int) -> list[int]:
    return children(parent, b"talkbox.media.worker")
