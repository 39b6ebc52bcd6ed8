"""The `peerline` command line: check, keygen, invite create; one clear line on errors."""

from __future__ import annotations

import asyncio
import re
import stat
from datetime import date
from pathlib import Path

import pytest

from bot.app import utc_now
from bot.cli import main
from bot.events import Address, Platform
from bot.followups import FollowUp, Kind
from bot.model import MemberId
from bot.storage.repository import InviteProblem, Repository, new_followup_id
from crypto import Vault, load_master_key, normalize_invite_code
from tests.ports import silent_port

CODE = re.compile(r"^[2-9A-HJKMNP-TV-Z]{4}(-[2-9A-HJKMNP-TV-Z]{4}){4}$")


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.delenv("PEERLINE_MASTER_KEY", raising=False)
    path = tmp_path / "config.toml"
    # The Bot API where nothing answers: what the CLI does on Telegram (a revoked member's menu
    # cleared) must never reach the real one.
    path.write_text(
        f'[telegram]\nbot_username = "peerline_test_bot"\nbase_url = "{unreachable_bot_api()}"\n'
        '[storage]\npath = "data/peerline.db"\n'
        '[crypto]\nkey_file = "secrets/master.key"\n',
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_keygen_writes_a_private_key_once(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_file, "keygen") == 0
    key = config_file.parent / "secrets" / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = key.read_bytes()
    assert run(config_file, "keygen") == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert key.read_bytes() == before


def test_check_reports_ok_and_missing_key(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_file, "check") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    run(config_file, "keygen")
    capsys.readouterr()
    assert run(config_file, "check") == 0
    assert "OK" in capsys.readouterr().out


def test_check_names_the_wrong_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[routing]\noffer_timeout = "soon"\n', encoding="utf-8")
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert "offer_timeout" in err and err.count("\n") == 1


def test_invite_create_prints_codes_and_deep_links(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_file, "keygen")
    capsys.readouterr()
    assert (
        run(
            config_file,
            "invite",
            "create",
            "--role",
            "officer",
            "--count",
            "3",
            "--agency",
            "Springfield PD",
            "--expires",
            "2d",
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line in lines:
        code, link = line.split()
        assert CODE.match(code)
        assert link == f"https://t.me/peerline_test_bot?start={code}"
    database = (config_file.parent / "data" / "peerline.db").read_bytes()
    assert all(line.split()[0].encode() not in database for line in lines)


def test_helper_invites_need_a_certification_date(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_file, "keygen")
    capsys.readouterr()
    assert run(config_file, "invite", "create", "--role", "peer") == 2
    assert "--certified-until" in capsys.readouterr().err
    assert (
        run(config_file, "invite", "create", "--role", "peer", "--certified-until", "2099-01-01")
        == 0
    )


def test_bad_duration_is_one_clear_line(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_file, "keygen")
    capsys.readouterr()
    assert run(config_file, "invite", "create", "--role", "officer", "--expires", "soon") == 2
    assert capsys.readouterr().err == (
        "error: --expires: expected a duration like 7d or 12h, got 'soon'\n"
    )


def test_roster_list_supervise_and_revoke(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    run(config_file, "keygen")
    run(config_file, "invite", "create", "--role", "officer", "--agency", "Springfield PD")
    run(config_file, "invite", "create", "--role", "peer", "--certified-until", "2099-01-01")
    codes = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]

    async def redeem() -> None:
        key = load_master_key(config_file.parent / "secrets" / "master.key")
        repo = await Repository.open(config_file.parent / "data" / "peerline.db", Vault(key))
        for number, code in enumerate(codes, start=1):
            normalized = normalize_invite_code(code)
            assert normalized is not None
            await repo.redeem_invite(
                normalized, Address(Platform.TELEGRAM, str(number)), utc_now()
            )
        # Officer 1 agreed to a check-in from helper 2; helper 2 has their own weekly one.
        for member, helper in ((1, 2), (2, None)):
            await repo.add_followup(
                FollowUp(
                    id=new_followup_id(),
                    member_id=MemberId(member),
                    kind=Kind.HELPER if helper else Kind.WELLNESS,
                    plan="helper" if helper else "weekly",
                    anchor=date(2026, 11, 24),
                    offsets=(3,) if helper else (),
                    step=0,
                    due_at=utc_now(),
                    helper_id=MemberId(helper) if helper else None,
                )
            )
        await repo.close()

    async def pending() -> int:
        key = load_master_key(config_file.parent / "secrets" / "master.key")
        repo = await Repository.open(config_file.parent / "data" / "peerline.db", Vault(key))
        try:
            return await repo.pending_followups()
        finally:
            await repo.close()

    asyncio.run(redeem())
    assert run(config_file, "roster", "list") == 0
    listing = capsys.readouterr().out
    assert "officer" in listing and "Springfield PD" in listing and "peer" in listing
    assert run(config_file, "roster", "supervise", "--supervisor", "2", "--report", "1") == 0
    assert run(config_file, "roster", "supervise", "--supervisor", "2", "--report", "2") == 2
    assert run(config_file, "roster", "revoke", "1") == 0
    assert "revoked" in capsys.readouterr().out
    assert asyncio.run(pending()) == 1  # the link went with the revoked officer
    run(config_file, "roster", "list")
    assert "revoked" in capsys.readouterr().out
    assert run(config_file, "roster", "revoke", "99") == 2


def unreachable_bot_api() -> str:
    """A Bot API address on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{silent_port()}/bot"


def unreachable_telegram_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose Bot API is a loopback port nothing listens on, logging to a file."""
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", "123:secret-token-value")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[telegram]\nbase_url = "{unreachable_bot_api()}"\n[logging]\nfile = "peerline.log"\n',
        encoding="utf-8",
    )
    return path


def test_run_that_cannot_reach_telegram_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = unreachable_telegram_config(tmp_path, monkeypatch)
    assert main(["--config", str(path), "keygen"]) == 0
    capsys.readouterr()
    assert main(["--config", str(path), "run"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: could not reach the Telegram Bot API")
    assert "Traceback" not in err and "secret-token-value" not in err
    logged = (tmp_path / "peerline.log").read_text(encoding="utf-8")
    assert "secret-token-value" not in logged
    # The cause is in the log too, for whoever reads it there (systemd, a log file).
    assert "ERROR bot.cli.service: could not start: could not reach the Telegram Bot API" in logged


def _leaf_commands() -> list[list[str]]:
    from bot.cli.entry import build_parser  # noqa: PLC0415

    epilog = build_parser().epilog or ""
    return [
        line.split("  ")[1].split()[1:]
        for line in epilog.splitlines()
        if line.startswith("  peerline ")
    ]


def test_help_lists_every_command_and_each_has_its_own_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    top = capsys.readouterr().out
    leaves = _leaf_commands()
    names = {" ".join(leaf) for leaf in leaves}
    assert {"run", "demo", "check", "keygen", "invite create", "roster list"} <= names
    for leaf in leaves:
        assert f"peerline {' '.join(leaf)} " in top
        with pytest.raises(SystemExit) as exited:
            main([*leaf, "--help"])
        assert exited.value.code == 0
        assert f"usage: peerline {' '.join(leaf)}" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert re.fullmatch(r"peerline \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_config_before_or_after_the_command_or_from_the_environment(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(config_file.parent.parent)  # no config.toml here
    assert main(["keygen", "--config", str(config_file)]) == 0
    assert main(["check", "--config", str(config_file)]) == 0
    capsys.readouterr()
    assert main(["check"]) == 2
    assert "config.toml: file not found" in capsys.readouterr().err
    monkeypatch.setenv("PEERLINE_CONFIG", str(config_file))
    assert main(["check"]) == 0
    assert str(config_file) in capsys.readouterr().out
    # An explicit --config wins over the environment, wherever it is written.
    other = config_file.parent / "other.toml"
    other.write_text('[routing]\noffer_timeout = "soon"\n', encoding="utf-8")
    assert main(["check", "--config", str(other)]) == 2
    assert main(["--config", str(other), "check"]) == 2
    assert (
        main(
            [
                "--config",
                str(other),
                "invite",
                "create",
                "--config",
                str(config_file),
                "--role",
                "officer",
            ]
        )
        == 0
    )


def test_signal_link_and_reconfirm_after_a_safety_number_change(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file.write_text(
        config_file.read_text(encoding="utf-8")
        + '[signal]\nenabled = true\nnumber = "+14155550100"\n',
        encoding="utf-8",
    )
    run(config_file, "keygen")
    run(config_file, "invite", "create", "--role", "peer", "--certified-until", "2099-01-01")
    code, telegram_link, signal_link = capsys.readouterr().out.splitlines()[-1].split()
    assert telegram_link.startswith("https://t.me/")
    assert signal_link == "https://signal.me/#p/+14155550100"

    async def join_and_hold() -> None:
        key = load_master_key(config_file.parent / "secrets" / "master.key")
        repo = await Repository.open(config_file.parent / "data" / "peerline.db", Vault(key))
        normalized = normalize_invite_code(code)
        assert normalized is not None
        member = await repo.redeem_invite(
            normalized, Address(Platform.SIGNAL, "0b9e6d1c-2f1e-4f7a-9c1b-0d3f5e6a7b8c"), utc_now()
        )
        assert not isinstance(member, InviteProblem)
        await repo.set_identity_hold(member.id, True)
        await repo.close()

    asyncio.run(join_and_hold())
    run(config_file, "roster", "list")
    assert "held" in capsys.readouterr().out
    assert run(config_file, "roster", "reconfirm", "1") == 0
    assert run(config_file, "roster", "reconfirm", "1") == 2  # nothing to confirm any more
    capsys.readouterr()
    run(config_file, "roster", "list")
    assert "held" not in capsys.readouterr().out


def test_check_refuses_a_zero_rate_limit(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_file, "keygen")
    capsys.readouterr()
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(
        text.replace("[telegram]\n", "[telegram]\nrate_per_chat = 0\n"), encoding="utf-8"
    )
    assert run(config_file, "check") == 2
    assert "[telegram] rate_per_chat: expected a number above 0" in capsys.readouterr().err
