"""One truth across paths for Codex: a response seen through OTLP (the
`codex.sse_event` `response.completed` log record) and through its rollout
(backfill or `notify`) is one message, in whichever order the two come, and
nothing sent or read again brings the dropped sighting back (pairing.py).

Oracle: tests/data/captures/totals.json (the mock's token formula per run)
and the captured OTLP bodies and rollouts of the same three real Codex runs.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from otlp_captures import CODEX_RUNS, TOTALS, parts
from test_otlp_store import query, store_parts

from conftest import CAPTURES, run_json
from usagecore import spool
from usagecore.store import Store

MESSAGES_SQL = """
    SELECT count(*), sum(requests), sum(input_tokens + cache_read_tokens), sum(cache_read_tokens),
           sum(output_tokens), sum(reasoning_tokens), sum(cache_write_tokens)
    FROM usage_events WHERE event_type = 'message'"""


def expected(run: str) -> tuple:
    exp = TOTALS[run]["expected"]
    n = len(exp["requests"])
    return (n, n, exp["input_tokens"], exp["cached_input_tokens"], exp["output_tokens"],
            exp["reasoning_output_tokens"], 0)


def codex_home(root: Path, run: str) -> Path:
    """A CODEX_HOME holding the run's rollout where Codex writes it."""
    home = root / "codex-home"
    shutil.copytree(CAPTURES / run / "rollouts", home / "sessions")
    return home


def backfill(db_path: Path, home: Path) -> dict:
    return run_json("--db", str(db_path), "backfill", "codex", str(home))


def everything(db_path: Path) -> list[tuple]:
    """Every message row and pair, without the times of receipt and pairing."""
    with Store(db_path) as store:
        columns = [c for (c,) in store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'usage_events' "
            "ORDER BY ordinal_position").fetchall()]
        events = store.con.execute(f"SELECT {', '.join(columns)} FROM usage_events ORDER BY event_id").fetchall()
        pairs = store.con.execute("SELECT dropped_event_id, kept_event_id FROM paired_events ORDER BY ALL").fetchall()
    return events + pairs


@pytest.mark.parametrize("otlp_first", [True, False], ids=["otlp-then-rollout", "rollout-then-otlp"])
@pytest.mark.parametrize("run", CODEX_RUNS)
def test_otlp_and_rollout_count_each_response_once(tmp_path, db_path, run, otlp_first):
    home = codex_home(tmp_path, run)
    if not otlp_first:
        backfill(db_path, home)
    store_parts(db_path, [[p] for p in parts(run)])
    if otlp_first:
        summary = backfill(db_path, home)
        # Every response the rollout brings was already stored through OTLP.
        assert (summary["events"], summary["merged_events"]) == (0, len(TOTALS[run]["expected"]["requests"]))
    assert query(db_path, MESSAGES_SQL) == [expected(run)]
    # The rollout's rows stay, with their response, turn and project.
    rows = query(db_path, "SELECT source_channel, request_id, turn_id, project FROM usage_events "
                          "WHERE event_type = 'message' ORDER BY request_id")
    assert [r[1][:13] for r in rows] == [f"resp_mock_00{n}" for n in TOTALS[run]["expected"]["requests"]]
    assert {(r[0], r[3]) for r in rows} == {("rollout", "/home/dev/work/app")} and all(r[2] for r in rows)
    # Each OTLP message went into its own rollout row; its log record is kept as received.
    n = expected(run)[0]
    assert query(db_path, "SELECT count(*), count(DISTINCT kept_event_id) FROM paired_events") == [(n, n)]
    assert query(db_path, "SELECT count(*) FROM otel_events WHERE event_name = 'codex.sse_event' "
                          "AND attributes LIKE '%input_token_count%'") == [(n,)]


@pytest.mark.parametrize("run", CODEX_RUNS)
def test_retransmission_and_rereading_after_pairing_change_nothing(tmp_path, db_path, run):
    home = codex_home(tmp_path, run)
    store_parts(db_path, [[p] for p in parts(run)])
    backfill(db_path, home)
    before = everything(db_path)
    # The exporter sends everything again, in one batch and one by one ...
    store_parts(db_path, [parts(run)] + [[p] for p in parts(run)])
    # ... and a backfill reads the whole rollout again (its cursors gone).
    with Store(db_path) as store, store.transaction() as writer:
        writer.con.execute("DELETE FROM file_cursors")
    assert backfill(db_path, home)["events"] == 0
    assert everything(db_path) == before
    assert query(db_path, MESSAGES_SQL) == [expected(run)]


