//! Decoded OTLP requests into usagecore's rows: every metric point, every
//! log record, the spans that carry usage or tool calls, and the canonical
//! `usage_events` they imply (FORMATS.md §A, §D.4, §G–H).
//!
//! Every row has a stable id computed from its content, so a retransmitted
//! export lands on the same rows; the same payload in JSON or protobuf
//! decodes to the same messages and so to identical rows.

use prost::Message;

use super::proto::common::{any_value, AnyValue, KeyValue};
use super::proto::logs::LogRecord;
use super::proto::metrics::{metric, number_data_point, Metric};
use super::proto::resource::Resource;
use super::proto::trace::Span;
use super::Request;
use crate::event::{CostSource, RawRecord, Tokens, UsageEvent};
use crate::ids::{stable_id, Id, IdMap};
use crate::normalize::{model_id, timestamp_us};

pub const SOURCE_CHANNEL: &str = "otlp";

/// Where a request came from: the receiver's view, not the payload's.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// From the bearer token's mapping; wins over anything in the payload.
    pub account_id: Option<String>,
    pub received_at_ns: u64,
    /// Keep prompt, response and tool content (`--keep-content`).
    pub keep_content: bool,
}

/// One metric data point (a row of `otel_metric_points`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub point_id: Id,
    pub series_id: Id,
    pub metric_name: String,
    pub unit: String,
    /// `sum`, `gauge`, `histogram`, `exponential_histogram`, `summary`.
    pub kind: &'static str,
    /// As received: `delta`, `cumulative` or `unspecified`.
    pub temporality: &'static str,
    pub is_monotonic: bool,
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    /// The number (sums, gauges) or the sum (histograms, summaries).
    pub value: Option<f64>,
    /// Histograms and summaries: how many observations.
    pub count: Option<u64>,
    pub attributes: String,
    pub resource: String,
    pub scope_name: String,
    pub service_name: Option<String>,
    pub source_system: &'static str,
    pub session_id: Option<String>,
    pub model: Option<String>,
    pub account_id: Option<String>,
    pub user_id: Option<String>,
}

/// One log record (a row of `otel_events`).
#[derive(Debug, Clone, PartialEq)]
pub struct OtelEvent {
    pub event_id: Id,
    pub occurred_at_us: i64,
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub event_name: Option<String>,
    pub severity_number: i32,
    pub severity_text: String,
    /// Only a body naming the event, unless content is kept.
    pub body: Option<String>,
    pub attributes: String,
    pub resource: String,
    pub scope_name: String,
    pub service_name: Option<String>,
    pub source_system: &'static str,
    pub session_id: Option<String>,
    pub prompt_id: Option<String>,
    pub sequence: Option<i64>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub account_id: Option<String>,
    pub user_id: Option<String>,
}

/// One span that carries usage or a tool call (a row of `otel_spans`).
#[derive(Debug, Clone, PartialEq)]
pub struct OtelSpan {
    pub span_key: Id,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub status_code: i32,
    pub attributes: String,
    pub resource: String,
    pub scope_name: String,
    pub service_name: Option<String>,
    pub source_system: &'static str,
    pub session_id: Option<String>,
    pub account_id: Option<String>,
    pub user_id: Option<String>,
}

/// Counts of what a conversion did, for `status` and partial success.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub points: u64,
    pub log_records: u64,
    pub spans_kept: u64,
    pub spans_dropped: u64,
    /// Points flagged "no recorded value": nothing to store.
    pub points_without_value: u64,
    pub rejected_points: u64,
    pub rejected_log_records: u64,
    pub rejected_spans: u64,
}

/// Rows of any number of requests, canonical events merged by id.
#[derive(Debug, Default)]
pub struct Converted {
    pub points: Vec<MetricPoint>,
    pub events: Vec<OtelEvent>,
    pub spans: Vec<OtelSpan>,
    pub usage: Vec<UsageEvent>,
    pub raws: Vec<RawRecord>,
    pub stats: Stats,
    /// Why records were rejected (first few).
    pub problems: Vec<String>,
    usage_index: IdMap<usize>,
    raw_index: IdMap<()>,
}

// ---------------------------------------------------------------- values

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).filter(|v| v.value.is_some())
}

