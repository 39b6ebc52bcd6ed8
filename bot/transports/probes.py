"""One-shot calls from the command line: checks that a platform answers with our credentials
(for `peerline check --live`), and clearing an erased member's Telegram menu (for
`peerline roster revoke N --purge`, which erases the address the running bot would need).

Each returns a one-line verdict and never puts the token or a library's message in it (PTB's
can quote the token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from telegram import Bot, BotCommandScopeChat
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest

TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    detail: str


async def _on_telegram(
    token: str, base_url: str, base_file_url: str, call: Callable[[Bot], Awaitable[str]]
) -> ProbeResult:
    """One call to the Bot API; its verdict on success (what `call` returns), or why not."""
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
    return ProbeResult(True, detail)


async def probe_telegram(token: str, base_url: str, base_file_url: str) -> ProbeResult:
    async def who_am_i(bot: Bot) -> str:
        me = await bot.get_me()
        return f"the token works for @{me.username}"

    return await _on_telegram(token, base_url, base_file_url, who_am_i)


async def clear_telegram_menu(
    token: str, base_url: str, base_file_url: str, chat_id: int
) -> ProbeResult:
    """Delete this chat's own command menu: the app shows the stranger's (/start) again."""

    async def clear(bot: Bot) -> str:
        await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
        return "their Telegram menu is cleared"

    return await _on_telegram(token, base_url, base_file_url, clear)


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
