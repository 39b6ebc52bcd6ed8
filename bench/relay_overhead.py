"""The relay hot path: how long Peerline itself takes to route one relayed message.

Run with ``python -m bench.relay_overhead`` (``make bench``). The real dispatcher, handlers,
relay engine and repository (SQLite on a temporary file) handle text messages between an
officer and a peer in a live thread; the messenger is an in-memory stand-in that answers at
once, so the figures are Peerline's own overhead per message, without any network. A second
part sends the same traffic through the real python-telegram-bot against the local Bot API
stand-in over HTTP on 127.0.0.1, for the end-to-end rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from itertools import count
from pathlib import Path

from bench._common import connect, key_text, percentile, seed
from bot.app import App
from bot.config import Config, CryptoConfig, StorageConfig, TelegramConfig
from bot.events import Address, Incoming, Kind, Media, NotRelayableError, Platform, Reply, Sent
from bot.sandbox.harness import Sandbox


class InstantMessenger:
    """Answers every send at once; counts what it was asked to do."""

    def __init__(self) -> None:
        self.sent = 0
        self._ids = count(1)
        self._failed = asyncio.Event()

    @property
    def platform(self) -> Platform:
        return Platform.TELEGRAM

    async def start(self, sink: object) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def failed(self) -> asyncio.Event:
        return self._failed

    async def send(self, to: Address, reply: Reply) -> Sent:
        self.sent += 1
        return Sent(to, str(next(self._ids)))

    async def edit(self, sent: Sent, reply: Reply) -> None:
        return None

    async def copy(
        self, to: Address, source: Address, message_id: str, caption: str | None = None
    ) -> Sent:
        return Sent(to, str(next(self._ids)))

    async def edit_copy(self, sent: Sent, text: str, *, is_caption: bool) -> None:
        return None

    async def delete(self, sent: Sent) -> None:
        return None

    async def accept_identity(self, address: Address) -> None:
        return None

    async def fetch_media(self, source: Address, message_id: str) -> Media:
        raise NotRelayableError()

    async def send_media(self, to: Address, media: Media, caption: str | None) -> Sent:
        return Sent(to, str(next(self._ids)))


async def in_process(messages: int) -> list[float]:
    """Microseconds per relayed message inside Peerline (dispatcher to messenger)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(
            telegram=TelegramConfig(enabled=False),
            storage=StorageConfig(path=Path(tmp) / "bench.db"),
            crypto=CryptoConfig(key_file=None, key_text=key_text()),
        )
        await seed(config, [(1001, 2001)])  # an officer and a peer in a live thread
        messenger = InstantMessenger()
        app = App(config, transports=[messenger], tick_every=3600)
        await app.start()
        assert app.dispatcher is not None
        officer = Address(Platform.TELEGRAM, "1001")
        peer = Address(Platform.TELEGRAM, "2001")
        timings = []
        for n in range(messages):
            sender = officer if n % 2 == 0 else peer
            event = Incoming(sender, Kind.TEXT, text=f"message {n}", message_id=str(n + 10))
            start = time.perf_counter()
            await app.dispatcher.handle(event)
            timings.append((time.perf_counter() - start) * 1e6)
        assert messenger.sent == messages, "every message was relayed"
        await app.stop()
    return timings


async def over_http(messages: int) -> tuple[float, float]:
    """Messages per second through the real PTB and the local Bot API, and the seconds taken."""
    with tempfile.TemporaryDirectory() as tmp:
        box = Sandbox(Path(tmp))
        await box.start()
        try:
            officer, peer = await connect(box)
            start = time.perf_counter()
            for n in range(messages):
                await officer.send(f"message {n}")
            await peer.wait_for(f"message {messages - 1}", timeout=120)
            took = time.perf_counter() - start
        finally:
            await box.stop()
    return messages / took, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--http-messages", type=int, default=150)
    args = parser.parse_args()
    timings = asyncio.run(in_process(args.messages))
    print(f"relay overhead inside Peerline, {len(timings)} messages (microseconds):")
    print(
        f"  p50 {statistics.median(timings):.0f}  p90 {percentile(timings, 0.9):.0f}  "
        f"p99 {percentile(timings, 0.99):.0f}  mean {statistics.fmean(timings):.0f}"
    )
    rate, took = asyncio.run(over_http(args.http_messages))
    print(
        f"through the real PTB and the local Bot API: {args.http_messages} messages in "
        f"{took:.1f} s = {rate:.0f} msg/s (the sandbox lifts the send limits; on Telegram "
        "[telegram] rate_overall, 30 a second by default, sets the ceiling)"
    )


if __name__ == "__main__":
    main()
