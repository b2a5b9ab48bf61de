"""Codex rollouts: exact totals from the real Codex captures, and every trap of
FORMATS.md §D.2–D.3 on variants of those real files (re-emitted totals,
heartbeats, resets, forks, compressed and archived copies, legacy files,
truncated lines, a rollout growing between runs).

Oracle: tests/data/captures/totals.json (`expected.non_overlapping` per run:
the mock's token formula) and the captures README, section 3.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from conftest import CAPTURES, run_cli, run_json

TOTALS = json.loads((CAPTURES / "totals.json").read_text())
RUNS = sorted(p.name for p in (CAPTURES / "codex").iterdir())
RESUME = CAPTURES / "codex" / "exec_resume_http_protobuf" / "rollouts"
RESUME_FILE = next(RESUME.rglob("rollout-*.jsonl"))
THREAD = "01a202e0-2ddf-7ba1-8e73-6e5114589e8c"

BY_DAY_MODEL_PROVIDER = (
    "SELECT strftime(timezone('UTC', occurred_at), '%Y-%m-%d') AS day, model, provider_id, "
    "count(*)::BIGINT AS events, sum(input_tokens)::BIGINT AS input, "
    "sum(cache_read_tokens)::BIGINT AS cache_read, sum(cache_write_tokens)::BIGINT AS cache_write, "
    "sum(output_tokens)::BIGINT AS output, sum(reasoning_tokens)::BIGINT AS reasoning, "
    "sum(total_tokens)::BIGINT AS total, count(cost_usd)::BIGINT AS priced, "
    "string_agg(DISTINCT cost_source, ',') AS cost_source "
    "FROM usage_events WHERE source_system = 'codex' GROUP BY ALL ORDER BY ALL"
)


def _rows(db: Path, query: str = BY_DAY_MODEL_PROVIDER) -> list[dict]:
    return json.loads(run_cli("--db", str(db), "sql", query, "--format", "json").stdout)


def _expected_row(run: str) -> dict:
    exp = TOTALS[f"codex/{run}"]["expected"]
    tokens = exp["non_overlapping"]
    return {"day": "2026-11-22", "model": "gpt-5-mock", "provider_id": "mock", "events": len(exp["requests"]),
            "input": tokens["input"], "cache_read": tokens["cache_read"], "cache_write": 0,
            "output": tokens["output"], "reasoning": tokens["reasoning_within_output"],
            "total": exp["total_tokens"], "priced": 0, "cost_source": "unknown"}


def _lines(path: Path = RESUME_FILE) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _write(root: Path, lines: list[str], name: str = RESUME_FILE.name, day: str = "2026/11/22") -> Path:
    path = root / "sessions" / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path


def _type(line: str) -> str:
    envelope = json.loads(line)
    payload = envelope.get("payload") or {}
    return envelope["type"] + ("/" + payload["type"] if envelope["type"] == "event_msg" else "")


def _token_count_only(lines: list[str]) -> list[str]:
    """The rollout as builds before `token_usage_record` wrote it."""
    return [line for line in lines if _type(line) != "token_usage_record"]


@pytest.mark.parametrize("run", RUNS)
def test_capture_totals_per_day_model_provider(run, tmp_path):
    db = tmp_path / "t.duckdb"
    summary = run_json("--db", str(db), "backfill", "codex", str(CAPTURES / "codex" / run / "rollouts"))
    assert (summary["files"], summary["skipped_lines"], summary["problems"]) == (1, 0, [])
    assert _rows(db) == [_expected_row(run)]


def test_events_carry_thread_turn_project_and_response(tmp_path):
    db = tmp_path / "t.duckdb"
    run_cli("--db", str(db), "backfill", "codex", str(RESUME))
    rows = _rows(db, "SELECT session_id, turn_id, project, request_id, client_version, git_branch, agent_id, "
                     "event_type, requests FROM usage_events ORDER BY occurred_at")
    assert {r["session_id"] for r in rows} == {THREAD}
    assert [r["request_id"][:13] for r in rows] == ["resp_mock_001", "resp_mock_002", "resp_mock_003",
                                                    "resp_mock_004"]
    assert len({r["turn_id"] for r in rows}) == 2
    assert {(r["project"], r["client_version"], r["git_branch"], r["agent_id"], r["event_type"], r["requests"])
            for r in rows} == {("/home/dev/work/app", "0.169.0", "main", None, "message", 1)}


def test_token_count_deltas_give_the_same_totals(tmp_path):
    """Without token_usage_record lines, the deltas of total_token_usage; every
    token_count re-emitted at a later time (unchanged total) and heartbeats
    with `info: null` add nothing."""
    lines = []
    for line in _token_count_only(_lines()):
        lines.append(line)
        if _type(line) == "event_msg/token_count":
            again = json.loads(line)
            again["timestamp"] = again["timestamp"][:-5] + "999Z"
            lines.append(json.dumps(again) + "\n")
            lines.append(json.dumps({"timestamp": again["timestamp"], "type": "event_msg",
                                     "payload": {"type": "token_count", "info": None, "rate_limits": {}}}) + "\n")
    _write(tmp_path / "home", lines)
    db = tmp_path / "t.duckdb"
    run_cli("--db", str(db), "backfill", "codex", str(tmp_path / "home"))
    assert _rows(db) == [_expected_row("exec_resume_http_protobuf")]


def test_a_total_that_goes_down_is_a_reset_counted_by_its_last_usage(tmp_path):
    lines = _token_count_only(_lines())
    counts = [i for i, line in enumerate(lines) if _type(line) == "event_msg/token_count"]
    # After the first process, the thread's total restarts (as after a
    # compaction): the last response's usage is the new total.
    reset = json.loads(lines[counts[2]])
    info = reset["payload"]["info"]
    info["total_token_usage"] = dict(info["last_token_usage"])
    lines[counts[2]] = json.dumps(reset) + "\n"
    final = json.loads(lines[counts[3]])
    info4 = final["payload"]["info"]
    info4["total_token_usage"] = {k: info["last_token_usage"][k] + info4["last_token_usage"][k]
                                  for k in info4["last_token_usage"]}
    lines[counts[3]] = json.dumps(final) + "\n"
    _write(tmp_path / "home", lines)
    db = tmp_path / "t.duckdb"
    run_cli("--db", str(db), "backfill", "codex", str(tmp_path / "home"))
    assert _rows(db) == [_expected_row("exec_resume_http_protobuf")]


def test_a_fork_replaying_its_parent_counts_only_its_own_responses(tmp_path):
    """A forked thread starts with its parent's history, written within a
    moment of its session_meta; only what comes after counts."""
    parent = _token_count_only(_lines())
    first_process = parent[: next(i for i, line in enumerate(parent) if _type(line) == "event_msg/task_complete")]
    fork_id = "01a202e0-ffff-7000-8000-000000000001"
    meta = json.loads(parent[0])
    meta["payload"] = {**meta["payload"], "id": fork_id, "session_id": fork_id, "forked_from_id": THREAD}
    meta["timestamp"] = "2026-11-22T11:00:00.000Z"
    replay = []
    for line in first_process[1:]:
        copy = json.loads(line)
        copy["timestamp"] = "2026-11-22T11:00:00.050Z"
        replay.append(json.dumps(copy) + "\n")
    own = []
    for line in parent[len(first_process):]:
        copy = json.loads(line)
        copy["timestamp"] = "2026-11-22T11:00:10" + copy["timestamp"][19:]
        own.append(json.dumps(copy) + "\n")
    home = tmp_path / "home"
    _write(home, first_process)  # the parent's first process only
    _write(home, [json.dumps(meta) + "\n", *replay, *own], name=f"rollout-2026-11-22T11-00-00-{fork_id}.jsonl")
    db = tmp_path / "t.duckdb"
    run_cli("--db", str(db), "backfill", "codex", str(home))
    per_thread = _rows(db, "SELECT session_id, count(*)::BIGINT AS n, sum(input_tokens + cache_read_tokens)::BIGINT "
                           "AS prompt FROM usage_events GROUP BY 1 ORDER BY 1")
    # Parent: requests 1, 2 (1011 + 2011); fork: requests 3, 4 (3011 + 4011).
    assert per_thread == [{"session_id": THREAD, "n": 2, "prompt": 3022},
                          {"session_id": fork_id, "n": 2, "prompt": 7022}]


def test_a_rollout_growing_between_runs_is_read_on_from_its_cursor(tmp_path):
    lines = _token_count_only(_lines())
    cut = next(i for i, line in enumerate(lines) if _type(line) == "event_msg/task_complete") + 1
    home = tmp_path / "home"
    path = _write(home, lines[:cut] + [lines[cut][:57]])  # the next line half written
    db = tmp_path / "t.duckdb"
    first = run_json("--db", str(db), "backfill", "codex", str(home))
    assert first["events"] == 2
    with path.open("a") as f:  # the resumed thread appends, days later in real life
        f.write(lines[cut][57:] + "".join(lines[cut + 1:]))
    second = run_json("--db", str(db), "backfill", "codex", str(home))
    assert (second["events"], second["reread_files"]) == (2, 0)
    assert second["bytes_read"] == path.stat().st_size - sum(len(line.encode()) for line in lines[:cut])
    assert _rows(db) == [_expected_row("exec_resume_http_protobuf")]
    third = run_json("--db", str(db), "backfill", "codex", str(home))
    assert (third["files_read"], third["events"]) == (0, 0)


def _zstd_frame(data: bytes) -> bytes:
    """A zstd frame of raw (stored) blocks: valid zstd, no compressor needed."""
    out = bytearray(struct.pack("<I", 0xFD2FB528)) + bytes([0x00, 0x38])  # window 128 KiB
    blocks = [data[i:i + (128 << 10)] for i in range(0, len(data), 128 << 10)] or [b""]
    for n, block in enumerate(blocks):
        header = (len(block) << 3) | int(n == len(blocks) - 1)
        out += header.to_bytes(3, "little") + block
    return bytes(out)


def test_compressed_archived_and_live_copies_count_once(tmp_path):
    home = tmp_path / "home"
    data = RESUME_FILE.read_bytes()
    plain = _write(home, _lines())
    # Archived copy (flat), and compressed copies beside each.
    archived = home / "archived_sessions" / RESUME_FILE.name
    archived.parent.mkdir(parents=True)
    archived.write_bytes(data)
    (archived.parent / (RESUME_FILE.name + ".zst")).write_bytes(_zstd_frame(data))
    plain.with_name(plain.name + ".zst").write_bytes(_zstd_frame(data))
    db = tmp_path / "t.duckdb"
    summary = run_json("--db", str(db), "backfill", "codex", str(home / "sessions"), str(home / "archived_sessions"))
    assert (summary["files"], summary["events"]) == (1, 4)
    assert _rows(db) == [_expected_row("exec_resume_http_protobuf")]


def test_a_compressed_rollout_alone_is_read_and_a_broken_one_is_a_problem(tmp_path):
    home = tmp_path / "home"
    archived = home / "archived_sessions"
    archived.mkdir(parents=True)
    (archived / (RESUME_FILE.name + ".zst")).write_bytes(_zstd_frame(RESUME_FILE.read_bytes()))
    broken = archived / "rollout-2026-11-21T09-00-00-01a202e0-0000-7000-8000-000000000000.jsonl.zst"
    broken.write_bytes(b"\x28\xb5\x2f\xfd not really zstd")
    db = tmp_path / "t.duckdb"
    result = run_cli("--db", str(db), "backfill", "codex", str(archived), "--json")
    summary = json.loads(result.stdout)
    assert summary["events"] == 4
    assert [p["path"] for p in summary["problems"]] == [str(broken)]
    assert "decompress" in summary["problems"][0]["message"]
    assert _rows(db) == [_expected_row("exec_resume_http_protobuf")]


def test_default_home_legacy_files_garbage_and_truncated_lines(tmp_path):
    codex_home = tmp_path / "codex-home"
    lines = _lines()
    # A truncated line in the middle (a crash while writing), ending inside a key.
    broken = [*lines[:20], '{"timestamp":"2026-11-22T10:49:36.3Z","type":"event_msg","payload":{"ty\n', *lines[20:]]
    _write(codex_home, broken)
    legacy = codex_home / "sessions" / "2025" / "06" / "01" / "rollout-2025-06-01T10-00-00-abc.jsonl"
    legacy.parent.mkdir(parents=True)
    legacy.write_text('{"id":"abc","timestamp":"2025-06-01T10:00:00Z","instructions":"x"}\n'
                      '{"record_type":"state"}\n{"type":"message","role":"user","content":[]}\n')
    garbage = codex_home / "sessions" / "2025" / "06" / "01" / "rollout-2025-06-01T11-00-00-def.jsonl"
    garbage.write_bytes(b"\x00\x01 not json at all\n\xff\xfe\n")
    (codex_home / "history.jsonl").write_text('{"session_id":"x","ts":1,"text":"a prompt"}\n')
    db = tmp_path / "t.duckdb"
    result = run_cli("--db", str(db), "backfill", "codex", "--json", env={"CODEX_HOME": str(codex_home)})
    summary = json.loads(result.stdout)
    assert (summary["files"], summary["events"], summary["skipped_files"]) == (3, 4, 2)
    assert summary["skipped_lines"] == 3
    assert {p["path"] for p in summary["problems"]} == {str(garbage), str(codex_home / "sessions" / "2026" / "11"
                                                                        / "22" / RESUME_FILE.name)}
    assert _rows(db) == [_expected_row("exec_resume_http_protobuf")]


def test_backfill_without_a_source_includes_codex(tmp_path, isolated_home):
    shutil.copytree(RESUME, isolated_home / ".codex" / "sessions")
    summary = run_json("backfill")
    assert [s["source"] for s in summary["sources"]] == ["claude_code", "codex"]
    assert (summary["events"], summary["sources"][1]["events"]) == (4, 4)


def test_otlp_responses_share_no_key_with_the_rollout():
    """Why a Codex response seen through OTLP and through the rollout is paired on thread,
    counts and time (pairing.py) rather than on an id: the rollout names each response
    (`response_id`), but Codex's `response.completed` log record carries only the thread, a
    millisecond timestamp, the counts and the model; no response, turn or sequence id, and no
    trace context. Should a Codex build add one, this fails and the pairing can use it."""
    run = CAPTURES / "codex" / "exec_http_json"
    body = json.loads((run / "otlp" / "0002_v1_logs.json").read_text())
    completed = []
    for resource in body["resourceLogs"]:
        for scope in resource["scopeLogs"]:
            for record in scope["logRecords"]:
                attrs = {a["key"] for a in record["attributes"]}
                values = {a["key"]: next(iter(a["value"].values())) for a in record["attributes"]}
                if values.get("event.kind") == "response.completed" and "input_token_count" in attrs:
                    completed.append(record)
                    assert not record.get("traceId") and not record.get("spanId")
                    assert attrs <= {"event.name", "event.kind", "event.timestamp", "conversation.id", "app.version",
                                     "originator", "terminal.type", "model", "slug", "input_token_count",
                                     "output_token_count", "cached_token_count", "cache_write_token_count",
                                     "reasoning_token_count", "tool_token_count", "ttft_ms", "duration_ms"}
    records = [json.loads(line)["payload"] for line in next((run / "rollouts").rglob("*.jsonl")).read_text().splitlines()
               if '"token_usage_record"' in line]
    assert len(completed) == len(records) == 2
    assert all(r["response_id"].startswith("resp_") for r in records)


def test_a_head_start_counts_the_same_and_is_left_unused_for_a_store_made_meanwhile(tmp_path):
    """A backfill into a store that does not exist yet begins reading before the store
    is open (backfill.head_start); should another process have made the store and read
    the rollouts meanwhile, what was read ahead is dropped and nothing counts twice."""
    from usagecore import backfill
    from usagecore.store import Store

    rollouts = [CAPTURES / "codex" / run / "rollouts" for run in RUNS]
    head = backfill.head_start("codex", rollouts)
    with Store(tmp_path / "ahead.duckdb") as store:
        ahead = backfill.backfill_codex(store, rollouts, head=head)
    with Store(tmp_path / "t.duckdb") as store:
        plain = backfill.backfill_codex(store, rollouts)
        late = backfill.backfill_codex(store, rollouts, head=backfill.head_start("codex", rollouts))
    assert (ahead.events, ahead.files_read) == (plain.events, plain.files_read) == (
        sum(len(TOTALS[f"codex/{run}"]["expected"]["requests"]) for run in RUNS), len(RUNS))
    assert (late.events, late.files_read, late.files) == (0, 0, len(RUNS))
    assert _rows(tmp_path / "ahead.duckdb") == _rows(tmp_path / "t.duckdb")
