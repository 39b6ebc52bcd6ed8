"""The config file: TOML in, validated frozen dataclasses out.

Every problem becomes a `ConfigError` whose message is one line naming the file, the key and
what was expected, so a program coordinator can fix it without reading code. Secret values
(the bot token, the master key) never appear in error messages or in repr().
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.catalog import LANGUAGES
from bot.delivery import SIGNAL_LIMITS, TELEGRAM_LIMITS
from bot.followups import parse_clock, parse_quiet

__all__ = [
    "MASTER_KEY_ENV",
    "TOKEN_ENV",
    "TOKEN_PLACEHOLDER",
    "Config",
    "ConfigError",
    "CrisisConfig",
    "CrisisLine",
    "CryptoConfig",
    "FollowupsConfig",
    "LoggingConfig",
    "ProgramConfig",
    "RoutingConfig",
    "SignalConfig",
    "StorageConfig",
    "TelegramConfig",
    "load_config",
    "parse_duration",
]

# Names of where secrets come from, and the example's placeholder; none of them is a secret.
TOKEN_ENV = "PEERLINE_TELEGRAM_TOKEN"  # noqa: S105
MASTER_KEY_ENV = "PEERLINE_MASTER_KEY"
TOKEN_PLACEHOLDER = "PUT-YOUR-TOKEN-HERE"  # noqa: S105

DEFAULT_CONFIDENTIALITY = (
    "Peer support talks are confidential. Under state law they are usually privileged too. "
    "There are limits. We may have to report a danger to your life or to others, harm to a "
    "child or an older person, or a crime being planned. Nothing you write is stored here."
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; str() is one line for the operator."""


# --------------------------------------------------------------------------------------------
# Durations


_DURATION_RE = re.compile(r"(?:[0-9]+[dhms]\s*)+")
_DURATION_PART_RE = re.compile(r"([0-9]+)([dhms])")
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_ORDER = "dhms"
_DURATION_HINT = 'use a number and a unit, like "45s", "3m", "2h", "7d" or "1h30m"'


