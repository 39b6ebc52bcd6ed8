"""Check-in follow-ups end to end, over the real PTB against the local Bot API, with a clock the
test moves: the plan at /end and its refusal, the nudge and each answer, quiet hours, time zones
and a DST change, a helper's own follow-up, "I'd like to talk" reaching the same helper (or
rerouted), restarts with due and overdue rows, two dispatchers on one database, members who
blocked the bot or were revoked, and the files with follow-ups pending."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import App, PlatformMessenger
from bot.catalog import EN
from bot.config import FollowupsConfig
from bot.delivery import Priority, current_priority
from bot.events import Address, Platform, Reply, Sent
from bot.followups import FollowUp, Kind
from bot.model import MemberId, Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import BotMessage, SimUser
from bot.storage.repository import Repository, new_followup_id
from crypto import Vault, load_master_key
from handlers.followups import LEASE, dispatch_due
from tests.conftest import FakeClock
from tests.test_e2e_threads import connect
from tests.test_e2e_walking_skeleton import ask_for_peer
from tests.test_privacy_canary import files_under

CHICAGO = ZoneInfo("America/Chicago")
PLAN_TOLD = "We'll check in with you here in 1, 3, 7, and 30 days"


def chicago(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


def running(sandbox: Sandbox) -> App:
    assert sandbox.app is not None
    return sandbox.app


def repo_of(sandbox: Sandbox) -> Repository:
    repo = running(sandbox).repo
    assert repo is not None
    return repo


async def member_id(sandbox: Sandbox, user: SimUser) -> MemberId:
    member = await repo_of(sandbox).member_by_address(
        Address(Platform.TELEGRAM, str(user.user_id))
    )
    assert member is not None
    return member.id


async def end_by_officer(sandbox: Sandbox, officer: SimUser, peer: SimUser) -> BotMessage:
    """A conversation on a critical incident, ended by the officer; returns the plan's line."""
    await connect(sandbox, officer, peer)
    await officer.send("/end")
    await officer.wait_for(EN.thread_ended_by_you)
    return await officer.wait_for(PLAN_TOLD)


def nudges(user: SimUser) -> list[BotMessage]:
    return [m for m in user.inbox if m.text == EN.nudge]


async def dispatch_at(sandbox: Sandbox, clock: FakeClock, moment: datetime) -> int:
    clock.now = moment
    return await running(sandbox).dispatch_followups()


