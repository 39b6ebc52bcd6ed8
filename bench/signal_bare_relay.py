"""The simplest signalbot relay, as a yardstick for Peerline's Signal relay.

Two chats of a pair in a dict; each text is sent with `bot.messages.send` to the other chat,
from a `DataMessageHandler` run by signalbot's own pipeline (its websocket producer and its
three consumers, as `SignalBot.start` sets them up). Run with
``python -m bench.signal_bare_relay`` (``make bench``): it relays a burst of texts in 20 live
pairs through the local signal-cli-rest-api stand-in (bot/sandbox/signal_api.py, the one
Peerline's tests use) over HTTP and a websocket on 127.0.0.1, the bot in a process of its own
and the stand-in in another, so the CPU counted is the relay's alone. The bare relay has no
send pace at all: nothing to lift.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench._common import Child, Pair, ServerProcess, serve
from bench.bare_relay import Measured, measure


@dataclass(frozen=True)
class SignalBareSpec:
    server: Mapping[str, str]  # ServerProcess("signal").ready
    pairs: list[Pair]


class SignalBareRelayProcess(Child):
    def __init__(self, spec: SignalBareSpec) -> None:
        super().__init__(_bare_main, spec)


def _bare_main(conn: Connection, spec: SignalBareSpec) -> None:
    asyncio.run(_bare(conn, spec))


async def _bare(conn: Connection, spec: SignalBareSpec) -> None:
    # The orchestrator never loads signalbot.
    from signalbot import (  # noqa: PLC0415
        DataMessageContext,
        DataMessageHandler,
        SendMessage,
        SignalBot,
    )

    other = {str(a): str(b) for a, b in spec.pairs} | {str(b): str(a) for a, b in spec.pairs}

    class Relay(DataMessageHandler):
        async def handle_data_message(self, context: DataMessageContext) -> None:
            message = context.message
            sender = message.source_uuid or message.source_number or ""
            if message.text and sender in other:
                await context.bot.messages.send(SendMessage(text=message.text), other[sender])

    bot = SignalBot(
        {
            "phone_number": spec.server["number"],
            "signal_service": spec.server["service"],
            "connection_mode": "http_only",
            "storage": {"type": "in-memory"},
        }
    )
    bot.register(Relay(), contacts=True, groups=False)
    bot.start(run_forever=False)
    await bot.wait_until_ready()
    conn.send(("ok", {"threads": len(spec.pairs)}))
    try:
        await serve(conn, {})
    finally:
        await bot.close()  # its receive task ends with the loop


def run_signal_bare(
    server: ServerProcess, pairs: list[Pair], label: str, run: Any, *args: object
) -> Measured:
    """The bare relay started afresh, warmed up, then measured through `run` (a method of
    `server`: `burst` or `paced`, given `pairs` and `args`)."""
    with SignalBareRelayProcess(SignalBareSpec(server.ready, pairs)) as bot:
        server.connected()
        server.burst(pairs, 2)  # warm up: connections open, code paths loaded
        return measure(bot, label, run, pairs, *args)


def main(argv: list[str] | None = None) -> Measured:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=20, help="live pairs")
    parser.add_argument("--texts", type=int, default=50, help="texts per pair, in one burst")
    args = parser.parse_args(argv)
    total = args.threads * args.texts
    print(f"bare signalbot relay, {args.threads} pairs, {total} texts pushed at once:")
    with ServerProcess("signal") as server:
        pairs = server.pairs(args.threads)
        run = run_signal_bare(server, pairs, "bare signalbot", server.burst, args.texts)
    print(run.row(), flush=True)
    phase = run.phase
    print(
        f"  copies doubled {phase.doubled}, in the wrong chat {phase.misplaced}, "
        f"out of order {phase.out_of_order}",
        flush=True,
    )
    return run


if __name__ == "__main__":
    main()
