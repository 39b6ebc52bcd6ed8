"""The config loader: the example file, token sources, and one-line errors naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import signal_limits
from bot.config import (
    DEFAULT_CRISIS_LINES,
    MASTER_KEY_ENV,
    TOKEN_ENV,
    Config,
    ConfigError,
    CrisisConfig,
    FollowupsConfig,
    LoggingConfig,
    ProgramConfig,
    RoutingConfig,
    TelegramConfig,
    load_config,
    parse_duration,
)
from bot.delivery import SIGNAL_LIMITS

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
TOKEN = "123456:ABC-def_ghi"
ENV = {TOKEN_ENV: TOKEN}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV if env is None else env)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert TOKEN not in message
    return message


# --- the example file ------------------------------------------------------------------------


def test_example_loads_with_env_token_and_gives_the_defaults() -> None:
    config = load_config(EXAMPLE, ENV)
    defaults = Config()
    assert config.program == ProgramConfig() == defaults.program
    assert config.routing == RoutingConfig()
    assert config.crisis == CrisisConfig()
    assert config.crisis.lines == DEFAULT_CRISIS_LINES
    assert config.logging == LoggingConfig(level="INFO", file=None)
    assert config.telegram == TelegramConfig(token=TOKEN)
    assert config.storage.path == EXAMPLE.parent / "data" / "peerline.db"
    assert config.crypto.key_file == EXAMPLE.parent / "secret" / "master.key"
    # A copy of the database's directory never takes the key along.
    assert config.storage.path.parent not in config.crypto.key_file.parents
    assert config.crypto.key_file.parent != config.storage.path.parent
    assert config.crypto.key_text is None
    assert config.source == EXAMPLE
    assert config.routing.offer_timeout == timedelta(minutes=3)
    assert config.routing.cooldown_after_urgent == timedelta(hours=2)
    assert config.followups == FollowupsConfig()


def test_example_needs_a_token_from_somewhere() -> None:
    with pytest.raises(ConfigError, match=r"\[telegram\] token: missing"):
        load_config(EXAMPLE, {})


def test_example_keeps_secrets_commented_out() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "\ntoken =" not in text
    assert "# token =" in text
    assert TOKEN_ENV in text
    assert MASTER_KEY_ENV in text


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), ENV)
    assert config.routing == RoutingConfig()
    assert config.crisis.lines == DEFAULT_CRISIS_LINES
    assert config.program.timezone == "America/Chicago"


# --- the token -------------------------------------------------------------------------------


def test_token_from_env(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[telegram]\n"), {TOKEN_ENV: f"  {TOKEN}\n"})
    assert config.telegram.token == TOKEN


def test_token_in_file_wins_over_env(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[telegram]\ntoken = "1:file"\n'), ENV)
    assert config.telegram.token == "1:file"


def test_token_from_token_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "bot.token").write_text(f"\n{TOKEN}\n", encoding="utf-8")
    config = load_config(write(tmp_path, '[telegram]\ntoken_file = "secrets/bot.token"\n'), {})
    assert config.telegram.token == TOKEN


def test_env_token_wins_over_token_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[telegram]\ntoken_file = "absent.token"\n'), ENV)
    assert config.telegram.token == TOKEN


def test_missing_token_file_names_the_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[telegram]\ntoken_file = "absent.token"\n', env={})
    assert "[telegram] token_file:" in message
    assert "does not exist" in message


def test_missing_token_names_the_key_and_the_sources(tmp_path: Path) -> None:
    message = load_error(tmp_path, "", env={})
    assert message == (
        f"{tmp_path / 'config.toml'}: [telegram] token: missing — set it here, "
        f"in {TOKEN_ENV}, or with token_file"
    )


def test_disabled_telegram_needs_no_token(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[telegram]\nenabled = false\n"), {})
    assert config.telegram.enabled is False
    assert config.telegram.token == ""


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ('[telegram]\ntoken = "PUT-YOUR-TOKEN-HERE"\n', {}),
        ("[telegram]\n", {TOKEN_ENV: "PUT-YOUR-TOKEN-HERE"}),
    ],
)
def test_placeholder_token_refused(tmp_path: Path, text: str, env: dict[str, str]) -> None:
    message = load_error(tmp_path, text, env=env)
    assert "[telegram] token:" in message
    assert "placeholder" in message


def test_token_and_token_file_together_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[telegram]\ntoken = "1:a"\ntoken_file = "t"\n')
    assert "not both" in message


def test_token_not_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), ENV)
    assert TOKEN not in repr(config)
    assert TOKEN not in repr(config.telegram)
    assert TOKEN not in str(config)


def test_master_key_from_env_not_in_repr(tmp_path: Path) -> None:
    key = "c2VjcmV0LW1hc3Rlci1rZXktdGV4dC0zMi1ieXRlcyE="
    config = load_config(write(tmp_path, ""), {**ENV, MASTER_KEY_ENV: key})
    assert config.crypto.key_text == key
    assert key not in repr(config)


def test_master_key_text_in_file_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[crypto]\nkey_text = "abc"\n')
    assert MASTER_KEY_ENV in message
    assert "abc" not in message


def test_base_file_url_derived_from_base_url(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[telegram]\nbase_url = "http://127.0.0.1:8081/bot"\n'), ENV
    )
    assert config.telegram.base_file_url == "http://127.0.0.1:8081/file/bot"


def test_base_url_must_be_http(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[telegram]\nbase_url = "api.telegram.org/bot"\n')
    assert "[telegram] base_url:" in message


# --- unknown keys and wrong types ------------------------------------------------------------


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[routing]\nofer_timeout = "3m"\n')
    assert message.endswith("unknown key [routing] ofer_timeout; did you mean offer_timeout?")


def test_unknown_section_suggests_the_close_one(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[rooting]\noffer_batch = 3\n")
    assert message.endswith("unknown section [rooting]; did you mean [routing]?")


def test_unknown_key_in_a_crisis_line(tmp_path: Path) -> None:
    text = '[[crisis.lines]]\nname = "Local EAP"\ncontact = "555-0100"\nhour = "9-5"\n'
    message = load_error(tmp_path, text)
    assert "unknown key [[crisis.lines]] entry 1 hour; did you mean hours?" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[routing]\noffer_batch = "3"\n',
            "offer_batch: expected an integer, got a string",
        ),
        (
            "[routing]\noffer_batch = true\n",
            "offer_batch: expected an integer, got a boolean",
        ),
        (
            "[routing]\noffer_batch = 3.0\n",
            "offer_batch: expected an integer, got a number",
        ),
        (
            '[telegram]\nenabled = "no"\n',
            "enabled: expected true or false, got a string",
        ),
        ("[program]\nname = 7\n", "[program] name: expected a string, got an integer"),
        ("[telegram]\npoll_timeout = true\n", "[telegram] poll_timeout: expected a number"),
        ("[routing]\noffer_timeout = 90\n", "[routing] offer_timeout: expected a duration"),
        ("[storage]\npath = []\n", "[storage] path: expected a file path"),
        ("program = 3\n", "program: expected a [program] section, got an integer"),
    ],
)
def test_wrong_type_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


def test_token_of_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[telegram]\ntoken = 987654321\n", env={})
    assert message.endswith("[telegram] token: expected a string, got an integer")
    assert "987654321" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[routing]\noffer_batch = 0\n", "expected an integer from 1 to 50, got 0"),
        ("[routing]\noffer_batch = 51\n", "expected an integer from 1 to 50, got 51"),
        ("[routing]\nmax_threads_per_helper = 0\n", "expected an integer at least 1, got 0"),
        ("[incidents]\nauto_close_days = 0\n", "expected an integer from 1 to 365, got 0"),
        ('[routing]\ncontact_goal = "0m"\n', "[routing] contact_goal: must be longer than zero"),
        ('[logging]\nlevel = "LOUD"\n', "[logging] level: expected one of DEBUG, INFO"),
        ("[crisis]\nlines = []\n", "[crisis] lines: must list at least one crisis line"),
        ('[[crisis.lines]]\nname = "EAP"\n', "[[crisis.lines]] entry 1 contact: missing"),
        ('[routing]\ngive_up_after = "5m"\n', "[routing] give_up_after: must not be shorter"),
        ("[routing]\nurgent_offers = -1\n", "expected an integer from 0 to 1000, got -1"),
        ("[routing]\nurgent_offers = 1001\n", "expected an integer from 0 to 1000, got 1001"),
        (
            "[routing]\noffer_batch = 5\nurgent_offers = 4\n",
            "[routing] urgent_offers: must be 0 (everyone) or at least offer_batch (5)",
        ),
    ],
)
def test_out_of_range_values(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, text)


@pytest.mark.parametrize(("offers", "expected"), [(0, 0), (5, 5), (1000, 1000)])
def test_urgent_offers_zero_means_everyone_or_a_cap_no_smaller_than_a_batch(
    tmp_path: Path, offers: int, expected: int
) -> None:
    config = load_config(
        write(tmp_path, f"[routing]\noffer_batch = 5\nurgent_offers = {offers}\n"), ENV
    )
    assert config.routing.urgent_offers == expected


def test_bad_duration(tmp_path: Path) -> None:
    # No token anywhere either: the duration is still the error reported.
    message = load_error(tmp_path, '[routing]\noffer_timeout = "soon"\n', env={})
    assert message == (
        f"{tmp_path / 'config.toml'}: [routing] offer_timeout: "
        'expected a duration like "90s", "3m" or "2h", got "soon"'
    )


def test_bad_timezone(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[program]\ntimezone = "America/Gotham"\n')
    assert '[program] timezone: expected an IANA time zone like "America/Chicago"' in message
    assert '"America/Gotham"' in message


def test_invalid_toml_gives_the_parser_message(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[routing\noffer_batch = 3\n")
    assert "invalid TOML" in message
    assert "line 1" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="file not found") as caught:
        load_config(path, ENV)
    assert str(caught.value).startswith(str(path))


def test_crisis_line_names_per_language(tmp_path: Path) -> None:
    text = (
        '[[crisis.lines]]\nname = "State EAP"\nname_es = "Programa estatal"\n'
        'contact = "555-0100"\n'
    )
    (line,) = load_config(write(tmp_path, text), ENV).crisis.lines
    assert (line.name_in("es"), line.name_in("en"), line.contact) == (
        "Programa estatal",
        "State EAP",
        "555-0100",
    )
    blank = text.replace('"Programa estatal"', '" "')
    assert "name_es: must not be empty" in load_error(tmp_path, blank)
    unknown = text.replace("name_es", "name_xx")
    assert "unknown key [[crisis.lines]] entry 1 name_xx" in load_error(tmp_path, unknown)


def test_custom_crisis_lines_replace_the_defaults(tmp_path: Path) -> None:
    text = '[[crisis.lines]]\nname = "State EAP"\ncontact = "555-0100"\n'
    config = load_config(write(tmp_path, text), ENV)
    assert [(line.name, line.contact, line.hours) for line in config.crisis.lines] == [
        ("State EAP", "555-0100", "24/7")
    ]


# --- paths -----------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = (
        '[storage]\npath = "data/peerline.db"\n'
        '[crypto]\nkey_file = "../keys/master.key"\n'
        '[logging]\nfile = "peerline.log"\n'
    )
    write(conf_dir, text)
    config = load_config(Path("../etc/config.toml"), ENV)
    assert config.storage.path == elsewhere / "../etc/data/peerline.db"
    assert config.storage.path.resolve() == conf_dir / "data" / "peerline.db"
    assert config.crypto.key_file is not None
    assert config.crypto.key_file.resolve() == tmp_path / "keys" / "master.key"
    assert config.logging.file is not None
    assert config.logging.file.resolve() == conf_dir / "peerline.log"
    assert config.source.resolve() == conf_dir / "config.toml"


def test_absolute_paths_kept(tmp_path: Path) -> None:
    db = tmp_path / "abs" / "x.db"
    config = load_config(write(tmp_path, f'[storage]\npath = "{db}"\n'), ENV)
    assert config.storage.path == db


def test_empty_key_file_means_none(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[crypto]\nkey_file = ""\n'), ENV)
    assert config.crypto.key_file is None


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("3m", timedelta(minutes=3)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        (" 90s ", timedelta(seconds=90)),
        ("0s", timedelta(0)),
        ("120m", timedelta(hours=2)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "soon", "90", "m", "3", "-3m", "1.5h", "3M", "2w", "30m1h", "1h1h", "3 m", "１m"],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_duration_rejects_overflow() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("9" * 30 + "d")


@given(st.integers(min_value=0, max_value=10**8))
def test_minutes_round_trip(n: int) -> None:
    assert parse_duration(f"{n}m") == timedelta(minutes=n)
    assert parse_duration(f"{n}m").total_seconds() == n * 60


@pytest.mark.parametrize(
    "text",
    ['"line\\nbreak" = 1\n', '["sec\\ntion"]\nx = 1\n', '[routing]\n"of\\nfer" = 1\n'],
)
def test_odd_key_names_still_give_one_line(tmp_path: Path, text: str) -> None:
    assert "unknown" in load_error(tmp_path, text)


# --- [signal] ---------------------------------------------------------------------------------


def test_signal_section_defaults_and_a_loopback_gateway(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), ENV).signal.enabled is False
    config = load_config(
        write(
            tmp_path,
            "[telegram]\nenabled = false\n"
            '[signal]\nenabled = true\nservice = "localhost:8080"\nnumber = "+1 415 555 0100"\n',
        ),
        {},
    )
    assert (config.signal.service, config.signal.number) == ("localhost:8080", "+14155550100")
    assert config.telegram.enabled is False


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("enabled = true", "[signal] number: missing"),
        ('number = "4155550100"', "[signal] number: expected a number in international form"),
        ('service = "http://127.0.0.1:8080"', "[signal] service: expected host:port"),
        ('service = "10.0.0.5:8080"', "plain HTTP is only for a gateway on this machine"),
        ('servce = "127.0.0.1:8080"', "did you mean service?"),
    ],
)
def test_signal_section_errors_name_the_key(tmp_path: Path, section: str, expected: str) -> None:
    assert expected in load_error(tmp_path, f"[signal]\n{section}\n")


def test_a_remote_gateway_needs_https(tmp_path: Path) -> None:
    text = '[signal]\nservice = "signal.example.org:443"\nhttps = true\n'
    assert load_config(write(tmp_path, text), ENV).signal.https is True


# --- [followups] -----------------------------------------------------------------------------


def test_followups_plans_and_times_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[followups]\nsend_at = "09:30"\nquiet_hours = ""\nstale_after = "12h"\n'
        "[followups.plans]\nstress = [2, 9]\n",
    )
    followups = load_config(path, ENV).followups
    assert followups.send_at == "09:30" and followups.quiet_hours == ""
    assert followups.stale_after == timedelta(hours=12)
    assert followups.plan_for("stress") == (2, 9)
    assert followups.plan_for("critical_incident") == ()  # left out: no check-ins


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('send_at = "10am"', "[followups] send_at: expected a time of day"),
        ('quiet_hours = "08:00-08:00"', "[followups] quiet_hours: quiet hours must not start"),
        ("answer_days = 0", "[followups] answer_days: expected an integer from 1 to 30"),
        ("helper_days = 200", "[followups] helper_days: expected an integer from 1 to 90"),
        ('sweep_every = "0s"', "[followups] sweep_every: must be longer than zero"),
        ("[followups.plans]\nstres = [1]", "[followups] plans.stres: unknown topic"),
        ("[followups.plans]\nstress = [3, 1]", "[followups] plans.stress: expected days"),
        ("[followups.plans]\nstress = [0]", "[followups] plans.stress: expected days"),
        ("sendat = 1", "unknown key [followups] sendat; did you mean send_at?"),
    ],
)
def test_followups_mistakes_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, f"[followups]\n{text}\n")


# --- [telegram] rate limits ---------------------------------------------------------------------


def test_rate_limits_default_to_telegrams_documented_ones() -> None:
    telegram = load_config(EXAMPLE, ENV).telegram
    assert (telegram.rate_overall, telegram.rate_per_chat, telegram.rate_per_group) == (
        30.0,
        1.0,
        20.0,
    )


def test_rate_limits_can_be_raised_for_a_local_bot_api(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[telegram]\nrate_overall = 500\nrate_per_chat = 50.5\nrate_per_group = 60\n",
        encoding="utf-8",
    )
    telegram = load_config(path, ENV).telegram
    assert (telegram.rate_overall, telegram.rate_per_chat, telegram.rate_per_group) == (
        500.0,
        50.5,
        60.0,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rate_overall = 0", "[telegram] rate_overall: expected a number above 0"),
        ("rate_per_chat = -1", "[telegram] rate_per_chat: expected a number of at least 0"),
        ('rate_per_group = "20/min"', "[telegram] rate_per_group: expected a number"),
        ("rate_per_second = 5", "rate_per_second"),
    ],
)
def test_bad_rate_limits_are_refused_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in load_error(tmp_path, f"[telegram]\n{text}\n")


def test_webhook_mode_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[telegram]\nmode = "webhook"\nwebhook_url = "https://bot.example.org/tg"\n'
        'webhook_listen = "127.0.0.1:9000"\nwebhook_connections = 1\n',
    )
    telegram = load_config(path, env=ENV).telegram
    assert (telegram.mode, telegram.webhook_url) == ("webhook", "https://bot.example.org/tg")
    assert (telegram.webhook_listen, telegram.webhook_connections) == ("127.0.0.1:9000", 1)
    assert load_config(write(tmp_path, ""), env=ENV).telegram.mode == "polling"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('mode = "push"', "mode"),
        ('mode = "webhook"', "webhook_url"),
        ('mode = "webhook"\nwebhook_url = "http://bot.example.org/tg"', "webhook_url"),
        ('webhook_listen = "8081"', "webhook_listen"),
        ("webhook_connections = 0", "webhook_connections"),
    ],
)
def test_webhook_mistakes_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    assert f"[telegram] {key}:" in load_error(tmp_path, f"[telegram]\n{text}\n")


# --- [signal] rate limits -----------------------------------------------------------------------


def test_signal_rate_limits_default_to_the_transports_cautious_pace() -> None:
    """The example file spells the pace out: it must say what the transport's default is."""
    config = load_config(EXAMPLE, ENV)
    assert (config.signal.rate_overall, config.signal.rate_per_chat) == (10.0, 2.0)
    assert signal_limits(config) == SIGNAL_LIMITS


def test_signal_rate_limits_can_be_raised_and_reach_the_transport(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[signal]\nrate_overall = 400\nrate_per_chat = 25\n", encoding="utf-8")
    limits = signal_limits(load_config(path, ENV))
    assert (limits.overall_per_second, limits.per_chat_per_second) == (400.0, 25.0)
    assert limits.chat_burst == SIGNAL_LIMITS.chat_burst


def test_bad_signal_rate_limits_are_refused_naming_the_key(tmp_path: Path) -> None:
    assert "[signal] rate_per_chat: expected a number above 0" in load_error(
        tmp_path, "[signal]\nrate_per_chat = 0\n"
    )
