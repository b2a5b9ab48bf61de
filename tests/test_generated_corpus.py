"""Totals on generated corpora equal the generator's ground truth exactly.

`bench/generate.py --out DIR --size 8MB --seed N` writes a Claude Code tree with every known counting
trap planted, plus DIR/truth.json (its TRUTH_RULES are our rules). We backfill the tree through the
CLI and compare: overall, by UTC day and raw model, by session, by working directory, the agents'
own reported costs, and the count of malformed lines.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, run_cli
from usagecore import backfill
from usagecore import store as store_module
from usagecore.store import Store

GENERATE = REPO / "bench" / "generate.py"
SIZE = "8MB"
# Seeds 1 and 2 end some files with a line cut by a crash; seed 5 has none.
SEEDS = (1, 2, 5)
FIELDS = ("requests", "input", "output", "cache_read", "cache_write")
SUMS = ("count(*)::BIGINT AS events, sum(requests)::BIGINT AS requests, sum(input_tokens)::BIGINT AS input, "
        "sum(output_tokens)::BIGINT AS output, sum(cache_read_tokens)::BIGINT AS cache_read, "
        "sum(cache_write_tokens)::BIGINT AS cache_write")
UTC_DAY = "strftime(timezone('UTC', occurred_at), '%Y-%m-%d')"


class Corpus:
    def __init__(self, seed: int, root: Path):
        self.seed = seed
        self.dir = root / "corpus"
        home = root / "home"
        home.mkdir()
        self.env = {"HOME": str(home), "XDG_STATE_HOME": str(home / ".local" / "state"),
                    "XDG_CONFIG_HOME": str(home / ".config"), "CLAUDE_CONFIG_DIR": "",
                    "USAGECORE_TELEMETRY_DB_PATH": "", "TZ": "UTC"}
        subprocess.run([sys.executable, str(GENERATE), "--out", str(self.dir), "--size", SIZE,
                        "--seed", str(seed)], check=True, capture_output=True, timeout=300)
        self.truth = json.loads((self.dir / "truth.json").read_text())
        self.db = root / "store.duckdb"
        result = run_cli("--db", str(self.db), "backfill", "claude", str(self.dir / "projects"), "--json",
                         env=self.env)
        self.summary = json.loads(result.stdout)
        self.stderr = result.stderr

    def sql(self, query: str) -> list[dict]:
        return json.loads(run_cli("--db", str(self.db), "sql", query, "--format", "json", env=self.env).stdout)

    def report(self, *args: str) -> dict:
        return json.loads(run_cli("--db", str(self.db), "report", *args, "--json", env=self.env).stdout)

    def trap(self, name: str) -> int:
        return self.truth["traps"].get(name, 0)


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def corpus(request, tmp_path_factory) -> Corpus:
    return Corpus(request.param, tmp_path_factory.mktemp(f"seed{request.param}"))


def _rows(rows: list[dict], key: tuple[str, ...]) -> dict[tuple, dict]:
    return {tuple(r[k] for k in key): {f: r[f] for f in FIELDS} for r in rows}


def test_corpus_is_what_was_asked_for(corpus):
    gen = corpus.truth["generator"]
    assert (gen["seed"], gen["target_bytes"]) == (corpus.seed, 8 * 1024**2)
    files = sorted((corpus.dir / "projects").rglob("*.jsonl"))
    assert len(files) == corpus.truth["counts"]["files"]
    assert sum(f.stat().st_size for f in files) == corpus.truth["counts"]["bytes"]
    # The corpus plants the traps this test is about.
    assert corpus.truth["counts"]["malformed_lines"] > 0
    assert corpus.trap("responses_spread_over_several_lines") > 0
    assert corpus.trap("subagent_files") > 0


def test_overall_totals(corpus):
    [row] = corpus.sql(f"SELECT {SUMS} FROM usage_events")
    overall = corpus.truth["overall"]
    assert row == {
        "events": overall["events"],
        "requests": overall["events"],
        "input": overall["input_tokens"],
        "output": overall["output_tokens"],
        "cache_read": overall["cache_read_tokens"],
        "cache_write": overall["cache_write_tokens"],
    }
    assert corpus.summary["events"] == overall["events"]


def test_by_utc_day_and_raw_model(corpus):
    rows = corpus.sql(f"SELECT {UTC_DAY} AS day, model_raw, {SUMS} FROM usage_events GROUP BY ALL ORDER BY ALL")
    assert all(r["events"] == r["requests"] for r in rows)
    expected = _rows(corpus.truth["by_day_model"], ("day", "model_raw"))
    assert _rows(rows, ("day", "model_raw")) == expected


def test_by_session(corpus):
    rows = corpus.sql(f"SELECT session_id, {SUMS} FROM usage_events GROUP BY ALL ORDER BY ALL")
    assert _rows(rows, ("session_id",)) == _rows(corpus.truth["by_session"], ("session_id",))


def test_by_project_cwd(corpus):
    """project is the cwd the lines carry: folders like -home-me-src-my-app are shared by two cwds."""
    rows = corpus.sql(f"SELECT project AS cwd, {SUMS} FROM usage_events GROUP BY ALL ORDER BY ALL")
    assert _rows(rows, ("cwd",)) == _rows(corpus.truth["by_cwd"], ("cwd",))


def test_daily_report_utc_matches_truth_by_day(corpus):
    out = corpus.report("daily", "--tz", "UTC")
    by_day: dict[str, dict] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    models: dict[str, set] = defaultdict(set)
    for row in corpus.truth["by_day_model"]:
        for f in FIELDS:
            by_day[row["day"]][f] += row[f]
        models[row["day"]].add(re.sub(r"-\d{8}$", "", row["model_raw"]))
    assert [r["date"] for r in out["rows"]] == sorted(by_day)
    for row in out["rows"]:
        want = by_day[row["date"]]
        got = {"requests": row["requests"], "input": row["input_tokens"], "output": row["output_tokens"],
               "cache_read": row["cache_read_tokens"], "cache_write": row["cache_write_tokens"]}
        assert got == want, row["date"]
        assert row["models"] == sorted(models[row["date"]]), row["date"]
        assert row["total_tokens"] == sum(want[f] for f in FIELDS if f != "requests")
    overall = corpus.truth["overall"]
    totals = out["totals"]
    assert (totals["requests"], totals["input_tokens"], totals["output_tokens"], totals["cache_read_tokens"],
            totals["cache_write_tokens"]) == (overall["events"], overall["input_tokens"], overall["output_tokens"],
                                              overall["cache_read_tokens"], overall["cache_write_tokens"])


def test_reported_costs_are_kept(corpus):
    """Legacy builds write costUSD on the line: those events keep the agent's own cost."""
    [row] = corpus.sql("SELECT count(*)::BIGINT AS n, coalesce(sum(cost_usd), 0) AS total FROM usage_events "
                       "WHERE cost_source = 'reported'")
    reported = corpus.truth["reported_cost_usd"]
    assert row["n"] == reported["events_with_costUSD"]
    assert abs(row["total"] - reported["total"]) <= 1e-9


