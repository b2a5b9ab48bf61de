"""`usagecore install / uninstall claude-code` and `usagecore doctor`, run as real
subprocesses on real shapes of Claude Code's settings.json: the captures' own
settings (which already hook the same events), a user's settings with hooks of
their own plus permissions, env and keys we do not know, oddly formatted but
valid JSON, invalid JSON, no file at all, and `$CLAUDE_CONFIG_DIR`.

What must hold: the merge keeps every other hook and key in its order; the file
as it was is backed up byte for byte; installing twice changes nothing;
`--dry-run` writes nothing; `uninstall` removes exactly what was added; the hook
script runs a real payload into the spool silently; `doctor` tells working from
broken, with what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import CAPTURES, run_cli, run_json

CLAUDE = CAPTURES / "claude-code" / "rich_http_json"
CAPTURE_SETTINGS = (CLAUDE / "config" / "settings.json").read_bytes()
POST_TOOL_USE = (CLAUDE / "hooks" / "04_PostToolUse.json").read_bytes()
RICH_TOTALS = json.loads((CAPTURES / "totals.json").read_text())["claude-code/rich_http_json"]["expected"]
EVENTS = ("Stop", "StopFailure", "SubagentStop", "PostToolUse", "PostToolUseFailure",
          "UserPromptSubmit", "SessionStart", "SessionEnd")

# A user's settings: hooks of their own on events we hook too (one with a
# matcher, one with two handlers), permissions, env, keys this version of
# usagecore has never heard of, non-ASCII text, and "hooks" not first.
USER_SETTINGS = """{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "model": "opus",
  "env": {
    "DISABLE_TELEMETRY": "1",
    "MY_PROXY": "http://127.0.0.1:3128"
  },
  "permissions": {
    "allow": [
      "Bash(npm run test:*)",
      "Read(~/.zshrc)"
    ],
    "deny": [
      "Bash(curl:*)"
    ],
    "defaultMode": "acceptEdits"
  },
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "~/bin/check-bash.sh"
          }
        ]
      }
    ],
    "PostToolUse": [
      {
        "matcher": "Write|Edit",
        "hooks": [
          {
            "type": "command",
            "command": "prettier --write \\"$CLAUDE_FILE_PATHS\\"",
            "timeout": 30
          },
          {
            "type": "command",
            "command": "~/bin/lint.sh"
          }
        ]
      }
    ],
    "Stop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "notify-send 'Claude a fini ✓'"
          }
        ]
      }
    ]
  },
  "statusLine": {
    "type": "command",
    "command": "~/.claude/statusline.sh",
    "padding": 0
  },
  "includeCoAuthoredBy": false,
  "futureSettingNobodyKnows": {
    "nested": [
      1,
      2.5,
      null,
      true
    ]
  }
}
"""


def _odd(settings: str) -> dict[str, str]:
    """Valid JSON in the shapes people and other tools leave behind."""
    value = json.loads(settings)
    return {
        "tabs_no_final_newline": json.dumps(value, indent="\t", ensure_ascii=False),
        "four_spaces": json.dumps(value, indent=4, ensure_ascii=False) + "\n",
        "compact_one_line": json.dumps(value, separators=(",", ":"), ensure_ascii=False),
        "one_line_with_spaces": json.dumps(value, ensure_ascii=False) + "\n",
        "crlf": json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\r\n") + "\r\n",
        "ascii_escapes": json.dumps(value, indent=2, ensure_ascii=True) + "\n",
    }


ODD = _odd(USER_SETTINGS)
SHAPES = {"captures": CAPTURE_SETTINGS, "user": USER_SETTINGS.encode(),
          **{name: text.encode() for name, text in ODD.items()}}


def settings_path(home: Path) -> Path:
    return home / ".claude" / "settings.json"


def hook_script() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "usagecore" / "hooks" / "claude-code.sh"


def backups(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".usagecore-backup-" in p.name) if folder.is_dir() else []


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under `root`, with the bytes of each file."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def ordered(value):
    """`value` with every object as a list of (key, value) pairs: compares key order too."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def our_group(script: Path) -> dict:
    return {"hooks": [{"type": "command", "command": str(script), "timeout": 10}]}


