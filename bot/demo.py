"""`peerline demo`: a scripted scenario on this machine, showing what each person's phone shows.

It runs the real bot, the real python-telegram-bot and the real signalbot against local
stand-ins of the Telegram Bot API and of signal-cli-rest-api on 127.0.0.1: officer Dana is on
Signal, the peers on Telegram. No token, no account, no internet. Everything is deleted
afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.catalog import EN
from bot.logs import setup_logging
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import SignalUser
from bot.sandbox.telegram_api import BotMessage, SimUser

WIDTH = 72


class Phones:
    """Prints what arrived on each person's phone since the last look."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], str] = {}

    def show(self, user: SimUser | SignalUser, label: str) -> None:
        for message in user.inbox:
            key = (label, str(message.message_id))
            # Telegram draws buttons; on Signal the numbered options are part of the text.
            buttons = message.labels() if isinstance(message, BotMessage) else []
            shown = self._render(message.text, buttons)
            if self._seen.get(key) == shown:
                continue
            edited = " (edited)" if key in self._seen else ""
            self._seen[key] = shown
            print(f"  [{label}'s phone]{edited}")
            print(textwrap.indent(shown, "    │ ", predicate=lambda _line: True))

    @staticmethod
    def _render(text: str, labels: list[str]) -> str:
        lines = [
            wrapped
            for line in text.splitlines() or [""]
            for wrapped in (textwrap.wrap(line, WIDTH - 8) or [""])
        ]
        if labels:
            lines.append("  ".join(f"[ {label} ]" for label in labels))
        return "\n".join(lines)