@pytest.mark.parametrize("order", ["same drain", "otlp first", "notify first"])
def test_otlp_and_notify_through_the_drain(tmp_path, db_path, order):
    """What `usagecore serve` sees: OTLP requests and the `notify` payloads
    of the same run (exec, then resume) in its spool, drained by `collect`."""
    run = "codex/exec_resume_http_protobuf"
    env = {"CODEX_HOME": str(codex_home(tmp_path, run))}

    def spool_otlp():
        for path, content_type, body, _, _ in parts(run):
            spool.write("otlp", "otlp", body, path=path, content_type=content_type)

    def spool_notify():
        for payload in sorted((CAPTURES / run / "notify").glob("*.json")):
            spool.write("codex", "notify", payload.read_bytes())

    def collect():
        result = run_json("--db", str(db_path), "collect", env=env)
        assert result["quarantined"] == 0, result

    first, second = (spool_notify, spool_otlp) if order == "notify first" else (spool_otlp, spool_notify)
    first()
    if order != "same drain":
        collect()
    second()
    collect()
    assert query(db_path, MESSAGES_SQL) == [expected(run)]
    channels = dict(query(db_path, "SELECT source_channel, count(*) FROM usage_raw_events "
                                   "WHERE source_system = 'codex' GROUP BY ALL"))
    # Each response's raw record came both ways; a turn event per notify.
    assert channels == {"rollout": 4, "otlp": 4, "notify": 2}


# Two responses of one thread that look alike (a retried request): the first
# response of the exec run twice, one second apart, in the rollout and in OTLP.
ALIKE_RUN = "codex/exec_http_json"
ALIKE = {"input_tokens": 1011, "cached_input_tokens": 1001, "cache_write_input_tokens": 0, "output_tokens": 17,
         "reasoning_output_tokens": 5, "total_tokens": 1028}


def alike_rollout(lag_ms: int = 0) -> list[str]:
    """The exec run's rollout with its second response made the first's twin;
    from the first usage line on, written `lag_ms` later."""
    path = next((CAPTURES / ALIKE_RUN / "rollouts").rglob("rollout-*.jsonl"))
    lines = path.read_text().splitlines(keepends=True)
    out, records = [], 0
    for line in lines:
        envelope = json.loads(line)
        if envelope["type"] == "token_usage_record":
            records += 1
            payload = envelope["payload"]
            payload["usage"] = dict(ALIKE)
            payload["thread_token_usage"] = {k: v * records for k, v in ALIKE.items()}
        if records and lag_ms:
            at = dt.datetime.fromisoformat(envelope["timestamp"]) + dt.timedelta(milliseconds=lag_ms)
            envelope["timestamp"] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(json.dumps(envelope) + "\n")
    assert records == 2
    return out


def alike_logs() -> list[tuple]:
    """The exec run's OTLP logs, its second `response.completed` given the first's counts."""
    out = []
    for path, content_type, body, account, received in parts(ALIKE_RUN):
        if path == "/v1/logs":
            request = json.loads(body)
            completed = 0
            for resource in request["resourceLogs"]:
                for scope in resource["scopeLogs"]:
                    for record in scope["logRecords"]:
                        attributes = {a["key"]: a["value"] for a in record["attributes"]}
                        if "input_token_count" in attributes:
                            completed += 1
                            for a in record["attributes"]:
                                if a["key"] in ("input_token_count", "output_token_count", "cached_token_count",
                                                "reasoning_token_count"):
                                    a["value"] = {"intValue": str(ALIKE[{
                                        "input_token_count": "input_tokens",
                                        "output_token_count": "output_tokens",
                                        "cached_token_count": "cached_input_tokens",
                                        "reasoning_token_count": "reasoning_output_tokens"}[a["key"]]])}
            assert completed == 2
            body = json.dumps(request).encode()
        out.append((path, content_type, body, account, received))
    return out


def write_rollout(home: Path, lines: list[str]) -> None:
    path = home / "sessions" / "2026" / "11" / "22" / next(
        (CAPTURES / ALIKE_RUN / "rollouts").rglob("rollout-*.jsonl")).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


