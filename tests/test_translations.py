"""Every English entry has a reviewed Spanish translation with the same placeholders, the .po
files match the catalog, and a loaded catalog speaks the language it is asked for."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from bot.catalog import EN, LANGUAGES, Plural
from bot.config import Config
from bot.i18n import TEMPLATE, catalogs_for, read_catalog, supported, template
from tests.wording import entry_names, placeholders, templates

TRANSLATED = LANGUAGES[1:]


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_entry_is_translated_with_the_same_placeholders(language: str) -> None:
    po = read_catalog(language)
    problems: list[str] = []
    for key in entry_names():
        source = getattr(EN, key)
        message_id = (source.one, source.other) if isinstance(source, Plural) else source
        message = po.get(message_id, context=key)
        if message is None or message.fuzzy:
            problems.append(f"{key}: {'fuzzy' if message else 'missing'}")
            continue
        raw = message.string
        strings = [str(s) for s in raw] if isinstance(raw, (tuple, list)) else [str(raw)]
        expected = set().union(*(placeholders(t) for t in templates(source)))
        for translated in strings:
            if not translated:
                problems.append(f"{key}: empty")
            elif placeholders(translated) != expected:
                problems.append(f"{key}: {sorted(placeholders(translated))} != {sorted(expected)}")
    assert not problems, "run `python -m bot.i18n update`, then translate:\n" + "\n".join(problems)


def test_the_template_matches_the_catalog() -> None:
    """bot/locales/peerline.pot is what `python -m bot.i18n update` writes from the catalog."""
    with TEMPLATE.open("rb") as handle:
        stored = read_po(handle)
    assert {(m.context, m.id) for m in stored if m.id} == {
        (m.context, m.id) for m in template() if m.id
    }


def test_a_spanish_catalog_speaks_spanish_with_config_values() -> None:
    catalogs = catalogs_for(Config())
    es = catalogs.get("es")
    assert es.crisis_button == "Líneas de crisis"
    assert "{crisis}" not in es.not_member and "988" in es.not_member
    assert es.request_open.format(who="un compañero", goal_minutes=1).count("1 minuto.") == 1
    assert "30 minutos" in es.request_open.format(who="un compañero", goal_minutes=30)
    assert catalogs.get("fr") is catalogs.default  # no catalog: the program's default


@pytest.mark.parametrize(
    ("code", "expected"),
    [("es-MX", "es"), ("es", "es"), ("en-US", "en"), ("fr", None), ("", None)],
)
def test_platform_language_codes_pick_a_catalog(code: str, expected: str | None) -> None:
    assert supported(code) == expected
