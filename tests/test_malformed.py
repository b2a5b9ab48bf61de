"""Bad input never crashes a backfill and never loses the good lines around it."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_json
from transcripts import response


def test_bad_lines_are_skipped_named_and_the_rest_kept(tmp_path: Path, db_path: Path):
    project = tmp_path / "projects" / "-p"
    project.mkdir(parents=True)
    good = response(1, [10, 300]) + response(2, [20]) + response(3, [30])
    wrong_type = good[2].replace('"input_tokens":3', '"input_tokens":"three"')
    no_time = response(4, [1])[0].replace('"timestamp":"2026-05-01T10:04:00.000Z"', '"timestamp":"later"')
    bad = [
        good[0][:57] + "\n",  # cut off by a crash
        "\x00\x01 garbage\n",
        wrong_type,
        no_time,
        '{"type":"assistant","message":{"usage":[1,2]}}\n',
        "\n",
        "[1, 2, 3]\n",
    ]
    lines = [good[0], bad[0], good[1], bad[1], bad[2], bad[3], bad[4], bad[5], good[3], bad[6]]
    session = project / "s.jsonl"
    session.write_text("".join(lines))

    summary = run_json("--db", str(db_path), "backfill", "claude", str(project.parent))
    assert summary["skipped_lines"] == 6
    messages = [p["message"] for p in summary["problems"]]
    assert all(p["path"] == str(session) for p in summary["problems"])
    # A wrongly typed field is named, with what it should be (not serde's wording).
    assert 'message.usage.input_tokens: expected a whole number of tokens (0 or more), got the string "three"' in messages
    assert "message.usage: expected an object, got an array" in messages
    assert any("timestamp" in m for m in messages)
    assert any("truncated" in m for m in messages)
    offsets = {p["offset"] for p in summary["problems"]}
    assert len(good[0].encode()) in offsets, "the offset names the bad line"

    rows = run_json("--db", str(db_path), "report", "models")
    # Response 2 lost its only valid line to the wrong type; responses 1 and 3 are whole.
    assert rows["totals"]["requests"] == 2
    assert rows["totals"]["output_tokens"] == 300 + 30


def test_empty_binary_and_missing_inputs(tmp_path: Path, db_path: Path):
    project = tmp_path / "projects" / "-p"
    project.mkdir(parents=True)
    (project / "empty.jsonl").write_bytes(b"")
    (project / "binary.jsonl").write_bytes(bytes(range(256)) * 64)
    (project / "ok.jsonl").write_text("".join(response(1, [5])))
    (project / "folder.jsonl").mkdir()  # a folder with a file's name is walked, not read

    summary = run_json("--db", str(db_path), "backfill", "claude", str(project.parent))
    assert summary["events"] == 1
    assert summary["skipped_lines"] >= 1

    nothing = run_json("--db", str(db_path), "backfill", "claude", str(tmp_path / "projects" / "-p" / "folder.jsonl"))
    assert nothing["files"] == 0


def test_missing_path_is_a_clear_usage_error(tmp_path: Path, db_path: Path):
    from conftest import run_cli

    result = run_cli("--db", str(db_path), "backfill", "claude", str(tmp_path / "nope"), check=False)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_null_and_odd_fields_do_not_crash(tmp_path: Path, db_path: Path):
    project = tmp_path / "projects" / "-p"
    project.mkdir(parents=True)
    line = json.loads(response(1, [5])[0])
    line["requestId"] = None
    line["cwd"] = None
    line["message"]["usage"]["cache_creation_input_tokens"] = None
    line["message"]["usage"]["future_field"] = {"nested": [1, 2]}
    line["costUSD"] = 0.25
    (project / "s.jsonl").write_text(json.dumps(line) + "\n")
    summary = run_json("--db", str(db_path), "backfill", "claude", str(project.parent))
    assert (summary["events"], summary["skipped_lines"]) == (1, 0)
    from conftest import run_cli

    rows = json.loads(run_cli("--db", str(db_path), "sql",
                              "SELECT cost_usd, cost_source, project, cache_write_tokens FROM usage_events",
                              "--format", "json").stdout)
    assert rows == [{"cost_usd": 0.25, "cost_source": "reported", "project": None, "cache_write_tokens": 0}]