def parse_duration(text: str) -> timedelta:
    """Parse "45s", "3m", "2h", "7d" or combinations such as "1h30m" into a timedelta.

    Units (d, h, m, s) go from largest to smallest, each at most once. A bare number is
    refused because its unit would be a guess. Raises ValueError on anything else.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"empty duration; {_DURATION_HINT}")
    if not _DURATION_RE.fullmatch(stripped):
        raise ValueError(f"not a duration: {_show(text)}; {_DURATION_HINT}")
    total = 0
    last_rank = -1
    for number, unit in _DURATION_PART_RE.findall(stripped):
        rank = _UNIT_ORDER.index(unit)
        if rank <= last_rank:
            raise ValueError(
                f"not a duration: {_show(text)}; units go from largest to smallest "
                "(d, h, m, s), each at most once"
            )
        last_rank = rank
        total += int(number) * _UNIT_SECONDS[unit]
    try:
        return timedelta(seconds=total)
    except OverflowError:
        raise ValueError(f"duration too long: {_show(text)}") from None


# --------------------------------------------------------------------------------------------
# The dataclasses


@dataclass(frozen=True, slots=True)
class ProgramConfig:
    name: str = "Peer Support"
    timezone: str = "America/Chicago"
    confidentiality: str = DEFAULT_CONFIDENTIALITY
    # Statistics: any count from 1 to stats_k - 1 is hidden (k-anonymity).
    stats_k: int = 5
    # Coverage forecast (/coverage, sent to coordinators every Monday): hours of the coming
    # week with fewer than this many of a role on call.
    coverage_minimum: int = 2
    # Language for members whose platform does not say (Signal), and for new members whose
    # platform language has no catalog.
    language: str = "en"


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    enabled: bool = True
    # "" only when disabled; load_config refuses an enabled bot without one.
    token: str = field(default="", repr=False)
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    bot_username: str = ""
    poll_timeout: float = 10.0
    # Telegram's documented limits: about 30 messages a second overall, one a second in a chat
    # (short bursts tolerated), 20 a minute in a group. Raise them only for a local Bot API.
    rate_overall: float = TELEGRAM_LIMITS.overall_per_second  # a second, all chats together
    rate_per_chat: float = TELEGRAM_LIMITS.per_chat_per_second  # a second, one private chat
    rate_per_group: float = TELEGRAM_LIMITS.per_group_per_minute  # a minute, one group
    # "polling" (getUpdates) or "webhook" (Telegram POSTs each update to webhook_url, which a
    # TLS-terminating proxy forwards to webhook_listen on this machine).
    mode: str = "polling"
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1:8081"
    webhook_connections: int = 10


@dataclass(frozen=True, slots=True)
class SignalConfig:
    enabled: bool = False
    # host:port of signal-cli-rest-api (json-rpc mode), without a scheme.
    service: str = "127.0.0.1:8080"
    # The bot's registered Signal number, E.164 ("+15555550123"); "" only when disabled.
    number: str = ""
    # Plain HTTP is accepted only for a gateway on this machine; anything else needs https.
    https: bool = False
    # Send pace. Signal publishes no limits (its gateway answers 429 when the server objects):
    # these are cautious defaults, raised where the gateway is known to take more.
    rate_overall: float = SIGNAL_LIMITS.overall_per_second  # a second, all chats together
    rate_per_chat: float = SIGNAL_LIMITS.per_chat_per_second  # a second, one person (bursts: 5)


@dataclass(frozen=True, slots=True)
class StorageConfig:
    # Apart from the key (CryptoConfig): a copy of this directory must not take the key along.
    path: Path = Path("data/peerline.db")


@dataclass(frozen=True, slots=True)
class CryptoConfig:
    key_file: Path | None = Path("secret/master.key")
    # Base64 master key text from PEERLINE_MASTER_KEY, when set; never read from the file.
    key_text: str | None = field(default=None, repr=False)


MOST_URGENT_OFFERS = 1000


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    offer_batch: int = 3
    # A request still unmatched after `offer_batch_grows_after` is offered to this many at once
    # (no more than `offer_batch`: it never grows). See docs/benchmarks.md for why.
    offer_batch_grows_to: int = 5
    offer_batch_grows_after: timedelta = timedelta(minutes=3)
    # An urgent request goes to this many helpers at once, each one who declines or lets it
    # time out replaced by the next at once; a coordinator's push asks this many more. 0:
    # every eligible helper at once. See docs/benchmarks.md for the default.
    urgent_offers: int = 70
    # The helper is prompted to suggest a clinician when an officer comes back about the same
    # topic this many times (counted in the officer's sealed record).
    referral_after: int = 3
    offer_timeout: timedelta = timedelta(minutes=3)
    max_threads_per_helper: int = 2
    contact_goal: timedelta = timedelta(minutes=30)
    cooldown_after_urgent: timedelta = timedelta(hours=2)
    # How long "the same person next time" is kept, once an officer chooses it.
    remember_helper_for: timedelta = timedelta(days=30)
    ignored_offers_before_away: int = 3
    escalate_to_chaplains_after: timedelta = timedelta(minutes=10)
    page_coordinators_after: timedelta = timedelta(minutes=15)
    give_up_after: timedelta = timedelta(minutes=30)
    clock_tick: timedelta = timedelta(seconds=5)


DEFAULT_PLANS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("critical_incident", (1, 3, 7, 30)),
    ("line_of_duty_death", (1, 3, 7, 30)),
    ("suicidal_thoughts", (1, 2, 7)),
    ("not_safe", (1, 2, 7)),
    ("relationships", (3, 14)),
    ("alcohol", (3, 14)),
    ("stress", (3, 14)),
    ("money", (3, 14)),
    ("faith", (3, 14)),
    ("other", (3, 14)),
)


@dataclass(frozen=True, slots=True)
class FollowupsConfig:
    enabled: bool = True
    send_at: str = "10:00"  # local time of day nudges go out
    quiet_hours: str = "22:00-08:00"  # default for members who set none; "" for none
    answer_days: int = 2  # a nudge counts as unanswered after this many days
    stale_after: timedelta = timedelta(days=1)
    sweep_every: timedelta = timedelta(minutes=5)
    retry_after: timedelta = timedelta(hours=1)
    helper_days: int = 3  # what the helper's choice at /end suggests
    max_helper_days: int = 90
    # Days after a conversation, per topic; a topic left out gets no plan.
    plans: tuple[tuple[str, tuple[int, ...]], ...] = DEFAULT_PLANS

    def plan_for(self, topic: str) -> tuple[int, ...]:
        return dict(self.plans).get(topic, ())


@dataclass(frozen=True, slots=True)
class IncidentsConfig:
    # An open critical incident closes by itself this many days after the day it opened, as a
    # coordinator's close would (its record and pages deleted), and whoever opened it is told.
    # Two weeks: past the first days after a shooting, a funeral and the return to duty; an
    # incident forgotten for longer would keep its agency tied to its helpers for nothing.
    auto_close_days: int = 14


@dataclass(frozen=True, slots=True)
class CrisisLine:
    name: str
    contact: str  # a number or a link: never translated
    hours: str = "24/7"
    # The name in other languages, as (language, name) pairs (`name_es = "..."` in the config).
    names: tuple[tuple[str, str], ...] = ()

    def name_in(self, language: str) -> str:
        return dict(self.names).get(language, self.name)


DEFAULT_CRISIS_LINES = (
    CrisisLine(
        "988 Suicide & Crisis Lifeline, call or text",
        "988",
        "24/7",
        names=(("es", "Línea 988 de crisis, llamada o texto"),),
    ),
    CrisisLine(
        "COPLINE (officers' line, answered by retired officers)",
        "1-800-267-5463",
        "24/7",
        names=(("es", "COPLINE (la atienden agentes retirados)"),),
    ),
    CrisisLine("Safe Call Now", "1-206-459-3020", "24/7"),
)


@dataclass(frozen=True, slots=True)
class CrisisConfig:
    lines: tuple[CrisisLine, ...] = DEFAULT_CRISIS_LINES
    # The number for danger right now (police, fire, ambulance).
    emergency: str = "911"


RESOURCE_KINDS = ("education", "clinician", "family", "chaplain", "financial")


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str  # one of RESOURCE_KINDS: how /resources groups it
    name: str
    contact: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class ResourcesConfig:
    entries: tuple[Resource, ...] = ()


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class Config:
    program: ProgramConfig = field(default_factory=ProgramConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    signal: SignalConfig = field(default_factory=SignalConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    crypto: CryptoConfig = field(default_factory=CryptoConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    crisis: CrisisConfig = field(default_factory=CrisisConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    followups: FollowupsConfig = field(default_factory=FollowupsConfig)
    incidents: IncidentsConfig = field(default_factory=IncidentsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: Path = Path("config.toml")


# --------------------------------------------------------------------------------------------
# Reading values


_KNOWN_KEYS: dict[str, frozenset[str]] = {
    "program": frozenset(
        {"name", "timezone", "confidentiality", "stats_k", "coverage_minimum", "language"}
    ),
    "telegram": frozenset(
        {
            "enabled",
            "token",
            "token_file",
            "base_url",
            "base_file_url",
            "bot_username",
            "poll_timeout",
            "rate_overall",
            "rate_per_chat",
            "rate_per_group",
            "mode",
            "webhook_url",
            "webhook_listen",
            "webhook_connections",
        }
    ),
    "signal": frozenset(
        {"enabled", "service", "number", "https", "rate_overall", "rate_per_chat"}
    ),
    "storage": frozenset({"path"}),
    "crypto": frozenset({"key_file"}),
    "routing": frozenset(
        {
            "offer_batch",
            "offer_batch_grows_to",
            "offer_batch_grows_after",
            "urgent_offers",
            "referral_after",
            "offer_timeout",
            "max_threads_per_helper",
            "contact_goal",
            "cooldown_after_urgent",
            "remember_helper_for",
            "ignored_offers_before_away",
            "escalate_to_chaplains_after",
            "page_coordinators_after",
            "give_up_after",
            "clock_tick",
        }
    ),
    "crisis": frozenset({"lines", "emergency"}),
    "resources": frozenset({"entries"}),
    "followups": frozenset(
        {
            "enabled",
            "send_at",
            "quiet_hours",
            "answer_days",
            "stale_after",
            "sweep_every",
            "retry_after",
            "helper_days",
            "max_helper_days",
            "plans",
        }
    ),
    "incidents": frozenset({"auto_close_days"}),
    "logging": frozenset({"level", "file"}),
}
_CRISIS_LINE_KEYS = frozenset(
    {"name", "contact", "hours"} | {f"name_{lang}" for lang in LANGUAGES}
)
_RESOURCE_KEYS = frozenset({"kind", "name", "contact", "note"})
# Keys people reach for that must not live in this file; each gets its own hint.
_REFUSED_KEYS = {
    ("crypto", "key_text"): f"the master key is never read from this file; set {MASTER_KEY_ENV} "
    "in the environment or point key_file at the key file",
    ("crypto", "master_key"): f"the master key is never read from this file; set "
    f"{MASTER_KEY_ENV} in the environment or point key_file at the key file",
}
_MAX_SHOWN = 60


def _show(value: object) -> str:
    """A short one-line rendering of a (non-secret) value for an error message."""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 1] + "…"
    return text


def _kind(value: object) -> str:
    """How TOML would describe a value's type, with an article: "a string", "an integer"."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return "a date or time"


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Reader:
    """Reads and checks the keys of one table; every error names the file and the key."""

    def __init__(
        self, label: str, where: str, table: Mapping[str, object], base_dir: Path
    ) -> None:
        self.label = label  # the file, as the operator named it
        self.where = where  # "[routing]" or "[[crisis.lines]] entry 2"
        self.table = table
        self.base_dir = base_dir

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(_one_line(f"{self.label}: {self.where} {key}: {message}"))

    def check_keys(self, known: frozenset[str], section: str) -> None:
        for key in self.table:
            if key in known:
                continue
            refused = _REFUSED_KEYS.get((section, key))
            if refused is not None:
                raise self.error(key, refused)
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = (
                f"did you mean {close[0]}?"
                if close
                else "expected one of: " + ", ".join(sorted(known))
            )
            raise ConfigError(_one_line(f"{self.label}: unknown key {self.where} {key}; {hint}"))

    def has(self, key: str) -> bool:
        return key in self.table

    def string(self, key: str, default: str, *, allow_empty: bool = False) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_kind(value)}")
        if not allow_empty and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def secret(self, key: str) -> str | None:
        """A secret string, or None when absent or blank; the value never enters a message."""
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_kind(value)}")
        return value.strip() or None

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_kind(value)}")
        return value

    def integer(self, key: str, default: int, low: int, high: int | None = None) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_kind(value)}")
        if value < low or (high is not None and value > high):
            wanted = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise self.error(key, f"expected an integer {wanted}, got {value}")
        return value

    def number(self, key: str, default: float, low: float) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {_kind(value)}")
        number = float(value)
        if not math.isfinite(number) or number < low:
            raise self.error(key, f"expected a number of at least {low:g}, got {_show(value)}")
        return number

    def duration(self, key: str, default: timedelta) -> timedelta:
        if key not in self.table:
            return default
        value = self.table[key]
        expected = 'expected a duration like "90s", "3m" or "2h"'
        if not isinstance(value, str):
            raise self.error(key, f"{expected}, got {_kind(value)}")
        try:
            parsed = parse_duration(value)
        except ValueError:
            raise self.error(key, f"{expected}, got {_show(value)}") from None
        if parsed <= timedelta(0):
            raise self.error(key, f"must be longer than zero, got {_show(value)}")
        return parsed

    def path(self, key: str, default: Path | None) -> Path | None:
        """A path resolved against the config file's directory; "" means none."""
        value = self.table.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str | Path):
            raise self.error(key, f"expected a file path (a string), got {_kind(value)}")
        if isinstance(value, str):
            if not value.strip():
                return None
            if "\0" in value:
                raise self.error(key, "expected a file path, got a string with a NUL character")
        return self.base_dir / Path(value).expanduser()

    def url(self, key: str, default: str) -> str:
        value = self.string(key, default).strip()
        if not value.startswith(("http://", "https://")):
            raise self.error(
                key, f'expected a URL starting with "http://" or "https://", got {_show(value)}'
            )
        return value


