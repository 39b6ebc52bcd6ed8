"""The real `peerline run` as a child process against the stand-ins in the test's process, for
the crash suite: started, killed with SIGKILL, started again on the same files.

Each kill ends an epoch. What a person's chat shows is tagged with the epoch it arrived in, so a
check can tell a copy sent again after a crash (allowed for Telegram updates handled but not
yet confirmed) from one sent twice by a running bot (never allowed).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.invites import create_invites
from bot.model import HELPER_ROLES, Role
from bot.sandbox.signal_api import LocalSignalApi
from bot.sandbox.telegram_api import LocalBotApi
from bot.storage.repository import Repository
from crypto import Vault, generate_key_file, load_master_key

ROOT = Path(__file__).resolve().parent.parent

_CONFIG = """\
[program]
name = "Crash Test Peer Support"
[telegram]
token = "{token}"
base_url = "{base_url}"
base_file_url = "{base_file_url}"
poll_timeout = 1.0
rate_overall = 1000.0
rate_per_chat = 1000.0
[signal]
enabled = true
service = "{service}"
number = "{number}"
{signal_pace}[storage]
path = "{database}"
[crypto]
key_file = "{key_file}"
[routing]
max_threads_per_helper = 1
clock_tick = "1s"
[followups]
quiet_hours = ""
[logging]
level = "INFO"
file = "{log}"
"""


_LIFTED = "rate_overall = 1000.0\nrate_per_chat = 1000.0\n"


class ChildBot:
    """`python -m bot --config FILE run` in a child process, on one database."""

    def __init__(
        self,
        directory: Path,
        api: LocalBotApi,
        gateway: LocalSignalApi,
        *,
        signal_paced: bool = False,
    ) -> None:
        """`signal_paced`: Signal at the configuration's cautious default pace (2 a second to
        one person) instead of lifted as Telegram's is. Lifted by default: at the default pace
        a kill falls more often between a Signal join's commit and its welcome, and the person
        who sends their code again is told they are not in a conversation rather than that
        they are signed up (seen in the soak)."""
        self.directory = directory
        self.signal_paced = signal_paced
        self.api = api
        self.gateway = gateway
        self.database = directory / "peerline.db"
        self.key_file = directory / "master.key"
        self.config = directory / "config.toml"
        self.epoch = 0  # kills so far
        self.kills: list[str] = []  # where each kill fell (for failure messages)
        self.up = asyncio.Event()
        self.started_at = 0.0  # loop time of the last start
        self._child: asyncio.subprocess.Process | None = None
        self._output = directory / "child-output.txt"

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        generate_key_file(self.key_file)
        self.config.write_text(
            _CONFIG.format(
                token=self.api.token,
                base_url=self.api.base_url,
                base_file_url=self.api.base_file_url,
                service=self.gateway.service,
                number=self.gateway.number,
                signal_pace="" if self.signal_paced else _LIFTED,
                database=self.database,
                key_file=self.key_file,
                log=self.directory / "peerline.log",
            )
        )

    async def invites(self, role: Role, count: int) -> list[str]:
        """Codes made with the database closed to the bot (before its first start)."""
        repo = await Repository.open(self.database, Vault(load_master_key(self.key_file)))
        try:
            now = datetime.now(UTC)
            helper = role in HELPER_ROLES
            return await create_invites(
                repo,
                role=role,
                agency=None,
                count=count,
                valid_for=timedelta(days=7),
                certified_until=now.date() + timedelta(days=365) if helper else None,
                now=now,
            )
        finally:
            await repo.close()

    async def start(self) -> None:
        polls = len(self.api.calls_of("getUpdates"))
        connections = self.gateway.connections
        with self._output.open("ab") as output:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "--config",
                str(self.config),
                "run",
                stdout=output,
                stderr=output,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                cwd=self.directory,
            )
        async with asyncio.timeout(90):
            while len(self.api.calls_of("getUpdates")) == polls:
                if self._child.returncode is not None:
                    raise AssertionError(f"the bot exited: {self.output()}")
                await asyncio.sleep(0.05)
            await self.gateway.wait_connected(after=connections, timeout=90)
        self.started_at = asyncio.get_running_loop().time()
        self.up.set()

    async def kill(self, where: str) -> None:
        """SIGKILL: no drain, no confirm, no checkpoint."""
        child = self._child
        assert child is not None
        self.up.clear()
        child.send_signal(signal.SIGKILL)
        await child.wait()
        self.epoch += 1
        self.kills.append(where)

    async def restart(self, where: str) -> None:
        await self.kill(where)
        await self.start()

    async def stop(self) -> int:
        """SIGTERM, as a supervisor stops it; the exit status."""
        child = self._child
        if child is None:
            return 0
        if child.returncode is not None:
            return child.returncode
        self.up.clear()
        child.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            return await child.wait()

    def output(self) -> str:
        return self._output.read_text(errors="replace")[-3000:]
