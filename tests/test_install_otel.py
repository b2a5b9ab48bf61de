"""`usagecore install otel claude-code|codex`: exporter settings merged into
the agent's own files, with the same rules as the hook installers."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from conftest import run_cli

CODEX_CONFIG = """# my codex setup
model = "o3"  # the one I like

[otel]
environment = "prod"
exporter = "none"

[projects."/src/app"]
trust_level = "trusted"
"""
CLAUDE_SETTINGS = '{\n    "env": {"FOO": "1", "OTEL_LOGS_EXPORTER": "console"},\n    "model": "opus"\n}\n'


@pytest.fixture
def codex_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "codex"
    home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(home))
    (home / "config.toml").write_text(CODEX_CONFIG)
    return home


@pytest.fixture
def claude_settings(isolated_home) -> Path:
    path = isolated_home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(CLAUDE_SETTINGS)
    return path


def test_codex_exporters_merge_and_uninstall_restores_bytes(codex_home):
    config = codex_home / "config.toml"
    run_cli("install", "otel", "codex", "--token", "s3cret")
    text = config.read_text()
    assert text.startswith("# my codex setup\nmodel = \"o3\"  # the one I like\n")
    otel = tomllib.loads(text)["otel"]
    assert otel["environment"] == "prod"
    assert otel["exporter"]["otlp-http"] == {"endpoint": "http://127.0.0.1:4318/v1/logs", "protocol": "binary",
                                             "headers": {"Authorization": "Bearer s3cret"}}
    assert otel["metrics_exporter"]["otlp-http"]["endpoint"] == "http://127.0.0.1:4318/v1/metrics"
    assert tomllib.loads(text)["projects"]["/src/app"] == {"trust_level": "trusted"}
    backups = list(codex_home.glob("config.toml.usagecore-backup-*"))
    assert [b.read_text() for b in backups] == [CODEX_CONFIG]

    run_cli("install", "otel", "codex", "--token", "s3cret")
    assert config.read_text() == text  # idempotent
    run_cli("uninstall", "otel", "codex")
    assert config.read_text() == CODEX_CONFIG


def test_codex_uninstall_after_a_user_edit_puts_back_their_exporter(codex_home):
    config = codex_home / "config.toml"
    run_cli("install", "otel", "codex")
    config.write_text(config.read_text().replace('model = "o3"', 'model = "o4"'))
    run_cli("uninstall", "otel", "codex")
    after = tomllib.loads(config.read_text())
    assert after["model"] == "o4"
    assert after["otel"] == {"environment": "prod", "exporter": "none"}


def test_claude_env_block_merge_and_exact_uninstall(claude_settings):
    run_cli("install", "otel", "claude-code", "--endpoint", "http://127.0.0.1:14318")
    env = json.loads(claude_settings.read_text())["env"]
    assert env["FOO"] == "1"
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert env["OTEL_LOGS_EXPORTER"] == "otlp"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:14318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in env
    assert claude_settings.read_text().startswith('{\n    "env"')  # the file's own indentation
    run_cli("uninstall", "otel", "claude-code")
    assert claude_settings.read_text() == CLAUDE_SETTINGS

    # Edited meanwhile: only our variables go, the user's old value comes back.
    run_cli("install", "otel", "claude-code")
    settings = json.loads(claude_settings.read_text())
    settings["model"] = "sonnet"
    claude_settings.write_text(json.dumps(settings))
    run_cli("uninstall", "otel", "claude-code")
    assert json.loads(claude_settings.read_text()) == {"env": {"FOO": "1", "OTEL_LOGS_EXPORTER": "console"},
                                                       "model": "sonnet"}


def test_invalid_files_are_refused_and_left_alone(codex_home, claude_settings):
    (codex_home / "config.toml").write_text("model = \n")
    claude_settings.write_text("{not json")
    for agent, path in (("codex", codex_home / "config.toml"), ("claude-code", claude_settings)):
        before = path.read_text()
        result = run_cli("install", "otel", agent, check=False)
        assert result.returncode != 0
        assert str(path) in result.stderr and "nothing was changed" in result.stderr
        assert path.read_text() == before
        assert not list(path.parent.glob("*.usagecore-backup-*"))


def test_otel_needs_an_agent():
    result = run_cli("install", "otel", check=False)
    assert result.returncode == 2 and "otel claude-code | codex" in result.stderr
