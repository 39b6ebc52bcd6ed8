"""The catalog in every language, as gettext: English source in bot/catalog.py, translations in
bot/locales/<lang>/LC_MESSAGES/peerline.po, compiled in memory when Peerline starts.

Each catalog entry is one gettext message: msgctxt = the entry's name, msgid = its English text
(plus msgid_plural for a `Plural`). A translation whose English has changed since no longer
matches and falls back to English until it is translated again; tests/test_translations.py
fails meanwhile.

    python -m bot.i18n update   # rewrite peerline.pot from the catalog, merge it into each .po
"""

from __future__ import annotations

import gettext
import io
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from babel.dates import format_skeleton
from babel.lists import format_list
from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.catalog import EN, LANGUAGES, Catalog, Plural, entries
from bot.config import Config

DOMAIN = "peerline"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
LOCALES = Path(__file__).resolve().parent / "locales"
TEMPLATE = LOCALES / f"{DOMAIN}.pot"


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> PoCatalog:
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def _translations(language: str) -> gettext.NullTranslations:
    if language == LANGUAGES[0]:
        return gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(language))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@dataclass(frozen=True, slots=True)
class Fixed:
    """The placeholders every entry may use, filled from the config when a catalog loads."""

    program: str
    emergency: str
    crisis_name: str
    crisis_contact: str
    crisis_names: tuple[tuple[str, str], ...] = ()  # the first line's name in other languages


def _filler(values: Mapping[str, str]) -> Callable[[str], str]:
    def fill(text: str) -> str:
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text

    return fill


def load(language: str, fixed: Fixed) -> Catalog:
    """The catalog in `language`, with {program}, {emergency} and {crisis} filled in."""
    if language not in LANGUAGES:
        raise ValueError(f"no catalog for language {language!r}")
    translations = _translations(language)
    primary = translations.pgettext("crisis_primary", EN.crisis_primary)
    name = dict(fixed.crisis_names).get(language, fixed.crisis_name)
    crisis = primary.format(name=name, contact=fixed.crisis_contact)
    fill = _filler({"program": fixed.program, "emergency": fixed.emergency, "crisis": crisis})
    loaded: dict[str, object] = {}
    for entry in entries():
        source = getattr(EN, entry.name)
        if isinstance(source, Plural):
            loaded[entry.name] = _plural(translations, entry.name, source, fill)
        else:
            loaded[entry.name] = fill(translations.pgettext(entry.name, source))
    return replace(EN, language=language, **loaded)  # type: ignore[arg-type]  # typed per field


def _plural(
    translations: gettext.NullTranslations, key: str, source: Plural, fill: Callable[[str], str]
) -> Plural:
    def choose(n: int) -> str:
        return fill(translations.npgettext(key, source.one, source.other, n))

    return Plural(fill(source.one), fill(source.other), source.count, choose)


class Catalogs:
    """Every language's catalog for one config; `get` falls back to the default language."""

    def __init__(self, fixed: Fixed, default: str = LANGUAGES[0]) -> None:
        self.by_language = {language: load(language, fixed) for language in LANGUAGES}
        self.default_language = default

    @property
    def default(self) -> Catalog:
        return self.by_language[self.default_language]

    def get(self, language: str | None) -> Catalog:
        return self.by_language.get(language or "", self.default)


def catalogs_for(config: Config) -> Catalogs:
    first = config.crisis.lines[0]
    fixed = Fixed(
        program=config.program.name,
        emergency=config.crisis.emergency,
        crisis_name=first.name,
        crisis_contact=first.contact,
        crisis_names=first.names,
    )
    return Catalogs(fixed, config.program.language)


def listing(
    text: Catalog, items: Iterable[str], style: Literal["standard", "or"] = "standard"
) -> str:
    """Items as a list in the catalog's language: "1, 3, 7, and 30" / "1, 3, 7 y 30"; style
    "or" for a choice ("mon, tue, or sun")."""
    return format_list(list(items), style=style, locale=text.language)


def day_and_date(text: Catalog, day: date) -> str:
    """ "Mon, Nov 30" / "lun, 30 nov"."""
    return format_skeleton("MMMEd", day, locale=text.language)


def day_and_month(text: Catalog, day: date) -> str:
    """ "Nov 30" / "30 nov"."""
    return format_skeleton("MMMd", day, locale=text.language)


def weekday_and_time(text: Catalog, moment: datetime) -> str:
    """ "Mon 18:00" / "lun, 18:00" (24-hour, as on-call hours are written)."""
    return format_skeleton("EHm", moment, locale=text.language)


def supported(language_code: str | None) -> str | None:
    """The catalog for a platform's language code ("es-MX" -> "es"), or None."""
    if not language_code:
        return None
    base = language_code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


# --------------------------------------------------------------------------------------------
# Keeping the .po files in line with the catalog


def template() -> PoCatalog:
    # A fixed date: the template changes only when the catalog does.
    pot = PoCatalog(domain=DOMAIN, project="Peerline", fuzzy=False, creation_date=_EPOCH)
    for entry in entries():
        source = getattr(EN, entry.name)
        message_id: str | tuple[str, str] = (
            (source.one, source.other) if isinstance(source, Plural) else source
        )
        pot.add(message_id, context=entry.name, locations=[("bot/catalog.py", 0)])
    return pot


def _write(catalog: PoCatalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=99, omit_header=False, no_location=True)


def update() -> None:
    """Rewrite the template from the catalog and merge it into every translation (changed
    English becomes a fuzzy entry to review; removed entries become obsolete)."""
    pot = template()
    _write(pot, TEMPLATE)
    for language in LANGUAGES[1:]:
        path = po_path(language)
        if path.exists():
            catalog = read_catalog(language)
        else:
            catalog = PoCatalog(
                locale=language, domain=DOMAIN, project="Peerline", creation_date=_EPOCH
            )
        catalog.update(pot, update_creation_date=False)
        _write(catalog, path)


def main(argv: list[str]) -> int:
    if argv != ["update"]:
        sys.stderr.write("usage: python -m bot.i18n update\n")
        return 2
    update()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
