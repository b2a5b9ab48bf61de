//! OTLP/JSON into the generated protobuf types, with every deviation real
//! exporters produce (FORMATS.md §F.3):
//!
//! * keys in lowerCamelCase (the spec) or snake_case (proto names);
//! * 64-bit integers as decimal strings or as numbers, doubles as numbers or
//!   the strings `"NaN"`, `"Infinity"`, `"-Infinity"`;
//! * trace and span ids as hex (any case), `bytesValue` as base64;
//! * enums as integers, or by their proto names;
//! * unknown fields ignored, `null` the same as absent.

use base64::Engine;
use serde_json::{Map, Value};

use super::proto::collector::logs::v1::ExportLogsServiceRequest;
use super::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use super::proto::collector::trace::v1::ExportTraceServiceRequest;
use super::proto::common::{any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use super::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use super::proto::metrics::{
    exponential_histogram_data_point::Buckets, metric, number_data_point, summary_data_point,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use super::proto::resource::Resource;
use super::proto::trace::{span, ResourceSpans, ScopeSpans, Span, Status};
use super::{DecodeError, Request, Signal};

type Obj = Map<String, Value>;
type Result<T> = std::result::Result<T, DecodeError>;

fn shape(path: &str, message: impl Into<String>) -> DecodeError {
    DecodeError::Shape { path: path.to_owned(), message: message.into() }
}

/// A field by its JSON name, else by its proto name; `null` is absent.
fn get<'a>(obj: &'a Obj, camel: &str, snake: &str) -> Option<&'a Value> {
    obj.get(camel).or_else(|| obj.get(snake)).filter(|v| !v.is_null())
}

fn as_object<'a>(value: &'a Value, what: &str) -> Result<&'a Obj> {
    value.as_object().ok_or_else(|| shape(what, format!("expected an object, got {}", kind(value))))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A repeated field: each element decoded by `item`.
fn list<T>(obj: &Obj, camel: &str, snake: &str, item: impl Fn(&Value) -> Result<T>) -> Result<Vec<T>> {
    match get(obj, camel, snake) {
        None => Ok(Vec::new()),
        Some(Value::Array(values)) => values.iter().map(item).collect(),
        Some(other) => Err(shape(camel, format!("expected an array, got {}", kind(other)))),
    }
}

fn message<T>(obj: &Obj, camel: &str, snake: &str, item: impl Fn(&Obj) -> Result<T>) -> Result<Option<T>> {
    get(obj, camel, snake).map(|v| as_object(v, camel).and_then(&item)).transpose()
}

fn string(obj: &Obj, camel: &str, snake: &str) -> Result<String> {
    match get(obj, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(shape(camel, format!("expected a string, got {}", kind(other)))),
    }
}

fn boolean(obj: &Obj, camel: &str, snake: &str) -> Result<bool> {
    match get(obj, camel, snake) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(other) => Err(shape(camel, format!("expected a boolean, got {}", kind(other)))),
    }
}

/// An integer given as a number or a decimal string.
fn integer_value(value: &Value, what: &str) -> Result<i128> {
    let parsed = match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1.9e19).map(|f| f as i128)),
        Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| shape(what, format!("expected an integer, got {value}")))
}

fn u64_field(obj: &Obj, camel: &str, snake: &str) -> Result<u64> {
    match get(obj, camel, snake) {
        None => Ok(0),
        Some(v) => {
            u64::try_from(integer_value(v, camel)?).map_err(|_| shape(camel, format!("out of range: {v}")))
        }
    }
}

fn i64_value(value: &Value, what: &str) -> Result<i64> {
    i64::try_from(integer_value(value, what)?).map_err(|_| shape(what, format!("out of range: {value}")))
}

fn u32_field(obj: &Obj, camel: &str, snake: &str) -> Result<u32> {
    u32::try_from(u64_field(obj, camel, snake)?).map_err(|_| shape(camel, "out of range"))
}

fn double_value(value: &Value, what: &str) -> Result<f64> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| shape(what, "not a double")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.trim().parse().map_err(|_| shape(what, format!("expected a double, got {value}"))),
        },
        other => Err(shape(what, format!("expected a double, got {}", kind(other)))),
    }
}

fn double(obj: &Obj, camel: &str, snake: &str) -> Result<Option<f64>> {
    get(obj, camel, snake).map(|v| double_value(v, camel)).transpose()
}

