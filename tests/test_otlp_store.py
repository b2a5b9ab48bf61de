"""OTLP captures through the conversion and the store: stored rows and
canonical totals equal what the agents reported (captures README §3,
totals.json), the same payload in JSON and protobuf gives identical rows,
and storing everything twice changes nothing."""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_captures import ALL_RUNS, CLAUDE_RUNS, CODEX_RUNS, TOTALS, parts

from usagecore import _core
from usagecore.live import otlp
from usagecore.store import Store

TABLES = {
    "otel_metric_points": "point_id",
    "otel_events": "event_id",
    "otel_spans": "span_key",
    "usage_events": "event_id",
    "usage_raw_events": "raw_event_id",
}


def store_parts(db_path, batches) -> None:
    """Each batch in its own transaction, as drains would."""
    with Store(db_path) as store:
        for batch in batches:
            converted = _core.otlp_convert(batch)
            assert converted["failed"] == []
            with store.transaction() as writer:
                otlp.store(writer, converted)


def query(db_path, sql, params=()):
    with Store(db_path) as store:
        return store.con.execute(sql, params).fetchall()


def rows(db_path) -> dict[str, list[tuple]]:
    """Every stored row, without the time of receipt."""
    out = {}
    with Store(db_path) as store:
        for table, key in TABLES.items():
            columns = [c for (c,) in store.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND column_name NOT IN ('received_at', 'source_ref') ORDER BY ordinal_position", [table]).fetchall()]
            out[table] = store.con.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}").fetchall()
    return out


@pytest.mark.parametrize("run", CLAUDE_RUNS)
def test_claude_code_totals(db_path, run):
    store_parts(db_path, [[p] for p in parts(run)])
    expected = TOTALS[run]["expected"]
    got = dict((model, row) for model, *row in query(db_path, """
        SELECT model_raw, sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
               sum(cache_write_tokens), sum(cost_usd), bool_and(cost_source = 'reported')
        FROM usage_events WHERE event_type = 'message' GROUP BY ALL"""))
    assert set(got) == set(expected["by_model"])
    for model, want in expected["by_model"].items():
        requests, input_, output, cache_read, cache_write, cost, reported = got[model]
        assert (requests, input_, output, cache_read, cache_write) == (
            len(want["requests"]), want["input_tokens"], want["output_tokens"],
            want["cache_read_input_tokens"], want["cache_creation_input_tokens"]), model
        assert cost == pytest.approx(want["cost_usd"], abs=1e-12) and reported
    # The token metric, delta or cumulative, adds up to the same per type and model.
    metric = {f"{t}|{m}": v for t, m, v in query(db_path, """
        SELECT json_extract_string(attributes, '$.type'), model, sum(delta_value)
        FROM otel_metric_points WHERE metric_name = 'claude_code.token.usage' GROUP BY ALL""")}
    reported = TOTALS[run]["reported"]["otlp"]["metric_claude_code.token.usage"]
    assert metric == pytest.approx({k.replace("[1m]", ""): v for k, v in reported.items()}) or metric == reported
    cost_metric = query(db_path, "SELECT sum(delta_value) FROM otel_metric_points "
                                 "WHERE metric_name = 'claude_code.cost.usage'")[0][0]
    assert cost_metric == pytest.approx(expected["cost_usd"], abs=1e-9)


def test_claude_code_events_prompts_and_tools(db_path):
    store_parts(db_path, [parts("claude-code/rich_http_json")])
    kinds = dict(query(db_path, "SELECT event_type, count(*) FROM usage_events GROUP BY ALL"))
    assert kinds == {"message": 6, "tool_call": 4, "prompt": 1}
    names = dict(query(db_path, "SELECT event_name, count(*) FROM otel_events GROUP BY ALL"))
    assert names["claude_code.api_request"] == 6
    assert all(name.startswith("claude_code.") for name in names)
    assert query(db_path, "SELECT count(*) FROM otel_events WHERE session_id IS NULL")[0][0] == 0


@pytest.mark.parametrize("run", CODEX_RUNS)
def test_codex_totals(db_path, run):
    store_parts(db_path, [[p] for p in parts(run)])
    expected = TOTALS[run]["expected"]
    (requests, input_, cached, output, reasoning), = query(db_path, """
        SELECT sum(requests), sum(input_tokens + cache_read_tokens), sum(cache_read_tokens),
               sum(output_tokens), sum(reasoning_tokens)
        FROM usage_events WHERE event_type = 'message'""")
    assert (requests, input_, cached, output, reasoning) == (
        len(expected["requests"]), expected["input_tokens"], expected["cached_input_tokens"],
        expected["output_tokens"], expected["reasoning_output_tokens"])
    metric = {f"{t}|{m}": v for t, m, v in query(db_path, """
        SELECT json_extract_string(attributes, '$.token_type'), model, sum(delta_value)
        FROM otel_metric_points WHERE metric_name = 'codex.turn.token_usage' GROUP BY ALL""")}
    assert metric == TOTALS[run]["reported"]["otlp"]["metric_codex.turn.token_usage"]


