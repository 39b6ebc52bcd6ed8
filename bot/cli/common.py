"""What every command module shares: how a command is registered, errors, opening the DB."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from crypto import KeyFileError

if TYPE_CHECKING:
    from bot.config import Config
    from bot.storage.repository import Repository

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

CONFIG_ENV = "PEERLINE_CONFIG"
DEFAULT_CONFIG = Path("config.toml")

# A command gets the loaded config (None for commands that need none) and its arguments.
Handler = Callable[["Config | None", argparse.Namespace], int]
# A command that works on the open database.
RepositoryAction = Callable[["Repository", argparse.Namespace], Awaitable[int]]


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Say what is wrong in one line on stderr and return the exit code."""
    print(f"error: {message}", file=sys.stderr)
    return code


def config_option() -> argparse.ArgumentParser:
    """`--config` for every parser, so it may come before or after the subcommand. SUPPRESS
    keeps a subcommand that did not see it from overwriting the value given before it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help=f"config file (TOML); default ${CONFIG_ENV}, else ./{DEFAULT_CONFIG}",
    )
    return parent


def config_path(args: argparse.Namespace) -> Path:
    given: Path | None = getattr(args, "config", None)
    if given is not None:
        return given
    from_env = os.environ.get(CONFIG_ENV, "").strip()
    return Path(from_env) if from_env else DEFAULT_CONFIG


@dataclass
class Commands:
    """A level of subcommands (`peerline ...`, `peerline roster ...`) that records every leaf
    command in a shared index, so `peerline --help` can list them all."""

    subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
    parent: argparse.ArgumentParser
    prefix: str = ""
    index: list[tuple[str, str]] = field(default_factory=list)

    def command(
        self, name: str, summary: str, handler: Handler, *, needs_config: bool = True
    ) -> argparse.ArgumentParser:
        parser = self.subparsers.add_parser(
            name, help=summary, description=summary, parents=[self.parent]
        )
        parser.set_defaults(handler=handler, needs_config=needs_config)
        self.index.append((f"{self.prefix}{name}", summary))
        return parser

    def group(self, name: str, summary: str) -> Commands:
        parser = self.subparsers.add_parser(
            name, help=summary, description=summary, parents=[self.parent]
        )
        subparsers = parser.add_subparsers(
            dest=f"{name}_command", required=True, metavar="COMMAND"
        )
        return Commands(subparsers, self.parent, f"{self.prefix}{name} ", self.index)


async def open_repository(config: Config) -> Repository | None:
    """The database, opened with the master key; None (after saying why) without a key."""
    from bot.app import load_key  # noqa: PLC0415 - keeps `--help` free of the app's imports
    from bot.filemodes import UnsafeFileError, require_private_database  # noqa: PLC0415
    from bot.keyrotation import mismatch_hint  # noqa: PLC0415
    from bot.storage.integrity import KeyCheckMissingError, KeyMismatchError  # noqa: PLC0415
    from bot.storage.repository import Repository  # noqa: PLC0415
    from crypto import Vault  # noqa: PLC0415

    try:
        key = load_key(config)
        require_private_database(config.storage.path)
        return await Repository.open(config.storage.path, Vault(key))
    except (KeyFileError, ValueError, UnsafeFileError, KeyCheckMissingError) as exc:
        fail(str(exc))
    except KeyMismatchError:
        fail(await mismatch_hint(config))
    return None


def with_repository(
    config: Config | None, args: argparse.Namespace, action: RepositoryAction
) -> int:
    """Open the database, run `action` on it, close it; the exit code is the action's."""
    assert config is not None  # noqa: S101 - only commands registered with needs_config get here

    async def go() -> int:
        repo = await open_repository(config)
        if repo is None:
            return EXIT_USAGE
        try:
            return await action(repo, args)
        finally:
            await repo.close()

    return asyncio.run(go())
