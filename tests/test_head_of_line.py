"""Head of line on Telegram: one slow outbound chat must not hold up everyone else's.

Both tests run the real app, the real python-telegram-bot and signalbot against the local
stand-ins. They assert on what has happened (how much of a backlog was still undelivered), never
on elapsed time.

1. The update window: an officer on Telegram sends far more than Telegram's window of 100
   updates to a Signal peer whose pace is slow. Telegram re-sends every update from the oldest
   one still in hand, at most 100, so while the officer's backlog filled the window nothing newer
   could be fetched: a newcomer's /start and another pair's message waited for the backlog.
2. The chat slots: 33 members whose replies are each held by a flood wait fill the 32 chats
   the transport lets into the sink at once; a newcomer must still be answered.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.catalog import EN
from bot.delivery import RateLimits
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import SignalUser
from bot.sandbox.telegram_api import SimUser
from bot.transports.telegram import Webhook
from tests.conftest import FakeClock, checked
from tests.test_delivery import eventually
from tests.test_e2e_threads import connect
from tests.test_e2e_walking_skeleton import ask_for_peer
from tests.test_e2e_webhook import free_port

BACKLOG = 300  # three windows' worth
SIGNAL_PACE = RateLimits(1000.0, 50.0, chat_burst=5)  # about 6 s for the whole backlog
_RELAYED = re.compile(r"backlog (\d{3})$")


@pytest.fixture(params=["polling", "webhook"])
async def slow_signal(
    tmp_path: Path, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[Sandbox]:
    """Telegram polled, or posting to a webhook (where Telegram sends nothing newer while all
    its connections, 10 here, wait for their answer: the same head of line)."""
    hook = None
    if request.param == "webhook":
        port = free_port()
        hook = Webhook(url=f"http://127.0.0.1:{port}/telegram/updates", port=port)
    box = Sandbox(
        tmp_path / "sandbox", clock=clock, signal=True, signal_limits=SIGNAL_PACE, webhook=hook
    )
    async for running in checked(box):
        yield running


def relayed(peer: SignalUser) -> list[int]:
    """The backlog's numbers, in the order the peer received them."""
    return [int(m[1]) for msg in peer.inbox if (m := _RELAYED.search(msg.text))]


async def test_a_slow_outbound_chat_does_not_hold_up_new_updates(slow_signal: Sandbox) -> None:
    box = slow_signal
    # A Telegram pair, talking.
    erin = await box.join("Erin", Role.OFFICER)
    blake = await box.join("Blake", Role.PEER)
    await connect(box, erin, blake)
    # An officer on Telegram with a peer on Signal.
    dana: SimUser = await box.join("Dana", Role.OFFICER)
    alex: SignalUser = await box.join_signal("Alex", Role.PEER)
    await ask_for_peer(dana, outside=False)
    offer = await alex.wait_for("New request")
    await alex.press(offer, EN.offer_accept)
    await dana.wait_for("is here for you")

    # Alex's chat is stuck (the gateway refuses every send to them with a rate limit) until
    # the newcomer and the other pair have been answered: not merely slow, so however loaded
    # the machine, nothing of the backlog can go first.
    gateway = box.signal
    assert gateway is not None
    gateway.fail_next("send", 429, times=1_000_000, retry_after=1, recipient=alex)
    for number in range(BACKLOG):
        await dana.send(f"backlog {number:03d}")
    (code,) = await box.invite(Role.OFFICER)
    newcomer = box.person("Nico")
    await newcomer.send(f"/start {code}")
    await erin.send("Are you there?")

    # Telegram shows the newcomer's /start only once fewer than 100 updates are ahead of it in
    # hand (10 over the webhook): without spilling, they would wait for the stuck chat.
    await newcomer.wait_for("Welcome", timeout=60)
    await blake.wait_for("Are you there?", timeout=60)
    assert relayed(alex) == []
    gateway.calm()

    # The whole backlog still arrives, once each and in order.
    await alex.wait_until(lambda: len(relayed(alex)) >= BACKLOG, timeout=120)
    assert relayed(alex) == list(range(BACKLOG))


SLOTS = 32  # bot.transports.telegram._MAX_CONCURRENT_CHATS
HELP_LINE = EN.help_officer.splitlines()[1]  # the /talk line


async def test_chats_held_by_flood_waits_do_not_keep_a_newcomer_waiting(
    sandbox: Sandbox,
) -> None:
    members = await asyncio.gather(
        *(sandbox.join(f"Officer{n}", Role.OFFICER) for n in range(SLOTS + 1))
    )
    chats = {member.user_id for member in members}
    sandbox.api.storm(retry_after=1, chats=chats)  # every send to them: "retry after 1"
    for member in members:
        await member.send("/help")

    def held() -> int:
        return len({c["chat_id"] for c in sandbox.api.calls_of("sendMessage")} & chats)

    # Each of them has had its reply refused: every chat slot is taken by a flood wait.
    await eventually(lambda: held() == len(chats), "every reply refused once", 60)
    (code,) = await sandbox.invite(Role.OFFICER)
    newcomer = sandbox.person("Nico")
    await newcomer.send(f"/start {code}")
    await newcomer.wait_for("Welcome", timeout=60)
    assert not any(HELP_LINE in t for m in members for t in m.texts())

    sandbox.api.calm()
    for member in members:
        await member.wait_for(HELP_LINE, timeout=60)


async def test_after_a_stop_that_cut_off_spilled_updates_each_person_is_told_once(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    newcomer = sandbox.person("Nico")  # whose /start was spilled: not a member yet
    assert sandbox.app is not None and sandbox.app.repo is not None
    repo = sandbox.app.repo
    await repo.record_spilled("telegram", [str(officer.user_id), str(newcomer.user_id)])
    await repo.record_spilled("telegram", [str(officer.user_id)])  # noted again by a later run
    await sandbox.stop_app()
    await sandbox.start_app()

    told = await officer.wait_for(EN.spilled_notice)
    assert EN.crisis_button in told.labels()  # an officer's screen, one tap from a crisis line
    await newcomer.wait_for(EN.spilled_notice)
    assert sandbox.app is not None and sandbox.app.repo is not None
    repo = sandbox.app.repo
    async with asyncio.timeout(30):
        while await repo.spilled_chats():  # noqa: ASYNC110 - another task's write
            await asyncio.sleep(0.05)
    # Told once: the next start finds nothing to tell.
    await sandbox.stop_app()
    await sandbox.start_app()
    await officer.send("/help")
    await officer.wait_for(HELP_LINE)
    assert sum(EN.spilled_notice in text for text in officer.texts()) == 1
    assert sum(EN.spilled_notice in text for text in newcomer.texts()) == 1
