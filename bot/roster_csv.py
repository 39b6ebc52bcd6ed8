"""The roster as CSV: checking an import row by row, and writing an export. No I/O here.

Columns: member, display_name, role, agency, certified_until, topics, supervisor, status.
A row with a member number changes that member (a blank cell leaves the value as it is); a
row without one is a new person, who gets an invite carrying the row. Topics are separated by
";" and supervisors are member numbers separated by ";". An import adds supervision, never
removes it. Every problem is reported with its line number, and nothing is applied unless
every row is right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from bot.model import (
    ASKER_ROLES,
    HELPER_ROLES,
    OPT_IN_ASKERS,
    TOPICS,
    Category,
    Member,
    MemberId,
    Role,
    topic_tokens,
)
from bot.storage.roster import MemberChange

COLUMNS = (
    "member",
    "display_name",
    "role",
    "agency",
    "certified_until",
    "topics",
    "supervisor",
    "status",
)
MAX_NAME = 40
MAX_ROWS = 2000
_STATUSES = {"active": True, "revoked": False}


@dataclass(frozen=True, slots=True)
class NewMember:
    line: int
    role: Role
    display_name: str = ""
    agency: str | None = None
    certified_until: date | None = None
    topics: frozenset[Category] = frozenset()
    supervisor: MemberId | None = None
    serves: frozenset[Role] = frozenset()


@dataclass(slots=True)
class RosterPlan:
    changes: list[MemberChange] = field(default_factory=list)
    new: list[NewMember] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _RowError(ValueError):
    pass


def parse_roster(text: str, members: Mapping[MemberId, Member], today: date) -> RosterPlan:
    """Check every row of an import against the roster as it is; errors name their line."""
    plan = RosterPlan()
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in COLUMNS]
    if "role" not in header and "member" not in header:
        plan.errors.append(f"line 1: the first line must name the columns: {', '.join(COLUMNS)}")
        return plan
    if unknown:
        plan.errors.append(
            f"line 1: unknown column {unknown[0]!r}; expected some of: {', '.join(COLUMNS)}"
        )
        return plan
    reader.fieldnames = header
    seen: dict[MemberId, int] = {}
    line = 1
    for row in reader:
        line = reader.line_num
        if len(plan.changes) + len(plan.new) >= MAX_ROWS:
            plan.errors.append(f"line {line}: more than {MAX_ROWS} rows; split the file")
            break
        if None in row:
            plan.errors.append(f"line {line}: more cells than columns")
            continue
        cells = {key: (value or "").strip() for key, value in row.items()}
        if not any(cells.values()):
            continue  # a blank line between groups
        try:
            _parse_row(cells, line, members=members, today=today, seen=seen, plan=plan)
        except _RowError as exc:
            plan.errors.append(f"line {line}: {exc}")
    if not plan.errors and not plan.changes and not plan.new:
        plan.errors.append(f"line {line}: no rows to import")
    return plan


def _parse_row(
    cells: Mapping[str, str],
    line: int,
    *,
    members: Mapping[MemberId, Member],
    today: date,
    seen: dict[MemberId, int],
    plan: RosterPlan,
) -> None:
    existing = _member(cells.get("member", ""), members)
    role = _role(cells.get("role", ""), existing)
    name = cells.get("display_name", "")
    if len(name) > MAX_NAME:
        raise _RowError(f"display_name is longer than {MAX_NAME} characters")
    if name and role in ASKER_ROLES:
        raise _RowError(f"a {role.value}'s name is never stored; leave display_name empty")
    certified = _certified(cells.get("certified_until", ""), role, today)
    topics, serves = _topics(cells.get("topics", ""), role)
    supervisors = _supervisors(cells.get("supervisor", ""), members, existing)
    status = cells.get("status", "").lower()
    if status and status not in _STATUSES:
        raise _RowError(f"status must be active or revoked, got {status!r}")
    agency = cells.get("agency", "") or None
    if existing is not None:
        if existing.id in seen:
            raise _RowError(f"member {existing.id} is already on line {seen[existing.id]}")
        seen[existing.id] = line
        plan.changes.append(
            MemberChange(
                member_id=existing.id,
                display_name=name or None,
                agency=agency,
                certified_until=certified,
                topics=topics if cells.get("topics") else None,
                serves=serves if cells.get("topics") else None,
                supervisors=supervisors,
                active=_STATUSES[status] if status else None,
            )
        )
        return
    if status == "revoked":
        raise _RowError("a new person cannot start revoked")
    if role in HELPER_ROLES and certified is None:
        raise _RowError(f"a new {role.value} needs certified_until (YYYY-MM-DD)")
    if len(supervisors) > 1:
        raise _RowError("a new person takes one supervisor; add more after they join")
    if role is Role.FAMILY and agency is None:
        raise _RowError("a new family member needs agency: their officer's agency")
    plan.new.append(
        NewMember(
            line=line,
            role=role,
            display_name=name,
            agency=agency,
            certified_until=certified,
            topics=topics,
            supervisor=next(iter(supervisors), None),
            serves=serves,
        )
    )


def _member(cell: str, members: Mapping[MemberId, Member]) -> Member | None:
    if not cell:
        return None
    if not cell.isdigit():
        raise _RowError(f"member must be a member number from 'roster list', got {cell!r}")
    found = members.get(MemberId(int(cell)))
    if found is None:
        raise _RowError(f"no member number {cell}")
    return found


def _role(cell: str, existing: Member | None) -> Role:
    if not cell:
        if existing is None:
            raise _RowError("role is required for a new person")
        return existing.role
    try:
        role = Role(cell.lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise _RowError(f"role must be one of {roles}, got {cell!r}") from None
    if existing is not None and role is not existing.role:
        raise _RowError(
            f"member {existing.id} is a {existing.role.value}, not a {role.value}; "
            "a role is not changed by import (revoke and invite again)"
        )
    return role


def _certified(cell: str, role: Role, today: date) -> date | None:
    if not cell:
        return None
    if role not in HELPER_ROLES:
        raise _RowError(f"a {role.value} is not certified; leave certified_until empty")
    try:
        until = date.fromisoformat(cell)
    except ValueError:
        raise _RowError(f"certified_until must be YYYY-MM-DD, got {cell!r}") from None
    if until < today:
        raise _RowError(f"certified_until {cell} is in the past")
    return until


def _topics(cell: str, role: Role) -> tuple[frozenset[Category], frozenset[Role]]:
    """A helper's topics, and the askers they support ("family", "retiree") in the same cell."""
    names = [name.strip().lower() for name in cell.split(";") if name.strip()]
    if names and role not in HELPER_ROLES:
        raise _RowError(f"a {role.value} has no topics; leave topics empty")
    known = {t.value: t for t in TOPICS}
    askers = {r.value: r for r in OPT_IN_ASKERS}
    for name in names:
        if name not in known and name not in askers:
            expected = ", ".join([*known, *askers])
            raise _RowError(f"unknown topic {name!r}; expected some of: {expected}")
    return (
        frozenset(known[name] for name in names if name in known),
        frozenset(askers[name] for name in names if name in askers),
    )


def _supervisors(
    cell: str, members: Mapping[MemberId, Member], existing: Member | None
) -> frozenset[MemberId]:
    found: set[MemberId] = set()
    for part in (p.strip() for p in cell.split(";")):
        if not part:
            continue
        if not part.isdigit() or MemberId(int(part)) not in members:
            raise _RowError(f"supervisor {part!r} is not a member number from 'roster list'")
        if existing is not None and int(part) == existing.id:
            raise _RowError("a member cannot supervise themself")
        found.add(MemberId(int(part)))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class ExportRow:
    member: Member
    agency: str | None
    supervisors: tuple[MemberId, ...]


def export_roster(rows: Iterable[ExportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        m = row.member
        writer.writerow(
            [
                m.id,
                m.display_name,
                m.role.value,
                row.agency or "",
                m.certified_until.isoformat() if m.certified_until else "",
                topic_tokens(m.topics, m.serves).replace(",", ";"),
                ";".join(str(s) for s in row.supervisors),
                "active" if m.active else "revoked",
            ]
        )
    return out.getvalue()