/// A string attribute (numbers and booleans as their text).
fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    match find(attrs, key)?.value.as_ref()? {
        any_value::Value::StringValue(s) if !s.is_empty() => Some(s.clone()),
        any_value::Value::StringValue(_) => None,
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A numeric attribute, also when exported as a string (FORMATS.md §A.5).
fn number(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match find(attrs, key)?.value.as_ref()? {
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::DoubleValue(d) => Some(*d),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v: &f64| v.is_finite())
}

fn count(attrs: &[KeyValue], key: &str) -> Option<u64> {
    number(attrs, key).filter(|v| *v >= 0.0).map(|v| v.round() as u64)
}

/// The first key present, looked up in the record's then the resource's attributes.
fn first_text(keys: &[&str], layers: &[&[KeyValue]]) -> Option<String> {
    layers.iter().find_map(|attrs| keys.iter().find_map(|key| text(attrs, key)))
}

fn any_json(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &value.value {
        None => J::Null,
        Some(any_value::Value::StringValue(s)) => J::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => J::Bool(*b),
        Some(any_value::Value::IntValue(i)) => J::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Some(any_value::Value::ArrayValue(a)) => J::Array(a.values.iter().map(any_json).collect()),
        Some(any_value::Value::KvlistValue(l)) => J::Object(
            l.values.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(J::Null, any_json))).collect(),
        ),
        Some(any_value::Value::BytesValue(b)) => {
            use base64::Engine;
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(any_value::Value::StringValueStrindex(i)) => J::from(*i),
    }
}

/// Attribute keys that carry what people wrote or tools returned: never
/// stored unless the user asks (`--keep-content`).
fn is_content(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "prompt",
        "prompt_text",
        "response",
        "response_text",
        "tool_input",
        "tool_parameters",
        "tool_output",
        "tool_result",
        "output",
        "arguments",
        "body",
        "content",
        "system_prompt",
        "full_command",
        "command",
        "file_path",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.tool.definitions",
    ];
    const PREFIXES: &[&str] = &[
        "gen_ai.prompt.",
        "gen_ai.completion.",
        "ai.prompt",
        "ai.response.text",
        "ai.response.toolCalls",
        "ai.response.object",
        "ai.response.reasoning",
        "ai.toolCall.args",
        "ai.toolCall.result",
        "llm.prompts",
        "llm.completions",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Attributes as one JSON object (keys sorted), content left out unless kept.
fn attributes_json(attrs: &[KeyValue], keep_content: bool) -> String {
    let map: serde_json::Map<String, serde_json::Value> = attrs
        .iter()
        .filter(|kv| keep_content || !is_content(&kv.key))
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(serde_json::Value::Null, any_json)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn hex_id(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() || bytes.iter().all(|b| *b == 0) {
        return None;
    }
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn ns_to_us(ns: u64) -> i64 {
    i64::try_from(ns / 1000).unwrap_or(i64::MAX)
}

/// Which agent a resource belongs to, from `service.name`.
fn source_system(service_name: Option<&str>) -> &'static str {
    match service_name {
        Some(s) if s.starts_with("claude-code") || s.starts_with("claude_code") => "claude_code",
        Some(s) if s.starts_with("codex") => "codex",
        Some(s) if s.starts_with("opencode") => "opencode",
        _ => "otlp",
    }
}

/// What is known of one resource, computed once per resource.
struct ResourceInfo<'a> {
    attrs: &'a [KeyValue],
    json: String,
    service_name: Option<String>,
    service_version: Option<String>,
    source_system: &'static str,
}

impl<'a> ResourceInfo<'a> {
    fn new(resource: Option<&'a Resource>, keep_content: bool) -> Self {
        let attrs = resource.map_or(&[][..], |r| &r.attributes[..]);
        let service_name = text(attrs, "service.name");
        ResourceInfo {
            attrs,
            json: attributes_json(attrs, keep_content),
            source_system: source_system(service_name.as_deref()),
            service_version: text(attrs, "service.version"),
            service_name,
        }
    }

    /// Who: `user_id` and `account_id` from the record's attributes, then the
    /// resource's; a token's account wins.
    fn identity(&self, attrs: &[KeyValue], origin: &Origin) -> (Option<String>, Option<String>) {
        let layers = [attrs, self.attrs];
        let user = first_text(
            &["user.email", "user.name", "user.account_uuid", "user.account_id", "user.id"],
            &layers,
        );
        let account = origin
            .account_id
            .clone()
            .or_else(|| first_text(&["organization.id", "user.account_uuid"], &layers));
        (user, account)
    }

    fn session(&self, attrs: &[KeyValue]) -> Option<String> {
        first_text(&["session.id", "conversation.id", "gen_ai.conversation.id"], &[attrs, self.attrs])
    }
}

// ---------------------------------------------------------------- metrics

fn temporality_name(value: i32) -> &'static str {
    match value {
        1 => "delta",
        2 => "cumulative",
        _ => "unspecified",
    }
}

