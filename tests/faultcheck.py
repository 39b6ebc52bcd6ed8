"""What the README promises about delivery, as a check over what people sent and what their
chats show afterwards (pure: no sandbox here, so the check itself can be tested).

The promise, per message a person sent inside a conversation:
- it reaches the other person, or its sender is told (not delivered, the other side is gone,
  still finding someone, not in a conversation);
- exactly once, except that a send whose answer came only after the client's timeout (the
  platform had delivered it) may be sent again: so at most ONE copy answered in time, and any
  further copy must be one whose answer came late (at-least-once on a timeout);
- a sender is told once per message that did not reach the other side in time, and never about
  one that did;
- per conversation and direction, copies arrive in the order they were sent.

A person who blocked the bot cannot be told anything: their own undelivered messages are
counted apart, not as silent losses.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

TOKEN = re.compile(r"\[(\d+)\.(\d+)\]")


def token(sender: int, seq: int) -> str:
    """The mark a test message carries: who sent it (a person's number) and its place."""
    return f"[{sender}.{seq}]"


@dataclass(frozen=True, slots=True)
class Sent:
    sender: int
    recipient: int
    seq: int


@dataclass(frozen=True, slots=True)
class Seen:
    """One message in a person's chat: its text and whether its send was answered late."""

    text: str
    late: bool = False
    epoch: int = 0  # crash suite: how many kills came before it arrived


@dataclass
class Report:
    messages: int = 0
    delivered: int = 0  # reached the other person (at least one copy)
    told: int = 0  # did not reach them in time; the sender was told
    unreachable_senders: int = 0  # not in time, and the sender had blocked the bot
    duplicates: int = 0  # copies beyond the first (each from a late answer)
    spill_told: int = 0  # crash suite: in hand (spilled) at a kill; the sender told after it
    late_copies: int = 0
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.messages} messages: {self.delivered} delivered, {self.told} not delivered "
            f"with the sender told, {self.unreachable_senders} from people who blocked the bot; "
            f"{self.duplicates} duplicates ({self.late_copies} copies answered late)"
            + (
                f"; {self.spill_told} spilled at a kill, the sender told"
                if self.spill_told
                else ""
            )
        )


def check(
    sent: Iterable[Sent],
    chats: Mapping[int, list[Seen]],
    is_notice: Callable[[str], bool],
    blocked: Iterable[int] = (),
) -> Report:
    """Check the promise; every breach is listed in `violations` (empty when it held)."""
    report = Report()
    by_sender: dict[int, dict[int, Sent]] = defaultdict(dict)
    for message in sent:
        by_sender[message.sender][message.seq] = message
    copies = _copies(by_sender, chats, report)
    blocked = set(blocked)
    for sender, messages in by_sender.items():
        untimely = 0
        for message in messages.values():
            found = copies[(message.sender, message.seq)]
            timely = sum(1 for c in found if not c.late)
            report.messages += 1
            report.late_copies += len(found) - timely
            report.delivered += bool(found)
            report.duplicates += max(0, len(found) - 1)
            untimely += not timely
            if timely > 1:
                report.violations.append(
                    f"{token(sender, message.seq)} arrived {timely} times answered in time"
                )
        told = sum(1 for seen in chats.get(sender, []) if not seen.late and is_notice(seen.text))
        report.told += min(told, untimely)
        if sender in blocked and told <= untimely:
            report.unreachable_senders += untimely - told  # they cannot be told any more
        elif told != untimely:
            what = "silently lost" if told < untimely else "told of delivered ones"
            report.violations.append(
                f"person {sender}: {untimely} not delivered in time, told {told} times ({what})"
            )
    return report


