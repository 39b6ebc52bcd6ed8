"""A loopback port for tests that must find nothing there."""

from __future__ import annotations

import atexit
import socket

_held: list[socket.socket] = []


def silent_port() -> int:
    """A loopback port bound for the rest of the run and never listened on: a connection to it
    is refused, and no server (of this suite or of another run on the machine) can take it, as
    one could take a port merely found free a moment before."""
    if not _held:
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        _held.append(holder)
        atexit.register(holder.close)
    return int(_held[0].getsockname()[1])