/// NO_RECORDED_VALUE: the point marks a gap, it has no value.
const FLAG_NO_RECORDED_VALUE: u32 = 1;

struct PointIn<'a> {
    attrs: &'a [KeyValue],
    start: u64,
    time: u64,
    flags: u32,
    value: Option<f64>,
    count: Option<u64>,
}

impl Converted {
    fn metric(&mut self, metric: &Metric, scope_name: &str, resource: &ResourceInfo, origin: &Origin) {
        let Some(data) = &metric.data else { return };
        let (kind, temporality, monotonic, points): (_, _, _, Vec<PointIn>) = match data {
            metric::Data::Sum(s) => (
                "sum",
                s.aggregation_temporality,
                s.is_monotonic,
                s.data_points
                    .iter()
                    .map(|p| {
                        number_point(
                            &p.attributes,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            p.flags,
                            &p.value,
                        )
                    })
                    .collect(),
            ),
            metric::Data::Gauge(g) => (
                "gauge",
                0,
                false,
                g.data_points
                    .iter()
                    .map(|p| {
                        number_point(
                            &p.attributes,
                            p.start_time_unix_nano,
                            p.time_unix_nano,
                            p.flags,
                            &p.value,
                        )
                    })
                    .collect(),
            ),
            metric::Data::Histogram(h) => (
                "histogram",
                h.aggregation_temporality,
                false,
                h.data_points
                    .iter()
                    .map(|p| PointIn {
                        attrs: &p.attributes,
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        flags: p.flags,
                        value: Some(p.sum.unwrap_or(0.0)),
                        count: Some(p.count),
                    })
                    .collect(),
            ),
            metric::Data::ExponentialHistogram(h) => (
                "exponential_histogram",
                h.aggregation_temporality,
                false,
                h.data_points
                    .iter()
                    .map(|p| PointIn {
                        attrs: &p.attributes,
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        flags: p.flags,
                        value: Some(p.sum.unwrap_or(0.0)),
                        count: Some(p.count),
                    })
                    .collect(),
            ),
            metric::Data::Summary(s) => (
                "summary",
                0,
                false,
                s.data_points
                    .iter()
                    .map(|p| PointIn {
                        attrs: &p.attributes,
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        flags: p.flags,
                        value: Some(p.sum),
                        count: Some(p.count),
                    })
                    .collect(),
            ),
        };
        if metric.name.is_empty() {
            self.stats.rejected_points += points.len() as u64;
            self.problem(format!("{} data points of a metric without a name", points.len()));
            return;
        }
        for point in points {
            if point.flags & FLAG_NO_RECORDED_VALUE != 0 {
                self.stats.points_without_value += 1;
                continue;
            }
            if point.value.is_none() || point.time == 0 {
                self.stats.rejected_points += 1;
                self.problem(format!("a point of {} without a value or a time", metric.name));
                continue;
            }
            let attributes = attributes_json(point.attrs, origin.keep_content);
            let series_id = stable_id(&[
                b"series",
                resource.json.as_bytes(),
                scope_name.as_bytes(),
                metric.name.as_bytes(),
                kind.as_bytes(),
                attributes.as_bytes(),
            ]);
            let value_bits = point.value.unwrap_or(0.0).to_bits().to_be_bytes();
            let point_id = stable_id(&[
                b"point",
                &series_id.to_be_bytes(),
                &point.start.to_be_bytes(),
                &point.time.to_be_bytes(),
                &value_bits,
                &point.count.unwrap_or(0).to_be_bytes(),
            ]);
            let (user_id, account_id) = resource.identity(point.attrs, origin);
            self.stats.points += 1;
            self.points.push(MetricPoint {
                point_id,
                series_id,
                metric_name: metric.name.clone(),
                unit: metric.unit.clone(),
                kind,
                temporality: if kind == "gauge" || kind == "summary" {
                    "unspecified"
                } else {
                    temporality_name(temporality)
                },
                is_monotonic: monotonic,
                start_time_unix_nano: point.start,
                time_unix_nano: point.time,
                value: point.value,
                count: point.count,
                session_id: resource.session(point.attrs),
                model: text(point.attrs, "model").or_else(|| text(point.attrs, "gen_ai.request.model")),
                attributes,
                resource: resource.json.clone(),
                scope_name: scope_name.to_owned(),
                service_name: resource.service_name.clone(),
                source_system: resource.source_system,
                account_id,
                user_id,
            });
        }
    }
}

