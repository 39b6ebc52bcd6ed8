"""The `peerline` command line: one module per command group, wired together in entry.py."""

from __future__ import annotations

from bot.cli.entry import main

__all__ = ["main"]
