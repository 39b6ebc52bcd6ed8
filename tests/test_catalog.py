"""The catalog: every line used, every template well formed, short enough for a phone."""

from __future__ import annotations

import re
import string
from collections import defaultdict
from pathlib import Path

import pytest

from bot.catalog import EN, Plural
from bot.model import Category
from bot.oncall import ON_CALL_ROLES
from tests.wording import templates

ROOT = Path(__file__).resolve().parent.parent
SOURCES = "\n".join(
    p.read_text(encoding="utf-8")
    for folder in ("bot", "handlers")
    for p in (ROOT / folder).rglob("*.py")
    if p.name != "catalog.py"
)
# Looked up by name (category_<value>, role_<value>, menu_<command> in handlers/menus.py).
BY_NAME = (
    {f"category_{c.value}" for c in Category}
    | {f"role_{r.value}" for r in ON_CALL_ROLES}
    | {k for k in EN.names() if k.startswith("menu_")}
)
# Plurals whose number is shown inside another placeholder: plan_told's form follows the last
# of its {days} ("1, 3, 7, and 30").
COUNTED_INSIDE = {"plan_told": "days"}


@pytest.mark.parametrize("key", EN.names())
def test_every_line_is_used(key: str) -> None:
    assert key in BY_NAME or re.search(rf"\.{key}\b", SOURCES), f"{key} is never used"


@pytest.mark.parametrize("key", EN.names())
def test_every_template_formats(key: str) -> None:
    entry = getattr(EN, key)
    for template in templates(entry):
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        assert all(name.isidentifier() for name in fields), f"{key}: odd placeholder"
        rendered = template.format_map(defaultdict(lambda: "x"))
        assert rendered.strip() == rendered, f"{key}: stray whitespace at the ends"
    if isinstance(entry, Plural):
        shown = COUNTED_INSIDE.get(key, entry.count)
        assert f"{{{shown}}}" in entry.other, f"{key}: the count is not in the text"


@pytest.mark.parametrize("key", EN.names())
def test_lines_fit_a_phone_screen(key: str) -> None:
    # Without the inserted legal notice or crisis list, no message is longer than this.
    for template in templates(getattr(EN, key)):
        assert len(template) <= 420, f"{key} is too long for a tired reader"


def test_waiting_messages_say_what_happens_next() -> None:
    for key in ("request_open", "status_widened", "status_paged", "status_none_free"):
        for text in templates(getattr(EN, key)):
            assert "/cancel" in text, key
    assert "{goal_minutes}" in EN.request_open.other  # how long it may take
