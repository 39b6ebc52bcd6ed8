"""Private files: created 0600, and refused when group or others can read them."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class UnsafeFileError(Exception):
    """A private file is open to other users; the message is one line that says what to do."""


def use_private_umask() -> None:
    """Every file this process creates from now on is readable by its owner only."""
    os.umask(PRIVATE_UMASK)


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (whatever the umask)."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)


def require_private(path: Path, what: str) -> None:
    """Refuse a file that group or others can access (a missing file is fine)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        raise UnsafeFileError(
            f"{what} {path} is accessible to other users (mode {mode:04o}); run chmod 600"
        )


def require_private_database(path: Path) -> None:
    """The database and SQLite's files beside it (WAL, shared memory, journal)."""
    require_private(path, "database")
    for suffix in _SQLITE_SIDE_FILES:
        require_private(path.with_name(path.name + suffix), "database file")
