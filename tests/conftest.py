"""Shared test setup. No test touches the real home: HOME, the XDG folders,
CLAUDE_CONFIG_DIR and the store path all point into a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
# Real outputs of the real agents, copied as they are from the shared captures.
CAPTURES = DATA / "captures"
# Third-party transcripts, text replaced by placeholders (tests/data/fixtures/README.md).
FIXTURES = DATA / "fixtures"
SPOTTER = FIXTURES / "claude-code" / "spotter"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("USAGECORE_TELEMETRY_DB_PATH", raising=False)
    monkeypatch.setenv("TZ", "UTC")
    # Reports fit $COLUMNS; tests that check a width set it themselves.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("USAGECORE_CONFIG", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return home


@pytest.fixture(autouse=True)
def ids_stay_unique(tmp_path: Path):
    """After every test, each store it left has unique event and raw record
    ids: since migration 10 no primary key holds them, store.Writer does."""
    yield
    import duckdb

    for path in tmp_path.rglob("*.duckdb"):
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            continue  # not a store, or one a test broke on purpose
        with con:
            for table, key in (("usage_events", "event_id"), ("usage_raw_events", "raw_event_id")):
                try:
                    repeated = con.execute(f"SELECT count(*) - count(DISTINCT {key}) FROM {table}").fetchone()[0]
                except duckdb.Error:
                    continue  # no such table: not migrated
                assert repeated == 0, f"{path}: {repeated} repeated {key}s in {table}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "telemetry.duckdb"


@pytest.fixture
def empty_store(db_path: Path) -> Path:
    """`db_path` with an empty, migrated store in it."""
    from usagecore.store import Store

    Store(db_path).close()
    return db_path


# The shared agents harness (../shared/agents), which drives the real agent
# CLIs offline; only tests that need it skip without it.
HARNESS = REPO.parent / "shared" / "agents"


def harness_skip(runner: str) -> pytest.MarkDecorator:
    """Skip unless the harness can run `runner` (e.g. "claude/run_claude.sh") here."""
    import shutil

    reason = None
    if not (HARNESS / runner).is_file():
        reason = f"the agents harness is not beside this checkout ({HARNESS})"
    elif os.geteuid() != 0:
        reason = "the agents harness needs root (network namespaces)"
    elif not (shutil.which("unshare") and shutil.which("ip")):
        reason = "the agents harness needs unshare and ip"
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def run_cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m usagecore ARGS` in a real subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "usagecore", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"usagecore {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def run_json(*args: str, env: dict | None = None):
    return json.loads(run_cli(*args, "--json", env=env).stdout)