fn number_point<'a>(
    attrs: &'a [KeyValue],
    start: u64,
    time: u64,
    flags: u32,
    value: &Option<number_data_point::Value>,
) -> PointIn<'a> {
    let value = value.as_ref().map(|v| match v {
        number_data_point::Value::AsDouble(d) => *d,
        number_data_point::Value::AsInt(i) => *i as f64,
    });
    PointIn { attrs, start, time, flags, value, count: None }
}

// ---------------------------------------------------------------- logs

/// The event's name (FORMATS.md §A.5): a body naming a Claude Code event,
/// else a qualified `event.name` attribute, else `eventName` (Codex fills
/// that with a source location, so only a name without spaces counts),
/// else the bare `event.name`, qualified for Claude Code.
fn event_name(record: &LogRecord, resource: &ResourceInfo) -> Option<String> {
    let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
        _ => None,
    };
    if let Some(name) = body.filter(|b| b.starts_with("claude_code.") && !b.contains(char::is_whitespace)) {
        return Some(name.to_owned());
    }
    let attr = text(&record.attributes, "event.name");
    if let Some(name) = attr.as_ref().filter(|n| n.contains('.')) {
        return Some(name.clone());
    }
    if !record.event_name.is_empty() && !record.event_name.contains(char::is_whitespace) {
        return Some(record.event_name.clone());
    }
    match attr {
        Some(bare) if resource.source_system == "claude_code" => Some(format!("claude_code.{bare}")),
        Some(bare) => Some(bare),
        None => None,
    }
}

fn valid_id(bytes: &[u8], len: usize) -> bool {
    bytes.is_empty() || bytes.len() == len
}

impl Converted {
    fn problem(&mut self, message: String) {
        if self.problems.len() < 20 {
            self.problems.push(message);
        }
    }

    fn log(&mut self, record: &LogRecord, scope_name: &str, resource: &ResourceInfo, origin: &Origin) {
        if !valid_id(&record.trace_id, 16) || !valid_id(&record.span_id, 8) {
            self.stats.rejected_log_records += 1;
            self.problem("a log record with a trace or span id of the wrong length".to_owned());
            return;
        }
        self.stats.log_records += 1;
        let name = event_name(record, resource);
        let attrs = &record.attributes[..];
        let event_id = stable_id(&[
            b"otel_event",
            resource.json.as_bytes(),
            scope_name.as_bytes(),
            &record.encode_to_vec(),
        ]);
        let occurred_at_us = [record.time_unix_nano, record.observed_time_unix_nano]
            .into_iter()
            .find(|t| *t != 0)
            .map(ns_to_us)
            .or_else(|| text(attrs, "event.timestamp").as_deref().and_then(timestamp_us))
            .unwrap_or(ns_to_us(origin.received_at_ns));
        let body = match record.body.as_ref() {
            Some(b) if origin.keep_content => Some(any_json(b).to_string()),
            Some(AnyValue { value: Some(any_value::Value::StringValue(s)) }) if Some(s) == name.as_ref() => {
                Some(s.clone())
            }
            _ => None,
        };
        let (user_id, account_id) = resource.identity(attrs, origin);
        let event = OtelEvent {
            event_id,
            occurred_at_us,
            time_unix_nano: record.time_unix_nano,
            observed_time_unix_nano: record.observed_time_unix_nano,
            event_name: name,
            severity_number: record.severity_number,
            severity_text: record.severity_text.clone(),
            body,
            attributes: attributes_json(attrs, origin.keep_content),
            resource: resource.json.clone(),
            scope_name: scope_name.to_owned(),
            service_name: resource.service_name.clone(),
            source_system: resource.source_system,
            session_id: resource.session(attrs),
            prompt_id: text(attrs, "prompt.id"),
            sequence: number(attrs, "event.sequence").map(|v| v as i64),
            trace_id: hex_id(&record.trace_id),
            span_id: hex_id(&record.span_id),
            account_id,
            user_id,
        };
        if let Some(usage) = log_usage(&event, attrs, resource) {
            self.add_usage(usage, &event.attributes, &event.event_name);
        }
        self.events.push(event);
    }

