"""Relay latency with and without a stranger flood, side by side in one run.

Run with ``python -m bench.stranger_flood`` (``make bench``). A whole Peerline (the real app and
the real python-telegram-bot) runs against the local Bot API stand-in over HTTP on 127.0.0.1,
with Telegram's documented overall limit (30 sends a second; the per-chat limit is lifted so
that it does not space out the one conversation being timed). An officer and a peer are in a
live thread; the officer sends a message a quarter second after the last one arrived, and
each is timed from the moment it is handed to the Bot API until the peer's copy arrives. First
without strangers, then while 40 strangers send one message a second each, 15 each (600 in
all, in bursts of 40), and the bot's first answer to one of them meets a 20 s flood wait.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench._common import connect, percentile
from bot.catalog import EN
from bot.delivery import RateLimits
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

LIMITS = RateLimits(overall_per_second=30.0, per_chat_per_second=1000.0, chat_burst=1000)


async def relay_latencies(officer: SimUser, peer: SimUser, label: str, count: int) -> list[float]:
    """Seconds from hand-over to arrival, one message at a time, a quarter second apart."""
    latencies = []
    for n in range(count):
        text = f"{label} {n}"
        started = time.perf_counter()
        await officer.send(text)
        await peer.wait_for(f"\n{text}", timeout=120)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.25)
    return latencies


async def flood(strangers: list[SimUser], per_stranger: int) -> None:
    """Each stranger sends one message a second (all of them at once, each second)."""
    for round_ in range(per_stranger):
        for stranger in strangers:
            await stranger.send(f"spam {round_}")
        await asyncio.sleep(1.0)


async def run(count: int, stranger_count: int, per_stranger: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        box = Sandbox(Path(tmp), limits=LIMITS)
        await box.start()
        try:
            officer, peer = await connect(box)
            quiet = await relay_latencies(officer, peer, "quiet", count)
            strangers = [box.person(f"Stranger {n}") for n in range(stranger_count)]
            # The bot's first answer to one stranger meets a 20 s flood wait on that chat.
            box.api.fail_next(
                "sendMessage", status=429, description="Too Many Requests", retry_after=20
            )
            flooding = asyncio.create_task(flood(strangers, per_stranger))
            loud = await relay_latencies(officer, peer, "loud", count)
            await flooding
            assert box.app is not None and box.app.dispatcher is not None
            answered = sum(1 for s in strangers for m in s.inbox if m.text == EN.not_member)
            suppressed = box.app.dispatcher.strangers.suppressed
        finally:
            await box.stop()
    return {
        "quiet": quiet,
        "loud": loud,
        "answered": answered,
        "suppressed": suppressed,
        "sent": stranger_count * per_stranger,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--relays", type=int, default=60)
    parser.add_argument("--strangers", type=int, default=40)
    parser.add_argument("--per-stranger", type=int, default=15)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the flood wait's warning is expected here
    result = asyncio.run(run(args.relays, args.strangers, args.per_stranger))
    quiet, loud = result["quiet"], result["loud"]
    assert isinstance(quiet, list) and isinstance(loud, list)
    q50, q99 = statistics.median(quiet) * 1000, percentile(quiet, 0.99) * 1000
    l50, l99 = statistics.median(loud) * 1000, percentile(loud, 0.99) * 1000
    print(f"relay latency, {args.relays} messages each (ms), real PTB over HTTP on 127.0.0.1:")
    print(f"  without strangers : p50 {q50:7.1f}  p99 {q99:7.1f}")
    print(f"  during the flood  : p50 {l50:7.1f}  p99 {l99:7.1f}")
    print(f"  ratio flood/quiet : p50 {l50 / q50:7.2f}  p99 {l99 / q99:7.2f}")
    print(
        f"  flood: {result['sent']} stranger messages from {args.strangers} accounts; "
        f"{result['answered']} answered during the run (one each per window; the first answer "
        f"met a 20 s flood wait that holds its chat alone), {result['suppressed']} not answered"
    )


if __name__ == "__main__":
    main()