# --------------------------------------------------------------------------------------------
# Sections


def _program(r: _Reader) -> ProgramConfig:
    defaults = ProgramConfig()
    timezone = r.string("timezone", defaults.timezone).strip()
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.error(
            "timezone",
            f'expected an IANA time zone like "America/Chicago", got {_show(timezone)} '
            "(if every zone fails, install the tzdata package)",
        ) from None
    return ProgramConfig(
        name=r.string("name", defaults.name).strip(),
        timezone=timezone,
        confidentiality=r.string("confidentiality", defaults.confidentiality).strip(),
        stats_k=r.integer("stats_k", defaults.stats_k, 2, 100),
        coverage_minimum=r.integer("coverage_minimum", defaults.coverage_minimum, 1, 1000),
        language=_language(r, defaults.language),
    )


def _language(r: _Reader, default: str) -> str:
    language = r.string("language", default).strip().lower()
    if language not in LANGUAGES:
        raise r.error("language", f"expected one of {', '.join(LANGUAGES)}, got {_show(language)}")
    return language


def _telegram(r: _Reader, env: Mapping[str, str]) -> TelegramConfig:
    defaults = TelegramConfig()
    enabled = r.boolean("enabled", defaults.enabled)
    base_url = r.url("base_url", defaults.base_url)
    if r.has("base_file_url"):
        base_file_url = r.url("base_file_url", defaults.base_file_url)
    elif base_url.endswith("/bot"):
        base_file_url = base_url.removesuffix("/bot") + "/file/bot"
    else:
        raise r.error(
            "base_file_url",
            'missing — it can only be derived when base_url ends in "/bot"; set it explicitly',
        )
    token = _token(r, env) if enabled else ""
    return TelegramConfig(
        enabled=enabled,
        token=token,
        base_url=base_url,
        base_file_url=base_file_url,
        bot_username=r.string("bot_username", defaults.bot_username, allow_empty=True)
        .strip()
        .removeprefix("@"),
        poll_timeout=r.number("poll_timeout", defaults.poll_timeout, 0.0),
        rate_overall=_rate(r, "rate_overall", defaults.rate_overall),
        rate_per_chat=_rate(r, "rate_per_chat", defaults.rate_per_chat),
        rate_per_group=_rate(r, "rate_per_group", defaults.rate_per_group),
        **_webhook(r, defaults),
    )