ALIKE_TOTALS = [(2, 2, 2 * 1011, 2 * 1001, 2 * 17, 2 * 5, 0)]


@pytest.mark.parametrize("order", ["otlp first", "rollout first", "otlp one by one", "rollout grows", "rollout lags"])
def test_two_responses_alike_are_both_kept_each_paired_once(tmp_path, db_path, order):
    home = tmp_path / "codex-home"
    # Lagging (as `token_count` lines do behind the tools a response called),
    # both OTLP records are closest to the first rollout line: the later one
    # gets it, and the earlier one the second, in a second round.
    rollout, logs = alike_rollout(lag_ms=175 if order == "rollout lags" else 0), alike_logs()
    if order == "rollout first":
        write_rollout(home, rollout)
        backfill(db_path, home)
    if order == "rollout grows":
        # The rollout up to the first response's usage, as `notify` could read it mid-turn.
        first = next(i for i, line in enumerate(rollout) if '"token_usage_record"' in line)
        write_rollout(home, rollout[:first + 1])
        backfill(db_path, home)
    store_parts(db_path, [[p] for p in logs] if order != "otlp one by one" else [logs])
    if order == "rollout grows":
        # The twin's OTLP record has no partner yet: it counts, once, also
        # when sent again (the first response's rollout row is taken).
        store_parts(db_path, [logs])
        assert query(db_path, MESSAGES_SQL) == ALIKE_TOTALS
        assert query(db_path, "SELECT source_channel, count(*) FROM usage_events GROUP BY ALL ORDER BY ALL") == [
            ("otlp", 1), ("rollout", 1)]
    if order != "rollout first":
        write_rollout(home, rollout)
        backfill(db_path, home)
    assert query(db_path, MESSAGES_SQL) == ALIKE_TOTALS
    rows = query(db_path, "SELECT source_channel, request_id FROM usage_events ORDER BY request_id")
    assert rows == [("rollout", "resp_mock_001_ab40fe90cf"), ("rollout", "resp_mock_002_9ee573bee0")]
    # Two distinct partners, each kept row paired once.
    assert query(db_path, "SELECT count(*), count(DISTINCT dropped_event_id), count(DISTINCT kept_event_id) "
                          "FROM paired_events") == [(2, 2, 2)]
    # The earlier OTLP record (stamped 3 ms before the first response's line)
    # went into that response, unless the rollout lags.
    store_parts(tmp_path / "otlp-only.duckdb", [logs])
    otlp_ids = [i for (i,) in query(tmp_path / "otlp-only.duckdb",
                                    "SELECT event_id FROM usage_events ORDER BY occurred_at")]
    crossed = order == "rollout lags"
    assert query(db_path, """
        SELECT p.dropped_event_id, u.request_id FROM paired_events AS p
        JOIN usage_events AS u ON u.event_id = p.kept_event_id ORDER BY u.request_id""") == [
        (otlp_ids[crossed], "resp_mock_001_ab40fe90cf"), (otlp_ids[not crossed], "resp_mock_002_9ee573bee0")]
    # Sent again after pairing, one of them or both: nothing changes.
    before = everything(db_path)
    store_parts(db_path, [logs, [p for p in logs if p[0] == "/v1/logs"]])
    assert everything(db_path) == before


def test_a_rollout_without_a_model_takes_the_otlp_one(tmp_path, db_path):
    """Early rollouts may lack `turn_context` and with it the model: a model
    only one side names does not keep the two apart, and OTLP fills it in."""
    run = "codex/exec_http_json"
    path = next((CAPTURES / run / "rollouts").rglob("rollout-*.jsonl"))
    home = tmp_path / "codex-home"
    write_rollout(home, [line for line in path.read_text().splitlines(keepends=True)
                         if json.loads(line)["type"] != "turn_context"])
    backfill(db_path, home)
    assert query(db_path, "SELECT DISTINCT model FROM usage_events") == [(None,)]
    store_parts(db_path, [parts(run)])
    assert query(db_path, MESSAGES_SQL) == [expected(run)]
    assert query(db_path, "SELECT DISTINCT source_channel, model FROM usage_events") == [("rollout", "gpt-5-mock")]