/// An enum as its number, or as its proto name (`AGGREGATION_TEMPORALITY_DELTA`).
fn enumeration(obj: &Obj, camel: &str, snake: &str, names: &[&str]) -> Result<i32> {
    match get(obj, camel, snake) {
        None => Ok(0),
        Some(Value::String(s)) if s.parse::<i32>().is_err() => names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(s))
            .map(|i| i as i32)
            .ok_or_else(|| shape(camel, format!("unknown value {s:?}"))),
        Some(v) => i32::try_from(integer_value(v, camel)?).map_err(|_| shape(camel, "out of range")),
    }
}

const TEMPORALITY: &[&str] = &[
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
];
const SPAN_KIND: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODE: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
const SEVERITY: &[&str] = &[
    "SEVERITY_NUMBER_UNSPECIFIED",
    "SEVERITY_NUMBER_TRACE",
    "SEVERITY_NUMBER_TRACE2",
    "SEVERITY_NUMBER_TRACE3",
    "SEVERITY_NUMBER_TRACE4",
    "SEVERITY_NUMBER_DEBUG",
    "SEVERITY_NUMBER_DEBUG2",
    "SEVERITY_NUMBER_DEBUG3",
    "SEVERITY_NUMBER_DEBUG4",
    "SEVERITY_NUMBER_INFO",
    "SEVERITY_NUMBER_INFO2",
    "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",
    "SEVERITY_NUMBER_WARN",
    "SEVERITY_NUMBER_WARN2",
    "SEVERITY_NUMBER_WARN3",
    "SEVERITY_NUMBER_WARN4",
    "SEVERITY_NUMBER_ERROR",
    "SEVERITY_NUMBER_ERROR2",
    "SEVERITY_NUMBER_ERROR3",
    "SEVERITY_NUMBER_ERROR4",
    "SEVERITY_NUMBER_FATAL",
    "SEVERITY_NUMBER_FATAL2",
    "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
];

/// Trace and span ids: hex in OTLP/JSON (some exporters send base64; an
/// id whose length fits neither is an error).
fn id_bytes(obj: &Obj, camel: &str, snake: &str) -> Result<Vec<u8>> {
    let text = string(obj, camel, snake)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(bytes) = hex(&text) {
        return Ok(bytes);
    }
    base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|_| shape(camel, format!("not a hex id: {text:?}")))
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    text.as_bytes().chunks(2).map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)).collect()
}