def test_files_and_problems(corpus):
    assert corpus.summary["files"] == corpus.truth["counts"]["files"]
    assert corpus.summary["files_read"] == corpus.truth["counts"]["files"]
    assert corpus.summary["skipped_lines"] <= corpus.truth["counts"]["malformed_lines"]
    problems = corpus.summary["problems"]
    assert len(problems) == corpus.summary["skipped_lines"]
    # Every reported problem points at the start of a line that really is not JSON.
    for problem in problems:
        data = Path(problem["path"]).read_bytes()
        offset = problem["offset"]
        assert offset == 0 or data[offset - 1:offset] == b"\n", problem
        end = data.find(b"\n", offset)
        line = data[offset:end if end >= 0 else len(data)]
        with pytest.raises(ValueError):
            json.loads(line)
        assert problem["message"]
    # With --json, problems go to stderr as text and stdout holds only the JSON summary.
    assert corpus.stderr.count("skipped: ") == min(len(problems), 10) + (len(problems) > 10)


def test_skipped_lines_equal_malformed_lines(corpus):
    """Every malformed line is skipped and reported, except a crash fragment glued
    to a following line that carries no usage: such a line is never parsed (the
    price of not parsing lines without usage), so it may go unnoticed."""
    malformed = corpus.truth["counts"]["malformed_lines"]
    glued = corpus.trap("truncated_lines_glued_to_next_line")
    assert malformed - glued <= corpus.summary["skipped_lines"] <= malformed
    if not glued:
        assert corpus.summary["skipped_lines"] == malformed


