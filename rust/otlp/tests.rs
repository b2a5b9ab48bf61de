//! Golden tests over the real agents' OTLP captures (tests/data/captures):
//! every body decodes, nothing is rejected, and the canonical events add up
//! to what the agents reported (captures README §3, totals.json).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::body::{decompress, Compression};
use super::convert::{Converted, Origin};
use super::{decode, Encoding, Signal};

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures")
}

/// Every request body of a capture folder, converted, in arrival order.
fn convert_run(run: &str) -> Converted {
    let dir = captures().join(run);
    let dir = if dir.join("otlp").is_dir() { dir.join("otlp") } else { dir };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("_v1_"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "{run}: no bodies");
    let mut converted = Converted::default();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        let compression = if name.ends_with(".gz") { Compression::Gzip } else { Compression::None };
        let body = decompress(compression, bytes, 64 << 20).unwrap();
        let signal = ["logs", "metrics", "traces"]
            .iter()
            .zip([Signal::Logs, Signal::Metrics, Signal::Traces])
            .find(|(s, _)| name.contains(&format!("_v1_{s}")))
            .map(|(_, signal)| signal)
            .unwrap();
        let encoding = if name.contains(".json") { Encoding::Json } else { Encoding::Protobuf };
        let request = decode(signal, encoding, &body).unwrap_or_else(|e| panic!("{run}/{name}: {e}"));
        assert_eq!(super::convert::rejections(&request).0, 0, "{run}/{name}");
        converted.add(&request, &Origin { received_at_ns: 1, ..Origin::default() });
    }
    let s = converted.stats;
    assert_eq!(
        s.rejected_points + s.rejected_log_records + s.rejected_spans,
        0,
        "{run}: {:?}",
        converted.problems
    );
    converted
}