def test_cumulative_series_become_deltas_across_drains(db_path):
    # Two exports of one cumulative counter (1011, then 3022), each drained on its own.
    store_parts(db_path, [[p] for p in parts("generic-otlp/python-http-protobuf-cumulative")])
    assert query(db_path, "SELECT value, delta_value FROM otel_metric_points ORDER BY time_unix_nano") == [
        (1011.0, 1011.0), (3022.0, 2011.0)]
    # A reset (new start time, lower value) counts whole; a stale point adds nothing.
    assert query(db_path, "SELECT count(*) FROM otel_metric_series")[0][0] == 1


def test_claude_cumulative_in_one_batch_equals_drained_one_by_one(tmp_path):
    run = "claude-code/rich_http_json_cumulative"
    store_parts(tmp_path / "a.duckdb", [parts(run)])
    store_parts(tmp_path / "b.duckdb", [[p] for p in parts(run)])
    assert rows(tmp_path / "a.duckdb")["otel_metric_points"] == rows(tmp_path / "b.duckdb")["otel_metric_points"]


def test_everything_twice_changes_nothing(tmp_path):
    every = [p for run in ALL_RUNS for p in parts(run)]
    store_parts(tmp_path / "once.duckdb", [every])
    store_parts(tmp_path / "twice.duckdb", [every, every[::-1]])
    assert rows(tmp_path / "once.duckdb") == rows(tmp_path / "twice.duckdb")