class DemoClock:
    """The app's clock: the wall clock until the story jumps ahead a day."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def step(title: str) -> None:
    print()
    print(f"── {title} " + "─" * max(0, WIDTH - len(title) - 4))


def typed(label: str, text: str) -> None:
    print(f"  {label} types: {text}")


async def scenario(directory: Path) -> list[str]:
    """Play the story; return the sentences people typed (checked against the disk later)."""
    clock = DemoClock()
    box = Sandbox(directory, signal=True, clock=clock)
    phones = Phones()
    said: list[str] = []
    await box.start()
    try:
        step("A coordinator creates single-use invite codes")
        (officer_code,) = await box.invite(Role.OFFICER, agency="Springfield PD")
        (alex_code,) = await box.invite(Role.PEER, agency="Shelbyville SO")
        (blake_code,) = await box.invite(Role.PEER, agency="Capital City PD")
        print(f"  officer (Springfield PD): {officer_code}")
        print(f"  peer (Shelbyville SO):    {alex_code}")
        print(f"  peer (Capital City PD):   {blake_code}")

        step("Officer Dana, on Signal, sends her code; two peers on Telegram join and go on duty")
        dana = box.signal_person("Dana")
        typed("Dana", officer_code)
        await dana.send(officer_code)
        await dana.wait_for("Welcome")
        phones.show(dana, "Dana (Signal)")
        alex, blake = box.person("Alex"), box.person("Blake")
        for person, code in ((alex, alex_code), (blake, blake_code)):
            await person.send(f"/start {code}")
            await person.wait_for("Welcome")
            await person.send("/name " + ("Alex" if person is alex else "Blake"))
            await person.wait_for("Done.")
            await person.send("/available")
            await person.wait_for("You're available")
        phones.show(alex, "Alex (peer)")
        phones.show(blake, "Blake (peer)")

        step("3 a.m.: Dana asks for someone to talk to (Signal has no buttons: numbers)")
        typed("Dana", "talk")
        await dana.send("talk")
        for prompt, answer in (
            ("What's it mostly about?", EN.category_critical_incident),
            (EN.intake_who, EN.who_peer),
            (EN.intake_outside, EN.outside_yes),
            (EN.intake_note, EN.note_skip),
        ):
            message = await dana.wait_for(prompt)
            phones.show(dana, "Dana (Signal)")
            typed("Dana", f"{message.labels().index(answer) + 1}  ({answer})")
            await dana.press(message, answer)
        await dana.wait_for("We're finding")
        phones.show(dana, "Dana (Signal)")

        step("Both peers get the offer; Alex accepts first")
        offer = await alex.wait_for("New request")
        await blake.wait_for("New request")
        phones.show(alex, "Alex (peer)")
        print("  Alex taps: Accept")
        await alex.press(offer, EN.offer_accept)
        await blake.wait_for(EN.offer_taken)
        await alex.wait_for("You're connected")
        await dana.wait_for("is here for you")
        phones.show(blake, "Blake (peer)")
        phones.show(alex, "Alex (peer)")
        phones.show(dana, "Dana (Signal)")

        step("They talk through the bot, Signal to Telegram; neither sees the other's account")
        conversation = (
            (dana, "Dana", "Rough night. We lost a kid on a call and I can't stop seeing it."),
            (alex, "Alex", "I'm so sorry. I'm here. Tell me as much or as little as you want."),
            (dana, "Dana", "I don't want anyone at work to know I'm doing this."),
            (alex, "Alex", "They won't hear it from me. I'm not from your agency."),
        )
        for sender, name, text in conversation:
            typed(name, text)
            said.append(text)
            await sender.send(text)
            if sender is dana:
                await alex.wait_for(text)
                phones.show(alex, "Alex (peer)")
            else:
                await dana.wait_for(text)
                phones.show(dana, "Dana (Signal)")

        step("Dana ends the conversation; its key is destroyed")
        typed("Dana", "end")
        await dana.send("end")
        await dana.wait_for(EN.thread_ended_by_you)
        await alex.wait_for("has closed the conversation")
        await dana.wait_for("We'll check in with you")
        phones.show(dana, "Dana (Signal)")
        phones.show(alex, "Alex (peer)")

        step("The next day: a check-in, nothing from the conversation in it")
        app = box.app
        due = await app.repo.next_due() if app is not None and app.repo is not None else None
        if app is None or due is None:
            raise RuntimeError("no check-in was planned")
        clock.ahead = due - datetime.now(UTC) + timedelta(minutes=1)  # day 1, send time
        await app.dispatch_followups()
        nudge = await dana.wait_for(EN.nudge)
        phones.show(dana, "Dana (Signal)")
        typed("Dana", f"{nudge.labels().index(EN.nudge_ok) + 1}  ({EN.nudge_ok})")
        await dana.press(nudge, EN.nudge_ok)
        await dana.wait_for(EN.nudge_ok_reply)
        phones.show(dana, "Dana (Signal)")

        await incident_scene(box, phones, blake)
    finally:
        await box.stop()
    return said


async def incident_scene(box: Sandbox, phones: Phones, blake: SimUser) -> None:
    """A shooting at Dana's agency: helpers from other agencies are paged to be on call."""
    step("A shooting at Springfield PD: the coordinator pages a helper from another agency")
    morgan = box.person("Morgan")
    (code,) = await box.invite(Role.COORDINATOR)
    await morgan.send(f"/start {code}")
    await morgan.wait_for("Welcome")
    typed("Morgan", "/incident 1 Springfield PD")
    await morgan.send("/incident 1 Springfield PD")
    confirm = await morgan.wait_for("Open a critical incident for Springfield PD?")
    print(f"  Morgan taps: {EN.incident_page_peers}")
    await morgan.press(confirm, EN.incident_page_peers)
    page = await blake.wait_for("Critical incident at Springfield PD")
    phones.show(blake, "Blake (peer)")
    print(f"  Blake taps: {EN.page_accept}, then {EN.page_name_no}")
    await blake.press(page, EN.page_accept)
    await blake.press(await blake.wait_for("May I tell the coordinator"), EN.page_name_no)
    await blake.wait_for(EN.page_counted)
    phones.show(blake, "Blake (peer)")
    await morgan.wait_for("On call: 1 of 1")
    phones.show(morgan, "Morgan (coordinator)")

    step("Morgan closes it: only numbers stay (pages sent, pages accepted, the week)")
    await morgan.send("/incident")
    close = EN.incident_close_button.format(agency="Springfield PD")
    await morgan.wait_until(lambda: any(close in m.labels() for m in morgan.inbox))
    print(f"  Morgan taps: {close}")
    await morgan.press(next(m for m in morgan.inbox if close in m.labels()), close)
    await morgan.wait_for("Closed: Springfield PD")
    await blake.wait_for("The critical incident at Springfield PD is closed")
    phones.show(morgan, "Morgan (coordinator)")
    phones.show(blake, "Blake (peer)")


def leaks(directory: Path, sentences: list[str]) -> list[str]:
    found = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"{path.name}: {s[:20]}..." for s in sentences if s.encode() in data]
    return found


def _bypass_proxies_for_loopback() -> None:
    """httpx honours *_PROXY variables; the stand-in on 127.0.0.1 must be reached directly."""
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name, "")
        os.environ[name] = ",".join(filter(None, [current, "127.0.0.1", "localhost"]))


def main() -> int:
    _bypass_proxies_for_loopback()
    print("Peerline demo: the real bot on local stand-ins of Telegram and Signal. Nothing leaves")
    print("this machine; every file it writes is deleted at the end.")
    with tempfile.TemporaryDirectory(prefix="peerline-demo-") as tmp:
        directory = Path(tmp)
        setup_logging("INFO", directory / "peerline.log")
        # The log goes to the file only: the screen shows the phones.
        logging.getLogger().handlers = [
            h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)
        ]
        said = asyncio.run(asyncio.wait_for(scenario(directory / "sandbox"), timeout=25))
        step("What is left on disk")
        files = sorted(p.name for p in directory.rglob("*") if p.is_file())
        print("  files: " + ", ".join(files))
        found = leaks(directory, said)
        if found:
            print("  PRIVACY FAILURE: message text found on disk: " + "; ".join(found))
            return 1
        print(f"  none of the {len(said)} messages above is in the database, its WAL or the log.")
    print("\nDemo finished.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
