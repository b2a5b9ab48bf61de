"""`usagecore install codex|opencode`: Codex's `notify` (chaining the user's own
program) and the OpenCode plugin, run for real: the notify script by `sh`, the
plugin by Node as OpenCode loads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from conftest import CAPTURES, run_cli
from usagecore import spool

CODEX_CONFIG = '# my codex\nmodel = "o3"\nnotify = ["{prog}", "--from-codex"]\n\n[otel]\nenvironment = "prod"\n'
NOTIFY = (CAPTURES / "codex" / "exec_http_json" / "notify").iterdir().__next__().read_text().strip()


@pytest.fixture
def codex_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "codex"
    home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(home))
    return home


def _users_notify(tmp_path: Path) -> Path:
    """The notify program the user had: records how it was called."""
    prog = tmp_path / "their-notify.sh"
    prog.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "their-notify.log"}\n')
    prog.chmod(0o755)
    return prog


def test_codex_notify_is_chained_and_restored(codex_home, tmp_path):
    prog = _users_notify(tmp_path)
    config = codex_home / "config.toml"
    original = CODEX_CONFIG.format(prog=prog)
    config.write_text(original)
    run_cli("install", "codex", "--no-backfill")
    notify = tomllib.loads(config.read_text())["notify"]
    script = Path(notify[0])
    assert notify[1:] == [str(prog), "--from-codex"]
    assert config.read_text().startswith('# my codex\nmodel = "o3"\n')

    # Codex appends the payload as the last argument.
    env = {**os.environ, "USAGECORE_TELEMETRY_SPOOL_ONLY": "true"}
    result = subprocess.run([*notify, NOTIFY], capture_output=True, env=env, timeout=30)
    assert (result.returncode, result.stdout) == (0, b"")
    spooled = [spool.read(p) for p in spool.pending()]
    assert [(h["source"], h["channel"], body.decode()) for h, body in spooled] == [("codex", "notify", NOTIFY)]
    assert (tmp_path / "their-notify.log").read_text().splitlines() == ["--from-codex", NOTIFY]

    run_cli("install", "codex", "--no-backfill")
    assert tomllib.loads(config.read_text())["notify"] == notify  # not chained to itself
    run_cli("uninstall", "codex")
    assert config.read_text() == original
    assert not script.exists()


def test_codex_without_notify_gets_ours_alone_at_the_top(codex_home):
    config = codex_home / "config.toml"
    config.write_text('model = "o3"\n\n[otel]\nenvironment = "prod"\n')
    run_cli("install", "codex", "--no-backfill")
    parsed = tomllib.loads(config.read_text())
    assert len(parsed["notify"]) == 1 and parsed["otel"] == {"environment": "prod"}
    run_cli("uninstall", "codex")
    assert config.read_text() == 'model = "o3"\n\n[otel]\nenvironment = "prod"\n'


def test_codex_invalid_config_is_refused(codex_home):
    (codex_home / "config.toml").write_text("notify = [\n")
    result = run_cli("install", "codex", "--no-backfill", check=False)
    assert result.returncode == 1 and "not valid TOML" in result.stderr
    assert (codex_home / "config.toml").read_text() == "notify = [\n"


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="needs Node.js to load the OpenCode plugin")
def test_opencode_plugin_forwards_completed_messages_tools_and_sessions(isolated_home):
    run_cli("install", "opencode", "--no-backfill")
    plugin = isolated_home / ".config" / "opencode" / "plugins" / "usagecore.js"
    assert plugin.is_file()
    captured = [json.loads(line) for line in
                (CAPTURES / "opencode" / "run_json" / "plugin_events.jsonl").read_text().splitlines()]
    calls = [c for c in captured if c["hook"] in ("event", "tool.execute.after")]
    driver = (
        f"const m = await import({json.dumps(plugin.as_uri())});"
        "const hooks = await m.Usagecore({});"
        "const calls = JSON.parse(process.argv[1]);"
        "const started = Date.now();"
        "for (const c of calls) {"
        "  if (c.hook === 'event') await hooks.event({event: c.payload});"
        "  else await hooks['tool.execute.after'](c.payload.input, c.payload.output);"
        "}"
        "console.log(Date.now() - started);"
    )
    env = {**os.environ, "USAGECORE_TELEMETRY_SPOOL_ONLY": "true"}
    out = subprocess.run([NODE, "--input-type=module", "-e", driver, json.dumps(calls)],
                         capture_output=True, text=True, env=env, timeout=60, check=True)
    deadline = time.monotonic() + 15
    lines: list[dict] = []
    while time.monotonic() < deadline:
        lines = [json.loads(line) for _, body in map(spool.read, spool.pending())
                 for line in body.decode().splitlines()]
        if any(line["payload"].get("type") == "session.idle" for line in lines if line["hook"] == "event"):
            break
        time.sleep(0.1)
    events = [line["payload"] for line in lines if line["hook"] == "event"]
    assistant = {e["properties"]["info"]["id"] for e in events if e["type"] == "message.updated"}
    expected = {c["payload"]["properties"]["info"]["id"] for c in calls if c["hook"] == "event"
                and c["payload"]["type"] == "message.updated" and c["payload"]["properties"]["info"]["role"] == "assistant"}
    assert assistant == expected and expected
    # Only finished states are sent, and the last one sent is OpenCode's last word.
    sent = [e for e in events if e["type"] == "message.updated"]
    assert all(e["properties"]["info"].get("finish") or e["properties"]["info"]["time"].get("completed")
               for e in sent)
    last_sent = {e["properties"]["info"]["id"]: e for e in sent}
    last_captured = {c["payload"]["properties"]["info"]["id"]: c["payload"] for c in calls
                     if c["hook"] == "event" and c["payload"]["type"] == "message.updated"}
    assert all(last_sent[i] == last_captured[i] for i in expected)
    tools = [line["payload"] for line in lines if line["hook"] == "tool.execute.after"]
    assert len(tools) == len([c for c in calls if c["hook"] == "tool.execute.after"])
    assert all("output" not in t["output"] or t["output"].get("output") is None for t in tools)
    assert float(out.stdout.strip()) < 1000

    run_cli("uninstall", "opencode")
    assert not plugin.exists()
    assert not plugin.parent.exists()  # install created the plugins folder: uninstall removes it


@pytest.mark.skipif(NODE is None, reason="needs Node.js to load the OpenCode plugin")
def test_opencode_plugin_never_waits_for_a_slow_usagecore(isolated_home, tmp_path):
    run_cli("install", "opencode", "--no-backfill")
    plugin = isolated_home / ".config" / "opencode" / "plugins" / "usagecore.js"
    slow = tmp_path / "slow-usagecore"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    driver = (
        f"const m = await import({json.dumps(plugin.as_uri())});"
        "const hooks = await m.Usagecore({});"
        "const started = Date.now();"
        "for (let i = 0; i < 200; i++) await hooks.event({event: {type: 'session.idle', properties: {sessionID: 's' + i}}});"
        "console.log(Date.now() - started);"
    )
    started = time.monotonic()
    out = subprocess.run([NODE, "--input-type=module", "-e", driver], capture_output=True, text=True,
                         env={**os.environ, "USAGECORE_BIN": str(slow)}, timeout=60, check=True)
    assert time.monotonic() - started < 10  # Node exits without waiting for the slow children
    assert float(out.stdout.strip()) < 2000
