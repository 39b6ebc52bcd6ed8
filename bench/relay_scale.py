"""1,000 live threads in one Peerline process: relay rate, CPU per message, peak RSS.

Run with ``python -m bench.relay_scale`` (``make bench``). Peerline (the real App and Telegram
transport, send limits lifted through the `[telegram]` rate settings) starts with 1,000 live
threads (2,000 members, each with their sealed records, and 1,000 sealed threads in its
database, as a restart would find them) against the local Bot API stand-in in a process of its
own. Every thread then relays texts, the two sides in turn, queued at once. The bot's CPU is
its own process's (`time.process_time`), the peak RSS its own (`ru_maxrss`), the stand-in's
never counted. Goal (issue #13): peak RSS <= 150 MB.
"""

from __future__ import annotations

import argparse

from bench._common import PeerlineProcess, PeerlineSpec, ServerProcess, pairs_of
from bench.bare_relay import Measured, measure

RSS_GOAL_MB = 150.0


def main(argv: list[str] | None = None) -> tuple[Measured, float]:
    """Returns the run and the bot's peak RSS in MB."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--texts", type=int, default=4, help="texts per thread, in one burst")
    args = parser.parse_args(argv)
    pairs = pairs_of(args.threads)
    with ServerProcess() as server, PeerlineProcess(PeerlineSpec(server.ready, pairs)) as bot:
        started = bot.ask("rss")
        server.burst(pairs, 2)  # every chat has sent once: menus set, caches warm
        run = measure(bot, "Peerline, cap lifted", server.burst, pairs, args.texts)
        peak = bot.ask("rss")
    total = args.threads * args.texts
    print(f"{args.threads} live threads in one process, {total} texts queued at once:")
    print(run.row())
    verdict = "met" if peak <= RSS_GOAL_MB else "NOT met"
    print(
        f"  peak RSS {peak:.0f} MB (after start-up {started:.0f} MB); "
        f"goal <= {RSS_GOAL_MB:.0f} MB {verdict}"
    )
    return run, peak


if __name__ == "__main__":
    main()