    fn add_usage(&mut self, usage: UsageEvent, payload: &str, what: &Option<String>) {
        if self.raw_index.insert(usage.raw_event_id, ()).is_none() {
            self.raws.push(RawRecord {
                raw_event_id: usage.raw_event_id,
                source_system: usage.source_system,
                source_channel: SOURCE_CHANNEL,
                occurred_at_us: Some(usage.occurred_at_us),
                account_id: usage.account_id.clone(),
                source_ref: format!("otlp:{}", what.as_deref().unwrap_or("")),
                payload: payload.to_owned(),
            });
        }
        match self.usage_index.get(&usage.event_id) {
            Some(&i) => merge(&mut self.usage[i], usage),
            None => {
                self.usage_index.insert(usage.event_id, self.usage.len());
                self.usage.push(usage);
            }
        }
    }
}

/// Two sightings of one event in the same batch: the store's merge rule
/// (store.py `_event_conflict_sql`), so the order of arrival does not matter.
fn merge(kept: &mut UsageEvent, other: UsageEvent) {
    let other_earlier = (other.occurred_at_us, other.raw_event_id) < (kept.occurred_at_us, kept.raw_event_id);
    kept.tokens = kept.tokens.max(&other.tokens);
    if other.cost_source == CostSource::Reported
        && (kept.cost_source != CostSource::Reported || other.cost_usd > kept.cost_usd)
    {
        kept.cost_usd = other.cost_usd;
        kept.cost_source = CostSource::Reported;
    }
    macro_rules! fill {
        ($($field:ident),*) => {$(
            if other_earlier && other.$field.is_some() || kept.$field.is_none() {
                if other.$field.is_some() { kept.$field = other.$field.clone(); }
            }
        )*};
    }
    fill!(
        provider_id,
        account_id,
        model_raw,
        model,
        session_id,
        turn_id,
        message_id,
        request_id,
        tool_call_id,
        tool_name,
        project,
        agent_id,
        user_id,
        client_version,
        git_branch
    );
    if other_earlier {
        kept.occurred_at_us = other.occurred_at_us;
        kept.raw_event_id = other.raw_event_id;
    }
}

fn base_event(
    event_id: Id,
    raw_event_id: Id,
    event_type: &'static str,
    occurred_at_us: i64,
    source_system: &'static str,
) -> UsageEvent {
    UsageEvent::bare(event_id, raw_event_id, occurred_at_us, event_type, source_system, SOURCE_CHANNEL)
}

/// Claude Code's own token vocabulary (`api_request` events, `llm_request`
/// spans): input excludes cache reads and writes, as ours does.
fn claude_tokens(attrs: &[KeyValue]) -> Tokens {
    let c = |key| count(attrs, key).unwrap_or(0);
    Tokens {
        input: c("input_tokens"),
        output: c("output_tokens"),
        reasoning: 0,
        cache_read: c("cache_read_tokens"),
        cache_write: c("cache_creation_tokens"),
        cache_write_1h: c("cache_creation_1h_tokens"),
    }
}

