"""Shared fixtures: a whole Peerline against the local Bot API, on 127.0.0.1 only."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bot.catalog import LANGUAGES
from bot.events import Address, Platform
from bot.model import ASKER_ROLES, HELPER_ROLES, Member
from bot.routing import Roster
from bot.sandbox.harness import Sandbox
from bot.storage.repository import Repository
from crypto import Vault, master_key_from_text
from tests.rosters import assert_built_alike

# The suite runs on a shared 2-core machine: a slow draw there is load, not a bad strategy.
settings.register_profile(
    "shared-machine", suppress_health_check=[HealthCheck.too_slow], deadline=None
)
settings.load_profile("shared-machine")

# httpx and websockets honour *_PROXY variables; the fakes are on loopback.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ.pop("HTTP_PROXY", None)
os.environ.pop("HTTPS_PROXY", None)
os.environ.pop("ALL_PROXY", None)

# Property tests check rules, not speed: on a loaded 2-core machine Hypothesis' timing checks
# (a 200 ms deadline, "input generation is slow") fail runs that are otherwise correct.
settings.register_profile("peerline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("peerline")


def make_vault() -> Vault:
    return Vault(master_key_from_text(base64.b64encode(os.urandom(32)).decode()))


# The store tests' database: a fresh file and a fresh key per test.
@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "peerline.db"


@pytest.fixture
def vault() -> Vault:
    return make_vault()


@pytest.fixture
async def repo(db_path: Path, vault: Vault) -> AsyncIterator[Repository]:
    repository = await Repository.open(db_path, vault)
    yield repository
    await repository.close()


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def roster_updates_checked(monkeypatch: pytest.MonkeyPatch) -> list[Roster]:
    """Every routing index the bot updates (rather than builds) while the test runs is checked
    against the one `Roster.of` builds from the same helpers; returns the updated ones."""
    updated: list[Roster] = []
    update = Roster.updated

    def checked_update(
        roster: Roster, helpers: Iterable[Member], since: Sequence[Member] | None = None
    ) -> Roster:
        helpers = tuple(helpers)
        result = update(roster, helpers, since)
        assert_built_alike(result, helpers)
        updated.append(result)
        return result

    monkeypatch.setattr(Roster, "updated", checked_update)
    return updated


@pytest.fixture
async def sandbox(
    tmp_path: Path, clock: FakeClock, roster_updates_checked: list[Roster]
) -> AsyncIterator[Sandbox]:
    """A running sandbox. At the end, every screen the bot sent to an officer, a family member
    or a retiree is checked: each must show a crisis line or carry a button to them (see
    `crisis_out_of_reach`); each routing index updated on the way was checked as it was made
    (`roster_updates_checked`)."""
    async for box in checked(Sandbox(tmp_path / "sandbox", clock=clock)):
        yield box


@pytest.fixture
async def routed(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: FakeClock,
    roster_updates_checked: list[Roster],
) -> AsyncIterator[Sandbox]:
    """A running sandbox with the `[routing]` settings the test gives as its parameter, e.g.
    `@pytest.mark.parametrize("routed", [{"urgent_offers": 3}], indirect=True)`."""
    async for box in checked(Sandbox(tmp_path / "sandbox", clock=clock, **request.param)):
        yield box


@pytest.fixture
async def signal_sandbox(
    tmp_path: Path, clock: FakeClock, roster_updates_checked: list[Roster]
) -> AsyncIterator[Sandbox]:
    """The same with a Signal gateway beside the Bot API."""
    async for box in checked(Sandbox(tmp_path / "sandbox", clock=clock, signal=True)):
        yield box


async def checked(box: Sandbox) -> AsyncIterator[Sandbox]:
    """Runs `box` for a fixture; once the test is done, every screen is checked (see
    `sandbox`)."""
    await box.start()
    missing: list[str] = []
    try:
        yield box
        missing = await crisis_out_of_reach(box)
    finally:
        await box.stop()
    assert not missing, f"officer screens without a crisis line or button: {missing}"


# Every officer screen the end-to-end tests produced, for the summary line.
OFFICER_SCREENS: list[str] = []


async def crisis_out_of_reach(box: Sandbox) -> list[str]:
    """The screens sent to those who ask for help (officers, family members, retirees) that
    show no crisis line and have no button to them.
    Relayed messages (a helper's own words under their name, or copied media) are not
    screens. Skipped when the app is not running at the end (a restart test stopped it)."""
    app = box.app
    if app is None or app.repo is None or box.config is None:
        return []
    members = await app.repo.all_members()
    helper_names = [m.display_name for m in members if m.role in HELPER_ROLES]
    contacts = [line.contact for line in box.config.crisis.lines]
    buttons = {box.text(language).crisis_button for language in LANGUAGES}
    check_ins = _check_in_screens(box)
    missing: list[str] = []
    for member in members:
        asker = member.role in ASKER_ROLES
        path = _DebriefPath(box, check_ins)
        for text, labels, copied in _inbox(box, member.address):
            relayed = copied or any(text.startswith(f"{name}:") for name in helper_names if name)
            if relayed or not (asker or path.checks(text)):
                continue
            OFFICER_SCREENS.append(text)
            if not any(c in text for c in contacts) and not buttons & set(labels):
                missing.append(text[:80])
    return missing


class _DebriefPath:
    """Walks a helper's chat in order: from the /debrief question to the screen that ends the
    debrief (closed, ended, cancelled), they are the one asking, and each screen counts, except
    what officers in their other conversations write to them. Outside it, check-ins count (the
    one after a debrief, and anyone's)."""

    def __init__(self, box: Sandbox, check_ins: list[re.Pattern[str]]) -> None:
        self.check_ins = check_ins
        texts = [box.text(language) for language in LANGUAGES]
        self.starts = [_lead(t.debrief_prompt) for t in texts]
        self.ends = [
            _lead(line)
            for t in texts
            for line in (t.debrief_closed, t.debrief_ended, t.request_cancelled)
        ]
        headers = [h for t in texts for h in (t.header_to_helper, t.header_edited_to_helper)]
        self.relays = [re.compile(_pattern(h)) for h in headers]
        self.inside = False

    def checks(self, text: str) -> bool:
        """Whether this screen, the next in the chat, is one of the debrief path."""
        if any(text.startswith(s) for s in self.starts):
            self.inside = True
        elif any(r.match(text) for r in self.relays):
            return False
        elif not self.inside:
            return any(c.match(text) for c in self.check_ins)
        if any(text.startswith(e) for e in self.ends):
            self.inside = False
        return True


def _check_in_screens(box: Sandbox) -> list[re.Pattern[str]]:
    """A check-in is a screen about how someone is doing, whoever reads it: the helper who
    had a debrief is asked about a check-in after it closes, past the debrief path."""
    lines: list[str] = []
    for t in (box.text(language) for language in LANGUAGES):
        lines += [t.nudge, t.nudge_ok_reply, t.nudge_not_now_reply, t.nudge_stop_reply]
        lines += [t.nudge_over, t.nudge_talk_staff, t.nudge_talk_busy, t.plan_dropped]
        lines += [t.followup_ask_officer, t.followup_agreed_officer, t.followup_refused_officer]
        lines += [t.plan_told.one, t.plan_told.other]
    return [re.compile(_placeholders_any(line)) for line in lines]


def _placeholders_any(line: str) -> str:
    """A catalog line as a pattern of its opening: each placeholder stands for any words."""
    return re.sub(r"\\\{\w+\\\}", ".+", re.escape(line.split("\n", 1)[0]))


def _pattern(header: str) -> str:
    """A relay header as a pattern: any nickname, any tag."""
    return re.escape(header).replace(r"\{alias\}", ".+").replace(r"\{tag\}", r"\w+")


def _lead(line: str) -> str:
    """A catalog line's fixed opening, before its first placeholder."""
    return line.split("{", 1)[0]


def _inbox(box: Sandbox, address: Address) -> list[tuple[str, list[str], bool]]:
    """(text, button labels, copied) of each message in this person's chat."""
    if address.platform is Platform.TELEGRAM:
        user = box.api.user(int(address.chat_id))
        return [(m.text, m.labels(), m.copied_from is not None) for m in user.inbox]
    person = box.signal.find(address.chat_id) if box.signal is not None else None
    if person is None:
        return []
    # Media relayed on Signal arrives as attachments; anything else is a screen or a relay.
    return [(m.text, m.labels(), bool(m.attachments)) for m in person.inbox if not m.deleted]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if OFFICER_SCREENS:
        terminalreporter.write_line(
            f"crisis in reach: {len(OFFICER_SCREENS)} officer screens checked "
            f"({len(set(OFFICER_SCREENS))} distinct)"
        )
