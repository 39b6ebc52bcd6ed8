"""Peerline's Signal relay beside the bare signalbot relay, in one run on one local gateway.

Run with ``python -m bench.signal_relay_vs_bare`` (``make bench``). The signal-cli-rest-api
stand-in (bot/sandbox/signal_api.py) and its simulated people run in a process of their own;
each bot in another, started afresh for each round, so the CPU counted per relayed message is
the bot's alone (`time.process_time` of its process, every thread included). Requests are
every HTTP call the stand-in answered during the phase; the receive websocket is one
connection, opened before it. Every copy is checked at the stand-in: in the counterpart's chat,
exactly once, in the order sent (`Phase.exactly_once_in_order`); a run that fails it stops the
bench.

1-2. Rounds, alternating which bot goes first: the bare relay (bench/signal_bare_relay.py) and
   Peerline (the real App and its Signal transport, members and threads sealed in its
   database, logging at INFO to a file) with its send pace lifted through `[signal]
   rate_overall` / `rate_per_chat` (the bare relay has no pace to lift). Each relays a burst
   (every text pushed at once: what the bot can do), then a steady rate both keep up with (the
   latency a relay adds). Throughput ratio Peerline / bare, CPU ms and requests per relayed
   text, latency p50/p99.
3. Peerline at its default Signal pace (10 a second overall, 2 a second per person after a
   burst of 5) beside the bare relay: a smaller burst, and a steady rate under that pace.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench._common import (
    LIFTED,
    Child,
    Pair,
    PeerlineProcess,
    PeerlineSpec,
    ServerProcess,
    percentile,
    profiled,
)
from bench.bare_relay import Measured, measure
from bench.signal_bare_relay import SignalBareRelayProcess, SignalBareSpec
from bot.delivery import SIGNAL_LIMITS

Pace = tuple[float, float]  # sends a second: overall, to one person
PACE_LIFTED: Pace = (LIFTED, LIFTED)
DEFAULT_PACE: Pace = (SIGNAL_LIMITS.overall_per_second, SIGNAL_LIMITS.per_chat_per_second)

BARE = "bare signalbot"
OURS = "Peerline, pace lifted"
OURS_DEFAULT = "Peerline, default pace"

# (label, ServerProcess.burst or .paced, its arguments after the pairs)
Step = tuple[str, Callable[..., Any], tuple[object, ...]]


@dataclass
class Round:
    bare: list[Measured]  # the burst, then the steady rate
    peerline: list[Measured]
    bare_first: bool

    @property
    def ratio(self) -> float:
        return self.peerline[0].phase.rate / self.bare[0].phase.rate

    @property
    def cpu_ratio(self) -> float:
        return self.peerline[0].cpu_ms_per_message / self.bare[0].cpu_ms_per_message

    def added(self, share: float) -> float:
        """Seconds Peerline adds over the bare relay at this percentile, steady rate."""
        ours, bare = self.peerline[1].phase.latencies, self.bare[1].phase.latencies
        return percentile(ours, share) - percentile(bare, share)


@dataclass
class Results:
    rounds: list[Round] = field(default_factory=list)
    at_default_pace: list[Measured] = field(default_factory=list)  # bare, Peerline: burst, steady

    def median(self, figure: Callable[[Round], float]) -> float:
        return statistics.median(figure(r) for r in self.rounds)


def checked(run: Measured) -> Measured:
    phase = run.phase
    assert phase.exactly_once_in_order, (
        f"{run.label}: {len(phase.latencies)} of {phase.messages} relayed, {phase.doubled} "
        f"doubled, {phase.misplaced} in the wrong chat, {phase.out_of_order} out of order"
    )
    return run


def run_bot(
    bot: Child, server: ServerProcess, pairs: list[Pair], steps: list[Step], profile: str = ""
) -> list[Measured]:
    """Warm `bot` up (connections open, code paths loaded), then measure each step (the first
    under cProfile into `profile`, when given)."""
    server.connected()
    server.burst(pairs, 2)
    runs = []
    for n, (label, load, args) in enumerate(steps):
        with profiled(bot, profile if n == 0 else ""):
            runs.append(checked(measure(bot, label, load, pairs, *args)))
    for run in runs:
        print(run.row(), flush=True)
    return runs


def bare(server: ServerProcess, pairs: list[Pair], steps: list[Step]) -> list[Measured]:
    with SignalBareRelayProcess(SignalBareSpec(server.ready, pairs)) as bot:
        return run_bot(bot, server, pairs, steps)


def peerline(
    server: ServerProcess, pairs: list[Pair], steps: list[Step], pace: Pace, profile: str = ""
) -> list[Measured]:
    overall, per_chat = pace
    spec = PeerlineSpec(
        server.ready, pairs, rate_overall=overall, rate_per_chat=per_chat, platform="signal"
    )
    with PeerlineProcess(spec) as bot:
        return run_bot(bot, server, pairs, steps, profile)


def side_by_side(args: argparse.Namespace, server: ServerProcess, results: Results) -> None:
    pairs = server.pairs(args.threads)
    total = args.threads * args.texts
    rate, seconds = args.steady_rate, args.steady_seconds
    print(
        f"1-2. {args.rounds} rounds: a burst of {total} texts in {args.threads} live threads "
        f"pushed at once, then a steady {rate:.0f} texts a second for {seconds:.0f} s; "
        "Peerline's Signal pace lifted (the bare relay has none):"
    )
    for n in range(args.rounds):
        bare_first = n % 2 == 0
        steps: dict[str, list[Step]] = {
            label: [
                (label, server.burst, (args.texts,)),
                (label, server.paced, (rate, seconds)),
            ]
            for label in (BARE, OURS)
        }
        runs: dict[str, list[Measured]] = {}
        for label in (BARE, OURS) if bare_first else (OURS, BARE):
            if label == BARE:
                runs[label] = bare(server, pairs, steps[label])
            else:
                profile = args.profile if n == 0 else ""
                runs[label] = peerline(server, pairs, steps[label], PACE_LIFTED, profile)
        done = Round(runs[BARE], runs[OURS], bare_first)
        results.rounds.append(done)
        print(
            f"  round {n + 1}: throughput ratio Peerline / bare {done.ratio:.2f}; CPU per text "
            f"{done.cpu_ratio:.2f}x the bare relay's; added latency at {rate:.0f}/s: p50 "
            f"{done.added(0.5) * 1000:+.1f} ms, p99 {done.added(0.99) * 1000:+.1f} ms",
            flush=True,
        )
    print(
        f"  median of {args.rounds}: throughput ratio {results.median(lambda r: r.ratio):.2f}, "
        f"CPU per text {results.median(lambda r: r.cpu_ratio):.2f}x, added p50 "
        f"{results.median(lambda r: r.added(0.5)) * 1000:+.1f} ms, p99 "
        f"{results.median(lambda r: r.added(0.99)) * 1000:+.1f} ms",
        flush=True,
    )


def at_default_pace(args: argparse.Namespace, server: ServerProcess, results: Results) -> None:
    pairs = server.pairs(args.default_threads)
    total = args.default_threads * args.default_texts
    rate, seconds = args.default_rate, args.default_seconds
    print(
        f"3. Peerline at its default Signal pace ({DEFAULT_PACE[0]:.0f}/s overall, "
        f"{DEFAULT_PACE[1]:.0f}/s per person after {SIGNAL_LIMITS.chat_burst}): "
        f"a burst of {total} texts in {args.default_threads} threads, then a steady "
        f"{rate:.0f} texts a second for {seconds:.0f} s:"
    )
    for label in (BARE, OURS_DEFAULT):
        steps: list[Step] = [
            (label, server.burst, (args.default_texts,)),
            (label, server.paced, (rate, seconds)),
        ]
        if label == BARE:
            results.at_default_pace += bare(server, pairs, steps)
        else:
            results.at_default_pace += peerline(server, pairs, steps, DEFAULT_PACE)
    bare_burst, bare_steady, ours_burst, ours_steady = results.at_default_pace
    added = [
        percentile(ours_steady.phase.latencies, share)
        - percentile(bare_steady.phase.latencies, share)
        for share in (0.5, 0.99)
    ]
    print(
        f"  throughput ratio in the burst {ours_burst.phase.rate / bare_burst.phase.rate:.2f}; "
        f"added latency at {rate:.0f}/s: p50 {added[0] * 1000:+.1f} ms, "
        f"p99 {added[1] * 1000:+.1f} ms",
        flush=True,
    )


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=20, help="live threads (pairs)")
    parser.add_argument("--texts", type=int, default=50, help="texts per thread in the burst")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of parts 1-2")
    parser.add_argument("--steady-rate", type=float, default=50.0, help="texts a second")
    parser.add_argument("--steady-seconds", type=float, default=8.0)
    parser.add_argument("--default-threads", type=int, default=20, help="part 3 (0: skip)")
    parser.add_argument("--default-texts", type=int, default=5, help="part 3: burst per thread")
    parser.add_argument("--default-rate", type=float, default=8.0, help="part 3: texts a second")
    parser.add_argument("--default-seconds", type=float, default=8.0)
    parser.add_argument(
        "--profile", default="", help="cProfile Peerline's first burst into this file"
    )
    parser.add_argument(
        "--contacts", type=int, default=0, help="more people the gateway knows, who write nothing"
    )
    args = parser.parse_args(argv)
    results = Results()
    with ServerProcess("signal") as server:
        if args.contacts:
            server.contacts(args.contacts)
            print(f"the gateway knows {args.contacts} more people, who write nothing")
        side_by_side(args, server, results)
        if args.default_threads:
            at_default_pace(args, server, results)
    return results


if __name__ == "__main__":
    main()