fn any_value(value: &Value) -> Result<AnyValue> {
    let obj = as_object(value, "value")?;
    let inner = if let Some(v) = get(obj, "stringValue", "string_value") {
        match v {
            Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
            other => Some(any_value::Value::StringValue(other.to_string())),
        }
    } else if let Some(v) = get(obj, "boolValue", "bool_value") {
        match v {
            Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
            Value::String(s) => Some(any_value::Value::BoolValue(s == "true")),
            other => return Err(shape("boolValue", format!("expected a boolean, got {}", kind(other)))),
        }
    } else if let Some(v) = get(obj, "intValue", "int_value") {
        Some(any_value::Value::IntValue(i64_value(v, "intValue")?))
    } else if let Some(v) = get(obj, "doubleValue", "double_value") {
        Some(any_value::Value::DoubleValue(double_value(v, "doubleValue")?))
    } else if let Some(v) = get(obj, "arrayValue", "array_value") {
        let values = list(as_object(v, "arrayValue")?, "values", "values", any_value)?;
        Some(any_value::Value::ArrayValue(ArrayValue { values }))
    } else if let Some(v) = get(obj, "kvlistValue", "kvlist_value") {
        let values = list(as_object(v, "kvlistValue")?, "values", "values", key_value)?;
        Some(any_value::Value::KvlistValue(KeyValueList { values }))
    } else if let Some(v) = get(obj, "bytesValue", "bytes_value") {
        let text = v.as_str().ok_or_else(|| shape("bytesValue", "expected a base64 string"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| shape("bytesValue", format!("not base64: {e}")))?;
        Some(any_value::Value::BytesValue(bytes))
    } else {
        None
    };
    Ok(AnyValue { value: inner })
}

fn key_value(value: &Value) -> Result<KeyValue> {
    let obj = as_object(value, "attribute")?;
    Ok(KeyValue {
        key: string(obj, "key", "key")?,
        value: get(obj, "value", "value").map(any_value).transpose()?,
        key_strindex: 0,
    })
}

fn attributes(obj: &Obj) -> Result<Vec<KeyValue>> {
    list(obj, "attributes", "attributes", key_value)
}

fn resource(obj: &Obj) -> Result<Resource> {
    Ok(Resource {
        attributes: attributes(obj)?,
        dropped_attributes_count: u32_field(obj, "droppedAttributesCount", "dropped_attributes_count")?,
        entity_refs: Vec::new(),
    })
}

fn scope(obj: &Obj) -> Result<InstrumentationScope> {
    Ok(InstrumentationScope {
        name: string(obj, "name", "name")?,
        version: string(obj, "version", "version")?,
        attributes: attributes(obj)?,
        dropped_attributes_count: u32_field(obj, "droppedAttributesCount", "dropped_attributes_count")?,
    })
}

fn log_record(value: &Value) -> Result<LogRecord> {
    let obj = as_object(value, "logRecords[]")?;
    Ok(LogRecord {
        time_unix_nano: u64_field(obj, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: u64_field(obj, "observedTimeUnixNano", "observed_time_unix_nano")?,
        severity_number: enumeration(obj, "severityNumber", "severity_number", SEVERITY)?,
        severity_text: string(obj, "severityText", "severity_text")?,
        body: get(obj, "body", "body").map(any_value).transpose()?,
        attributes: attributes(obj)?,
        dropped_attributes_count: u32_field(obj, "droppedAttributesCount", "dropped_attributes_count")?,
        flags: u32_field(obj, "flags", "flags")?,
        trace_id: id_bytes(obj, "traceId", "trace_id")?,
        span_id: id_bytes(obj, "spanId", "span_id")?,
        event_name: string(obj, "eventName", "event_name")?,
    })
}

fn logs(root: &Obj) -> Result<ExportLogsServiceRequest> {
    let resource_logs = list(root, "resourceLogs", "resource_logs", |v| {
        let obj = as_object(v, "resourceLogs[]")?;
        Ok(ResourceLogs {
            resource: message(obj, "resource", "resource", resource)?,
            scope_logs: list(obj, "scopeLogs", "scope_logs", |v| {
                let obj = as_object(v, "scopeLogs[]")?;
                Ok(ScopeLogs {
                    scope: message(obj, "scope", "scope", scope)?,
                    log_records: list(obj, "logRecords", "log_records", log_record)?,
                    schema_url: string(obj, "schemaUrl", "schema_url")?,
                })
            })?,
            schema_url: string(obj, "schemaUrl", "schema_url")?,
        })
    })?;
    Ok(ExportLogsServiceRequest { resource_logs })
}

fn times(obj: &Obj) -> Result<(u64, u64)> {
    Ok((
        u64_field(obj, "startTimeUnixNano", "start_time_unix_nano")?,
        u64_field(obj, "timeUnixNano", "time_unix_nano")?,
    ))
}

fn number_point(value: &Value) -> Result<NumberDataPoint> {
    let obj = as_object(value, "dataPoints[]")?;
    let (start, time) = times(obj)?;
    let value = if let Some(v) = get(obj, "asDouble", "as_double") {
        Some(number_data_point::Value::AsDouble(double_value(v, "asDouble")?))
    } else if let Some(v) = get(obj, "asInt", "as_int") {
        Some(number_data_point::Value::AsInt(i64_value(v, "asInt")?))
    } else {
        None
    };
    Ok(NumberDataPoint {
        attributes: attributes(obj)?,
        start_time_unix_nano: start,
        time_unix_nano: time,
        exemplars: Vec::new(),
        flags: u32_field(obj, "flags", "flags")?,
        value,
    })
}

fn u64_list(obj: &Obj, camel: &str, snake: &str) -> Result<Vec<u64>> {
    list(obj, camel, snake, |v| {
        u64::try_from(integer_value(v, camel)?).map_err(|_| shape(camel, "out of range"))
    })
}

fn f64_list(obj: &Obj, camel: &str, snake: &str) -> Result<Vec<f64>> {
    list(obj, camel, snake, |v| double_value(v, camel))
}

fn histogram_point(value: &Value) -> Result<HistogramDataPoint> {
    let obj = as_object(value, "dataPoints[]")?;
    let (start, time) = times(obj)?;
    Ok(HistogramDataPoint {
        attributes: attributes(obj)?,
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: u64_field(obj, "count", "count")?,
        sum: double(obj, "sum", "sum")?,
        bucket_counts: u64_list(obj, "bucketCounts", "bucket_counts")?,
        explicit_bounds: f64_list(obj, "explicitBounds", "explicit_bounds")?,
        exemplars: Vec::new(),
        flags: u32_field(obj, "flags", "flags")?,
        min: double(obj, "min", "min")?,
        max: double(obj, "max", "max")?,
    })
}

fn buckets(obj: &Obj) -> Result<Buckets> {
    Ok(Buckets {
        offset: i32::try_from(get(obj, "offset", "offset").map_or(Ok(0), |v| integer_value(v, "offset"))?)
            .map_err(|_| shape("offset", "out of range"))?,
        bucket_counts: u64_list(obj, "bucketCounts", "bucket_counts")?,
    })
}

fn exponential_point(value: &Value) -> Result<ExponentialHistogramDataPoint> {
    let obj = as_object(value, "dataPoints[]")?;
    let (start, time) = times(obj)?;
    Ok(ExponentialHistogramDataPoint {
        attributes: attributes(obj)?,
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: u64_field(obj, "count", "count")?,
        sum: double(obj, "sum", "sum")?,
        scale: i32::try_from(get(obj, "scale", "scale").map_or(Ok(0), |v| integer_value(v, "scale"))?)
            .map_err(|_| shape("scale", "out of range"))?,
        zero_count: u64_field(obj, "zeroCount", "zero_count")?,
        positive: message(obj, "positive", "positive", buckets)?,
        negative: message(obj, "negative", "negative", buckets)?,
        flags: u32_field(obj, "flags", "flags")?,
        exemplars: Vec::new(),
        min: double(obj, "min", "min")?,
        max: double(obj, "max", "max")?,
        zero_threshold: double(obj, "zeroThreshold", "zero_threshold")?.unwrap_or(0.0),
    })
}

fn summary_point(value: &Value) -> Result<SummaryDataPoint> {
    let obj = as_object(value, "dataPoints[]")?;
    let (start, time) = times(obj)?;
    Ok(SummaryDataPoint {
        attributes: attributes(obj)?,
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: u64_field(obj, "count", "count")?,
        sum: double(obj, "sum", "sum")?.unwrap_or(0.0),
        quantile_values: list(obj, "quantileValues", "quantile_values", |v| {
            let q = as_object(v, "quantileValues[]")?;
            Ok(summary_data_point::ValueAtQuantile {
                quantile: double(q, "quantile", "quantile")?.unwrap_or(0.0),
                value: double(q, "value", "value")?.unwrap_or(0.0),
            })
        })?,
        flags: u32_field(obj, "flags", "flags")?,
    })
}

fn temporality(obj: &Obj) -> Result<i32> {
    enumeration(obj, "aggregationTemporality", "aggregation_temporality", TEMPORALITY)
}

fn metric(value: &Value) -> Result<Metric> {
    let obj = as_object(value, "metrics[]")?;
    let data = if let Some(v) = get(obj, "sum", "sum") {
        let o = as_object(v, "sum")?;
        Some(metric::Data::Sum(Sum {
            data_points: list(o, "dataPoints", "data_points", number_point)?,
            aggregation_temporality: temporality(o)?,
            is_monotonic: boolean(o, "isMonotonic", "is_monotonic")?,
        }))
    } else if let Some(v) = get(obj, "gauge", "gauge") {
        let o = as_object(v, "gauge")?;
        Some(metric::Data::Gauge(Gauge { data_points: list(o, "dataPoints", "data_points", number_point)? }))
    } else if let Some(v) = get(obj, "histogram", "histogram") {
        let o = as_object(v, "histogram")?;
        Some(metric::Data::Histogram(Histogram {
            data_points: list(o, "dataPoints", "data_points", histogram_point)?,
            aggregation_temporality: temporality(o)?,
        }))
    } else if let Some(v) = get(obj, "exponentialHistogram", "exponential_histogram") {
        let o = as_object(v, "exponentialHistogram")?;
        Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: list(o, "dataPoints", "data_points", exponential_point)?,
            aggregation_temporality: temporality(o)?,
        }))
    } else if let Some(v) = get(obj, "summary", "summary") {
        let o = as_object(v, "summary")?;
        Some(metric::Data::Summary(Summary {
            data_points: list(o, "dataPoints", "data_points", summary_point)?,
        }))
    } else {
        None
    };
    Ok(Metric {
        name: string(obj, "name", "name")?,
        description: string(obj, "description", "description")?,
        unit: string(obj, "unit", "unit")?,
        metadata: list(obj, "metadata", "metadata", key_value)?,
        data,
    })
}

