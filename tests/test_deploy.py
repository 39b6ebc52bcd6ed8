"""The shipped deployment files: the configs load, the unit keeps its promises."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from bot.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.mark.parametrize("name", ["config.systemd.toml", "config.compose.toml"])
def test_shipped_configs_load_and_read_secrets_from_credentials(name: str) -> None:
    config = load_config(DEPLOY / name, env={"PEERLINE_TELEGRAM_TOKEN": "1:x"})
    assert config.storage.path == Path("/var/lib/peerline/peerline.db")
    assert config.crypto.key_file is not None
    assert str(config.crypto.key_file).startswith(("/run/credentials/", "/run/secrets/"))
    text = (DEPLOY / name).read_text(encoding="utf-8")
    assert 'token_file = "/run/' in text


def test_the_systemd_unit_restarts_on_failure_with_credentials_and_hardening() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read(DEPLOY / "peerline.service", encoding="utf-8")
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert service["User"] == "peerline"
    text = (DEPLOY / "peerline.service").read_text(encoding="utf-8")
    assert "LoadCredential=telegram_token:" in text and "LoadCredential=master_key:" in text
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet="):
        assert hardening in text
    systemd_config = (DEPLOY / "config.systemd.toml").read_text(encoding="utf-8")
    assert "/run/credentials/peerline.service/telegram_token" in systemd_config
    assert "/run/credentials/peerline.service/master_key" in systemd_config


def test_compose_keeps_the_gateway_unpublished() -> None:
    compose = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert "signal-cli-rest-api" in compose and "MODE: json-rpc" in compose
    assert "ports:" not in compose.replace("# No `ports:`", "")
    assert 'network_mode: "service:signal-api"' in compose
