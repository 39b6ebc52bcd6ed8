"""Peerline's relay beside the bare python-telegram-bot relay, in one run on one local Bot API.

Run with ``python -m bench.relay_vs_bare`` (``make bench``). The stand-in (bot/sandbox/
telegram_api.py) and its simulated people run in a process of their own; each bot runs in
another, so the CPU counted per relayed message is the bot's alone (`time.process_time` of its
process, every thread included), never the server's.

1. The bare relay (bench/bare_relay.py) with sequential, 8 and 256 concurrent updates: a burst
   of texts in 20 live pairs; the fastest setting is the yardstick. Also, for reference, the
   bare relay given Peerline's HTTP client (PTB over aiohttp), sequential.
2. Peerline (the real App and transport, members and threads sealed in its database, logging
   at INFO to a file) with its send limits lifted through the `[telegram]` rate settings: the
   same burst. Throughput ratio Peerline / bare, CPU ms and Bot API requests per relayed text.
3. Both at a steady rate they can each sustain: the latency a relay adds (text queued at the
   server to the copy landing in the other chat), p50 and p99.
4. Peerline with Telegram's default limits (30 a second overall, 1 a second per chat) while
   every thread sends a text a second, at the cap and above it, beside the cap lifted under the
   same load: what a relay waits when the bot is at its cap.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import (
    LIFTED,
    PeerlineProcess,
    PeerlineSpec,
    ServerProcess,
    pairs_of,
    percentile,
)
from bench.bare_relay import (
    SETTINGS,
    WITH_AIOHTTP,
    BareRelayProcess,
    BareSpec,
    Measured,
    measure,
    run_bare,
)

TELEGRAM_CAP = 30.0  # Telegram's documented overall limit, Peerline's default rate_overall


@contextlib.contextmanager
def py_spy(pid: int, output: str) -> Iterator[None]:
    """Sample `pid` with py-spy (``pip install py-spy``; needs ptrace) into `output`
    (.svg: a flame graph; anything else: py-spy's raw collapsed stacks)."""
    if not output:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(__file__).parents[1] / ".venv/bin/py-spy")
    form = "flamegraph" if output.endswith(".svg") else "raw"
    command = [spy, "record", "--pid", str(pid), "--threads", "--format", form, "-o", output]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 - our own args
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)


@dataclass
class Results:
    bare: list[Measured] = field(default_factory=list)  # the burst, each setting
    bare_aiohttp: Measured | None = None  # the burst, sequential, PTB over aiohttp
    peerline: Measured | None = None  # the same burst, cap lifted
    steady: list[Measured] = field(default_factory=list)  # bare at its best, then Peerline
    at_cap: list[Measured] = field(default_factory=list)  # part 4, capped then lifted

    @property
    def best_bare(self) -> Measured:
        return max(self.bare, key=lambda m: m.phase.rate)

    @property
    def ratio(self) -> float:
        assert self.peerline is not None
        return self.peerline.phase.rate / self.best_bare.phase.rate


def side_by_side(args: argparse.Namespace, server: ServerProcess, results: Results) -> None:
    pairs = pairs_of(args.threads)
    total = args.threads * args.texts
    print(f"1-2. a burst of {total} texts in {args.threads} live threads, queued at once:")
    for label, concurrency in SETTINGS.items():
        results.bare.append(run_bare(server, pairs, args.texts, concurrency, f"bare, {label}"))
        print(results.bare[-1].row(), flush=True)
    best = results.best_bare
    results.bare_aiohttp = run_bare(
        server, pairs, args.texts, 1, f"bare, {WITH_AIOHTTP}", aiohttp=True
    )
    print(results.bare_aiohttp.row(), flush=True)
    rate, seconds = args.steady_rate, args.steady_seconds
    with PeerlineProcess(PeerlineSpec(server.ready, pairs)) as peerline:
        server.burst(pairs, 2)  # warm up
        with py_spy(peerline.pid, args.py_spy):
            ours = measure(peerline, "Peerline, cap lifted", server.burst, pairs, args.texts)
        results.peerline = ours
        print(ours.row(), flush=True)
        print(
            f"  throughput ratio Peerline / bare at its best ({best.label}): "
            f"{results.ratio:.2f}; CPU per text "
            f"{ours.cpu_ms_per_message / best.cpu_ms_per_message:.2f}x the bare relay's",
            flush=True,
        )
        print(
            f"  the same against the bare relay on aiohttp too: "
            f"{ours.phase.rate / results.bare_aiohttp.phase.rate:.2f}; CPU per text "
            f"{ours.cpu_ms_per_message / results.bare_aiohttp.cpu_ms_per_message:.2f}x",
            flush=True,
        )
        steady = measure(peerline, "Peerline, cap lifted", server.paced, pairs, rate, seconds)
    concurrency = SETTINGS[best.label.removeprefix("bare, ")]
    with BareRelayProcess(BareSpec(server.ready, pairs, concurrency)) as bot:
        server.burst(pairs, 2)
        yardstick = measure(bot, best.label, server.paced, pairs, rate, seconds)
    results.steady = [yardstick, steady]
    print(f"3. a steady {rate:.0f} texts a second for {seconds:.0f} s, same threads:")
    print(yardstick.row())
    print(steady.row())
    added = [
        percentile(steady.phase.latencies, share) - percentile(yardstick.phase.latencies, share)
        for share in (0.5, 0.99)
    ]
    print(
        f"  added by Peerline over the bare relay: p50 {added[0] * 1000:+.1f} ms, "
        f"p99 {added[1] * 1000:+.1f} ms",
        flush=True,
    )


def at_the_cap(args: argparse.Namespace, server: ServerProcess, results: Results) -> None:
    pairs = pairs_of(args.cap_threads)
    print(
        f"4. {args.cap_threads} live threads taking turns at the rates below for "
        f"{args.cap_seconds:.0f} s; Telegram's limits (30/s overall, 1/s per chat) vs lifted:"
    )
    for capped in (True, False):
        overall, per_chat = (TELEGRAM_CAP, 1.0) if capped else (LIFTED, LIFTED)
        label = "default cap" if capped else "cap lifted"
        spec = PeerlineSpec(server.ready, pairs, rate_overall=overall, rate_per_chat=per_chat)
        with PeerlineProcess(spec) as peerline:
            server.burst(pairs, 2)  # both sides once: menus set, caches warm
            for load in args.cap_loads:
                rate = load * TELEGRAM_CAP
                run = measure(
                    peerline, f"{label}, {rate:.0f}/s", server.paced, pairs, rate, args.cap_seconds
                )
                results.at_cap.append(run)
                print(run.row(), flush=True)


def main(argv: list[str] | None = None) -> Results:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=20, help="live threads (pairs)")
    parser.add_argument("--texts", type=int, default=50, help="texts per thread in the burst")
    parser.add_argument("--steady-rate", type=float, default=50.0, help="texts a second")
    parser.add_argument("--steady-seconds", type=float, default=8.0)
    parser.add_argument("--cap-threads", type=int, default=30)
    parser.add_argument(
        "--cap-loads",
        type=float,
        nargs="*",
        default=[1.0, 1.5],
        help="offered load as a share of the 30/s cap (none: skip part 4)",
    )
    parser.add_argument("--cap-seconds", type=float, default=8.0)
    parser.add_argument("--py-spy", default="", help="profile Peerline's burst into this file")
    args = parser.parse_args(argv)
    results = Results()
    with ServerProcess() as server:
        side_by_side(args, server, results)
        if args.cap_loads:
            at_the_cap(args, server, results)
    return results


if __name__ == "__main__":
    main()