def test_many_small_transactions_store_what_one_does(corpus, tmp_path, monkeypatch):
    """A history of several GiB is stored in several transactions, each with its
    own Rust reader: events that span them are merged by the store's SQL, not
    by Rust. With a transaction per file here, the store must come out the same."""
    for name in ("FIRST_BATCH_BYTES", "BATCH_BYTES", "COMMIT_BYTES"):
        monkeypatch.setattr(backfill, name, 64 << 10)
    with Store(tmp_path / "small.duckdb") as store:
        summary = backfill.backfill_claude(store, [corpus.dir / "projects"])
    assert summary.events == corpus.summary["events"]
    # Resumed sessions copy responses into another file, i.e. another transaction.
    if corpus.trap("resumed_sessions"):
        assert summary.merged_events >= corpus.trap("resumed_copied_responses") > 0

    def contents(db: Path) -> tuple[list, list]:
        with duckdb.connect(str(db), read_only=True) as con:
            events = con.execute("SELECT * FROM usage_events ORDER BY event_id").fetchall()
            raws = con.execute("SELECT raw_event_id, occurred_at, payload FROM usage_raw_events "
                               "ORDER BY raw_event_id").fetchall()
        return events, raws

    assert contents(tmp_path / "small.duckdb") == contents(corpus.db)


def test_raw_records_fill_whole_row_groups(tmp_path, monkeypatch):
    """Raw records commit every RAW_COMMIT_BYTES read, each commit but a reader's
    last filled up to a row group boundary from the next batch (a short row
    group would be merged and compressed again by a later checkpoint). Here with row groups of 2,048 rows
    and a dense corpus read in four raw commits of more than a row group each: the store must hold what
    one commit stores, in row groups that are all full but the last."""
    corpus = tmp_path / "dense"
    subprocess.run([sys.executable, str(GENERATE), "--out", str(corpus), "--size", "64MB", "--seed", "1",
                    "--density", "3"], check=True, capture_output=True, timeout=300)
    with Store(tmp_path / "one.duckdb") as store:
        whole = backfill.backfill_claude(store, [corpus / "projects"])
    monkeypatch.setattr(store_module, "ROW_GROUP_SIZE", 2048)
    monkeypatch.setattr(Store, "rows_per_group", 2048)
    for name, size in (("FIRST_BATCH_BYTES", 512 << 10), ("BATCH_BYTES", 2 << 20), ("RAW_COMMIT_BYTES", 16 << 20)):
        monkeypatch.setattr(backfill, name, size)
    with Store(tmp_path / "aligned.duckdb") as store:
        aligned = backfill.backfill_claude(store, [corpus / "projects"])
    assert (aligned.events, aligned.usage_lines) == (whole.events, whole.usage_lines)

    def contents(db: Path) -> list:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("SELECT raw_event_id, occurred_at, source_ref, payload FROM usage_raw_events "
                               "ORDER BY raw_event_id").fetchall()

    raws = contents(tmp_path / "aligned.duckdb")
    assert len(raws) > 4 * 2048
    assert raws == contents(tmp_path / "one.duckdb")
    with duckdb.connect(str(tmp_path / "aligned.duckdb"), read_only=True) as con:
        groups = [n for (n,) in con.execute(
            "SELECT max(count) FROM pragma_storage_info('usage_raw_events') GROUP BY row_group_id "
            "ORDER BY row_group_id").fetchall()]
    assert groups[:-1] == [2048] * (len(groups) - 1) and sum(groups) == len(raws)

