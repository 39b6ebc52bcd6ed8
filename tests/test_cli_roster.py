"""`peerline roster` import, export, certify, restore, coordinator; `invite create --format`."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.app import utc_now
from bot.cli import main
from bot.events import Address, Platform
from bot.model import Category, Member, MemberId, Role
from bot.storage.repository import Repository
from crypto import Vault, load_master_key, normalize_invite_code

NEXT_YEAR = (date.today() + timedelta(days=365)).isoformat()  # noqa: DTZ011 - a calendar day


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.delenv("PEERLINE_MASTER_KEY", raising=False)
    monkeypatch.delenv("PEERLINE_CONFIG", raising=False)
    path = tmp_path / "config.toml"
    path.write_text(
        '[program]\nname = "Metro Peer Support"\n'
        '[telegram]\nbot_username = "peerline_test_bot"\n'
        '[storage]\npath = "peerline.db"\n[crypto]\nkey_file = "master.key"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(path), "keygen"]) == 0
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


async def _open(config: Path) -> Repository:
    key = load_master_key(config.parent / "master.key")
    return await Repository.open(config.parent / "peerline.db", Vault(key))


def redeem(config: Path, codes: list[str], first_chat: int = 1) -> list[Member]:
    async def go() -> list[Member]:
        repo = await _open(config)
        joined = []
        for number, code in enumerate(codes, start=first_chat):
            normalized = normalize_invite_code(code)
            assert normalized is not None
            member = await repo.redeem_invite(
                normalized, Address(Platform.TELEGRAM, str(number)), utc_now()
            )
            assert isinstance(member, Member)
            joined.append(member)
        await repo.close()
        return joined

    return asyncio.run(go())


def members(config: Path) -> dict[int, Member]:
    async def go() -> dict[int, Member]:
        repo = await _open(config)
        try:
            return {m.id: m for m in await repo.all_members()}
        finally:
            await repo.close()

    return asyncio.run(go())


def invite(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert run(config, "invite", "create", *args) == 0
    return capsys.readouterr().out.split()[0]


@pytest.fixture
def roster(config_file: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Member]:
    """An officer (1), a peer (2), a chaplain (3) and a coordinator (4)."""
    codes = [
        invite(config_file, capsys, "--role", "officer", "--agency", "Springfield PD"),
        invite(config_file, capsys, "--role", "peer", "--certified-until", NEXT_YEAR),
        invite(config_file, capsys, "--role", "chaplain", "--certified-until", NEXT_YEAR),
        invite(config_file, capsys, "--role", "coordinator"),
    ]
    joined = redeem(config_file, codes)
    capsys.readouterr()
    return dict(zip(("officer", "peer", "chaplain", "coordinator"), joined, strict=True))


def test_certify_restore_and_coordinator(
    config_file: Path, roster: dict[str, Member], capsys: pytest.CaptureFixture[str]
) -> None:
    peer, officer = roster["peer"], roster["officer"]
    later = (date.today() + timedelta(days=700)).isoformat()  # noqa: DTZ011
    assert run(config_file, "roster", "certify", str(peer.id), "--until", later) == 0
    assert members(config_file)[peer.id].certified_until == date.fromisoformat(later)
    capsys.readouterr()
    assert run(config_file, "roster", "certify", str(officer.id), "--until", later) == 2
    assert "only helpers are certified" in capsys.readouterr().err
    assert run(config_file, "roster", "certify", str(peer.id), "--until", "2001-01-01") == 2
    assert "in the past" in capsys.readouterr().err
    assert run(config_file, "roster", "certify", "99", "--until", later) == 2
    assert "no member number 99" in capsys.readouterr().err

    assert run(config_file, "roster", "restore", str(peer.id)) == 2
    assert "not revoked" in capsys.readouterr().err
    assert run(config_file, "roster", "revoke", str(peer.id)) == 0
    assert not members(config_file)[peer.id].active
    assert run(config_file, "roster", "restore", str(peer.id)) == 0
    assert members(config_file)[peer.id].active
    assert run(config_file, "roster", "restore", "99") == 2

    assert run(config_file, "roster", "coordinator", str(peer.id), "on") == 0
    assert members(config_file)[peer.id].is_coordinator
    capsys.readouterr()
    assert run(config_file, "roster", "list") == 0
    assert "peer+c" in capsys.readouterr().out
    assert run(config_file, "roster", "coordinator", str(peer.id), "off") == 0
    assert not members(config_file)[peer.id].is_coordinator
    capsys.readouterr()
    assert run(config_file, "roster", "coordinator", str(officer.id), "on") == 2
    assert "officer" in capsys.readouterr().err
    assert run(config_file, "roster", "coordinator", "99", "on") == 2


def _import(config: Path, tmp_path: Path, text: str, *args: str) -> int:
    path = tmp_path / "class.csv"
    path.write_text(text, encoding="utf-8")
    return run(config, "roster", "import", str(path), *args)


def test_import_reports_every_bad_row_by_line_and_applies_nothing(
    config_file: Path,
    roster: dict[str, Member],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer, officer = roster["peer"], roster["officer"]
    text = (
        "member,display_name,role,agency,certified_until,topics,supervisor\n"
        f"{peer.id},Sam R.,peer,,,alcohol;stress,\n"  # fine on its own
        ",Kim,peer,,,,\n"  # 3: new helper without a date
        ",,pilot,,,,\n"  # 4: unknown role
        f"{officer.id},Pat,officer,,,,\n"  # 5: an officer's name
        "99,,,,,,\n"  # 6: unknown member
        f",Lee,chaplain,,2001-01-01,,\n"  # 7: past date
        f",Ray,peer,,{NEXT_YEAR},gardening,\n"  # 8: unknown topic
        f"{peer.id},,chaplain,,,,\n"  # 9: role differs (and a second row for the peer)
        f",Ana,peer,,{NEXT_YEAR},,77\n"  # 10: unknown supervisor
        f",Bo,peer,,not-a-date,,\n"  # 11
    )
    before = (config_file.parent / "peerline.db").read_bytes()
    assert _import(config_file, tmp_path, text) == 2
    err = capsys.readouterr().err.splitlines()
    for line in (3, 4, 5, 6, 7, 8, 9, 10, 11):
        assert any(f"line {line}: " in e for e in err), line
    assert not any("line 2:" in e for e in err)
    assert err[-1].endswith("nothing imported (9 problem(s))")
    assert members(config_file)[peer.id].display_name == ""
    assert members(config_file)[peer.id].topics == frozenset()
    del before

    assert _import(config_file, tmp_path, "name,role\nSam,peer\n") == 2
    assert "line 1: unknown column 'name'" in capsys.readouterr().err
    assert _import(config_file, tmp_path, "role\n") == 2
    assert "no rows to import" in capsys.readouterr().err
    assert run(config_file, "roster", "import", str(tmp_path / "missing.csv")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_import_changes_members_and_invites_new_people_who_join_as_the_row_says(
    config_file: Path,
    roster: dict[str, Member],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer, officer, chaplain = roster["peer"], roster["officer"], roster["chaplain"]
    text = (
        "\ufeffmember,display_name,role,agency,certified_until,topics,supervisor,status\n"
        f"{peer.id},Sam R.,,Shelbyville SO,,alcohol;stress,,\n"
        f"{officer.id},,officer,,,,{chaplain.id},\n"
        "\n"
        f",Kim T.,peer,Ogdenville PD,{NEXT_YEAR},critical_incident,{peer.id},\n"
        ",,officer,Springfield PD,,,,\n"
    )
    assert _import(config_file, tmp_path, text, "--dry-run") == 0
    assert "2 member(s) to change, 2 new" in capsys.readouterr().out
    assert members(config_file)[peer.id].display_name == ""

    assert _import(config_file, tmp_path, text, "--format", "json") == 0
    captured = capsys.readouterr()
    issued = json.loads(captured.out)
    assert "changed 2 member(s), 2 new invite(s)" in captured.err
    assert [(i["line"], i["role"], i["display_name"]) for i in issued] == [
        (5, "peer", "Kim T."),
        (6, "officer", ""),
    ]
    assert issued[0]["links"]["telegram"].endswith(f"?start={issued[0]['code']}")

    now = members(config_file)
    assert now[peer.id].display_name == "Sam R."
    assert now[peer.id].topics == {Category.ALCOHOL, Category.STRESS}

    (kim,) = redeem(config_file, [issued[0]["code"]], first_chat=50)
    assert kim.role is Role.PEER and kim.display_name == "Kim T."
    assert kim.topics == {Category.CRITICAL_INCIDENT}
    assert kim.certified_until == date.fromisoformat(NEXT_YEAR)

    async def facts() -> tuple[str | None, str | None, frozenset[MemberId], frozenset[MemberId]]:
        repo = await _open(config_file)
        try:
            return (
                await repo.member_agency(peer.id),
                await repo.member_agency(kim.id),
                await repo.chain_of_command(kim.id),
                await repo.chain_of_command(officer.id),
            )
        finally:
            await repo.close()

    peer_agency, kim_agency, kim_chain, officer_chain = asyncio.run(facts())
    assert peer_agency == "Shelbyville SO" and kim_agency == "Ogdenville PD"
    assert kim_chain == {peer.id}
    assert officer_chain == {chaplain.id}

    # The export carries what the import wrote, and reads back in unchanged.
    assert run(config_file, "roster", "export") == 0
    exported = capsys.readouterr().out
    lines = exported.splitlines()
    assert lines[0] == "member,display_name,role,agency,certified_until,topics,supervisor,status"
    assert f"{peer.id},Sam R.,peer,Shelbyville SO,{NEXT_YEAR},alcohol;stress,,active" in lines
    assert (
        f"{kim.id},Kim T.,peer,Ogdenville PD,{NEXT_YEAR},critical_incident,{peer.id},active"
        in lines
    )
    assert _import(config_file, tmp_path, exported) == 0
    capsys.readouterr()
    assert run(config_file, "roster", "export") == 0
    assert capsys.readouterr().out == exported


def test_import_can_revoke_and_restore(
    config_file: Path, roster: dict[str, Member], tmp_path: Path
) -> None:
    peer = roster["peer"]
    assert _import(config_file, tmp_path, f"member,status\n{peer.id},revoked\n") == 0
    assert not members(config_file)[peer.id].active
    assert _import(config_file, tmp_path, f"member,status\n{peer.id},active\n") == 0
    assert members(config_file)[peer.id].active


def test_invite_formats_json_file_and_qr_sheet(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_file, "invite", "create", "--role", "officer", "--format", "json") == 0
    (one,) = json.loads(capsys.readouterr().out)
    assert one["role"] == "officer"
    assert one["links"] == {"telegram": f"https://t.me/peerline_test_bot?start={one['code']}"}

    out = tmp_path / "codes.txt"
    assert (
        run(
            config_file,
            "invite",
            "create",
            "--role",
            "officer",
            "--count",
            "2",
            "--output",
            str(out),
        )
        == 0
    )
    assert (out.stat().st_mode & 0o777) == 0o600
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2

    assert run(config_file, "invite", "create", "--role", "officer", "--format", "qr") == 2
    assert "--output FILE.png" in capsys.readouterr().err

    sheet = tmp_path / "class.png"
    assert (
        run(
            config_file,
            "invite",
            "create",
            "--role",
            "peer",
            "--count",
            "7",
            "--certified-until",
            NEXT_YEAR,
            "--format",
            "qr",
            "--output",
            str(sheet),
        )
        == 0
    )
    printed = capsys.readouterr().out
    pages = [tmp_path / "class-1.png", tmp_path / "class-2.png"]
    assert all(str(page) in printed for page in pages)
    with Image.open(pages[0]) as first:
        assert first.size == (1240, 1754)
        # Six cards with a QR code each: the page is mostly white with plenty of black.
        dark = sum(first.convert("L").histogram()[:128])
        assert dark > 6 * 100 * 100
    pdf = tmp_path / "class.pdf"
    assert (
        run(
            config_file,
            "invite",
            "create",
            "--role",
            "officer",
            "--count",
            "3",
            "--format",
            "qr",
            "--output",
            str(pdf),
        )
        == 0
    )
    assert pdf.read_bytes().startswith(b"%PDF")


def test_qr_sheet_carries_a_signal_card_when_signal_is_configured(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with config_file.open("a", encoding="utf-8") as extra:
        extra.write('[signal]\nenabled = true\nnumber = "+14155550100"\n')
    sheet = tmp_path / "both.png"
    assert (
        run(
            config_file,
            "invite",
            "create",
            "--role",
            "officer",
            "--count",
            "2",
            "--format",
            "json",
        )
        == 0
    )
    issued = json.loads(capsys.readouterr().out)
    assert all(i["links"]["signal"] == "https://signal.me/#p/+14155550100" for i in issued)
    assert (
        run(
            config_file,
            "invite",
            "create",
            "--role",
            "officer",
            "--count",
            "2",
            "--format",
            "qr",
            "--output",
            str(sheet),
        )
        == 0
    )
    with Image.open(sheet) as page:
        assert page.size == (1240, 1754)
