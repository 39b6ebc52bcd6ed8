"""No sentence is glued together from pieces in code: an AST scan of handlers/ and bot/ (what
the bot says; the CLI and the demo's console narration are English by design and left out).

Flagged: `+` on a catalog entry, an f-string that puts words around a catalog entry, and
`sep.join(...)` with words or punctuation in `sep` over catalog text. Joining whole lines or
paragraphs with newlines is fine; lists go through Babel (bot.i18n.listing) in the reader's
language; squeezing whitespace (`" ".join(s.split())`) is not text at all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.catalog import EN

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = set(EN.names())
# For the operator, in English by design: the CLI, config errors, the demo's narration.
SKIPPED = ("bot/catalog.py", "bot/config.py", "bot/demo.py", "bot/cli/", "bot/sandbox/")
SOURCES = sorted(
    path
    for folder in ("bot", "handlers")
    for path in (ROOT / folder).rglob("*.py")
    if not str(path.relative_to(ROOT)).startswith(SKIPPED)
)


def _catalog_text(node: ast.AST) -> bool:
    """Does this expression read the catalog (an entry of `text`, `turn.text`, ...) or hand
    a whole catalog to something (`day_names(text)`)?"""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in ENTRIES and _is_catalog(sub.value):
            return True
        if isinstance(sub, ast.Call) and any(_is_catalog(arg) for arg in sub.args):
            return True
    return False


def _is_catalog(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in {"text", "EN"}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "text_for"  # services.text_for(member)
    return isinstance(node, ast.Attribute) and node.attr == "text" and _is_turn(node.value)


def _is_turn(node: ast.AST) -> bool:
    # turn.text and services.text are catalogs; turn.event.text is what a person typed.
    return (isinstance(node, ast.Name) and node.id in {"turn", "services", "self"}) or (
        isinstance(node, ast.Attribute) and node.attr == "services"
    )


def _words(literal: str) -> bool:
    """More than line breaks: a space or a word glues pieces into one line."""
    return literal.strip("\n") != ""


def _squeezes_whitespace(call: ast.Call) -> bool:
    arg = call.args[0] if len(call.args) == 1 else None
    return (
        isinstance(arg, ast.Call)
        and isinstance(arg.func, ast.Attribute)
        and arg.func.attr == "split"
        and not arg.args
    )


def glued(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if _catalog_text(node.left) or _catalog_text(node.right):
                found.append((node.lineno, "+"))
        elif isinstance(node, ast.JoinedStr):
            literal = "".join(
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            parts = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
            if _words(literal) and any(_catalog_text(p) for p in parts):
                found.append((node.lineno, "f-string"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join"
            and isinstance(node.func.value, ast.Constant)
            and isinstance(node.func.value.value, str)
            and _words(node.func.value.value)
            and not _squeezes_whitespace(node)
            and any(_catalog_text(arg) for arg in node.args)
        ):
            found.append((node.lineno, f"join with {node.func.value.value!r}"))
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_sentence_is_glued_from_pieces(path: Path) -> None:
    found = glued(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"{path.relative_to(ROOT)}: pieces glued at {found}"


@pytest.mark.parametrize(
    "code",
    [
        "text.waiting_line + text.waiting_urgent",
        'f"{text.day_count} and more"',
        '", ".join(text.role_peer for _ in x)',
        '", ".join(day_names(text))',
        '" · ".join([turn.text.help_officer])',
        'f"{header} {services.text_for(member).header_to_officer}"',
    ],
)
def test_the_scan_finds_glue(code: str) -> None:
    assert glued(ast.parse(code))


@pytest.mark.parametrize(
    "code",
    [
        '"\\n\\n".join([text.privacy, text.crisis])',
        'f"{reply.text}\\n\\n{text.crisis_footer}"',
        '" ".join(turn.event.text.split())',
        "listing(text, names)",
        '", ".join(sorted(known))',
    ],
)
def test_the_scan_leaves_whole_lines_alone(code: str) -> None:
    assert not glued(ast.parse(code))