fn metrics(root: &Obj) -> Result<ExportMetricsServiceRequest> {
    let resource_metrics = list(root, "resourceMetrics", "resource_metrics", |v| {
        let obj = as_object(v, "resourceMetrics[]")?;
        Ok(ResourceMetrics {
            resource: message(obj, "resource", "resource", resource)?,
            scope_metrics: list(obj, "scopeMetrics", "scope_metrics", |v| {
                let obj = as_object(v, "scopeMetrics[]")?;
                Ok(ScopeMetrics {
                    scope: message(obj, "scope", "scope", scope)?,
                    metrics: list(obj, "metrics", "metrics", metric)?,
                    schema_url: string(obj, "schemaUrl", "schema_url")?,
                })
            })?,
            schema_url: string(obj, "schemaUrl", "schema_url")?,
        })
    })?;
    Ok(ExportMetricsServiceRequest { resource_metrics })
}

fn span(value: &Value) -> Result<Span> {
    let obj = as_object(value, "spans[]")?;
    Ok(Span {
        trace_id: id_bytes(obj, "traceId", "trace_id")?,
        span_id: id_bytes(obj, "spanId", "span_id")?,
        trace_state: string(obj, "traceState", "trace_state")?,
        parent_span_id: id_bytes(obj, "parentSpanId", "parent_span_id")?,
        flags: u32_field(obj, "flags", "flags")?,
        name: string(obj, "name", "name")?,
        kind: enumeration(obj, "kind", "kind", SPAN_KIND)?,
        start_time_unix_nano: u64_field(obj, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: u64_field(obj, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: attributes(obj)?,
        dropped_attributes_count: u32_field(obj, "droppedAttributesCount", "dropped_attributes_count")?,
        events: list(obj, "events", "events", |v| {
            let o = as_object(v, "events[]")?;
            Ok(span::Event {
                time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
                name: string(o, "name", "name")?,
                attributes: attributes(o)?,
                dropped_attributes_count: u32_field(o, "droppedAttributesCount", "dropped_attributes_count")?,
            })
        })?,
        dropped_events_count: u32_field(obj, "droppedEventsCount", "dropped_events_count")?,
        links: list(obj, "links", "links", |v| {
            let o = as_object(v, "links[]")?;
            Ok(span::Link {
                trace_id: id_bytes(o, "traceId", "trace_id")?,
                span_id: id_bytes(o, "spanId", "span_id")?,
                trace_state: string(o, "traceState", "trace_state")?,
                attributes: attributes(o)?,
                dropped_attributes_count: u32_field(o, "droppedAttributesCount", "dropped_attributes_count")?,
                flags: u32_field(o, "flags", "flags")?,
            })
        })?,
        dropped_links_count: u32_field(obj, "droppedLinksCount", "dropped_links_count")?,
        status: message(obj, "status", "status", |o| {
            Ok(Status {
                message: string(o, "message", "message")?,
                code: enumeration(o, "code", "code", STATUS_CODE)?,
            })
        })?,
    })
}

fn traces(root: &Obj) -> Result<ExportTraceServiceRequest> {
    let resource_spans = list(root, "resourceSpans", "resource_spans", |v| {
        let obj = as_object(v, "resourceSpans[]")?;
        Ok(ResourceSpans {
            resource: message(obj, "resource", "resource", resource)?,
            scope_spans: list(obj, "scopeSpans", "scope_spans", |v| {
                let obj = as_object(v, "scopeSpans[]")?;
                Ok(ScopeSpans {
                    scope: message(obj, "scope", "scope", scope)?,
                    spans: list(obj, "spans", "spans", span)?,
                    schema_url: string(obj, "schemaUrl", "schema_url")?,
                })
            })?,
            schema_url: string(obj, "schemaUrl", "schema_url")?,
        })
    })?;
    Ok(ExportTraceServiceRequest { resource_spans })
}

/// Decode an OTLP/JSON export request of `signal`.
pub fn decode(signal: Signal, body: &[u8]) -> Result<Request> {
    let value: Value = serde_json::from_slice(body)?;
    let root = as_object(&value, "request")?;
    Ok(match signal {
        Signal::Logs => Request::Logs(logs(root)?),
        Signal::Metrics => Request::Metrics(metrics(root)?),
        Signal::Traces => Request::Traces(traces(root)?),
    })
}

/// Which signal a JSON body holds, from its top-level key (for clients that
/// post to the wrong path).
pub fn sniff_signal(body: &[u8]) -> Option<Signal> {
    let head = &body[..body.len().min(256)];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if has(b"resourceLogs") || has(b"resource_logs") {
        Some(Signal::Logs)
    } else if has(b"resourceMetrics") || has(b"resource_metrics") {
        Some(Signal::Metrics)
    } else if has(b"resourceSpans") || has(b"resource_spans") {
        Some(Signal::Traces)
    } else {
        None
    }
}
