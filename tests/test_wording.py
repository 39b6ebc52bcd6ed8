"""Plain and short, measured: every message as sent, with realistic values in its placeholders.

English: Flesch-Kincaid grade at most 6. Spanish: Fernandez Huerta reading ease at least 70
(the band read easily by a sixth-grader). Labels, command lists and word lists are not prose
and are named below. No message is longer than 400 characters as sent.
"""

from __future__ import annotations

import pytest
import textstat

from bot.catalog import EN, LANGUAGES
from tests.wording import CATALOGS, as_sentences, entry_names, rendered, templates

MAX_GRADE = 6.0
MIN_EASE_ES = 70.0
MAX_CHARS = 400

# Not prose: button labels, menu and command lists, word lists, line formats.
NOT_PROSE = {
    "help_officer",
    "help_helper",
    "help_staff",
    "crisis_button",
    "crisis_line",
    "crisis_primary",
    "urgent_button",
    "note_skip",
    "again_yes",
    "again_no",
    "outside_yes",
    "outside_no",
    "stop_looking",
    "offer_accept",
    "offer_decline",
    "offer_involved",
    "helped_yes",
    "helped_no",
    "helped_unsure",
    "block_button",
    "end_button",
    "topic_on",
    "header_edited_to_helper",
    "header_edited_to_officer",
    "transfer_yes",
    "transfer_no",
    "thread_line",
    "thread_line_current",
    "header_to_helper",
    "header_to_officer",
    "hours_none",
    "hours_off_words",
    "day_time",
    "alias_pattern",
    "nudge_ok",
    "nudge_talk",
    "nudge_not_now",
    "nudge_stop",
    "plan_no",
    "followup_yes",
    "followup_no",
    "followup_offer_button",
    "checkin_weekly",
    "checkin_monthly",
    "help_coordinator",
    "oncall_names",
    "oncall_ahead_line",
    "oncall_count",
    "stats_topic",
    "waiting_line",
    "waiting_line_paged",
    "waiting_line_urgent",
    "waiting_line_urgent_paged",
    "push_button",
    "push_page_button",
    "resources_entry",
    "resources_selfcheck_button",
    "selfcheck_yes",
    "selfcheck_no",
    "keep_button",
    "forget_button",
    "unblock_button",
    "unblock_all_button",
    "referral_button",
    "support_family",
    "support_retiree",
    "debrief_with_clinician",
}
NOT_PROSE_PREFIXES = (
    "category_",
    "who_",
    "role_phrase_",
    "transfer_to_",
    "menu_",
    "day_",
    "alias_",
    "checkin_state_",
    "role_",
    "resources_kind_",  # headings of the program's directory
    # The PC-PTSD-5 items are a validated instrument: its wording is not ours to simplify.
    "selfcheck_item_",
    # Coordinators' report tables (numbers with their labels), not prose.
    "stats_",
    "coverage_",
)
MESSAGES = [
    key for key in entry_names() if key not in NOT_PROSE and not key.startswith(NOT_PROSE_PREFIXES)
]


def _score(language: str, message: str) -> float:
    textstat.set_lang(language)
    prose = as_sentences(message)
    if language == "en":
        return float(textstat.flesch_kincaid_grade(prose))
    return float(textstat.fernandez_huerta(prose))


@pytest.mark.parametrize("key", MESSAGES)
def test_english_reads_at_grade_six(key: str) -> None:
    for message in rendered(CATALOGS.get("en"), key):
        grade = _score("en", message)
        assert grade <= MAX_GRADE, f"{key}: grade {grade}: {message!r}"


@pytest.mark.parametrize("key", MESSAGES)
def test_spanish_reads_easily(key: str) -> None:
    for message in rendered(CATALOGS.get("es"), key):
        ease = _score("es", message)
        assert ease >= MIN_EASE_ES, f"{key}: Fernandez Huerta {ease}: {message!r}"


@pytest.mark.parametrize("key", entry_names())
@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_is_longer_than_a_phone_screen(language: str, key: str) -> None:
    for message in rendered(CATALOGS.get(language), key):
        assert len(message) <= MAX_CHARS, f"{language} {key}: {len(message)} chars as sent"


def test_the_measure_tells_plain_from_dense() -> None:
    plain = "Send /talk when you want to talk. Someone will answer soon."
    dense = (
        "Notwithstanding applicable statutory confidentiality provisions, communications may "
        "necessitate disclosure under circumstances involving imminent endangerment."
    )
    assert _score("en", plain) <= MAX_GRADE < _score("en", dense)
    sencillo = "Envíe /talk cuando quiera hablar. Alguien le responde pronto."
    denso = (
        "No obstante las disposiciones estatutarias aplicables, las comunicaciones podrían "
        "requerir divulgación en circunstancias de peligro inminente."
    )
    assert _score("es", denso) < MIN_EASE_ES <= _score("es", sencillo)


def test_crisis_numbers_come_from_the_config() -> None:
    """No entry names a crisis or emergency number itself: {crisis} and {emergency} do."""
    for key in entry_names():
        for template in templates(getattr(EN, key)):
            assert "988" not in template and "911" not in template, key