/// GenAI semantic conventions (FORMATS.md §G): input includes cache reads
/// and writes, output includes reasoning. Also the AI SDK's `ai.usage.*`.
fn genai_tokens(attrs: &[KeyValue]) -> Option<Tokens> {
    let any = |keys: &[&str]| keys.iter().find_map(|k| count(attrs, k));
    let input = any(&["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]);
    let output = any(&["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"]);
    if input.is_none() && output.is_none() {
        return None;
    }
    let cache_read = any(&[
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "ai.usage.cachedInputTokens",
    ])
    .unwrap_or(0);
    let cache_write = any(&[
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
    ])
    .unwrap_or(0);
    Some(Tokens {
        input: input.unwrap_or(0).saturating_sub(cache_read + cache_write),
        output: output.unwrap_or(0),
        reasoning: any(&["gen_ai.usage.reasoning.output_tokens", "ai.usage.reasoningTokens"]).unwrap_or(0),
        cache_read,
        cache_write,
        cache_write_1h: 0,
    })
}

fn reported_cost(attrs: &[KeyValue]) -> (Option<f64>, CostSource) {
    let cost = number(attrs, "cost_usd").or_else(|| number(attrs, "cost_usd_micros").map(|m| m / 1e6));
    match cost {
        Some(c) => (Some(c), CostSource::Reported),
        None => (None, CostSource::Unknown),
    }
}

fn with_model(mut event: UsageEvent, model_raw: Option<String>) -> UsageEvent {
    event.model = model_raw.as_deref().map(model_id);
    event.model_raw = model_raw;
    event
}

/// The canonical event a log record stands for, if any.
fn log_usage(event: &OtelEvent, attrs: &[KeyValue], resource: &ResourceInfo) -> Option<UsageEvent> {
    let name = event.event_name.as_deref().unwrap_or("");
    let raw = event.event_id;
    let system = resource.source_system;
    let by_record = |kind: &[u8]| stable_id(&[kind, b"otlp", &raw.to_be_bytes()]);
    let request_id = text(attrs, "request_id");
    let mut usage = match name {
        "claude_code.api_request" => {
            // The transcript's id for the same call (jsonl/claude.rs): one event.
            let id = request_id
                .as_ref()
                .map_or_else(|| by_record(b"message"), |r| stable_id(&[b"message", r.as_bytes()]));
            let mut e = base_event(id, raw, "message", event.occurred_at_us, "claude_code");
            e.tokens = claude_tokens(attrs);
            (e.cost_usd, e.cost_source) = reported_cost(attrs);
            e.requests = 1;
            e.provider_id = Some("anthropic".to_owned());
            with_model(e, text(attrs, "model"))
        }
        "claude_code.api_error" => {
            let id = request_id
                .as_ref()
                .map_or_else(|| by_record(b"api_error"), |r| stable_id(&[b"api_error", r.as_bytes()]));
            let mut e = base_event(id, raw, "api_error", event.occurred_at_us, "claude_code");
            e.duration_ms = number(attrs, "duration_ms").map(|d| d as i64);
            e.detail = text(attrs, "status_code").or_else(|| text(attrs, "error"));
            with_model(e, text(attrs, "model"))
        }
        "claude_code.tool_result" => {
            let tool_use = text(attrs, "tool_use_id");
            let id = tool_use
                .as_ref()
                .map_or_else(|| by_record(b"tool_call"), |t| stable_id(&[b"tool_call", t.as_bytes()]));
            let mut e = base_event(id, raw, "tool_call", event.occurred_at_us, "claude_code");
            e.tool_call_id = tool_use;
            e.tool_name = text(attrs, "tool_name").or_else(|| text(attrs, "name"));
            e.duration_ms = number(attrs, "duration_ms").map(|d| d as i64);
            e.success = text(attrs, "success").map(|s| s == "true");
            e
        }
        "claude_code.user_prompt" => {
            // The prompt hook's id for the same prompt (hooks/claude.rs).
            let id = match (&event.session_id, &event.prompt_id) {
                (Some(session), Some(prompt)) => {
                    stable_id(&[b"prompt", session.as_bytes(), prompt.as_bytes()])
                }
                _ => by_record(b"prompt"),
            };
            base_event(id, raw, "prompt", event.occurred_at_us, "claude_code")
        }
        "codex.sse_event" => {
            let completed = text(attrs, "event.kind").as_deref() == Some("response.completed");
            let input = count(attrs, "input_token_count");
            if !completed || input.is_none() {
                return None;
            }
            // OpenAI's input includes the cached part (FORMATS.md §H).
            let cached = count(attrs, "cached_token_count").unwrap_or(0);
            let mut e = base_event(by_record(b"message"), raw, "message", event.occurred_at_us, "codex");
            e.tokens = Tokens {
                input: input.unwrap_or(0).saturating_sub(cached),
                output: count(attrs, "output_token_count").unwrap_or(0),
                reasoning: count(attrs, "reasoning_token_count").unwrap_or(0),
                cache_read: cached,
                cache_write: count(attrs, "cache_write_token_count").unwrap_or(0),
                cache_write_1h: 0,
            };
            e.requests = 1;
            e.provider_id = Some("openai".to_owned());
            with_model(e, text(attrs, "model"))
        }
        _ => {
            let tokens = genai_tokens(attrs)?;
            genai_event(tokens, attrs, raw, event.occurred_at_us, system)
        }
    };
    usage.session_id = event.session_id.clone();
    usage.account_id = event.account_id.clone();
    usage.user_id = event.user_id.clone();
    usage.turn_id = usage.turn_id.take().or_else(|| event.prompt_id.clone());
    usage.request_id = usage.request_id.take().or(request_id);
    usage.agent_id = text(attrs, "agent_id").or_else(|| text(attrs, "agent.id"));
    usage.client_version = text(attrs, "app.version").or_else(|| resource.service_version.clone());
    Some(usage)
}

/// A GenAI call (log record or span): the response id is the call's identity.
fn genai_event(
    tokens: Tokens,
    attrs: &[KeyValue],
    raw: Id,
    occurred_at_us: i64,
    system: &'static str,
) -> UsageEvent {
    let response = text(attrs, "gen_ai.response.id");
    let id = response.as_ref().map_or_else(
        || stable_id(&[b"message", b"otlp", &raw.to_be_bytes()]),
        |r| stable_id(&[b"message", b"genai", r.as_bytes()]),
    );
    let mut e = base_event(id, raw, "message", occurred_at_us, system);
    e.tokens = tokens;
    e.requests = 1;
    e.message_id = response;
    e.provider_id = text(attrs, "gen_ai.provider.name").or_else(|| text(attrs, "gen_ai.system"));
    (e.cost_usd, e.cost_source) = reported_cost(attrs);
    let model =
        ["gen_ai.response.model", "gen_ai.request.model", "model"].iter().find_map(|k| text(attrs, k));
    with_model(e, model)
}

// ---------------------------------------------------------------- spans

fn span_interest(span: &Span) -> bool {
    let has = |prefix: &str| span.attributes.iter().any(|kv| kv.key.starts_with(prefix));
    has("gen_ai.usage.")
        || has("input_tokens")
        || has("gen_ai.tool.call.id")
        || has("tool_use_id")
        || has("ai.toolCall.id")
        || has("tool.call_id")
}

impl Converted {
    fn span(&mut self, span: &Span, scope_name: &str, resource: &ResourceInfo, origin: &Origin) {
        if span.trace_id.len() != 16 || span.span_id.len() != 8 || !valid_id(&span.parent_span_id, 8) {
            self.stats.rejected_spans += 1;
            self.problem(format!("span {:?} with a trace or span id of the wrong length", span.name));
            return;
        }
        if !span_interest(span) {
            self.stats.spans_dropped += 1;
            return;
        }
        self.stats.spans_kept += 1;
        let attrs = &span.attributes[..];
        let span_key = stable_id(&[b"span", &span.trace_id, &span.span_id]);
        let (user_id, account_id) = resource.identity(attrs, origin);
        let row = OtelSpan {
            span_key,
            trace_id: hex_id(&span.trace_id).unwrap_or_default(),
            span_id: hex_id(&span.span_id).unwrap_or_default(),
            parent_span_id: hex_id(&span.parent_span_id),
            name: span.name.clone(),
            kind: span.kind,
            start_time_unix_nano: span.start_time_unix_nano,
            end_time_unix_nano: span.end_time_unix_nano,
            status_code: span.status.as_ref().map_or(0, |s| s.code),
            attributes: attributes_json(attrs, origin.keep_content),
            resource: resource.json.clone(),
            scope_name: scope_name.to_owned(),
            service_name: resource.service_name.clone(),
            source_system: resource.source_system,
            session_id: resource.session(attrs),
            account_id,
            user_id,
        };
        let occurred = ns_to_us(if span.end_time_unix_nano != 0 {
            span.end_time_unix_nano
        } else {
            origin.received_at_ns
        });
        let usage = if span.name == "claude_code.llm_request" {
            text(attrs, "request_id").map(|request| {
                let mut e = base_event(
                    stable_id(&[b"message", request.as_bytes()]),
                    span_key,
                    "message",
                    occurred,
                    "claude_code",
                );
                e.tokens = claude_tokens(attrs);
                e.requests = 1;
                e.request_id = Some(request);
                e.provider_id = Some("anthropic".to_owned());
                with_model(e, text(attrs, "model").or_else(|| text(attrs, "gen_ai.request.model")))
            })
        } else if resource.source_system == "codex" {
            // Codex reports each response as a `codex.sse_event` log record
            // too, with nothing to tie the two together: the log counts.
            None
        } else {
            genai_tokens(attrs)
                .map(|tokens| genai_event(tokens, attrs, span_key, occurred, resource.source_system))
        };
        if let Some(mut usage) = usage {
            usage.session_id = row.session_id.clone();
            usage.account_id = row.account_id.clone();
            usage.user_id = row.user_id.clone();
            usage.client_version = resource.service_version.clone();
            self.add_usage(usage, &row.attributes, &Some(row.name.clone()));
        }
        self.spans.push(row);
    }

    /// Convert one decoded request.
    pub fn add(&mut self, request: &Request, origin: &Origin) {
        match request {
            Request::Logs(r) => {
                for rl in &r.resource_logs {
                    let resource = ResourceInfo::new(rl.resource.as_ref(), origin.keep_content);
                    for sl in &rl.scope_logs {
                        let scope = sl.scope.as_ref().map_or("", |s| s.name.as_str());
                        for record in &sl.log_records {
                            self.log(record, scope, &resource, origin);
                        }
                    }
                }
            }
            Request::Metrics(r) => {
                for rm in &r.resource_metrics {
                    let resource = ResourceInfo::new(rm.resource.as_ref(), origin.keep_content);
                    for sm in &rm.scope_metrics {
                        let scope = sm.scope.as_ref().map_or("", |s| s.name.as_str());
                        for metric in &sm.metrics {
                            self.metric(metric, scope, &resource, origin);
                        }
                    }
                }
            }
            Request::Traces(r) => {
                for rs in &r.resource_spans {
                    let resource = ResourceInfo::new(rs.resource.as_ref(), origin.keep_content);
                    for ss in &rs.scope_spans {
                        let scope = ss.scope.as_ref().map_or("", |s| s.name.as_str());
                        for span in &ss.spans {
                            self.span(span, scope, &resource, origin);
                        }
                    }
                }
            }
        }
    }
}

/// How many records of a request would be rejected, and why: what the
/// receiver answers as `partialSuccess` before the request is spooled. The
/// same rules as the conversion, without building rows.
pub fn rejections(request: &Request) -> (i64, Option<String>) {
    let mut rejected = 0i64;
    let mut why = None;
    let mut reject = |n: usize, message: &str| {
        if n > 0 {
            rejected += n as i64;
            why.get_or_insert_with(|| message.to_owned());
        }
    };
    match request {
        Request::Logs(r) => {
            for record in r.resource_logs.iter().flat_map(|rl| &rl.scope_logs).flat_map(|sl| &sl.log_records)
            {
                if !valid_id(&record.trace_id, 16) || !valid_id(&record.span_id, 8) {
                    reject(1, "a log record with a trace or span id of the wrong length");
                }
            }
        }
        Request::Metrics(r) => {
            for metric in
                r.resource_metrics.iter().flat_map(|rm| &rm.scope_metrics).flat_map(|sm| &sm.metrics)
            {
                let points: Vec<(bool, u64, u32)> = match &metric.data {
                    None => Vec::new(),
                    Some(metric::Data::Sum(s)) => {
                        s.data_points.iter().map(|p| (p.value.is_some(), p.time_unix_nano, p.flags)).collect()
                    }
                    Some(metric::Data::Gauge(g)) => {
                        g.data_points.iter().map(|p| (p.value.is_some(), p.time_unix_nano, p.flags)).collect()
                    }
                    Some(metric::Data::Histogram(h)) => {
                        h.data_points.iter().map(|p| (true, p.time_unix_nano, p.flags)).collect()
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        h.data_points.iter().map(|p| (true, p.time_unix_nano, p.flags)).collect()
                    }
                    Some(metric::Data::Summary(s)) => {
                        s.data_points.iter().map(|p| (true, p.time_unix_nano, p.flags)).collect()
                    }
                };
                if metric.name.is_empty() {
                    reject(points.len(), "data points of a metric without a name");
                    continue;
                }
                let bad = points.iter().filter(|(value, time, flags)| {
                    flags & FLAG_NO_RECORDED_VALUE == 0 && (!value || *time == 0)
                });
                reject(bad.count(), "a data point without a value or a time");
            }
        }
        Request::Traces(r) => {
            for span in r.resource_spans.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans) {
                if span.trace_id.len() != 16 || span.span_id.len() != 8 || !valid_id(&span.parent_span_id, 8)
                {
                    reject(1, "a span with a trace or span id of the wrong length");
                }
            }
        }
    }
    (rejected, why)
}