_LISTEN = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})")


def _webhook(r: _Reader, defaults: TelegramConfig) -> dict[str, Any]:
    mode = r.string("mode", defaults.mode).strip().lower()
    if mode not in ("polling", "webhook"):
        raise r.error("mode", f'expected "polling" or "webhook", got {_show(mode)}')
    listen = r.string("webhook_listen", defaults.webhook_listen).strip()
    matched = _LISTEN.fullmatch(listen)
    if matched is None or not 0 < int(matched["port"]) < 65536:
        raise r.error(
            "webhook_listen", f'expected host:port like "127.0.0.1:8081", got {_show(listen)}'
        )
    url = r.string("webhook_url", defaults.webhook_url, allow_empty=True).strip()
    if mode == "webhook" and not url.startswith("https://"):
        raise r.error(
            "webhook_url",
            "webhook mode needs the public https:// address Telegram posts updates to, "
            f"got {_show(url)}",
        )
    return {
        "mode": mode,
        "webhook_url": url,
        "webhook_listen": listen,
        "webhook_connections": r.integer(
            "webhook_connections", defaults.webhook_connections, 1, 100
        ),
    }


def _rate(r: _Reader, key: str, default: float) -> float:
    value = r.number(key, default, 0.0)
    if value <= 0:
        raise r.error(key, "expected a number above 0 (a limit of 0 would send nothing)")
    return value


