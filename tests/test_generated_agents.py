"""Totals on generated Codex and OpenCode corpora equal the generators' ground truth exactly.

`bench/generate_codex.py` and `bench/generate_opencode.py` plant every trap of FORMATS.md §D and §E
and write truth.json (their TRUTH_RULES are our rules). We backfill through the CLI and compare per
UTC day, model and provider; then a second run adds nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli, run_json

SUMS = ("count(*)::BIGINT AS events, sum(input_tokens)::BIGINT AS input, "
        "sum(cache_read_tokens)::BIGINT AS cache_read, sum(output_tokens)::BIGINT AS output, "
        "sum(reasoning_tokens)::BIGINT AS reasoning")
KEY = "strftime(timezone('UTC', occurred_at), '%Y-%m-%d') || '|' || model_raw || '|' || provider_id"


def _generate(script: str, out: Path, size: str, seed: int) -> dict:
    subprocess.run([sys.executable, str(REPO / "bench" / script), "--out", str(out), "--size", size,
                    "--seed", str(seed)], check=True, capture_output=True)
    return json.loads((out / "truth.json").read_text())


def _by_key(db: Path, extra: str = "") -> dict[str, dict]:
    rows = json.loads(run_cli("--db", str(db), "sql", f"SELECT {KEY} AS k, {SUMS}{extra} FROM usage_events "
                                                     "GROUP BY 1 ORDER BY 1", "--format", "json").stdout)
    return {row.pop("k"): row for row in rows}


CODEX_SEEDS = (1, 2, 3, 4)
CODEX_TRAPS = {"archived_duplicates", "archived_files", "compressed_siblings", "compressed_files", "cut_lines",
               "cut_last_lines", "forked_threads", "subagent_threads", "resumed_threads", "legacy_files"}
planted: set[str] = set()


@pytest.mark.parametrize("seed", CODEX_SEEDS)
def test_codex_corpus_matches_its_truth(seed, tmp_path):
    truth = _generate("generate_codex.py", tmp_path / "codex", "5MB", seed)
    planted.update(truth["counts"])
    db = tmp_path / "t.duckdb"
    summary = run_json("--db", str(db), "backfill", "codex", env={"CODEX_HOME": str(tmp_path / "codex")})
    assert summary["events"] == truth["overall"]["events"]
    assert summary["skipped_files"] == truth["counts"].get("legacy_files", 0)
    assert _by_key(db) == truth["by_day_model_provider"]
    again = run_json("--db", str(db), "backfill", "codex", env={"CODEX_HOME": str(tmp_path / "codex")})
    assert (again["files_read"], again["events"]) == (0, 0)


def test_codex_seeds_plant_every_trap():
    """Runs after the corpus tests: together, their seeds planted every trap."""
    if len(planted) == 0:
        pytest.skip("the corpus tests did not run")
    assert CODEX_TRAPS <= planted


OPENCODE_TRAPS = {"multi_step_messages", "failed_without_usage", "aborted_with_usage", "zero_cost_events",
                  "still_streaming", "child_sessions", "sessions_both", "sessions_json"}


@pytest.mark.parametrize("seed", (1, 2))
def test_opencode_data_matches_its_truth(seed, tmp_path):
    data = tmp_path / "opencode"
    subprocess.run([sys.executable, str(REPO / "bench" / "generate_opencode.py"), "--out", str(data),
                    "--messages", "3000", "--seed", str(seed)], check=True, capture_output=True)
    truth = json.loads((data / "truth.json").read_text())
    assert OPENCODE_TRAPS <= set(truth["counts"])
    db = tmp_path / "t.duckdb"
    summary = run_json("--db", str(db), "backfill", "opencode", env={"OPENCODE_DATA_DIR": str(data)})
    assert (summary["events"], summary["problems"]) == (truth["overall"]["events"], [])
    got = _by_key(db, ", sum(cost_usd) AS cost")
    expected = truth["by_day_model_provider"]
    assert {k: {**v, "cost": None} for k, v in got.items()} == {k: {**v, "cost": None} for k, v in expected.items()}
    for key, row in expected.items():
        assert got[key]["cost"] == pytest.approx(row["cost"], abs=1e-9), key
    # OpenCode's own cost, 0 included, is what is stored: never an estimate.
    assert all(row["unreported"] == 0 for row in _by_key(
        db, ", count(*) FILTER (WHERE cost_source <> 'reported')::BIGINT AS unreported").values())
    again = run_json("--db", str(db), "backfill", "opencode", env={"OPENCODE_DATA_DIR": str(data)})
    assert again["events"] == 0
    assert _by_key(db, ", sum(cost_usd) AS cost").keys() == expected.keys()
