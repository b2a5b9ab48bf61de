//! Canonical events and raw records as Arrow record batches. Column names are
//! the store's column names, so a batch inserts `BY NAME` without mapping.

use std::sync::Arc;

use rayon::prelude::*;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
    UInt64Array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};

use crate::event::{RawRecord, UsageEvent};
use crate::jsonl::scan::Cursor;

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> ArrayRef {
    let (rows, bytes) = values.clone().fold((0, 0), |(n, b), v| (n + 1, b + v.map_or(0, str::len)));
    let mut builder = StringBuilder::with_capacity(rows, bytes);
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn ids(values: impl ExactSizeIterator<Item = crate::ids::Id>) -> ArrayRef {
    let mut builder = StringBuilder::with_capacity(values.len(), values.len() * 32);
    let mut text = [0u8; 32];
    for id in values {
        builder.append_value(crate::ids::hex(id, &mut text));
    }
    Arc::new(builder.finish())
}

/// Build columns on all cores: each is independent of the others.
fn build(columns: Vec<Box<dyn Fn() -> ArrayRef + Sync + '_>>) -> Vec<ArrayRef> {
    columns.par_iter().map(|column| column()).collect()
}

fn int64s(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values.map(|v| i64::try_from(v).unwrap_or(i64::MAX))))
}

fn timestamps(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(values).with_timezone("UTC"))
}

/// `usage_events` rows.
pub fn events_batch(events: &[UsageEvent]) -> Result<RecordBatch, ArrowError> {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let count = |name: &str| Field::new(name, DataType::Int64, false);
    let schema = Schema::new(vec![
        text("event_id"),
        text("raw_event_id"),
        Field::new("occurred_at", timestamp_type(), false),
        text("event_type"),
        text("source_system"),
        text("source_channel"),
        text("provider_id"),
        text("account_id"),
        text("model_raw"),
        text("model"),
        count("input_tokens"),
        count("output_tokens"),
        count("reasoning_tokens"),
        count("cache_read_tokens"),
        count("cache_write_tokens"),
        count("cache_write_1h_tokens"),
        count("total_tokens"),
        Field::new("cost_usd", DataType::Float64, true),
        text("cost_source"),
        Field::new("requests", DataType::Int32, false),
        text("session_id"),
        text("turn_id"),
        text("message_id"),
        text("request_id"),
        text("tool_call_id"),
        text("tool_name"),
        text("project"),
        text("agent_id"),
        text("user_id"),
        Field::new("is_sidechain", DataType::Boolean, false),
        text("client_version"),
        text("git_branch"),
        Field::new("duration_ms", DataType::Int64, true),
        Field::new("success", DataType::Boolean, true),
        text("detail"),
        text("speed"),
    ]);
    let e = events;
    let columns = build(vec![
        Box::new(|| ids(e.iter().map(|x| x.event_id))),
        Box::new(|| ids(e.iter().map(|x| x.raw_event_id))),
        Box::new(|| timestamps(e.iter().map(|x| Some(x.occurred_at_us)))),
        Box::new(|| strings(e.iter().map(|x| Some(x.event_type)))),
        Box::new(|| strings(e.iter().map(|x| Some(x.source_system)))),
        Box::new(|| strings(e.iter().map(|x| Some(x.source_channel)))),
        Box::new(|| strings(e.iter().map(|x| x.provider_id.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.account_id.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.model_raw.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.model.as_deref()))),
        Box::new(|| int64s(e.iter().map(|x| x.tokens.input))),
        Box::new(|| int64s(e.iter().map(|x| x.tokens.output))),
        Box::new(|| int64s(e.iter().map(|x| x.tokens.reasoning))),
        Box::new(|| int64s(e.iter().map(|x| x.tokens.cache_read))),
        Box::new(|| int64s(e.iter().map(|x| x.tokens.cache_write))),
        Box::new(|| int64s(e.iter().map(|x| x.tokens.cache_write_1h))),
        Box::new(|| int64s(e.iter().map(|x| x.tokens.total()))),
        Box::new(|| Arc::new(Float64Array::from_iter(e.iter().map(|x| x.cost_usd)))),
        Box::new(|| strings(e.iter().map(|x| Some(x.cost_source.as_str())))),
        Box::new(|| {
            Arc::new(Int32Array::from_iter_values(
                e.iter().map(|x| i32::try_from(x.requests).unwrap_or(i32::MAX)),
            ))
        }),
        Box::new(|| strings(e.iter().map(|x| x.session_id.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.turn_id.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.message_id.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.request_id.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.tool_call_id.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.tool_name.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.project.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.agent_id.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.user_id.as_deref()))),
        Box::new(|| Arc::new(BooleanArray::from_iter(e.iter().map(|x| Some(x.is_sidechain))))),
        Box::new(|| strings(e.iter().map(|x| x.client_version.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.git_branch.as_deref()))),
        Box::new(|| Arc::new(Int64Array::from_iter(e.iter().map(|x| x.duration_ms)))),
        Box::new(|| Arc::new(BooleanArray::from_iter(e.iter().map(|x| x.success)))),
        Box::new(|| strings(e.iter().map(|x| x.detail.as_deref()))),
        Box::new(|| strings(e.iter().map(|x| x.speed.as_deref()))),
    ]);
    RecordBatch::try_new(Arc::new(schema), columns)
}

