"""Incremental backfill: appended, partially written, truncated and rewritten
files; the same response seen across runs and files; idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transcripts import assistant_line, response, user_line
from usagecore.backfill import backfill_claude
from usagecore.store import Store

EVENT_COLUMNS = "* EXCLUDE (cost_usd, cost_source)"


def ingest(db: Path, root: Path):
    with Store(db) as store:
        return backfill_claude(store, [root])


def totals(db: Path) -> tuple:
    with Store(db) as store:
        return store.con.execute(
            "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), "
            "sum(cache_write_tokens), sum(requests) FROM usage_events"
        ).fetchone()


def events(db: Path) -> list[tuple]:
    with Store(db) as store:
        return store.con.execute(f"SELECT {EVENT_COLUMNS} FROM usage_events ORDER BY event_id").fetchall()


def outputs(db: Path) -> dict[str, int]:
    with Store(db) as store:
        return dict(store.con.execute("SELECT request_id, output_tokens FROM usage_events").fetchall())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "projects" / "-home-me-my-app"
    folder.mkdir(parents=True)
    return folder


def test_second_run_reads_only_appended_bytes(tmp_path, project):
    db = tmp_path / "t.duckdb"
    session = project / "s.jsonl"
    first = "".join(response(1, [10, 10, 441]))
    session.write_text(first)
    assert ingest(db, project.parent).events == 1

    again = ingest(db, project.parent)
    assert (again.files_read, again.bytes_read, again.events) == (0, 0, 0)

    appended = user_line("u-x", "2026-05-01T11:00:00.000Z") + "".join(response(2, [5, 77]))
    with session.open("a") as f:
        f.write(appended)
    grown = ingest(db, project.parent)
    assert grown.bytes_read == len(appended.encode())
    assert (grown.events, grown.merged_events, grown.reread_files) == (1, 0, 0)
    assert outputs(db) == {"req_0001": 441, "req_0002": 77}


def test_response_split_between_runs_is_merged_with_per_field_max(tmp_path, project):
    """The file is being written: the placeholder line arrives in one run, the
    final line (and half of another) in the next."""
    db = tmp_path / "t.duckdb"
    session = project / "s.jsonl"
    lines = response(1, [12, 12, 640])
    session.write_text(lines[0] + lines[1] + lines[2][:40])
    first = ingest(db, project.parent)
    assert first.skipped_lines == 1, "the unfinished line is skipped for now"
    assert "no newline" in first.problems[0]["message"]
    assert outputs(db) == {"req_0001": 12}

    with session.open("a") as f:
        f.write(lines[2][40:])
    second = ingest(db, project.parent)
    assert (second.events, second.merged_events) == (0, 1)
    assert totals(db) == (1, 3, 640, 1000, 50, 1)


def test_truncated_file_is_reread_without_double_counting(tmp_path, project):
    db = tmp_path / "t.duckdb"
    session = project / "s.jsonl"
    lines = response(1, [10, 300]) + response(2, [20])
    session.write_text("".join(lines))
    ingest(db, project.parent)
    before = totals(db)

    session.write_text("".join(lines[:2]))  # cut back to the first response
    cut = ingest(db, project.parent)
    assert cut.reread_files == 1
    assert cut.events == 0
    assert totals(db) == before, "the ledger keeps what was spent"

    with session.open("a") as f:
        f.write(lines[2])
    ingest(db, project.parent)
    assert totals(db) == before


def test_rewritten_file_is_detected_and_reread(tmp_path, project):
    db = tmp_path / "t.duckdb"
    session = project / "s.jsonl"
    session.write_text("".join(response(1, [10, 300])))
    ingest(db, project.parent)
    # Same length, different bytes before the cursor: a rewrite, not an append.
    rewritten = "".join(response(1, [10, 300])).replace("msg_0001", "msg_0009").replace("req_0001", "req_0009")
    session.write_text(rewritten)
    result = ingest(db, project.parent)
    assert result.reread_files == 1
    assert sorted(outputs(db)) == ["req_0001", "req_0009"]


def test_resumed_session_copies_count_once_across_runs_and_files(tmp_path, project):
    db = tmp_path / "t.duckdb"
    original = response(1, [10, 300]) + response(2, [40])
    (project / "a.jsonl").write_text("".join(original))
    ingest(db, project.parent)
    # `claude --resume` copies the earlier lines into a new session file.
    (project / "b.jsonl").write_text("".join(original) + "".join(response(3, [9])))
    result = ingest(db, project.parent)
    assert (result.events, result.merged_events) == (1, 2)
    assert totals(db)[0] == 3


def test_sidechain_replay_in_a_later_file_is_dropped(tmp_path, project):
    db = tmp_path / "t.duckdb"
    (project / "main.jsonl").write_text("".join(response(1, [10, 300])))
    ingest(db, project.parent)
    replay = assistant_line(message_id="msg_0001", request_id="req_other", uuid="r1",
                            timestamp="2026-05-01T12:00:00.000Z", output=300, sidechain=True)
    subagent = assistant_line(message_id="msg_sub", request_id="req_sub", uuid="r2",
                              timestamp="2026-05-01T12:00:01.000Z", output=5, sidechain=True,
                              agent_id="a1", model="claude-haiku-4-5-20251001")
    side = project / "main" / "subagents"
    side.mkdir(parents=True)
    (side / "agent-a1.jsonl").write_text(replay + subagent)
    result = ingest(db, project.parent)
    assert result.sidechain_replays == 1
    assert outputs(db) == {"req_0001": 300, "req_sub": 5}


def _corpus_lines() -> list[str]:
    lines = []
    for n in range(1, 7):
        lines += response(n, [n, n, 100 * n] if n % 2 else [7 * n], day=f"2026-05-0{n % 3 + 1}")
        lines.append(user_line(f"user-{n}", f"2026-05-01T11:{n:02d}:00.000Z"))
    return lines


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=10_000), max_size=6), repeat=st.booleans())
def test_ingesting_in_pieces_equals_ingesting_once(tmp_path_factory, cuts, repeat):
    """Property: however the file grew between runs, and however often a run
    repeats, the store ends up exactly as after one run over the whole file."""
    data = "".join(_corpus_lines()).encode()
    base = tmp_path_factory.mktemp("prop")
    once_root, pieces_root = base / "once" / "p", base / "pieces" / "p"
    once_root.mkdir(parents=True)
    pieces_root.mkdir(parents=True)
    (once_root / "s.jsonl").write_bytes(data)
    ingest(base / "once.duckdb", once_root.parent)

    target = pieces_root / "s.jsonl"
    written = 0
    for cut in sorted({c % len(data) for c in cuts}) + [len(data)]:
        with target.open("ab") as f:
            f.write(data[written:cut])
        written = max(written, cut)
        ingest(base / "pieces.duckdb", pieces_root.parent)
        if repeat:
            ingest(base / "pieces.duckdb", pieces_root.parent)

    assert events(base / "pieces.duckdb") == events(base / "once.duckdb")
    assert totals(base / "once.duckdb") == (6, 18, 100 + 300 + 500 + 14 + 28 + 42, 6000, 300, 6)
