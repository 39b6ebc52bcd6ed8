"""`peerline`: builds the parser from the command modules and runs the chosen command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from bot.cli import backup, coverage, health, incident, invite, keys, roster, service, stats
from bot.cli.common import Commands, config_option, config_path, fail
from bot.config import ConfigError, load_config
from bot.filemodes import use_private_umask

# Each module adds its commands; the order here is the order `peerline --help` lists them.
COMMAND_MODULES = (service, health, keys, invite, roster, backup, stats, coverage, incident)


def _version() -> str:
    try:
        return version("peerline")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parent = config_option()
    parser = argparse.ArgumentParser(
        prog="peerline",
        description="Peerline: a confidential peer-support front door.",
        parents=[parent],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"peerline {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = Commands(subparsers, parent)
    for module in COMMAND_MODULES:
        module.register(commands)
    width = max(len(name) for name, _ in commands.index)
    parser.epilog = "commands:\n" + "\n".join(
        f"  peerline {name:<{width}}  {summary}" for name, summary in commands.index
    )
    parser.epilog += "\n\n'peerline COMMAND --help' explains each one."
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    use_private_umask()  # every file a command creates is its owner's alone
    args = build_parser().parse_args(argv)
    if not args.needs_config:
        return int(args.handler(None, args))
    path = config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        return fail(str(exc))
    return int(args.handler(config, args))
