//! OTLP rows as Arrow record batches for `otel_metric_points`, `otel_events`
//! and `otel_spans`; column names are the store's, so batches insert BY NAME.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};

use super::convert::{MetricPoint, OtelEvent, OtelSpan};
use crate::ids::{hex, Id};

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn ids(values: impl Iterator<Item = Id>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    let mut text = [0u8; 32];
    for id in values {
        builder.append_value(hex(id, &mut text));
    }
    Arc::new(builder.finish())
}

fn nanos(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values.map(|v| i64::try_from(v).unwrap_or(i64::MAX))))
}

/// Nanoseconds since the epoch as a UTC timestamp (microseconds); 0 is unknown.
fn times(values: impl Iterator<Item = u64>) -> ArrayRef {
    let us = values.map(|ns| (ns != 0).then(|| i64::try_from(ns / 1000).unwrap_or(i64::MAX)));
    Arc::new(TimestampMicrosecondArray::from_iter(us).with_timezone("UTC"))
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn batch(fields: Vec<(&str, DataType)>, columns: Vec<ArrayRef>) -> Result<RecordBatch, ArrowError> {
    let schema =
        Schema::new(fields.into_iter().map(|(name, t)| Field::new(name, t, true)).collect::<Vec<_>>());
    RecordBatch::try_new(Arc::new(schema), columns)
}

/// `otel_metric_points` rows, without the deltas (the store computes those
/// per series, against what it already holds).
pub fn points_batch(p: &[MetricPoint], received_at_us: i64) -> Result<RecordBatch, ArrowError> {
    use DataType::*;
    batch(
        vec![
            ("point_id", Utf8),
            ("series_id", Utf8),
            ("received_at", timestamp()),
            ("metric_name", Utf8),
            ("unit", Utf8),
            ("kind", Utf8),
            ("temporality", Utf8),
            ("is_monotonic", Boolean),
            ("start_time_unix_nano", Int64),
            ("time_unix_nano", Int64),
            ("start_time", timestamp()),
            ("time", timestamp()),
            ("value", Float64),
            ("count", Int64),
            ("attributes", Utf8),
            ("resource", Utf8),
            ("scope_name", Utf8),
            ("service_name", Utf8),
            ("source_system", Utf8),
            ("session_id", Utf8),
            ("model", Utf8),
            ("account_id", Utf8),
            ("user_id", Utf8),
        ],
        vec![
            ids(p.iter().map(|x| x.point_id)),
            ids(p.iter().map(|x| x.series_id)),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(p.iter().map(|_| received_at_us))
                    .with_timezone("UTC"),
            ),
            strings(p.iter().map(|x| Some(x.metric_name.as_str()))),
            strings(p.iter().map(|x| Some(x.unit.as_str()))),
            strings(p.iter().map(|x| Some(x.kind))),
            strings(p.iter().map(|x| Some(x.temporality))),
            Arc::new(BooleanArray::from_iter(p.iter().map(|x| Some(x.is_monotonic)))),
            nanos(p.iter().map(|x| x.start_time_unix_nano)),
            nanos(p.iter().map(|x| x.time_unix_nano)),
            times(p.iter().map(|x| x.start_time_unix_nano)),
            times(p.iter().map(|x| x.time_unix_nano)),
            Arc::new(Float64Array::from_iter(p.iter().map(|x| x.value))),
            Arc::new(Int64Array::from_iter(
                p.iter().map(|x| x.count.map(|c| i64::try_from(c).unwrap_or(i64::MAX))),
            )),
            strings(p.iter().map(|x| Some(x.attributes.as_str()))),
            strings(p.iter().map(|x| Some(x.resource.as_str()))),
            strings(p.iter().map(|x| Some(x.scope_name.as_str()))),
            strings(p.iter().map(|x| x.service_name.as_deref())),
            strings(p.iter().map(|x| Some(x.source_system))),
            strings(p.iter().map(|x| x.session_id.as_deref())),
            strings(p.iter().map(|x| x.model.as_deref())),
            strings(p.iter().map(|x| x.account_id.as_deref())),
            strings(p.iter().map(|x| x.user_id.as_deref())),
        ],
    )
}