def merged(original: dict, script: Path) -> dict:
    """What install must make of `original`: our group appended to each event
    we hook, after the user's own; everything else as it was, in its order."""
    result = json.loads(json.dumps(original))
    hooks = result.setdefault("hooks", {})
    for event in EVENTS:
        hooks.setdefault(event, []).append(our_group(script))
    return result


def write_settings(home: Path, data: bytes) -> Path:
    path = settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def install(*extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_cli("install", "claude-code", "--no-backfill", *extra, env=env)


# ------------------------------------------------------------------ merge and backup

@pytest.mark.parametrize("shape", list(SHAPES))
def test_install_merges_backs_up_and_is_idempotent(isolated_home, shape):
    original = SHAPES[shape]
    path = write_settings(isolated_home, original)

    result = install()
    assert result.stdout == ""

    installed = path.read_bytes()
    expected = merged(json.loads(original), hook_script())
    assert ordered(json.loads(installed)) == ordered(expected)
    # The timeout Claude Code gets is short: a broken machine must not hold the agent.
    for event in EVENTS:
        assert 0 < json.loads(installed)["hooks"][event][-1]["hooks"][0]["timeout"] <= 60

    [backup] = backups(path.parent)
    assert backup.read_bytes() == original
    assert str(backup) in result.stderr

    # Twice: nothing changes, not even the formatting, and no second backup.
    script = hook_script().read_bytes()
    again = install()
    assert path.read_bytes() == installed
    assert hook_script().read_bytes() == script
    assert backups(path.parent) == [backup]
    assert "backup" not in again.stderr


@pytest.mark.parametrize("shape", list(ODD))
def test_install_keeps_the_files_formatting(isolated_home, shape):
    original = ODD[shape]
    path = write_settings(isolated_home, original.encode())
    install()
    text = path.read_bytes().decode()
    assert text.endswith("\n") == original.endswith("\n")
    assert ("\r\n" in text) == ("\r\n" in original)
    assert text.count("\n") == text.count("\r\n") or "\r\n" not in original  # no mixed line ends
    assert ("\n" in text.rstrip()) == ("\n" in original.rstrip())  # one line stays one line
    assert ("\\u2713" in text) == ("\\u2713" in original)  # ✓ stays as the user wrote it
    indents = {line[: len(line) - len(line.lstrip())] for line in text.splitlines() if line.strip()}
    if shape == "tabs_no_final_newline":
        assert indents <= {"\t" * n for n in range(12)}
    if shape == "four_spaces":
        assert all(len(i) % 4 == 0 and set(i) <= {" "} for i in indents)
    if shape == "compact_one_line":
        assert '": ' not in text and ', "' not in text
    if shape == "one_line_with_spaces":
        assert '": ' in text and ', "' in text


def test_install_creates_a_missing_settings_file(isolated_home):
    path = settings_path(isolated_home)
    assert not path.parent.exists()
    install()
    assert ordered(json.loads(path.read_text())) == ordered(merged({}, hook_script()))
    assert backups(path.parent) == []  # nothing to back up

    run_cli("uninstall", "claude-code")
    assert not path.exists()  # it was not there before
    assert not hook_script().exists()


def test_claude_config_dir(tmp_path, isolated_home):
    home_settings = write_settings(isolated_home, USER_SETTINGS.encode())
    config_dir = tmp_path / "claude config"
    target = config_dir / "settings.json"
    config_dir.mkdir()
    target.write_bytes(CAPTURE_SETTINGS)
    env = {"CLAUDE_CONFIG_DIR": str(config_dir)}

    install(env=env)
    assert ordered(json.loads(target.read_text())) == ordered(merged(json.loads(CAPTURE_SETTINGS), hook_script()))
    assert home_settings.read_text() == USER_SETTINGS  # ~/.claude is not the one in use
    assert backups(home_settings.parent) == []
    assert len(backups(config_dir)) == 1

    doctor = run_cli("doctor", env=env)
    assert "claude-code: installed" in doctor.stdout

    run_cli("uninstall", "claude-code", env=env)
    assert target.read_bytes() == CAPTURE_SETTINGS
    assert home_settings.read_text() == USER_SETTINGS


# ----------------------------------------------------------------------- refusals

@pytest.mark.parametrize("data", [
    b'{"hooks": {"Stop": [}}\n',  # broken
    b'{\n  "model": "opus",\n}\n',  # trailing comma
    b'// my settings\n{"model": "opus"}\n',  # comments are not JSON
    b'["not", "an", "object"]\n',
    b'{"hooks": []}\n',  # valid JSON, but hooks cannot be merged into
    b'{"hooks": {"Stop": {"command": "x"}}}\n',
    b'{"model": "caf\xe9"}\n',  # Latin-1, not UTF-8
    CAPTURE_SETTINGS[: len(CAPTURE_SETTINGS) // 2],  # cut short
], ids=["broken", "trailing_comma", "comment", "array", "hooks_is_a_list", "event_is_an_object", "latin1",
        "cut_short"])
def test_refuses_a_file_it_cannot_merge_into(isolated_home, data):
    path = write_settings(isolated_home, data)
    before = snapshot(isolated_home)
    result = run_cli("install", "claude-code", "--no-backfill", check=False)
    assert result.returncode != 0
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert snapshot(isolated_home) == before  # nothing written: no hook script, no backup, no manifest


def test_uninstall_refuses_invalid_json_and_writes_nothing(isolated_home):
    path = write_settings(isolated_home, USER_SETTINGS.encode())
    install()
    path.write_text(path.read_text()[:-5])  # the user broke it meanwhile
    before = snapshot(isolated_home)
    result = run_cli("uninstall", "claude-code", check=False)
    assert result.returncode != 0
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(isolated_home) == before


# ----------------------------------------------------------------------- dry runs

def test_dry_run_writes_nothing(isolated_home):
    write_settings(isolated_home, USER_SETTINGS.encode())
    before = snapshot(isolated_home)
    result = run_cli("install", "claude-code", "--dry-run")
    assert snapshot(isolated_home) == before
    assert str(settings_path(isolated_home)) in result.stderr
    assert str(hook_script()) in result.stderr

    install()
    installed = snapshot(isolated_home)
    run_cli("uninstall", "claude-code", "--dry-run")
    assert snapshot(isolated_home) == installed


# ---------------------------------------------------------------------- uninstall

@pytest.mark.parametrize("shape", list(SHAPES))
def test_uninstall_restores_the_original_bytes(isolated_home, shape):
    original = SHAPES[shape]
    path = write_settings(isolated_home, original)
    install()
    install()  # twice: still one thing to remove
    run_cli("uninstall", "claude-code")
    assert path.read_bytes() == original
    assert not hook_script().exists()
    # Nothing of ours is left in our hooks folder, not even a backup of our own script.
    assert not hook_script().parent.exists() or list(hook_script().parent.iterdir()) == []
    assert "claude-code: not installed" in run_cli("doctor").stdout

    run_cli("uninstall", "claude-code")  # a second uninstall changes nothing
    assert path.read_bytes() == original


def test_uninstall_keeps_what_the_user_changed_after_install(isolated_home):
    path = write_settings(isolated_home, USER_SETTINGS.encode())
    install()
    # The user (or Claude Code's /hooks and /permissions screens) edits the file.
    edited = json.loads(path.read_text())
    edited["permissions"]["allow"].append("Bash(make:*)")
    edited["hooks"]["Stop"].append({"hooks": [{"type": "command", "command": "~/bin/after-install.sh"}]})
    edited["hooks"]["Notification"] = [{"hooks": [{"type": "command", "command": "say done"}]}]
    edited["theme"] = "dark"
    path.write_text(json.dumps(edited, indent=2, ensure_ascii=False) + "\n")

    run_cli("uninstall", "claude-code")
    expected = json.loads(USER_SETTINGS)
    expected["permissions"]["allow"].append("Bash(make:*)")
    expected["hooks"]["Stop"].append({"hooks": [{"type": "command", "command": "~/bin/after-install.sh"}]})
    expected["hooks"]["Notification"] = [{"hooks": [{"type": "command", "command": "say done"}]}]
    expected["theme"] = "dark"
    assert ordered(json.loads(path.read_text())) == ordered(expected)
    assert str(hook_script()) not in path.read_text()
    assert not hook_script().exists()


def test_uninstall_after_the_user_removed_our_hooks_by_hand(isolated_home):
    path = write_settings(isolated_home, CAPTURE_SETTINGS)
    install()
    path.write_bytes(CAPTURE_SETTINGS)  # the user put the old file back
    run_cli("uninstall", "claude-code")
    assert path.read_bytes() == CAPTURE_SETTINGS
    assert not hook_script().exists()


def test_uninstall_when_never_installed_changes_nothing(isolated_home):
    write_settings(isolated_home, USER_SETTINGS.encode())
    before = snapshot(isolated_home)
    run_cli("uninstall", "claude-code")
    assert snapshot(isolated_home) == before


# -------------------------------------------------------------------- hook script

def _spooled(spool: Path) -> list[tuple[dict, bytes]]:
    files = sorted((spool / "new").iterdir()) if (spool / "new").is_dir() else []
    out = []
    for file in files:
        head, _, body = file.read_bytes().partition(b"\n")
        out.append((json.loads(head), body))
    return out


def test_hook_script_spools_a_real_payload_silently(tmp_path, isolated_home):
    write_settings(isolated_home, CAPTURE_SETTINGS)
    install()
    script = hook_script()
    assert script.is_file()
    assert script.stat().st_mode & stat.S_IXUSR and os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/bin/sh\n")

    spool = tmp_path / "spool"
    env = {**os.environ, "USAGECORE_TELEMETRY_SPOOL_DIR": str(spool), "USAGECORE_TELEMETRY_SPOOL_ONLY": "true"}
    # As Claude Code runs it: the command string through a shell, the payload on stdin.
    result = subprocess.run(["sh", "-c", json.loads(settings_path(isolated_home).read_text())
                             ["hooks"]["PostToolUse"][-1]["hooks"][0]["command"]],
                            input=POST_TOOL_USE, env=env, capture_output=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    [(header, body)] = _spooled(spool)
    assert body == POST_TOOL_USE
    assert (header["source"], header["channel"]) == ("claude_code", "hook")


def test_hook_script_exits_0_when_usagecore_is_gone(tmp_path, isolated_home):
    install()
    env = {**os.environ, "USAGECORE_BIN": str(tmp_path / "uninstalled" / "usagecore"),
           "USAGECORE_TELEMETRY_SPOOL_DIR": str(tmp_path / "spool")}
    result = subprocess.run([str(hook_script())], input=POST_TOOL_USE, env=env, capture_output=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, b"")
    assert _spooled(tmp_path / "spool") == []


# ------------------------------------------------------------------------ doctor

def test_doctor_when_installed_and_working(isolated_home):
    write_settings(isolated_home, USER_SETTINGS.encode())
    install()
    result = run_cli("doctor", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "claude-code: installed" in result.stdout
    assert "hook script: runs and delivers a payload" in result.stdout
    # The doctor's test payload went to a throwaway spool, not the user's.
    assert not (Path(os.environ["XDG_STATE_HOME"]) / "usagecore" / "spool" / "new").exists() or \
        list((Path(os.environ["XDG_STATE_HOME"]) / "usagecore" / "spool" / "new").iterdir()) == []


def _doctor_fails(*must_say: str) -> str:
    result = run_cli("doctor", "claude-code", check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    for words in must_say:
        assert words in result.stdout
    return result.stdout


def test_doctor_when_the_hook_script_is_missing(isolated_home):
    install()
    hook_script().unlink()
    _doctor_fails(f"{hook_script()} is missing", "run `usagecore install claude-code`")


def test_doctor_when_the_hook_script_is_not_executable(isolated_home):
    install()
    hook_script().chmod(0o644)
    _doctor_fails("not executable", f"chmod +x {hook_script()}")


def test_doctor_when_the_hook_script_delivers_nothing(isolated_home):
    install()
    hook_script().write_text("#!/bin/sh\ncat >/dev/null\nexit 0\n")
    _doctor_fails("did not reach the spool", "usagecore install claude-code")


def test_doctor_when_the_hook_script_fails(isolated_home):
    install()
    hook_script().write_text("#!/bin/sh\necho oops\nexit 3\n")
    _doctor_fails("exit 3", "usagecore install claude-code")


def test_doctor_when_not_installed(isolated_home):
    assert run_cli("doctor").returncode == 0  # nothing installed is not broken...
    _doctor_fails("not installed", "run `usagecore install claude-code`")  # ...unless asked about


def test_doctor_when_the_store_is_corrupt(isolated_home):
    install()
    store = Path(os.environ["XDG_STATE_HOME"]) / "usagecore" / "telemetry.duckdb"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"this is not a DuckDB file\n" * 4096)
    out = _doctor_fails(str(store), "move it aside")
    assert "[ok  ] claude-code: hook script" in out  # only the store is reported broken


# ---------------------------------------------------------------------- backfill

def test_install_backfills_the_history_on_disk(isolated_home):
    shutil.copytree(CLAUDE / "transcripts", isolated_home / ".claude" / "projects")
    write_settings(isolated_home, CAPTURE_SETTINGS)
    run_cli("install", "claude-code")
    [totals] = run_json_sql(
        "SELECT sum(input_tokens)::BIGINT AS input, sum(output_tokens)::BIGINT AS output, "
        "sum(cache_read_tokens)::BIGINT AS cache_read, sum(cache_write_tokens)::BIGINT AS cache_write, "
        "round(sum(cost_usd), 8) AS cost FROM usage_events WHERE event_type = 'message'")
    assert totals == {"input": RICH_TOTALS["input_tokens"], "output": RICH_TOTALS["output_tokens"],
                      "cache_read": RICH_TOTALS["cache_read_input_tokens"],
                      "cache_write": RICH_TOTALS["cache_creation_input_tokens"],
                      "cost": pytest.approx(RICH_TOTALS["cost_usd"], abs=1e-9)}
    # Nothing left to read: a backfill afterwards adds nothing.
    assert run_json("backfill")["events"] == 0


def run_json_sql(query: str) -> list[dict]:
    return json.loads(run_cli("sql", query, "--format", "json").stdout)


@pytest.mark.parametrize("integration", [["claude-code"], ["codex"], ["opencode"], ["otel", "claude-code"],
                                         ["otel", "codex"]])
def test_install_then_uninstall_on_an_empty_home_leaves_it_empty(isolated_home, integration):
    """Folders an install had to create (the agent's config folder, our hooks
    folder) go again with uninstall; nothing else is left behind."""
    env = {"CODEX_HOME": str(isolated_home / ".codex")}
    before = snapshot(isolated_home)
    run_cli("install", *integration, "--no-backfill", env=env)
    assert snapshot(isolated_home) != before
    run_cli("uninstall", *integration, env=env)
    assert snapshot(isolated_home) == before
