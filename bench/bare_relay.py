"""The simplest python-telegram-bot relay, as a yardstick for Peerline's.

Two chats of a pair in a dict; each text is re-sent with `send_message` to the other chat. Run
with ``python -m bench.bare_relay`` (``make bench``): it relays a burst of texts in 20 live
pairs through the local Bot API stand-in (bot/sandbox/telegram_api.py, the one Peerline's tests
use) over HTTP on 127.0.0.1, with sequential updates and with 8 and 256 concurrent updates
(`Application.concurrent_updates`), each bot in a process of its own and the stand-in in
another, so the CPU counted is the relay's alone.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench._common import Child, Pair, Phase, ServerProcess, pairs_of, percentile, serve

SETTINGS = {"sequential": 1, "8 concurrent": 8, "256 concurrent": 256}
# Not the simplest relay any more, but the same HTTP client as Peerline's transport: how much of
# the difference is the client alone.
WITH_AIOHTTP = "sequential, aiohttp"


@dataclass(frozen=True)
class BareSpec:
    server: Mapping[str, str]  # ServerProcess.ready
    pairs: list[Pair]
    concurrency: int  # 1 = sequential updates
    aiohttp: bool = False  # PTB's requests over aiohttp (Peerline's AiohttpRequest), not httpx


class BareRelayProcess(Child):
    def __init__(self, spec: BareSpec) -> None:
        super().__init__(_bare_main, spec)


def _bare_main(conn: Connection, spec: BareSpec) -> None:
    asyncio.run(_bare(conn, spec))


async def _bare(conn: Connection, spec: BareSpec) -> None:
    from telegram import Update  # noqa: PLC0415 - the orchestrator never loads PTB
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: PLC0415

    other = dict(spec.pairs) | {b: a for a, b in spec.pairs}

    async def relay(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is not None and message.text is not None:
            await context.bot.send_message(other[message.chat.id], message.text)

    builder = (
        ApplicationBuilder()
        .token(spec.server["token"])
        .base_url(spec.server["base_url"])
        .base_file_url(spec.server["base_file_url"])
    )
    if spec.aiohttp:
        from bot.transports.aiohttp_request import AiohttpRequest  # noqa: PLC0415

        builder = builder.request(AiohttpRequest()).get_updates_request(AiohttpRequest(1))
    concurrency: bool | int = False if spec.concurrency <= 1 else spec.concurrency
    application = builder.concurrent_updates(concurrency).build()
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, relay))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=10, poll_interval=0)
        conn.send(("ok", {"concurrency": spec.concurrency}))
        try:
            await serve(conn, {})
        finally:
            await application.updater.stop()
            await application.stop()


@dataclass
class Measured:
    """One bot's run of one phase: the server's view and the bot's CPU over it."""

    label: str
    phase: Phase
    cpu_seconds: float

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_seconds * 1000 / self.phase.messages

    @property
    def requests_per_message(self) -> float:
        return self.phase.request_count / self.phase.messages

    def row(self) -> str:
        latencies = self.phase.latencies
        return (
            f"  {self.label:<25} {self.phase.rate:8.0f} msg/s  {self.cpu_ms_per_message:6.2f} "
            f"CPU ms/msg  {self.requests_per_message:5.2f} req/msg  latency p50 "
            f"{percentile(latencies, 0.5) * 1000:7.1f} ms  p99 "
            f"{percentile(latencies, 0.99) * 1000:7.1f} ms"
        )


def measure(
    bot: Child, label: str, run: Any, *args: object
) -> Measured:  # run: ServerProcess.burst or .paced
    before = bot.ask("cpu")
    phase = run(*args)
    return Measured(label, phase, bot.ask("cpu") - before)


def run_bare(
    server: ServerProcess,
    pairs: list[Pair],
    per_thread: int,
    concurrency: int,
    label: str,
    *,
    aiohttp: bool = False,
) -> Measured:
    with BareRelayProcess(BareSpec(server.ready, pairs, concurrency, aiohttp)) as bot:
        server.burst(pairs, 2)  # warm up: connections open, code paths loaded
        return measure(bot, label, server.burst, pairs, per_thread)


def main(argv: list[str] | None = None) -> list[Measured]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=20, help="live pairs")
    parser.add_argument("--texts", type=int, default=50, help="texts per pair, in one burst")
    args = parser.parse_args(argv)
    pairs = pairs_of(args.threads)
    total = args.threads * args.texts
    print(f"bare PTB relay, {args.threads} pairs, {total} texts queued at once:")
    runs = []
    with ServerProcess() as server:
        for label, concurrency in SETTINGS.items():
            runs.append(run_bare(server, pairs, args.texts, concurrency, label))
            print(runs[-1].row(), flush=True)
    return runs


if __name__ == "__main__":
    main()
