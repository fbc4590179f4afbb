"""One process per database file: an exclusive lock held for as long as the store is open.

Two servers on one file would each hand the other's live legs to their own
provider at boot and end them. The lock is `flock` on a file beside the
database, holding the pid of its holder so a refusal can name it. The kernel
lets go of the lock when its holder exits, however it exits (kill -9 too), so a
lock file left behind never blocks the next start: only a living holder does.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class LockHeld(Exception):
    """Another process holds the lock; `holder` is the pid it wrote, or "" when unreadable."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by {f'pid {holder}' if holder else 'another process'}")
        self.path = path
        self.holder = holder


@dataclass
class LockFile:
    path: Path
    _file: IO[str]

    @classmethod
    def take(cls, path: Path) -> LockFile:
        """Lock `path` or raise LockHeld at once: never wait for another server to stop."""
        # "a+" creates the file without truncating it: the holder's pid stays readable.
        file = path.open("a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read(32).strip()
            file.close()
            raise LockHeld(path, holder if holder.isdigit() else "") from None
        file.truncate(0)
        file.write(f"{os.getpid()}\n")
        file.flush()
        return cls(path, file)

    def release(self) -> None:
        self._file.close()
