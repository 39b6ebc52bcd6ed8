"""Shared by the wording tests: each catalog entry filled with realistic values, as sent."""

from __future__ import annotations

import re
import string
from collections import defaultdict

from bot.catalog import Catalog, Plural
from bot.config import Config
from bot.i18n import catalogs_for, listing
from handlers.common import crisis_lines
from handlers.helper import day_names

CONFIG = Config()
CATALOGS = catalogs_for(CONFIG)

# What the placeholders hold in real use (the longest realistic value where it matters).
SAMPLES: dict[str, object] = {
    "name": "Sam",
    "alias": "Quiet Heron",
    "tag": "K7P",
    "category": "A critical incident",
    "note": "shooting on my shift last night",
    "threads": "#K7P Quiet Heron, #M2X Blue Fox",
    "zone": "America/Chicago",
    "hours": "mon-fri 18:00-06:00, sat 08:00-20:00",
    "current": "mon-fri 18:00-06:00",
    "until": "sat 06:00",
    "part": "mon-fri 18-6",
    "time": "25:00",
    "label": "Stress or burnout",
    "notice": CONFIG.program.confidentiality,
    "contact": "1-800-267-5463",
    "hours_text": "24/7",
    "day": "sat",
    "adjective": "Quiet",
    "noun": "Heron",
    "when": "3 days",
    "last": "30",
    "most": 30,
    "quiet": "08:00-16:00",
    "state": "every week",
    "period": "every week",
    "counts": "peers 2, chaplains 1",
    "names": "Sam, Alex",
    "role": "peer",
    "number": 2,
    "pending": 2,
    "agency": "Springfield PD",
    "member": 12,
    "codes": "K7P2-M9XQ-4H3T",
    "days": 7,
    "goal_minutes": 30,
    "minutes": 15,
    "count": 3,
    "cap": 2,
    "limit": 3,
}
# Values that are themselves catalog text, in the language being measured.
LOCALIZED = {
    "who": "who_phrase_either",
    "role_phrase": "role_phrase_peer",
    "topic": "category_stress",
}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def templates(value: str | Plural) -> list[str]:
    return [value.one, value.other] if isinstance(value, Plural) else [value]


def entry_names() -> list[str]:
    return Catalog().names()


def rendered(text: Catalog, key: str) -> list[str]:
    """The entry as a person would receive it (every plural form)."""
    values = dict(SAMPLES)
    values["lines"] = crisis_lines(text, CONFIG.crisis)
    if key == "hours_bad_day":
        values["days"] = listing(text, day_names(text), style="or")
    if key == "plan_told":
        values["days"] = listing(text, ["1", "3", "7", "30"])
    for name, source in LOCALIZED.items():
        values[name] = getattr(text, source)
    # A number stands in for any placeholder without a sample (report tables).
    filled = defaultdict(lambda: "12", values)
    entry = getattr(text, key)
    if isinstance(entry, Plural):
        return [entry.form(n).format_map(filled) for n in (1, int(str(values[entry.count])))]
    return [entry.format_map(filled)]


def as_sentences(message: str) -> str:
    """Each line read as a unit: a line without closing punctuation (a list item, a
    heading) ends a sentence, as it does for the eye."""
    lines = [line.strip(" \u2022") for line in message.splitlines() if line.strip()]
    return " ".join(line if re.search(r"[.!?:]$", line) else f"{line}." for line in lines)
