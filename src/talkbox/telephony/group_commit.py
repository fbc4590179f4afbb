"""Group commit on one SQLite connection: the writes of one loop turn in one transaction.

A commit costs more than the writes in it, and many callers write at once (the router's workers, the API's
Idempotency-Key claims). Each caller still waits for the commit that holds its own change, so what it wrote
is stored before it acts on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

# One SQL statement and the rows it is run for (executemany).
Statement = tuple[str, list[tuple[Any, ...]]]


class GroupCommit:
    """Batches `commit` calls made in one loop turn into one transaction on `db` (an autocommit connection).

    A batch that fails is tried again one caller at a time: only the changes that cannot be stored fail.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._pending: list[tuple[tuple[Statement, ...], asyncio.Future[None]]] = []

    async def commit(self, *statements: Statement) -> None:
        """Returns once `statements` are committed; raises what SQLite raised if they could not be."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((statements, done))
        if len(self._pending) == 1:
            loop.call_soon(self.flush)
        await done

    def flush(self) -> None:
        """Commits what is waiting now (also at close: writes whose loop turn has not come yet)."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self._transaction([statement for statements, _ in batch for statement in statements])
            errors: list[Exception | None] = [None] * len(batch)
        except sqlite3.Error:
            errors = [self._alone(statements) for statements, _ in batch]
        for (_, done), error in zip(batch, errors, strict=True):
            if done.done():  # its caller stopped waiting; the change is stored (or not) all the same
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    def _alone(self, statements: tuple[Statement, ...]) -> Exception | None:
        try:
            self._transaction(statements)
        except Exception as error:  # whatever it is, it goes to the caller who asked: none is left waiting
            return error
        return None

    def _transaction(self, statements: Sequence[Statement]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            for statement, rows in statements:
                self.db.executemany(statement, rows)