/// (requests, input, output, cache_read, cache_write, cost) of `message` events per model.
fn messages(converted: &Converted) -> BTreeMap<String, (u32, u64, u64, u64, u64, f64)> {
    let mut out = BTreeMap::new();
    for e in converted.usage.iter().filter(|e| e.event_type == "message") {
        let row = out.entry(e.model_raw.clone().unwrap_or_default()).or_insert((0, 0, 0, 0, 0, 0.0));
        row.0 += e.requests;
        row.1 += e.tokens.input;
        row.2 += e.tokens.output;
        row.3 += e.tokens.cache_read;
        row.4 += e.tokens.cache_write;
        row.5 += e.cost_usd.unwrap_or(0.0);
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn claude_code_runs_add_up_to_the_reported_totals() {
    let opus = (4, 12_044, 148, 12_132, 12_088, 0.1140024);
    let haiku = (2, 9_022, 104, 9_066, 9_044, 0.00217536);
    for run in [
        "claude-code/rich_http_json",
        "claude-code/rich_http_protobuf",
        "claude-code/rich_http_json_cumulative",
        "claude-code/rich_http_json_gzip_details_traces",
    ] {
        let by_model = messages(&convert_run(run));
        for (model, want) in [("claude-opus-5-5", opus), ("claude-haiku-5-5", haiku)] {
            let got = by_model[model];
            assert_eq!(
                (got.0, got.1, got.2, got.3, got.4),
                (want.0, want.1, want.2, want.3, want.4),
                "{run} {model}"
            );
            assert!(close(got.5, want.5), "{run} {model}: cost {}", got.5);
        }
        assert_eq!(by_model.len(), 2, "{run}");
    }
    let old = messages(&convert_run("claude-code/v2.1.197_rich_http_json"));
    let total: f64 = old.values().map(|r| r.5).sum();
    assert!(close(total, 0.1672896), "{total}");
    assert_eq!(old.values().map(|r| r.0).sum::<u32>(), 6);
    let cont = messages(&convert_run("claude-code/continue_http_json"));
    assert_eq!(cont["claude-opus-5-5"].0, 4);
    assert_eq!(cont["claude-opus-5-5"].1, 10_044);
    assert!(close(cont["claude-opus-5-5"].5, 0.0952024));
}

#[test]
fn claude_code_tools_and_prompts_become_events() {
    let converted = convert_run("claude-code/rich_http_json");
    let kinds = |kind: &str| converted.usage.iter().filter(|e| e.event_type == kind).count();
    assert_eq!(kinds("tool_call"), 4);
    assert_eq!(kinds("prompt"), 1);
    assert!(converted.usage.iter().filter(|e| e.event_type == "tool_call").all(|e| e.tool_call_id.is_some()));
}

#[test]
fn codex_responses_are_converted_from_inclusive_input() {
    for (run, requests, input, cached, output, reasoning) in [
        ("codex/exec_http_json", 2, 3_022, 3_002, 44, 15),
        ("codex/exec_http_protobuf", 2, 3_022, 3_002, 44, 15),
        ("codex/exec_resume_http_protobuf", 4, 10_044, 10_004, 128, 50),
    ] {
        let converted = convert_run(run);
        let m: Vec<_> = converted.usage.iter().filter(|e| e.event_type == "message").collect();
        assert_eq!(m.len(), requests, "{run}");
        assert_eq!(m.iter().map(|e| e.tokens.input + e.tokens.cache_read).sum::<u64>(), input, "{run}");
        assert_eq!(m.iter().map(|e| e.tokens.cache_read).sum::<u64>(), cached, "{run}");
        assert_eq!(m.iter().map(|e| e.tokens.output).sum::<u64>(), output, "{run}");
        assert_eq!(m.iter().map(|e| e.tokens.reasoning).sum::<u64>(), reasoning, "{run}");
        assert!(m.iter().all(|e| e.source_system == "codex" && e.model.as_deref() == Some("gpt-5-mock")));
    }
}

#[test]
fn generic_clients_decode_and_genai_usage_is_a_message() {
    for run in ["generic-otlp/js-http-json", "generic-otlp/js-http-protobuf"] {
        let converted = convert_run(run);
        let m: Vec<_> = converted.usage.iter().filter(|e| e.event_type == "message").collect();
        assert_eq!(m.len(), 1, "{run}");
        assert_eq!((m[0].tokens.input, m[0].tokens.output), (1011, 17), "{run}");
        let points: f64 = converted.points.iter().map(|p| p.value.unwrap_or(0.0)).sum();
        assert_eq!(points, 1028.0, "{run}");
    }
    let py = convert_run("generic-otlp/python-http-protobuf-cumulative");
    assert_eq!(py.points.iter().map(|p| p.value.unwrap_or(0.0)).collect::<Vec<_>>(), vec![1011.0, 3022.0]);
    assert!(py.points.iter().all(|p| p.temporality == "cumulative"));
    let span: Vec<_> = py.usage.iter().filter(|e| e.raw_event_id == py.spans[0].span_key).collect();
    assert_eq!((span[0].tokens.input, span[0].tokens.cache_read, span[0].tokens.output), (10, 1001, 17));
    assert_eq!(convert_run("generic-otlp/python-http-protobuf-gzip").points.len(), 1);
}

#[test]
fn opencode_ai_sdk_spans_give_messages() {
    let converted = convert_run("opencode/run_json_otel");
    let m: Vec<_> = converted.usage.iter().filter(|e| e.event_type == "message").collect();
    assert!(!m.is_empty());
    assert!(m.iter().all(|e| e.source_system == "opencode"));
    assert!(converted.stats.spans_dropped > 100, "plain spans are counted and dropped");
}

#[test]
fn content_is_not_kept_unless_asked() {
    let converted = convert_run("claude-code/rich_http_json_gzip_details_traces");
    for text in
        converted.events.iter().map(|e| &e.attributes).chain(converted.spans.iter().map(|s| &s.attributes))
    {
        for secret in ["\"prompt\"", "\"tool_input\"", "\"response\"", "echo hi\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[test]
fn retransmission_gives_the_same_ids() {
    let once = convert_run("claude-code/rich_http_json");
    let again = convert_run("claude-code/rich_http_json");
    assert_eq!(once.points, again.points);
    assert_eq!(once.events, again.events);
    assert_eq!(once.usage, again.usage);
}

#[test]
fn json_deviations_decode_alike() {
    let canonical = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"x"}}]},
      "scopeMetrics":[{"metrics":[{"name":"m","sum":{"aggregationTemporality":2,"isMonotonic":true,
      "dataPoints":[{"startTimeUnixNano":"1","timeUnixNano":"2","asInt":"5","attributes":[]}]}}]}]}]}"#;
    let deviant = r#"{"resource_metrics":[{"resource":{"attributes":[{"key":"service.name","value":{"string_value":"x"}}]},
      "scope_metrics":[{"unknownField":1,"metrics":[{"name":"m","sum":{"aggregation_temporality":"AGGREGATION_TEMPORALITY_CUMULATIVE",
      "is_monotonic":true,"data_points":[{"start_time_unix_nano":1,"time_unix_nano":2,"as_int":5}]}}]}]}]}"#;
    let a = decode(Signal::Metrics, Encoding::Json, canonical.as_bytes()).unwrap();
    let b = decode(Signal::Metrics, Encoding::Json, deviant.as_bytes()).unwrap();
    assert_eq!(a, b);
    let ids = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","name":"s"}]}]}]}"#;
    let super::Request::Traces(t) = decode(Signal::Traces, Encoding::Json, ids.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(t.resource_spans[0].scope_spans[0].spans[0].trace_id[0], 0x5b);
    for bad in [
        "[1]",
        "{\"resourceLogs\":5}",
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"x\"}]}]}]}",
        "{",
    ] {
        assert!(decode(Signal::Logs, Encoding::Json, bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545f4914f6cdd1du64;
    let sample =
        std::fs::read(captures().join("claude-code/rich_http_protobuf/otlp/0002_v1_logs.pb")).unwrap();
    for round in 0..2000 {
        let mut bytes = sample.clone();
        for _ in 0..(1 + round % 8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % bytes.len();
            bytes[i] = (seed >> 32) as u8;
        }
        bytes.truncate((seed as usize >> 3) % (bytes.len() + 1));
        for signal in [Signal::Logs, Signal::Metrics, Signal::Traces] {
            for encoding in [Encoding::Protobuf, Encoding::Json] {
                if let Ok(request) = decode(signal, encoding, &bytes) {
                    Converted::default().add(&request, &Origin::default());
                }
            }
        }
    }
}
