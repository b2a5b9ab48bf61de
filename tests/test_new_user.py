"""What a new user trips over, through the CLI in a subprocess: Ctrl-C during a backfill, `sql`
without a statement, `sql` and `report` on a missing or read-only store, older price periods and
`--provider`, and `backfill PATH`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import CAPTURES, REPO, run_cli, run_json

RICH = CAPTURES / "claude-code" / "rich_http_json" / "transcripts"


# ------------------------------------------------------------------ Ctrl-C

@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> tuple[Path, dict]:
    """A generated 24 MB tree hard-linked into 80 folders: about 2 GB to read (so a backfill
    is still running when interrupted) for 24 MB of disk. Copies are the same calls, so the
    truth of one copy is the truth of all."""
    root = tmp_path_factory.mktemp("ctrl-c")
    corpus = root / "corpus"
    subprocess.run([sys.executable, str(REPO / "bench" / "generate.py"), "--out", str(corpus), "--size", "24MB"],
                   check=True, capture_output=True)
    tree = root / "projects"
    for copy in range(80):
        for path in (corpus / "projects").rglob("*.jsonl"):
            target = tree / f"copy{copy:02d}" / path.relative_to(corpus / "projects")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    return tree, json.loads((corpus / "truth.json").read_text())


# At once: while the new store is being made (its migrations); then while reading.
@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_ctrl_c_during_backfill_exits_quietly_and_keeps_the_store_consistent(big_tree, db_path, delay):
    tree, truth = big_tree
    process = subprocess.Popen([sys.executable, "-m", "usagecore", "--db", str(db_path), "backfill", "claude",
                                str(tree)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not db_path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    # The store is made once reading has begun (a new store gets a head start),
    # and copies read fast (their records are all seen before): interrupt soon.
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    # Whatever was committed is whole: the next run completes it, exactly.
    run_cli("--db", str(db_path), "backfill", "claude", str(tree))
    [row] = json.loads(run_cli("--db", str(db_path), "sql",
                               "SELECT count(*) AS events, sum(input_tokens)::BIGINT AS input, "
                               "sum(output_tokens)::BIGINT AS output FROM usage_events",
                               "--format", "json").stdout)
    overall = truth["overall"]
    assert row == {"events": overall["events"], "input": overall["input_tokens"],
                   "output": overall["output_tokens"]}


# --------------------------------------------------------------------- sql

@pytest.mark.parametrize("query", ["", "   ", "/* only a comment */"])
def test_sql_without_a_statement(empty_store, query):
    result = run_cli("--db", str(empty_store), "sql", query, check=False)
    assert result.returncode == 2
    assert "no SQL statement given" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [("sql", "SELECT 1"), ("sql", "DELETE FROM usage_events"),
                                     ("report", "daily"), ("report", "models", "--json")])
def test_missing_store_is_the_same_answer_and_creates_nothing(tmp_path, command):
    path = tmp_path / "nowhere" / "t.duckdb"
    result = run_cli("--db", str(path), *command, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: no store at {path} yet: run `usagecore backfill` first"
    assert not path.parent.exists()


def _as_nobody() -> list[str] | None:
    """A command prefix that drops root (file permissions do not bind root), or [] when not root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None


def test_read_only_store_reads_but_does_not_write(request):
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot make a file read-only for the test")
    # Outside pytest's own temporary folders, which only their owner may enter.
    shared = Path(tempfile.mkdtemp(prefix="usagecore-read-only-"))
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    shared.chmod(0o755)
    db = shared / "t.duckdb"
    run_cli("--db", str(db), "backfill", "claude", str(RICH))
    db.chmod(0o444)
    home = shared / "home"
    home.mkdir()
    home.chmod(0o777)
    env = {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "PYTHONDONTWRITEBYTECODE": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, "-m", "usagecore", "--db", str(db), *args],
                              capture_output=True, text=True, env=env, timeout=120)

    selected = run("sql", "SELECT count(*) AS n FROM usage_events", "--format", "json")
    assert selected.returncode == 0, selected.stderr
    assert json.loads(selected.stdout) == [{"n": 6}]
    report = run("report", "daily", "--json", "--tz", "UTC")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["totals"]["requests"] == 6
    deleted = run("sql", "DELETE FROM usage_events")
    assert deleted.returncode == 1
    assert f"store {db} is read-only: only SELECT and EXPLAIN statements can run on it" in deleted.stderr
    assert "Traceback" not in deleted.stderr


def test_sql_that_writes_still_writes(empty_store):
    run_cli("--db", str(empty_store), "sql", "CREATE TABLE notes (t VARCHAR); INSERT INTO notes VALUES ('x')")
    out = run_cli("--db", str(empty_store), "sql", "SELECT t FROM notes", "--format", "json").stdout
    assert json.loads(out) == [{"t": "x"}]


# ------------------------------------------------------------------ prices

def _periods(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("For requests made")]


def test_prices_shows_every_period_and_takes_a_date():
    # genai-prices 0.2.3: claude-opus-4-6 had a 200k-token tier until 2026-03-12, flat prices since.
    out = run_cli("prices", "claude-opus-4-6").stdout
    assert _periods(out) == ["For requests made before 2026-03-13 (UTC dates).",
                             "For requests made from 2026-03-13 (UTC dates)."]
    assert out.count("above tier:") == 5
    before = run_cli("prices", "claude-opus-4-6", "--at", "2026-03-12").stdout
    assert _periods(before) == ["For requests made before 2026-03-13 (UTC dates)."]
    assert "above tier: 10" in before
    after = run_cli("prices", "claude-opus-4-6", "--at", "2026-03-13").stdout
    assert "above tier" not in after


def test_prices_honours_the_provider():
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    aws = run_cli("prices", model, "--provider", "aws").stdout
    assert aws.splitlines()[0].startswith(f"{model} -> aws ")
    assert any(line.split()[:2] == ["input", "3.3"] for line in aws.splitlines())
    wrong = run_cli("prices", "claude-opus-4-8", "--provider", "openai", check=False)
    assert wrong.returncode == 1
    assert "no price known for 'claude-opus-4-8' from provider 'openai'" in wrong.stderr
    assert run_cli("prices", "claude-opus-4-8", "--provider", "anthropic").stdout.startswith(
        "claude-opus-4-8 -> anthropic claude-opus-4-8")


# ---------------------------------------------------------------- backfill

@pytest.mark.parametrize("argument", ["some/path", "./projects", "~/old"])
def test_backfill_with_a_path_says_how(tmp_path, argument):
    result = run_cli("--db", str(tmp_path / "t.duckdb"), "backfill", argument, check=False)
    assert result.returncode == 2
    assert f"use `usagecore backfill claude {argument}`" in result.stderr
    assert "No such command" not in result.stderr


def test_backfill_with_an_existing_folder_name_says_how(tmp_path, monkeypatch):
    (tmp_path / "history").mkdir()
    monkeypatch.chdir(tmp_path)
    result = run_cli("--db", str(tmp_path / "t.duckdb"), "backfill", "history", check=False)
    assert result.returncode == 2
    assert "use `usagecore backfill claude history`" in result.stderr


def test_backfill_with_an_unknown_source(tmp_path):
    result = run_cli("--db", str(tmp_path / "t.duckdb"), "backfill", "cursor", check=False)
    assert result.returncode == 2
    assert "unknown source 'cursor'" in result.stderr


def test_backfill_source_still_works(tmp_path):
    summary = run_json("--db", str(tmp_path / "t.duckdb"), "backfill", "claude", str(RICH))
    assert summary["events"] == 6
