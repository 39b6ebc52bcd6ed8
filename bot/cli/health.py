"""`peerline check [--live]`: is the config, and the key it names, usable? With --live: does
the key open the database, is the database sound, and do Telegram and Signal answer?"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3

from bot.cli.common import EXIT_FAILED, EXIT_OK, Commands, fail
from bot.config import Config
from crypto import KeyFileError, MasterKey


def register(commands: Commands) -> None:
    check = commands.command(
        "check", "validate the config file and key; say exactly what is wrong", _check
    )
    check.add_argument(
        "--live",
        action="store_true",
        help="also: the key opens the database, integrity_check passes, the Telegram token "
        "works (getMe) and, in webhook mode, Telegram sends updates to webhook_url "
        "(getWebhookInfo), the Signal gateway answers",
    )


def _check(config: Config | None, args: argparse.Namespace) -> int:
    assert config is not None  # noqa: S101 - registered with needs_config
    from bot.app import load_key  # noqa: PLC0415 - keeps `--help` free of the app's imports
    from bot.keyrotation import inspect  # noqa: PLC0415

    try:
        key = load_key(config)
    except (KeyFileError, ValueError) as exc:
        return fail(str(exc))
    problems = asyncio.run(inspect(config, key, with_key=not args.live))
    if not args.live:
        for problem in problems[:-1]:
            fail(problem)
        if problems:
            return fail(problems[-1], EXIT_FAILED)
    print(f"{config.source}: OK")
    if not args.live:
        return EXIT_OK
    results = [(False, "at rest", problem) for problem in problems]
    results += _database(config, key) + asyncio.run(_platforms(config))
    for ok, name, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'}  {name}: {detail}")
    failed = [name for ok, name, _ in results if not ok]
    if failed:
        return fail(f"{len(failed)} check(s) failed: {', '.join(failed)}", EXIT_FAILED)
    return EXIT_OK


Result = tuple[bool, str, str]


def _database(config: Config, key: MasterKey) -> list[Result]:
    from bot.storage.health import inspect_database  # noqa: PLC0415
    from crypto import Vault  # noqa: PLC0415

    path = config.storage.path
    try:
        health = inspect_database(path, Vault(key))
    except FileNotFoundError:
        return [(True, "database", f"no file at {path} yet; 'run' or 'invite create' makes it")]
    except sqlite3.Error as exc:
        return [(False, "database", f"{path} cannot be read as a database ({type(exc).__name__})")]
    results: list[Result] = [
        (
            health.integrity == "ok",
            "integrity",
            "integrity_check: ok"
            if health.integrity == "ok"
            else f"integrity_check: {health.integrity}; restore the last backup",
        )
    ]
    if health.key_opens_data is None:
        results.append((True, "key", "nothing sealed in the database yet to try the key on"))
    elif health.key_opens_data:
        results.append(
            (True, "key", f"the master key opens this database ({health.members} members)")
        )
    else:
        results.append((False, "key", "the master key does not open this database (wrong key?)"))
    if health.schema_version > health.latest_version:
        results.append(
            (
                False,
                "schema",
                f"v{health.schema_version} is newer than this Peerline (v{health.latest_version})",
            )
        )
    elif health.schema_version < health.latest_version:
        results.append(
            (
                True,
                "schema",
                f"v{health.schema_version}; the next start upgrades it to "
                f"v{health.latest_version} (take a backup first)",
            )
        )
    else:
        results.append((True, "schema", f"v{health.schema_version}, current"))
    return results


async def _platforms(config: Config) -> list[Result]:
    from bot.transports.probes import (  # noqa: PLC0415 - platforms
        probe_signal,
        probe_telegram,
        probe_webhook,
    )

    results: list[Result] = []
    if config.telegram.enabled:
        bot_api = (config.telegram.token, config.telegram.base_url, config.telegram.base_file_url)
        telegram = await probe_telegram(*bot_api)
        results.append((telegram.ok, "telegram", telegram.detail))
        if telegram.ok and config.telegram.mode == "webhook":
            webhook = await probe_webhook(*bot_api, config.telegram.webhook_url)
            results.append((webhook.ok, "webhook", webhook.detail))
    if config.signal.enabled:
        signal = await probe_signal(
            config.signal.service, config.signal.number, https=config.signal.https
        )
        results.append((signal.ok, "signal", signal.detail))
    return results