def _copies(
    by_sender: Mapping[int, Mapping[int, Sent]],
    chats: Mapping[int, list[Seen]],
    report: Report,
    *,
    by_epoch: bool = False,
) -> dict[tuple[int, int], list[Seen]]:
    """Every copy of every test message, by (sender, seq); a copy in the wrong chat or out of
    its direction's order is a violation. `by_epoch`: the order is checked within each epoch
    (a restart sends again what was not confirmed) and over first copies."""
    copies: dict[tuple[int, int], list[Seen]] = defaultdict(list)
    for person, chat in chats.items():
        order: dict[tuple[int, int], list[int]] = defaultdict(list)
        first: dict[int, list[int]] = defaultdict(list)
        for seen in chat:
            for sender_text, seq_text in TOKEN.findall(seen.text):
                sender, seq = int(sender_text), int(seq_text)
                if not copies[(sender, seq)]:
                    first[sender].append(seq)
                copies[(sender, seq)].append(seen)
                order[(sender, seen.epoch if by_epoch else 0)].append(seq)
                expected = by_sender.get(sender, {}).get(seq)
                if expected is None or expected.recipient != person:
                    report.violations.append(f"{token(sender, seq)} reached person {person}")
        runs = [(sender, f"epoch {epoch}", seqs) for (sender, epoch), seqs in order.items()]
        firsts = [(sender, "first copies", seqs) for sender, seqs in first.items()]
        for sender, which, seqs in [*runs, *firsts]:
            if seqs != sorted(seqs):
                at = next(i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
                report.violations.append(
                    f"person {person} got {sender}'s copies out of order ({which}: "
                    f"... {seqs[max(0, at - 3) : at + 3]} ...)"
                )
    return copies


def check_crash(
    sent: Iterable[Sent],
    sent_in: Mapping[tuple[int, int], int],
    chats: Mapping[int, list[Seen]],
    is_notice: Callable[[str], bool],
    *,
    acknowledged: Iterable[int],
    epochs: int,
    spill_notice: Callable[[str], bool] = lambda _text: False,
) -> Report:
    """The promise across kills. `sent_in` is the epoch each message was handed over in;
    `acknowledged` the senders whose platform keeps a message until the bot confirms it
    (Telegram), `epochs` how many there were (kills + 1).

    - A platform with acknowledgements loses nothing: every message is relayed or its sender
      told. It may relay a message again after a kill (handled, not yet confirmed), never
      twice within one run.
    - On Signal (no acknowledgement) a message handed over just before a kill may be lost
      (README): allowed only if nothing its sender sent later in that epoch was relayed in it
      (one person's messages are handled in order). Never relayed twice.
    - On Telegram a message confirmed early to fetch past a slow chat (spilled) and cut off by
      a kill is not sent again: allowed only under the same condition as on Signal, and only
      if the sender was told (`spill_notice`) after that kill.
    """
    report = Report()
    by_sender: dict[int, dict[int, Sent]] = defaultdict(dict)
    for message in sent:
        by_sender[message.sender][message.seq] = message
    copies = _copies(by_sender, chats, report, by_epoch=True)
    acknowledged = set(acknowledged)
    for sender, messages in by_sender.items():
        missing = 0
        for message in messages.values():
            key = (sender, message.seq)
            found = copies[key]
            report.messages += 1
            report.delivered += bool(found)
            report.duplicates += max(0, len(found) - 1)
            per_epoch = Counter(seen.epoch for seen in found)
            twice = [epoch for epoch, n in per_epoch.items() if n > 1]
            if twice or (len(found) > 1 and sender not in acknowledged):
                report.violations.append(f"{token(*key)} relayed {len(found)} times {twice}")
            if found:
                continue
            epoch = sent_in[key]
            later_relayed = any(
                seen.epoch == epoch
                for seq, other in messages.items()
                if seq > message.seq and sent_in[(sender, seq)] == epoch
                for seen in copies[(sender, seq)]
            )
            in_hand_at_a_kill = epoch < epochs - 1 and not later_relayed
            if sender not in acknowledged and in_hand_at_a_kill:
                report.unreachable_senders += 1  # in the bot's hands when it was killed
            elif in_hand_at_a_kill and any(
                seen.epoch > epoch and spill_notice(seen.text) for seen in chats.get(sender, [])
            ):
                report.spill_told += 1
            else:
                missing += 1
        told = sum(1 for seen in chats.get(sender, []) if is_notice(seen.text))
        report.told += min(told, missing)
        if told < missing:
            report.violations.append(f"person {sender}: {missing} lost, told {told} times")
    return report
