"""Robustness found in review, through the CLI in a subprocess: token sums that would overflow,
wrongly typed fields, and model ids that must stay apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli, run_json
from transcripts import response

I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1


def write(tmp_path: Path, lines: list[dict | str], name: str = "s.jsonl") -> Path:
    project = tmp_path / "projects" / "-p"
    project.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line, separators=(",", ":"))) + "\n"
                   for line in lines)
    with open(project / name, "a") as f:
        f.write(text)
    return project.parent


def sql(db: Path, query: str) -> list[dict]:
    return json.loads(run_cli("--db", str(db), "sql", query, "--format", "json").stdout)


def line(n: int = 1, output: int = 5, **usage) -> dict:
    parsed = json.loads(response(n, [output])[0])
    parsed["message"]["usage"].update(usage)
    return parsed


# ------------------------------------------------------------------ overflow

def test_absurd_token_counts_saturate(tmp_path, db_path):
    huge = line(input_tokens=U64_MAX, cache_creation_input_tokens=0,
                cache_creation={"ephemeral_5m_input_tokens": U64_MAX, "ephemeral_1h_input_tokens": 7})
    root = write(tmp_path, [huge])
    assert run_json("--db", str(db_path), "backfill", "claude", str(root))["events"] == 1
    # The same call again, grown, in a second run: merged by the store's upsert.
    more = line(output=9, input_tokens=U64_MAX, cache_creation_input_tokens=U64_MAX)
    more["uuid"] = "u-later"
    write(tmp_path, [more])
    summary = run_json("--db", str(db_path), "backfill", "claude", str(root))
    assert (summary["events"], summary["merged_events"], summary["skipped_lines"]) == (0, 1, 0)
    [row] = sql(db_path, "SELECT input_tokens, output_tokens, cache_write_tokens, cache_write_1h_tokens, "
                         "total_tokens FROM usage_events")
    assert row == {"input_tokens": I64_MAX, "output_tokens": 9, "cache_write_tokens": I64_MAX,
                   "cache_write_1h_tokens": 7, "total_tokens": I64_MAX}


# --------------------------------------------------------------- wrong types

@pytest.mark.parametrize("field, value, column, stored", [
    ("gitBranch", 5, "git_branch", None),
    ("isSidechain", "false", "is_sidechain", False),
    ("isSidechain", "true", "is_sidechain", True),
    ("costUSD", "0.1", "cost_usd", 0.1),
    ("cwd", ["/a"], "project", None),
    ("sessionId", {"id": 1}, "session_id", None),
    ("version", 2.1, "client_version", None),
])
def test_wrongly_typed_descriptive_field_keeps_the_usage(tmp_path, db_path, field, value, column, stored):
    odd = line(output=441)
    odd[field] = value
    root = write(tmp_path, [odd])
    summary = run_json("--db", str(db_path), "backfill", "claude", str(root))
    assert (summary["events"], summary["skipped_lines"]) == (1, 0)
    [row] = sql(db_path, f"SELECT input_tokens, output_tokens, cache_read_tokens, {column} FROM usage_events")
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (3, 441, 1000)
    assert row[column] == stored


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["message"]["usage"].update(input_tokens="3"),
     'message.usage.input_tokens: expected a whole number of tokens (0 or more), got the string "3"'),
    (lambda d: d["message"]["usage"].update(output_tokens=-2),
     "message.usage.output_tokens: expected a whole number of tokens (0 or more), got the number -2"),
    (lambda d: d["message"]["usage"].update(cache_creation={"ephemeral_1h_input_tokens": 1.5}),
     "message.usage.cache_creation.ephemeral_1h_input_tokens: expected a whole number of tokens (0 or more), "
     "got the number 1.5"),
    (lambda d: d["message"].update(usage=[1, 2]), "message.usage: expected an object, got an array"),
    (lambda d: d.update(requestId=12), "requestId: expected a string, got the number 12"),
])
def test_wrongly_typed_usage_is_named(tmp_path, db_path, mutate, message):
    bad = line(1)
    mutate(bad)
    root = write(tmp_path, [bad, line(2)])
    result = run_cli("--db", str(db_path), "backfill", "claude", str(root))
    summary = run_json("--db", str(db_path), "backfill", "claude", str(root))  # nothing new the second time
    assert summary["files_read"] == 0
    assert f"at byte 0: {message}" in result.stderr
    assert "invalid type" not in result.stderr  # serde's own wording
    assert sql(db_path, "SELECT count(*) AS n FROM usage_events") == [{"n": 1}]


# ----------------------------------------------------------------- model ids

DISTINCT_MODELS = ["deepseek-v3", "deepseek-v2", "qwen3:32b", "qwen3:8b", "foo-20ab-cd-ef", "foo"]


def test_different_models_stay_apart(tmp_path, db_path):
    lines = []
    for n, model in enumerate(DISTINCT_MODELS + ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"], start=1):
        lines.append(line(n, model=model))
        lines[-1]["message"]["model"] = model
    root = write(tmp_path, lines)
    run_cli("--db", str(db_path), "backfill", "claude", str(root))
    rows = sql(db_path, "SELECT model_raw, model FROM usage_events ORDER BY model_raw")
    normalized = {r["model_raw"]: r["model"] for r in rows}
    for model in DISTINCT_MODELS:
        assert normalized[model] == model
    # What is one model still becomes one: a snapshot date is dropped.
    assert normalized["claude-sonnet-4-5-20250929"] == normalized["claude-sonnet-4-5"] == "claude-sonnet-4-5"
    models = run_json("--db", str(db_path), "report", "models", "--tz", "UTC")["rows"]
    assert sorted(r["model"] for r in models) == sorted(DISTINCT_MODELS + ["claude-sonnet-4-5"])


def test_python_uses_the_rust_normalizer():
    """Prices look models up by the Rust normalizer's reference form; there is no second one."""
    import usagecore.prices as prices
    from usagecore import _core

    assert not hasattr(prices, "_normalize")
    assert _core.model_ref(" Claude-Opus-4-8[1m] ") == "claude-opus-4-8"
    for model in DISTINCT_MODELS:
        assert _core.normalize_model(model) == model
