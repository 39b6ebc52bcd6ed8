"""One-shot calls from the command line: checks that a platform answers with our credentials
and, in webhook mode, that Telegram's updates go where Peerline listens (for
`peerline check --live`), and setting or clearing a member's own Telegram menu (for
`peerline roster revoke N [--purge]` and `roster restore N`: at once, not at their next
message; a purge erases the address the running bot would need).

Each returns a one-line verdict and never puts the token or a library's message in it (PTB's
can quote the token); Telegram's own reason for a failed webhook delivery is quoted (it names
no token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest

from bot.events import Menu

TIMEOUT = 10.0
# A delivery error this recent, with updates waiting, means Telegram cannot deliver now (it keeps
# retrying, so a lasting failure keeps the error fresh); an older one is history.
RECENT_WEBHOOK_ERROR = 600.0  # seconds


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    detail: str


async def _on_telegram(
    token: str,
    base_url: str,
    base_file_url: str,
    call: Callable[[Bot], Awaitable[str | ProbeResult]],
) -> ProbeResult:
    """One call to the Bot API; its verdict (what `call` returns: a detail when it is simply
    fine), or why the Bot API could not be asked."""
    request = HTTPXRequest(
        connect_timeout=TIMEOUT, read_timeout=TIMEOUT, write_timeout=TIMEOUT, pool_timeout=TIMEOUT
    )
    bot = Bot(token, base_url=base_url, base_file_url=base_file_url, request=request)
    try:
        await request.initialize()
        detail = await call(bot)
    except InvalidToken:
        return ProbeResult(False, "the Bot API refused the token (revoked or mistyped?)")
    except NetworkError as exc:
        return ProbeResult(False, f"could not reach the Bot API ({type(exc).__name__})")
    except TelegramError as exc:
        return ProbeResult(False, f"the Bot API answered with an error ({type(exc).__name__})")
    finally:
        await request.shutdown()
    return detail if isinstance(detail, ProbeResult) else ProbeResult(True, detail)


async def probe_telegram(token: str, base_url: str, base_file_url: str) -> ProbeResult:
    async def who_am_i(bot: Bot) -> str:
        me = await bot.get_me()
        return f"the token works for @{me.username}"

    return await _on_telegram(token, base_url, base_file_url, who_am_i)


async def probe_webhook(token: str, base_url: str, base_file_url: str, url: str) -> ProbeResult:
    """Webhook mode: Telegram sends updates to `url` (`webhook_url`) and is not failing to
    deliver them (getWebhookInfo)."""

    async def where_to(bot: Bot) -> ProbeResult:
        info = await bot.get_webhook_info()
        waiting = info.pending_update_count
        if not info.url:
            return ProbeResult(
                False,
                f"no webhook is set at Telegram (updates waiting there: {waiting}); 'peerline "
                "run' sets it at start: if Peerline is running, something has deleted it",
            )
        if info.url != url:
            return ProbeResult(
                False,
                f"Telegram sends updates to {info.url}, not to webhook_url ({url}); 'peerline "
                "run' sets it at start: if Peerline is running, something else has set it",
            )
        failed_at = info.last_error_date
        if failed_at is not None and waiting:
            seconds = (datetime.now(UTC) - failed_at.astimezone(UTC)).total_seconds()
            if seconds < RECENT_WEBHOOK_ERROR:
                said = (info.last_error_message or "no reason given")[:120]
                return ProbeResult(
                    False,
                    f"Telegram cannot deliver to webhook_url (updates waiting: {waiting}); "
                    f"last error {max(0, round(seconds))} s ago: {said}. Is Peerline running, "
                    "and the proxy in front of it?",
                )
        return ProbeResult(True, f"Telegram sends updates to webhook_url (waiting: {waiting})")

    return await _on_telegram(token, base_url, base_file_url, where_to)


async def set_telegram_menu(
    token: str, base_url: str, base_file_url: str, chat_id: int, commands: Menu
) -> ProbeResult:
    """Set this chat's own command menu; () deletes it, and the app shows the stranger's
    (/start) again."""
    scope = BotCommandScopeChat(chat_id)

    async def apply(bot: Bot) -> str:
        if not commands:
            await bot.delete_my_commands(scope=scope)
            return "their Telegram menu is cleared"
        listed = [BotCommand(name, description) for name, description in commands]
        await bot.set_my_commands(listed, scope=scope)
        return "their Telegram menu is set"

    return await _on_telegram(token, base_url, base_file_url, apply)


async def probe_signal(service: str, number: str, *, https: bool) -> ProbeResult:
    """The gateway is up, in json-rpc mode, and has the bot's number registered."""
    root = f"{'https' if https else 'http'}://{service}"
    try:
        async with httpx.AsyncClient(base_url=root, timeout=TIMEOUT, trust_env=False) as http:
            health = await http.get("/v1/health")
            if health.status_code != 204:
                return ProbeResult(
                    False, f"the gateway is not healthy (HTTP {health.status_code})"
                )
            about = await http.get("/v1/about")
            mode = about.json().get("mode") if about.status_code == 200 else None
            if mode != "json-rpc":
                return ProbeResult(False, f"the gateway must run in json-rpc mode, not {mode!r}")
            account = await http.get(f"/v1/identities/{number}")
            if account.status_code != 200:
                return ProbeResult(
                    False, "the gateway does not know the bot's number (registered or linked?)"
                )
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return ProbeResult(False, f"could not reach the Signal gateway ({type(exc).__name__})")
    return ProbeResult(True, "the gateway answers, in json-rpc mode, for the bot's number")