def _hex_ids(value):
    """OTLP/JSON ids are hex where protobuf's JSON mapping writes base64."""
    if isinstance(value, dict):
        return {k: (base64.b64decode(v).hex().upper() if k in ("traceId", "spanId", "parentSpanId") and v
                    else _hex_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


def _numbers(value):
    """The JS exporters' deviation: 64-bit integers as JSON numbers."""
    if isinstance(value, dict):
        return {k: (int(v) if isinstance(v, str) and k in ("timeUnixNano", "startTimeUnixNano",
                    "observedTimeUnixNano", "intValue", "asInt", "count") and v.lstrip("-").isdigit()
                    else _numbers(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


MESSAGES = {"/v1/logs": ExportLogsServiceRequest, "/v1/metrics": ExportMetricsServiceRequest,
            "/v1/traces": ExportTraceServiceRequest}


@pytest.mark.parametrize("deviation", [_hex_ids, lambda v: _numbers(_hex_ids(v))], ids=["canonical", "js-numbers"])
def test_same_payload_as_json_and_protobuf_gives_identical_rows(tmp_path, deviation):
    """Every protobuf capture, re-encoded as OTLP/JSON by the protobuf library
    itself (not by us), stores exactly the same rows."""
    proto_parts = [p for run in ALL_RUNS for p in parts(run) if p[1] == "application/x-protobuf"]
    assert len(proto_parts) > 30
    json_parts = []
    for path, _, body, account, received in proto_parts:
        message = MESSAGES[path]()
        message.ParseFromString(body)
        as_dict = deviation(json_format.MessageToDict(message, use_integers_for_enums=True))
        json_parts.append((path, "application/json", json.dumps(as_dict).encode(), account, received))
    store_parts(tmp_path / "proto.duckdb", [proto_parts])
    store_parts(tmp_path / "json.duckdb", [json_parts])
    proto_rows, json_rows = rows(tmp_path / "proto.duckdb"), rows(tmp_path / "json.duckdb")
    assert sum(len(v) for v in proto_rows.values()) > 500
    assert proto_rows == json_rows


def test_content_is_not_stored_unless_kept(tmp_path):
    run = "claude-code/rich_http_json_gzip_details_traces"
    store_parts(tmp_path / "plain.duckdb", [parts(run)])
    text = json.dumps(rows(tmp_path / "plain.duckdb"), default=str)
    for secret in ('\\"prompt\\"', "say hi", "echo hi", '\\"tool_input\\"'):
        assert secret not in text, secret
    with Store(tmp_path / "kept.duckdb") as store, store.transaction() as writer:
        otlp.store(writer, _core.otlp_convert(parts(run), keep_content=True))
    assert "say hi" in json.dumps(rows(tmp_path / "kept.duckdb"), default=str)


def test_undecodable_parts_are_named(db_path):
    converted = _core.otlp_convert([("/v1/logs", "application/json", b"{nope", None, 1),
                                    ("/v1/metrics", "application/x-protobuf", b"\xff\xff\xff", None, 1),
                                    ("/v1/logs", "application/json", b"{}", None, 1)])
    assert [index for index, _ in converted["failed"]] == [0, 1]
    assert "JSON" in converted["failed"][0][1]


def test_segments_are_split_and_their_undecodable_requests_named():
    """A spool segment of the receiver (rust/server/spool.rs) is split into its
    requests in Rust: an undecodable one is named by segment and position, a
    torn last one (its writer killed while appending) is left out and counted."""

    def frame(body: bytes) -> bytes:
        return json.dumps({"path": "/v1/logs", "content_type": "application/json", "account_id": None,
                           "received_at_ns": 1, "length": len(body)}).encode() + b"\n" + body

    torn = frame(b'{"resourceLogs": []}')[:-4]
    segment = frame(b"{nope") + frame(b"{}") + torn
    converted = _core.otlp_convert([], segments=[frame(b"{}"), segment])
    assert [(s, i) for s, i, _ in converted["segment_failed"]] == [(1, 0)]
    assert "JSON" in converted["segment_failed"][0][2]
    assert converted["torn"] == [(1, len(torn))] and converted["failed"] == []


@pytest.mark.parametrize("otlp_first", [True, False], ids=["otlp-then-transcript", "transcript-then-otlp"])
@pytest.mark.parametrize("run", ["claude-code/rich_http_json", "claude-code/continue_http_json"])
def test_transcript_and_otlp_of_one_session_count_once(db_path, run, otlp_first):
    """One truth across paths: each API call is one message, with OTLP's
    reported cost and the transcript's project and git branch."""
    from conftest import CAPTURES, run_cli

    def backfill():
        run_cli("--db", str(db_path), "backfill", "claude", str(CAPTURES / run / "transcripts"))

    if not otlp_first:
        backfill()
    store_parts(db_path, [parts(run)])
    if otlp_first:
        backfill()
    expected = TOTALS[run]["expected"]
    (requests, input_, output, cache_read, cache_write, cost, reported, projects, with_branch), = query(db_path, """
        SELECT sum(requests), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
               sum(cache_write_tokens), sum(cost_usd), bool_and(cost_source = 'reported'),
               count(DISTINCT project), count(git_branch)
        FROM usage_events WHERE event_type = 'message'""")
    assert (requests, input_, output, cache_read, cache_write) == (
        len(expected["requests"]), expected["input_tokens"], expected["output_tokens"],
        expected["cache_read_input_tokens"], expected["cache_creation_input_tokens"])
    assert cost == pytest.approx(expected["cost_usd"], abs=1e-12) and reported
    assert projects == 1 and with_branch == requests


GENERIC_PYTHON = "generic-otlp/python-http-protobuf-cumulative"


@pytest.mark.parametrize("order", ["one batch", "one by one", "span first", "span first, one by one"])
def test_genai_call_reported_as_log_and_span_is_one_message(tmp_path, order):
    """The OpenTelemetry Python sample reports one GenAI call twice: a log
    record (tokens, reported cost) and a span (tokens with the cached part,
    response id), nothing linking them but the process, model and counts
    (captures README §3, "Generic OTLP clients")."""
    every = parts(GENERIC_PYTHON)
    if order.startswith("span first"):
        every = every[::-1]
    db_path = tmp_path / "db.duckdb"
    store_parts(db_path, [[p] for p in every] if order.endswith("one by one") else [every])
    assert query(db_path, """
        SELECT requests, input_tokens, cache_read_tokens, output_tokens, cost_usd, cost_source, model, message_id
        FROM usage_events WHERE event_type = 'message'""") == [
        (1, 1011 - 1001, 1001, 17, 0.003288, "reported", "mock-model", "chatcmpl-mock-001")]
    # Both sightings are kept as records; storing everything again changes nothing.
    assert query(db_path, "SELECT count(*) FROM otel_events WHERE event_name = 'app.api_request'") == [(1,)]
    assert query(db_path, "SELECT count(*) FROM otel_spans") == [(1,)]
    store_parts(db_path, [every, every[::-1]])
    assert query(db_path, "SELECT count(*), sum(input_tokens) FROM usage_events WHERE event_type = 'message'") == [
        (1, 10)]


@pytest.mark.parametrize("run", ["generic-otlp/js-http-json", "generic-otlp/js-http-protobuf"])
def test_genai_log_alone_is_one_message(db_path, run):
    store_parts(db_path, [parts(run)])
    assert query(db_path, """
        SELECT requests, input_tokens, cache_read_tokens, output_tokens, model
        FROM usage_events WHERE event_type = 'message'""") == [(1, 1011, 0, 17, "mock-model")]
