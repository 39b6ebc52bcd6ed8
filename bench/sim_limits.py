"""What the simulation's misses say about routing: who could have been asked, who was.

For every request the simulator records who was *reachable* in its first `goal` (eligible by
`routing.find_batch` over every available helper, nobody excluded for having been asked, in any
role the clock may widen to) from the first moment they were, and every offer sent with the
answer the model drew for it. A request missed at the goal is then one of two things:

- a **routing gap**: a reachable helper was never asked in time, or a helper whose first answer
  was "yes" would have said it in time had they been asked the moment they became reachable;
- **the limit of the roster**: everyone reachable was asked, and every first answer was a "no",
  silence, or a "yes" that could not come in time however early they were asked.

"Best possible asking each reachable helper once" counts every gap as a match: the measured
matches within the goal, plus every miss with a gap. It is an upper bound under the model: it
keeps each helper's first answer (a second ask draws a fresh answer, which a person asleep at
04:00 would not give) and assumes an unasked helper would have said yes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.model import MemberId


class Answer(enum.Enum):
    ACCEPT = "accept"
    DECLINE = "decline"
    SILENT = "silent"


@dataclass(frozen=True, slots=True)
class Ask:
    """One offer sent, with the answer the model drew for it (delay: from the offer)."""

    helper_id: MemberId
    at: datetime
    answer: Answer
    delay: timedelta | None


@dataclass(frozen=True, slots=True)
class Reach:
    """One request's first `goal`: who was reachable when, and who was asked."""

    created_at: datetime
    reachable: Mapping[MemberId, datetime]  # first moment each helper was reachable
    asks: tuple[Ask, ...]


@dataclass(frozen=True, slots=True)
class Miss:
    request_id: int
    reachable: int  # helpers reachable at some moment of the goal
    asked: int  # of them, asked at least once within the goal
    asked_again: int  # of them, asked more than once within the goal
    never_asked: int  # reachable within the goal, never asked in it
    first_answers: Mapping[Answer, int]  # the first answer of each helper asked
    late_yes: int  # first answer "yes", in time had they been asked when first reachable

    @property
    def gap(self) -> bool:
        return self.never_asked > 0 or self.late_yes > 0


def miss_of(request_id: int, reach: Reach, goal: timedelta) -> Miss:
    deadline = reach.created_at + goal
    first: dict[MemberId, Ask] = {}
    times: dict[MemberId, int] = {}
    for ask in reach.asks:
        if ask.at < deadline:
            first.setdefault(ask.helper_id, ask)
            times[ask.helper_id] = times.get(ask.helper_id, 0) + 1
    reachable = {h: at for h, at in reach.reachable.items() if at < deadline}
    answers = dict.fromkeys(Answer, 0)
    late_yes = 0
    for helper_id, ask in first.items():
        answers[ask.answer] += 1
        earliest = reachable.get(helper_id, ask.at)
        if ask.answer is Answer.ACCEPT and ask.delay is not None:
            late_yes += earliest + ask.delay <= deadline
    return Miss(
        request_id=request_id,
        reachable=len(reachable.keys() | first.keys()),
        asked=len(first),
        asked_again=sum(1 for n in times.values() if n > 1),
        never_asked=len(reachable.keys() - first.keys()),
        first_answers=answers,
        late_yes=late_yes,
    )


@dataclass(frozen=True, slots=True)
class Limits:
    requests: int
    within_goal: int
    misses: tuple[Miss, ...]

    @property
    def measured(self) -> float:
        return self.within_goal / self.requests if self.requests else 1.0

    @property
    def best_possible(self) -> float:
        """The share within the goal if every routing gap had been a match."""
        if not self.requests:
            return 1.0
        return (self.within_goal + sum(m.gap for m in self.misses)) / self.requests


def limits(
    to_accept: Mapping[int, float | None], reach: Mapping[int, Reach], goal: timedelta
) -> Limits:
    """`to_accept`: each request's seconds to a human (None: never matched)."""
    goal_s = goal.total_seconds()
    missed = [rid for rid, secs in to_accept.items() if secs is None or secs > goal_s]
    return Limits(
        requests=len(to_accept),
        within_goal=len(to_accept) - len(missed),
        misses=tuple(miss_of(rid, reach[rid], goal) for rid in sorted(missed)),
    )


def render_limits(found: Limits, when: Mapping[int, str], goal: timedelta) -> str:
    """The misses, one line each, and the bound beside the measured share."""
    minutes = int(goal.total_seconds() // 60)
    lines = [
        f"Missed the {minutes}-minute goal: {len(found.misses)} of {found.requests} requests",
    ]
    if found.misses:
        lines.append(
            "  request  local time     reachable  asked  asked 2+  never asked  "
            "first answers (yes/no/silent)  yes in time if asked at once"
        )
    for m in found.misses:
        a = m.first_answers
        answers = f"{a[Answer.ACCEPT]}/{a[Answer.DECLINE]}/{a[Answer.SILENT]}"
        lines.append(
            f"  {m.request_id:>7}  {when.get(m.request_id, ''):<13}  {m.reachable:>9}  "
            f"{m.asked:>5}  {m.asked_again:>8}  {m.never_asked:>11}  {answers:>29}  "
            f"{m.late_yes:>28}"
        )
    gaps = sum(m.gap for m in found.misses)
    lines.append(
        f"best possible within {minutes} min asking each reachable helper once: "
        f"{100 * found.best_possible:.1f}% (measured {100 * found.measured:.1f}%; "
        f"{gaps} of the misses had a routing gap)"
    )
    return "\n".join(lines)


def first_reachable(
    seen: dict[MemberId, datetime], helpers: Sequence[MemberId], now: datetime
) -> None:
    """Note `now` for each of `helpers` not seen reachable before."""
    for helper_id in helpers:
        seen.setdefault(helper_id, now)
