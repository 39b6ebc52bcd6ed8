"""One advisory lock per database: the bot holds it shared while running, a key rotation
exclusively, so neither runs under the other. The kernel drops it when the process dies, even by
SIGKILL, so a crash never leaves it stuck."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DatabaseBusyError(Exception):
    """Another process holds the database in a way that excludes this one."""


class RunLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self, *, exclusive: bool, busy_message: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseBusyError(busy_message) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None