def _token(r: _Reader, env: Mapping[str, str]) -> str:
    in_file = r.secret("token")
    if in_file is not None and r.has("token_file"):
        raise r.error("token", "set either token or token_file, not both")
    if in_file is not None:
        token, key, source = in_file, "token", "this file"
    elif env.get(TOKEN_ENV, "").strip():
        token, key, source = env[TOKEN_ENV].strip(), "token", TOKEN_ENV
    elif r.has("token_file"):
        token_path = r.path("token_file", None)
        if token_path is None:
            raise r.error("token_file", "expected a file path, got an empty string")
        try:
            token = token_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise r.error("token_file", f"file {token_path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise r.error("token_file", f"cannot read {token_path} ({reason})") from None
        key, source = "token_file", str(token_path)
        if not token:
            raise r.error("token_file", f"file {token_path} is empty")
    else:
        raise r.error("token", f"missing — set it here, in {TOKEN_ENV}, or with token_file")
    if token == TOKEN_PLACEHOLDER:
        raise r.error(
            key,
            f"still the placeholder {TOKEN_PLACEHOLDER} (from {source}); "
            "put the token @BotFather gave you there",
        )
    if any(ch.isspace() for ch in token) or not token.isprintable():
        # Never echo the token itself, even a broken one.
        raise r.error(key, f"the token from {source} contains spaces or control characters")
    return token


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SERVICE = re.compile(r"(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})")
_LOOPBACK = ("127.", "localhost", "[::1]")


def _signal(r: _Reader) -> SignalConfig:
    defaults = SignalConfig()
    enabled = r.boolean("enabled", defaults.enabled)
    service = r.string("service", defaults.service).strip()
    matched = _SERVICE.fullmatch(service)
    if matched is None or not 0 < int(matched["port"]) < 65536:
        raise r.error(
            "service",
            f'expected host:port without a scheme, like "127.0.0.1:8080", got {_show(service)}',
        )
    https = r.boolean("https", defaults.https)
    host = matched["host"].lower()
    if not https and not (host == "localhost" or host.startswith(_LOOPBACK)):
        raise r.error(
            "service",
            f"plain HTTP is only for a gateway on this machine (127.0.0.1), got {_show(host)}; "
            "keep signal-cli-rest-api on loopback or set https = true",
        )
    number = r.string("number", defaults.number, allow_empty=True).strip().replace(" ", "")
    if enabled and not number:
        raise r.error(
            "number", 'missing — the bot\'s registered Signal number, like "+15555550123"'
        )
    if number and not _E164.fullmatch(number):
        raise r.error(
            "number",
            f'expected a number in international form like "+15555550123", got {_show(number)}',
        )
    return SignalConfig(
        enabled=enabled,
        service=service,
        number=number,
        https=https,
        rate_overall=_rate(r, "rate_overall", defaults.rate_overall),
        rate_per_chat=_rate(r, "rate_per_chat", defaults.rate_per_chat),
    )


def _storage(r: _Reader) -> StorageConfig:
    path = r.path("path", StorageConfig().path)
    if path is None:
        raise r.error("path", "must not be empty — name the database file")
    return StorageConfig(path=path)


def _crypto(r: _Reader, env: Mapping[str, str]) -> CryptoConfig:
    key_text = env.get(MASTER_KEY_ENV, "").strip() or None
    return CryptoConfig(key_file=r.path("key_file", CryptoConfig().key_file), key_text=key_text)


def _routing(r: _Reader) -> RoutingConfig:
    d = RoutingConfig()
    routing = RoutingConfig(
        offer_batch=r.integer("offer_batch", d.offer_batch, 1, 50),
        offer_batch_grows_to=r.integer("offer_batch_grows_to", d.offer_batch_grows_to, 0, 50),
        offer_batch_grows_after=r.duration("offer_batch_grows_after", d.offer_batch_grows_after),
        urgent_offers=r.integer("urgent_offers", d.urgent_offers, 0, MOST_URGENT_OFFERS),
        referral_after=r.integer("referral_after", d.referral_after, 2, 100),
        offer_timeout=r.duration("offer_timeout", d.offer_timeout),
        max_threads_per_helper=r.integer("max_threads_per_helper", d.max_threads_per_helper, 1),
        contact_goal=r.duration("contact_goal", d.contact_goal),
        cooldown_after_urgent=r.duration("cooldown_after_urgent", d.cooldown_after_urgent),
        remember_helper_for=r.duration("remember_helper_for", d.remember_helper_for),
        ignored_offers_before_away=r.integer(
            "ignored_offers_before_away", d.ignored_offers_before_away, 1
        ),
        escalate_to_chaplains_after=r.duration(
            "escalate_to_chaplains_after", d.escalate_to_chaplains_after
        ),
        page_coordinators_after=r.duration("page_coordinators_after", d.page_coordinators_after),
        give_up_after=r.duration("give_up_after", d.give_up_after),
        clock_tick=r.duration("clock_tick", d.clock_tick),
    )
    if 0 < routing.urgent_offers < routing.offer_batch:
        raise r.error(
            "urgent_offers",
            f"must be 0 (everyone) or at least offer_batch ({routing.offer_batch}): an urgent "
            "request never goes to fewer helpers at once than any other",
        )
    for earlier in ("escalate_to_chaplains_after", "page_coordinators_after"):
        if getattr(routing, earlier) > routing.give_up_after:
            raise r.error(
                "give_up_after",
                f"must not be shorter than {earlier}, or that step would never happen",
            )
    return routing


def _crisis(r: _Reader) -> CrisisConfig:
    emergency = r.string("emergency", CrisisConfig().emergency).strip()
    if not r.has("lines"):
        return CrisisConfig(emergency=emergency)
    entries = r.table["lines"]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise r.error("lines", "expected [[crisis.lines]] tables with name, contact and hours")
    if not entries:
        raise r.error(
            "lines", "must list at least one crisis line — leave it out to use the US defaults"
        )
    lines: list[CrisisLine] = []
    for number, entry in enumerate(entries, start=1):
        er = _Reader(r.label, f"[[crisis.lines]] entry {number}", entry, r.base_dir)
        er.check_keys(_CRISIS_LINE_KEYS, "crisis.lines")
        for key in ("name", "contact"):
            if key not in entry:
                raise er.error(key, "missing — each crisis line needs a name and a contact")
        names = []
        for language in LANGUAGES:
            key = f"name_{language}"
            if er.has(key):
                names.append((language, er.string(key, "").strip()))
        lines.append(
            CrisisLine(
                name=er.string("name", "").strip(),
                contact=er.string("contact", "").strip(),
                hours=er.string("hours", "24/7").strip(),
                names=tuple(names),
            )
        )
    return CrisisConfig(lines=tuple(lines), emergency=emergency)


def _resources(r: _Reader) -> ResourcesConfig:
    if not r.has("entries"):
        return ResourcesConfig()
    entries = r.table["entries"]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise r.error("entries", "expected [[resources.entries]] tables with kind, name, contact")
    found: list[Resource] = []
    for number, entry in enumerate(entries, start=1):
        er = _Reader(r.label, f"[[resources.entries]] entry {number}", entry, r.base_dir)
        er.check_keys(_RESOURCE_KEYS, "resources.entries")
        for key in ("kind", "name", "contact"):
            if key not in entry:
                raise er.error(key, "missing — each resource needs a kind, a name and a contact")
        kind = er.string("kind", "").strip()
        if kind not in RESOURCE_KINDS:
            raise er.error(
                "kind", f"expected one of {', '.join(RESOURCE_KINDS)}, got {_show(kind)}"
            )
        found.append(
            Resource(
                kind=kind,
                name=er.string("name", "").strip(),
                contact=er.string("contact", "").strip(),
                note=er.string("note", "").strip(),
            )
        )
    return ResourcesConfig(entries=tuple(found))


_TOPICS = tuple(name for name, _ in DEFAULT_PLANS)


def _followups(r: _Reader) -> FollowupsConfig:
    d = FollowupsConfig()
    send_at = r.string("send_at", d.send_at).strip()
    try:
        parse_clock(send_at)
    except ValueError:
        raise r.error(
            "send_at", f'expected a time of day like "10:00", got {_show(send_at)}'
        ) from None
    quiet = r.string("quiet_hours", d.quiet_hours, allow_empty=True).strip()
    if quiet:
        try:
            parse_quiet(quiet)
        except ValueError as exc:
            raise r.error("quiet_hours", f'{exc} (e.g. "22:00-08:00", or "" for none)') from None
    max_helper_days = r.integer("max_helper_days", d.max_helper_days, 1, 365)
    return FollowupsConfig(
        enabled=r.boolean("enabled", d.enabled),
        send_at=send_at,
        quiet_hours=quiet,
        answer_days=r.integer("answer_days", d.answer_days, 1, 30),
        stale_after=r.duration("stale_after", d.stale_after),
        sweep_every=r.duration("sweep_every", d.sweep_every),
        retry_after=r.duration("retry_after", d.retry_after),
        helper_days=r.integer("helper_days", d.helper_days, 1, max_helper_days),
        max_helper_days=max_helper_days,
        plans=_plans(r) if r.has("plans") else d.plans,
    )


def _plans(r: _Reader) -> tuple[tuple[str, tuple[int, ...]], ...]:
    table = r.table["plans"]
    if not isinstance(table, dict):
        raise r.error("plans", "expected a [followups.plans] table: topic = [days, ...]")
    plans: list[tuple[str, tuple[int, ...]]] = []
    for topic, days in table.items():
        if topic not in _TOPICS:
            expected = "unknown topic; expected one of: " + ", ".join(_TOPICS)
            raise r.error(f"plans.{topic}", expected)
        valid = isinstance(days, list) and all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 365 for d in days
        )
        if not valid or list(days) != sorted(set(days)):
            raise r.error(
                f"plans.{topic}",
                f"expected days after the conversation, rising, 1 to 365, like [1, 3, 7], "
                f"got {_show(days)}",
            )
        plans.append((topic, tuple(days)))
    return tuple(plans)