async def test_a_plan_at_end_nudges_on_its_days_once_each(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    told = await end_by_officer(sandbox, officer, peer)  # Mon Nov 23, 21:00 in Chicago
    assert told.labels() == [EN.plan_no, EN.crisis_button]
    await peer.wait_for("Would you like us to check in with")
    app = running(sandbox)
    assert app.followups_wake_at == chicago(24, 10)  # the scheduler wakes at the next due

    assert await dispatch_at(sandbox, clock, chicago(24, 9, 59)) == 0
    assert await dispatch_at(sandbox, clock, chicago(24, 10)) == 1
    nudge = await officer.wait_for(EN.nudge)
    assert nudge.labels()[:4] == [EN.nudge_ok, EN.nudge_talk, EN.nudge_not_now, EN.nudge_stop]
    assert await app.dispatch_followups() == 0  # never twice
    await officer.press(nudge, EN.nudge_ok)
    await officer.wait_for(EN.nudge_ok_reply)
    await officer.press(nudge, EN.nudge_ok)  # a second press counts nothing more
    await officer.wait_for(EN.nudge_over)
    assert await repo_of(sandbox).followup_counts() == {("critical_incident", 0, "ok"): 1}

    assert await dispatch_at(sandbox, clock, chicago(26, 10)) == 1  # day 3
    await officer.wait_until(lambda: len(nudges(officer)) == 2)
    # Day 7 unanswered: day 3 is counted as such when day 7 goes out.
    assert await dispatch_at(sandbox, clock, chicago(30, 10)) == 1
    counts = await repo_of(sandbox).followup_counts()
    assert counts[("critical_incident", 1, "no_answer")] == 1
    assert not any("Checking in" in t for t in peer.texts())  # a plan tells the helper nothing


async def test_the_officer_can_say_no_at_once(sandbox: Sandbox, clock: FakeClock) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    told = await end_by_officer(sandbox, officer, peer)
    await officer.press(told, EN.plan_no)
    await officer.wait_for(EN.plan_dropped)
    assert await repo_of(sandbox).pending_followups() == 0
    assert await dispatch_at(sandbox, clock, chicago(24, 10)) == 0
    assert await repo_of(sandbox).followup_counts() == {("critical_incident", 0, "declined"): 1}
    assert nudges(officer) == []


async def test_quiet_hours_and_a_time_zone_hold_the_nudge_until_they_end(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await officer.send("/timezone Europe/Berlin")
    await officer.wait_for("Europe/Berlin")
    await officer.send("/quiet 08:00-16:00")  # works nights, sleeps by day
    await officer.wait_for("No check-ins between 08:00-16:00 (Europe/Berlin)")
    await officer.send("/quiet")
    await officer.wait_for("Your quiet hours are 08:00-16:00")
    await end_by_officer(sandbox, officer, peer)  # Nov 24, 04:00 in Berlin
    berlin = ZoneInfo("Europe/Berlin")
    ten = datetime(2026, 11, 25, 10, tzinfo=berlin).astimezone(UTC)
    four = datetime(2026, 11, 25, 16, tzinfo=berlin).astimezone(UTC)
    assert await dispatch_at(sandbox, clock, ten) == 0
    assert await dispatch_at(sandbox, clock, four - timedelta(minutes=1)) == 0
    assert await dispatch_at(sandbox, clock, four) == 1
    await officer.wait_for(EN.nudge)
    # Quiet hours set after the plan was made still hold a nudge back.
    await officer.send("/quiet 20:00-23:59")
    await officer.wait_for("No check-ins between")
    day3 = datetime(2026, 11, 27, 16, tzinfo=berlin).astimezone(UTC)
    evening = datetime(2026, 11, 27, 21, tzinfo=berlin).astimezone(UTC)
    assert await dispatch_at(sandbox, clock, evening) == 0  # due at 16:00, now quiet
    assert await dispatch_at(sandbox, clock, day3 + timedelta(hours=8)) == 1  # 00:00 on
    await officer.send("/quiet off")
    await officer.wait_for(EN.quiet_off)


async def test_across_a_dst_change_the_nudge_keeps_its_local_hour(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    clock.now = chicago(31, 15, month=10)  # Sat Oct 31, CDT; clocks go back on Nov 1
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await end_by_officer(sandbox, officer, peer)
    # 10:00 on Sun Nov 1 is 16:00 UTC (CST), not 15:00 as it was the day before (CDT).
    assert await dispatch_at(sandbox, clock, datetime(2026, 11, 1, 15, tzinfo=UTC)) == 0
    assert await dispatch_at(sandbox, clock, datetime(2026, 11, 1, 16, tzinfo=UTC)) == 1
    await officer.wait_for(EN.nudge)


async def test_not_now_asks_again_tomorrow_and_stop_ends_it(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await end_by_officer(sandbox, officer, peer)
    assert await dispatch_at(sandbox, clock, chicago(24, 10)) == 1
    await officer.press(await officer.wait_for(EN.nudge), EN.nudge_not_now)
    await officer.wait_for(EN.nudge_not_now_reply)
    assert await dispatch_at(sandbox, clock, chicago(24, 23)) == 0
    assert await dispatch_at(sandbox, clock, chicago(25, 10)) == 1  # asked again, a day on
    await officer.wait_until(lambda: len(nudges(officer)) == 2)
    await officer.press(nudges(officer)[-1], EN.nudge_stop)
    await officer.wait_for(EN.nudge_stop_reply)
    assert await repo_of(sandbox).pending_followups() == 0
    assert await dispatch_at(sandbox, clock, chicago(26, 10)) == 0
    counts = await repo_of(sandbox).followup_counts()
    assert counts == {("critical_incident", 0, "not_now"): 1, ("critical_incident", 0, "stop"): 1}


async def helper_follow_up(
    sandbox: Sandbox, officer: SimUser, peer: SimUser, days: str = "2d"
) -> None:
    """During a conversation the peer asks to check in later; the officer agrees; it ends."""
    await connect(sandbox, officer, peer)
    await peer.send(f"/followup {days}")
    await peer.wait_for(EN.followup_asked)
    ask = await officer.wait_for("would like to check in with you in")
    await officer.press(ask, EN.followup_yes)
    await officer.wait_for("We'll check in with you in")
    await peer.wait_for("agreed. In")
    await peer.send("/end")
    await officer.wait_for("has closed the conversation")
    await officer.press(await officer.wait_for(PLAN_TOLD), EN.plan_no)
    await officer.wait_for(EN.plan_dropped)


async def test_a_helpers_follow_up_tells_them_only_the_answer(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await helper_follow_up(sandbox, officer, peer)
    assert await dispatch_at(sandbox, clock, chicago(25, 10)) == 1
    await officer.press(await officer.wait_for(EN.nudge), EN.nudge_ok)
    report = await peer.wait_for("Check-in with")
    assert report.text.endswith("they say they're OK.")
    assert await repo_of(sandbox).pending_followups() == 0  # the link is gone with it


async def test_a_helper_hears_no_answer_when_none_comes_and_the_officer_may_refuse(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await helper_follow_up(sandbox, officer, peer, days="1")
    assert await dispatch_at(sandbox, clock, chicago(24, 10)) == 1
    assert await dispatch_at(sandbox, clock, chicago(26, 9)) == 0
    assert await dispatch_at(sandbox, clock, chicago(26, 10)) == 0  # two days on: closed
    await peer.wait_for("no answer")
    assert await repo_of(sandbox).pending_followups() == 0
    # Asked again in a new conversation, the officer says no.
    await connect(sandbox, officer, peer)
    await peer.send("/followup 5d")
    await officer.press(await officer.wait_for("check in with you in 5 days"), EN.followup_no)
    await officer.wait_for(EN.followup_refused_officer)
    await peer.wait_for("would rather not have a check-in")
    await peer.send("/followup 500d")
    await peer.wait_for("up to 90 days")


async def test_id_like_to_talk_goes_to_the_same_helper_first(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    other = await sandbox.join("Blake", Role.PEER)
    await helper_follow_up(sandbox, officer, peer)
    offers_before = len([t for t in peer.texts() if "New request" in t])
    assert await dispatch_at(sandbox, clock, chicago(25, 10)) == 1
    await officer.press(await officer.wait_for(EN.nudge), EN.nudge_talk)
    await officer.wait_for("We're finding")
    await peer.wait_for("they'd like to talk")
    await peer.wait_until(
        lambda: len([t for t in peer.texts() if "New request" in t]) == offers_before + 1
    )
    texts = peer.texts()
    told = max(i for i, t in enumerate(texts) if "they'd like to talk" in t)
    offered = max(i for i, t in enumerate(texts) if "New request" in t)
    assert told < offered  # told first, then the offer that comes to them first
    await asyncio.sleep(0.1)
    assert not any("New request" in t for t in other.texts()[-3:])  # the first offer is Alex's
    counts = await repo_of(sandbox).followup_counts()
    assert counts[("helper", 0, "talk")] == 1


async def test_id_like_to_talk_is_rerouted_when_that_helper_is_away(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await helper_follow_up(sandbox, officer, peer)
    other = await sandbox.join("Blake", Role.PEER)
    await peer.send("/away")
    await peer.wait_for("You're away")
    assert await dispatch_at(sandbox, clock, chicago(25, 10)) == 1
    await officer.press(await officer.wait_for(EN.nudge), EN.nudge_talk)
    offer = await other.wait_for("New request")
    await other.press(offer, EN.offer_accept)
    await other.wait_for("You're connected with")
    await officer.wait_until(lambda: sum("is here for you" in t for t in officer.texts()) == 2)


async def test_restart_with_due_and_overdue_rows_loses_nothing_and_repeats_nothing(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await end_by_officer(sandbox, officer, peer)
    await sandbox.stop_app()
    # Down from before day 1 until an hour after day 3: one nudge (day 3), day 1 folded in.
    clock.now = chicago(26, 11)
    await sandbox.start_app()  # the scheduler sends what is overdue at once, by itself
    await officer.wait_for(EN.nudge)
    await sandbox.stop_app()
    await sandbox.start_app()  # a second restart sends nothing again
    # Waits for the start-up run (or makes it) and finds nothing left.
    assert await running(sandbox).dispatch_followups() == 0
    await asyncio.sleep(0.1)
    assert len(nudges(officer)) == 1
    # Down past day 7 by more than the staleness (a day): day 7 is skipped and counted.
    await sandbox.stop_app()
    clock.now = chicago(2, 10, month=12)
    await sandbox.start_app()
    assert await running(sandbox).dispatch_followups() == 0
    await asyncio.sleep(0.1)
    assert len(nudges(officer)) == 1
    counts = await repo_of(sandbox).followup_counts()
    assert counts[("critical_incident", 0, "skipped")] == 1
    assert counts[("critical_incident", 2, "skipped")] == 1
    assert counts[("critical_incident", 1, "no_answer")] == 1
    # Day 30 is still planned: nothing was lost.
    assert await repo_of(sandbox).next_due() == chicago(23, 10, month=12)


async def test_two_dispatchers_on_one_database_send_each_nudge_once(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    officer_id = await member_id(sandbox, officer)
    repo = repo_of(sandbox)
    for n in range(40):
        await repo.add_followup(
            FollowUp(
                id=new_followup_id(),
                member_id=officer_id,
                kind=Kind.WELLNESS,
                plan="weekly",
                anchor=clock.now.date() - timedelta(days=7),
                offsets=(),
                step=0,
                due_at=clock.now - timedelta(minutes=n),
            )
        )
    assert sandbox.config is not None
    vault = Vault(load_master_key(sandbox.key_file))
    second = await Repository.open(sandbox.config.storage.path, vault)
    try:
        services = running(sandbox).services
        assert services is not None
        clock.now = chicago(24, 10)
        sent = await asyncio.gather(
            dispatch_due(services), dispatch_due(replace(services, repo=second))
        )
    finally:
        await second.close()
    assert sum(sent) == 40
    await officer.wait_until(lambda: len(nudges(officer)) == 40)
    await asyncio.sleep(0.2)
    assert len(nudges(officer)) == 40


async def test_a_member_who_blocked_the_bot_or_was_revoked_gets_nothing_more(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await helper_follow_up(sandbox, officer, peer, days="1")
    sandbox.api.block(officer.user_id)
    assert await dispatch_at(sandbox, clock, chicago(24, 10)) == 0
    await peer.wait_for("no answer")
    assert await repo_of(sandbox).pending_followups() == 0
    assert (await repo_of(sandbox).followup_counts())[("helper", 0, "unreachable")] == 1

    sandbox.api.unblock(officer.user_id)
    await officer.send("/checkin weekly")
    await officer.wait_for("We'll check in with you every week")
    await repo_of(sandbox).set_active(await member_id(sandbox, officer), False)
    assert await dispatch_at(sandbox, clock, chicago(2, 10, month=12)) == 0
    assert await repo_of(sandbox).pending_followups() == 0
    assert len(nudges(officer)) == 0


async def test_wellness_check_ins_and_the_scheduler_wake_up(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    peer = await sandbox.join("Alex", Role.PEER)
    await peer.send("/checkin")
    await peer.wait_for("Right now: off")
    await peer.send("/checkin monthly")
    # Mon Nov 23 in Chicago: a month on, at the send time.
    await peer.wait_for("We'll check in with you every month, first on Wed, Dec 23")
    app = running(sandbox)
    assert app.followups_wake_at == chicago(23, 10, month=12)
    # The scheduler, not the test, runs the dispatcher when a wake-up falls due.
    clock.now = chicago(23, 10, month=12)
    app.wake_followups_by(clock.now - timedelta(seconds=1))
    nudge = await peer.wait_for(EN.nudge)
    assert EN.nudge_talk not in nudge.labels()  # helpers' own check-ins: talk is for officers
    await peer.press(nudge, EN.nudge_ok)
    await peer.wait_for(EN.nudge_ok_reply)
    assert app.followups_wake_at == chicago(23, 10, month=1).replace(year=2027)
    await peer.send("/checkin off")
    await peer.wait_for(EN.checkin_stopped)
    assert await repo_of(sandbox).pending_followups() == 0


async def test_pending_follow_ups_leave_no_link_or_name_in_the_files(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER, agency="Springfield PD")
    peer = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    await connect(sandbox, officer, peer)
    await peer.send("/followup 3d")
    await officer.press(await officer.wait_for("would like to check in"), EN.followup_yes)
    await peer.wait_for("agreed. In")
    alias = peer.last.text.split(" agreed")[0]
    await officer.send("/end")
    await officer.wait_for(PLAN_TOLD)
    repo = repo_of(sandbox)
    assert await repo.pending_followups() == 2
    directory: Path = sandbox.directory
    db_files = [p for p in files_under(directory) if p.name.startswith("peerline.db")]
    needles = [str(officer.user_id).encode(), str(peer.user_id).encode(), alias.encode()]
    rows = b"".join(p.read_bytes() for p in db_files)
    for needle in [*needles, b"Springfield", b"Shelbyville"]:
        assert needle not in rows
    assert b'"helper"' not in rows and b'"alias"' not in rows
    # The clear columns: an id, a keyed hash, a sealed blob, and a due day at the send time.
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(f"file:{db_files[0]}?mode=ro", uri=True) as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(followups)")]
        dues = [r[0] for r in conn.execute("SELECT due_at FROM followups")]
    conn.close()
    assert columns == ["id", "member_hash", "sealed", "due_at", "claim", "lease_until"]
    assert all(datetime.fromisoformat(d).astimezone(CHICAGO).hour == 10 for d in dues)


async def test_a_signal_member_gets_the_same_nudge_and_answers_by_number(
    tmp_path: Path, clock: FakeClock
) -> None:
    box = Sandbox(tmp_path / "signal-box", clock=clock, signal=True)
    await box.start()
    try:
        officer = await box.join_signal("Dana", Role.OFFICER)
        await officer.send("/quiet 08:00-16:00")
        await officer.wait_for("No check-ins between 08:00-16:00")
        await officer.send("/checkin weekly")
        await officer.wait_for("We'll check in with you every week")
        # Due Mon Nov 30 at 10:00 in Chicago, inside their quiet hours: sent at 16:00.
        assert await dispatch_at(box, clock, chicago(30, 10)) == 0
        assert await dispatch_at(box, clock, chicago(30, 16)) == 1
        nudge = await officer.wait_for(EN.nudge)
        assert nudge.labels()[:4] == [EN.nudge_ok, EN.nudge_talk, EN.nudge_not_now, EN.nudge_stop]
        await officer.press(nudge, EN.nudge_ok)
        await officer.wait_for(EN.nudge_ok_reply)
        assert await repo_of(box).followup_counts() == {("weekly", 0, "ok"): 1}
    finally:
        await box.stop()


async def test_with_check_ins_turned_off_nothing_is_planned(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    assert sandbox.config is not None
    await sandbox.stop_app()
    sandbox.config = replace(sandbox.config, followups=FollowupsConfig(enabled=False))
    await sandbox.start_app()
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    await peer.send("/followup 3d")
    await peer.wait_for(EN.checkin_disabled)
    await officer.send("/end")
    await officer.wait_for(EN.rate_prompt)
    await officer.send("/checkin weekly")
    await officer.wait_for(EN.checkin_disabled)
    assert await repo_of(sandbox).pending_followups() == 0
    assert not any("check in" in t for t in officer.texts() + peer.texts())


class DiesOnNudge(PlatformMessenger):
    """The app's messenger, except that it 'crashes' (the task is cancelled, as when the
    process dies) at the first check-in it is asked to send."""

    died = False

    async def send(self, to: Address, reply: Reply) -> Sent:
        if reply.text == EN.nudge and not self.died:
            self.died = True
            raise asyncio.CancelledError
        return await super().send(to, reply)


class Recording(PlatformMessenger):
    """The app's messenger, noting the priority each check-in was sent with."""

    priorities: list[Priority]

    async def send(self, to: Address, reply: Reply) -> Sent:
        if reply.text == EN.nudge:
            self.priorities.append(current_priority())
        return await super().send(to, reply)


async def test_check_ins_go_last_in_line_behind_relays(sandbox: Sandbox, clock: FakeClock) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    await officer.send("/checkin weekly")
    await officer.wait_for("every week")
    services = running(sandbox).services
    assert services is not None
    recording = Recording(running(sandbox).transports)
    recording.priorities = []
    services.messenger = recording
    assert await dispatch_at(sandbox, clock, chicago(30, 10)) == 1
    assert recording.priorities == [Priority.BACKGROUND]


async def test_a_crash_between_mark_and_send_loses_that_nudge_and_never_repeats_it(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await end_by_officer(sandbox, officer, peer)
    services = running(sandbox).services
    assert services is not None
    dying = DiesOnNudge(running(sandbox).transports)
    services.messenger = dying
    clock.now = chicago(24, 10)
    with pytest.raises(asyncio.CancelledError):
        await dispatch_due(services)  # marked day 1 as sent, then "crashed" while sending
    assert dying.died
    await sandbox.stop_app()
    await sandbox.start_app()
    assert await running(sandbox).dispatch_followups() == 0  # not sent again after restart
    await asyncio.sleep(0.1)
    assert nudges(officer) == []
    # The plan goes on: day 3 comes as planned.
    assert await dispatch_at(sandbox, clock, chicago(26, 10)) == 1
    await officer.wait_for(EN.nudge)


async def test_a_dispatcher_that_died_holding_a_claim_is_replaced_when_the_lease_lapses(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await end_by_officer(sandbox, officer, peer)
    clock.now = chicago(24, 10)
    _, claimed = await repo_of(sandbox).claim_due(clock.now, lease=LEASE)  # then it "died"
    assert len(claimed) == 1
    assert await running(sandbox).dispatch_followups() == 0  # someone else's claim
    assert await dispatch_at(sandbox, clock, clock.now + LEASE) == 1  # lapsed: sent once
    await officer.wait_for(EN.nudge)


async def test_id_like_to_talk_while_already_looking_promises_the_helper_nothing(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await helper_follow_up(sandbox, officer, peer)
    assert await dispatch_at(sandbox, clock, chicago(25, 10)) == 1
    nudge = await officer.wait_for(EN.nudge)
    await peer.send("/away")
    await peer.wait_for("You're away")
    await ask_for_peer(officer)  # meanwhile they asked on their own
    await officer.wait_for("We're finding")
    await officer.press(nudge, EN.nudge_talk)
    await officer.wait_for(EN.nudge_talk_busy)
    report = await peer.wait_for("Check-in with")
    assert report.text.endswith("they'd like to talk.")  # no "comes to you first"


async def test_the_plan_is_stored_with_the_close_before_anyone_is_told(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    dana = await member_id(sandbox, officer)
    # Nothing reaches either of them: a crash now must not lose the check-ins.
    storm = sandbox.api.storm(status=0, chats={officer.user_id, peer.user_id})
    await peer.send("/end")
    async with asyncio.timeout(20):
        while not await repo_of(sandbox).followups_of(dana):  # noqa: ASYNC110 - a database row
            await asyncio.sleep(0.05)
    assert EN.thread_ended_by_you not in peer.texts() and storm.chats
    sandbox.api.calm()
    await officer.wait_for(PLAN_TOLD)