/// `usage_raw_events` rows, all received at `received_at_us`.
pub fn raws_batch(raws: &[RawRecord], received_at_us: i64) -> Result<RecordBatch, ArrowError> {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let schema = Schema::new(vec![
        text("raw_event_id"),
        text("source_system"),
        text("source_channel"),
        Field::new("received_at", timestamp_type(), false),
        Field::new("occurred_at", timestamp_type(), true),
        text("account_id"),
        text("source_ref"),
        text("payload"),
    ]);
    let r = raws;
    let columns = build(vec![
        Box::new(|| ids(r.iter().map(|x| x.raw_event_id))),
        Box::new(|| strings(r.iter().map(|x| Some(x.source_system)))),
        Box::new(|| strings(r.iter().map(|x| Some(x.source_channel)))),
        Box::new(|| timestamps(r.iter().map(|_| Some(received_at_us)))),
        Box::new(|| timestamps(r.iter().map(|x| x.occurred_at_us))),
        Box::new(|| strings(r.iter().map(|x| x.account_id.as_deref()))),
        Box::new(|| strings(r.iter().map(|x| Some(x.source_ref.as_str())))),
        Box::new(|| strings(r.iter().map(|x| Some(x.payload.as_str())))),
    ]);
    RecordBatch::try_new(Arc::new(schema), columns)
}

/// `file_cursors` rows (without `source_system` and `updated_at`, which the store adds).
pub fn cursors_batch(cursors: &[Cursor]) -> Result<RecordBatch, ArrowError> {
    let schema = Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("offset", DataType::UInt64, false),
        Field::new("size", DataType::UInt64, false),
        Field::new("mtime_ns", DataType::Int64, false),
        Field::new("head_hash", DataType::UInt64, false),
        Field::new("tail_hash", DataType::UInt64, false),
        Field::new("state", DataType::Utf8, true),
    ]);
    let c = cursors;
    let columns: Vec<ArrayRef> = vec![
        strings(c.iter().map(|x| Some(x.path.as_str()))),
        Arc::new(UInt64Array::from_iter_values(c.iter().map(|x| x.offset))),
        Arc::new(UInt64Array::from_iter_values(c.iter().map(|x| x.size))),
        Arc::new(Int64Array::from_iter_values(c.iter().map(|x| x.mtime_ns))),
        Arc::new(UInt64Array::from_iter_values(c.iter().map(|x| x.head_hash))),
        Arc::new(UInt64Array::from_iter_values(c.iter().map(|x| x.tail_hash))),
        strings(c.iter().map(|x| x.state.as_deref())),
    ];
    RecordBatch::try_new(Arc::new(schema), columns)
}