/// `otel_events` rows.
pub fn otel_events_batch(e: &[OtelEvent], received_at_us: i64) -> Result<RecordBatch, ArrowError> {
    use DataType::*;
    batch(
        vec![
            ("event_id", Utf8),
            ("received_at", timestamp()),
            ("occurred_at", timestamp()),
            ("time_unix_nano", Int64),
            ("observed_time_unix_nano", Int64),
            ("event_name", Utf8),
            ("severity_number", Int32),
            ("severity_text", Utf8),
            ("body", Utf8),
            ("attributes", Utf8),
            ("resource", Utf8),
            ("scope_name", Utf8),
            ("service_name", Utf8),
            ("source_system", Utf8),
            ("session_id", Utf8),
            ("prompt_id", Utf8),
            ("sequence", Int64),
            ("trace_id", Utf8),
            ("span_id", Utf8),
            ("account_id", Utf8),
            ("user_id", Utf8),
        ],
        vec![
            ids(e.iter().map(|x| x.event_id)),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(e.iter().map(|_| received_at_us))
                    .with_timezone("UTC"),
            ),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(e.iter().map(|x| x.occurred_at_us))
                    .with_timezone("UTC"),
            ),
            nanos(e.iter().map(|x| x.time_unix_nano)),
            nanos(e.iter().map(|x| x.observed_time_unix_nano)),
            strings(e.iter().map(|x| x.event_name.as_deref())),
            Arc::new(Int32Array::from_iter_values(e.iter().map(|x| x.severity_number))),
            strings(e.iter().map(|x| Some(x.severity_text.as_str()))),
            strings(e.iter().map(|x| x.body.as_deref())),
            strings(e.iter().map(|x| Some(x.attributes.as_str()))),
            strings(e.iter().map(|x| Some(x.resource.as_str()))),
            strings(e.iter().map(|x| Some(x.scope_name.as_str()))),
            strings(e.iter().map(|x| x.service_name.as_deref())),
            strings(e.iter().map(|x| Some(x.source_system))),
            strings(e.iter().map(|x| x.session_id.as_deref())),
            strings(e.iter().map(|x| x.prompt_id.as_deref())),
            Arc::new(Int64Array::from_iter(e.iter().map(|x| x.sequence))),
            strings(e.iter().map(|x| x.trace_id.as_deref())),
            strings(e.iter().map(|x| x.span_id.as_deref())),
            strings(e.iter().map(|x| x.account_id.as_deref())),
            strings(e.iter().map(|x| x.user_id.as_deref())),
        ],
    )
}

/// `otel_spans` rows.
pub fn spans_batch(s: &[OtelSpan], received_at_us: i64) -> Result<RecordBatch, ArrowError> {
    use DataType::*;
    batch(
        vec![
            ("span_key", Utf8),
            ("received_at", timestamp()),
            ("trace_id", Utf8),
            ("span_id", Utf8),
            ("parent_span_id", Utf8),
            ("name", Utf8),
            ("kind", Int32),
            ("start_time_unix_nano", Int64),
            ("end_time_unix_nano", Int64),
            ("start_time", timestamp()),
            ("end_time", timestamp()),
            ("status_code", Int32),
            ("attributes", Utf8),
            ("resource", Utf8),
            ("scope_name", Utf8),
            ("service_name", Utf8),
            ("source_system", Utf8),
            ("session_id", Utf8),
            ("account_id", Utf8),
            ("user_id", Utf8),
        ],
        vec![
            ids(s.iter().map(|x| x.span_key)),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(s.iter().map(|_| received_at_us))
                    .with_timezone("UTC"),
            ),
            strings(s.iter().map(|x| Some(x.trace_id.as_str()))),
            strings(s.iter().map(|x| Some(x.span_id.as_str()))),
            strings(s.iter().map(|x| x.parent_span_id.as_deref())),
            strings(s.iter().map(|x| Some(x.name.as_str()))),
            Arc::new(Int32Array::from_iter_values(s.iter().map(|x| x.kind))),
            nanos(s.iter().map(|x| x.start_time_unix_nano)),
            nanos(s.iter().map(|x| x.end_time_unix_nano)),
            times(s.iter().map(|x| x.start_time_unix_nano)),
            times(s.iter().map(|x| x.end_time_unix_nano)),
            Arc::new(Int32Array::from_iter_values(s.iter().map(|x| x.status_code))),
            strings(s.iter().map(|x| Some(x.attributes.as_str()))),
            strings(s.iter().map(|x| Some(x.resource.as_str()))),
            strings(s.iter().map(|x| Some(x.scope_name.as_str()))),
            strings(s.iter().map(|x| x.service_name.as_deref())),
            strings(s.iter().map(|x| Some(x.source_system))),
            strings(s.iter().map(|x| x.session_id.as_deref())),
            strings(s.iter().map(|x| x.account_id.as_deref())),
            strings(s.iter().map(|x| x.user_id.as_deref())),
        ],
    )
}