def _incidents(r: _Reader) -> IncidentsConfig:
    days = r.integer("auto_close_days", IncidentsConfig().auto_close_days, 1, 365)
    return IncidentsConfig(auto_close_days=days)


def _logging(r: _Reader) -> LoggingConfig:
    level = r.string("level", LoggingConfig().level).strip().upper()
    if level not in LOG_LEVELS:
        raise r.error("level", f"expected one of {', '.join(LOG_LEVELS)}, got {_show(level)}")
    return LoggingConfig(level=level, file=r.path("file", None))


# --------------------------------------------------------------------------------------------
# Loading


def _read_toml(path: Path, label: str) -> dict[str, object]:
    try:
        with path.open("rb") as src:
            return tomllib.load(src)
    except FileNotFoundError:
        raise ConfigError(
            f"{label}: file not found — copy config.example.toml there and edit it"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, expected a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not valid UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_one_line(f"{label}: invalid TOML: {exc}")) from None


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and check the config file at `path`; `env` defaults to os.environ.

    Relative paths inside the file resolve against the file's own directory. Raises
    ConfigError (one line, naming the file and key) on any problem.
    """
    if env is None:
        env = os.environ
    label = str(path)
    document = _read_toml(path, label)
    base_dir = path.absolute().parent

    sections: dict[str, _Reader] = {}
    for name, table in document.items():
        if name not in _KNOWN_KEYS:
            close = difflib.get_close_matches(name, sorted(_KNOWN_KEYS), n=1)
            if not isinstance(table, dict):
                hint = "settings belong inside a section such as [program]"
                raise ConfigError(_one_line(f"{label}: unknown top-level key {name}; {hint}"))
            hint = (
                f"did you mean [{close[0]}]?"
                if close
                else "expected one of: " + ", ".join(f"[{s}]" for s in _KNOWN_KEYS)
            )
            raise ConfigError(_one_line(f"{label}: unknown section [{name}]; {hint}"))
        if not isinstance(table, dict):
            raise ConfigError(f"{label}: {name}: expected a [{name}] section, got {_kind(table)}")
        reader = _Reader(label, f"[{name}]", table, base_dir)
        reader.check_keys(_KNOWN_KEYS[name], name)
        sections[name] = reader

    def section(name: str) -> _Reader:
        return sections.get(name) or _Reader(label, f"[{name}]", {}, base_dir)

    # Keyword arguments run in order: the token (which may read another file) comes last, so
    # a typo elsewhere is reported before "token: missing".
    return Config(
        program=_program(section("program")),
        storage=_storage(section("storage")),
        crypto=_crypto(section("crypto"), env),
        routing=_routing(section("routing")),
        crisis=_crisis(section("crisis")),
        resources=_resources(section("resources")),
        followups=_followups(section("followups")),
        incidents=_incidents(section("incidents")),
        logging=_logging(section("logging")),
        signal=_signal(section("signal")),
        telegram=_telegram(section("telegram"), env),
        source=path.absolute(),
    )
