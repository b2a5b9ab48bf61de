//! The Rust/Python boundary: the only file that knows Python.
//!
//! Every call releases the GIL around the Rust work. Rows cross the boundary
//! only as Arrow tables (the Arrow PyCapsule stream interface, which DuckDB
//! scans directly); small metadata crosses as tuples and dicts.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyTable;

use crate::arrow::{cursors_batch, events_batch, raws_batch};
use crate::dedup::Collector;
use crate::hooks::Spooled;
use crate::jsonl::claude::ClaudeTranscript;
use crate::jsonl::scan::{discover, read_files, Cursor, FileInfo};
use crate::jsonl::Problem;

/// (path, offset, size, mtime_ns, head_hash, tail_hash)
type CursorTuple = (String, u64, u64, i64, u64, u64);
/// (path, size, mtime_ns)
type FileTuple = (String, u64, i64);

fn problems_list(problems: Vec<Problem>) -> Vec<(String, u64, String)> {
    problems.into_iter().map(|p| (p.path, p.offset, p.message)).collect()
}

/// Free `value` on a worker thread: tens of thousands of records, each with
/// its own strings, take longer to free than to turn into Arrow, and nobody
/// needs to wait for it.
fn drop_later<T: Send + 'static>(value: T) {
    rayon::spawn(move || drop(value));
}

/// Rows per Arrow record batch handed to DuckDB: it scans the batches of a
/// table in parallel, and this is also the store's row group size.
const CHUNK_ROWS: usize = 16_384;

fn table(batch: arrow_array::RecordBatch) -> PyResult<PyTable> {
    let schema = batch.schema();
    let chunks = (0..batch.num_rows()).step_by(CHUNK_ROWS);
    let batches = chunks.map(|start| batch.slice(start, CHUNK_ROWS.min(batch.num_rows() - start))).collect();
    PyTable::try_new(batches, schema)
}

/// All `*.jsonl` files under the given roots: (files, problems).
#[pyfunction]
fn discover_jsonl(py: Python<'_>, roots: Vec<PathBuf>) -> (Vec<FileTuple>, Vec<(String, u64, String)>) {
    let (files, problems) = py.detach(|| discover(&roots));
    let files = files.into_iter().map(|f| (f.path, f.size, f.mtime_ns)).collect();
    (files, problems_list(problems))
}

/// Reads Claude Code transcripts from their cursors on, de-duplicating
/// across every `read` until `finish`.
///
/// Raw records leave after each read (they never change); events leave at
/// `finish`, because a later read may still grow them (the rest of a
/// response, a resumed copy) or reveal them as side-chain replays.
#[pyclass(module = "usagecore._core")]
struct ClaudeReader {
    keep_content: bool,
    collector: Collector,
}

#[pymethods]
impl ClaudeReader {
    #[new]
    #[pyo3(signature = (*, keep_content = false))]
    fn new(keep_content: bool) -> Self {
        ClaudeReader { keep_content, collector: Collector::default() }
    }

    /// Read `files`, each `(path, size, mtime_ns, cursor or None)`. Returns a
    /// dict with `raws` and `cursors` (Arrow tables), `stats`, `problems`.
    fn read<'py>(
        &mut self,
        py: Python<'py>,
        files: Vec<(String, u64, i64, Option<CursorTuple>)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let tasks: Vec<(FileInfo, Option<Cursor>)> = files
            .into_iter()
            .map(|(path, size, mtime_ns, cursor)| {
                let cursor = cursor.map(|(path, offset, size, mtime_ns, head_hash, tail_hash)| Cursor {
                    path,
                    offset,
                    size,
                    mtime_ns,
                    head_hash,
                    tail_hash,
                });
                (FileInfo { path, size, mtime_ns }, cursor)
            })
            .collect();
        let received_at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        let (keep_content, collector) = (self.keep_content, &mut self.collector);
        let (mut result, batches) = py.detach(|| {
            let result = read_files::<ClaudeTranscript>(&tasks, keep_content, collector);
            let batches = raws_batch(&result.raws, received_at_us)
                .and_then(|raws| Ok([raws, cursors_batch(&result.cursors)?]));
            (result, batches)
        });
        drop_later(std::mem::take(&mut result.raws));
        let [raws, cursors] = batches.map_err(|e| PyValueError::new_err(e.to_string()))?;

        let out = PyDict::new(py);
        out.set_item("raws", table(raws)?)?;
        out.set_item("cursors", table(cursors)?)?;
        let stats = PyDict::new(py);
        let s = &result.stats;
        for (name, value) in [
            ("files", s.files),
            ("bytes", s.bytes),
            ("lines", s.lines),
            ("usage_lines", s.usage_lines),
            ("synthetic_lines", s.synthetic_lines),
            ("skipped_lines", s.skipped_lines),
            ("reread_files", s.reread_files),
            ("problem_count", result.problem_count),
        ] {
            stats.set_item(name, value)?;
        }
        out.set_item("stats", stats)?;
        out.set_item("problems", problems_list(result.problems))?;
        Ok(out)
    }

    /// The events of everything read so far, merged, with side-chain replays
    /// dropped; the reader starts afresh. Returns a dict with `events` (Arrow
    /// table), `duplicate_records` and `sidechain_replays`.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let collector = std::mem::take(&mut self.collector);
        let (counts, events) = py.detach(|| {
            let deduped = collector.finish();
            let events = events_batch(&deduped.events);
            let counts = (deduped.duplicate_records, deduped.sidechain_replays);
            drop_later(deduped);
            (counts, events)
        });
        let events = events.map_err(|e| PyValueError::new_err(e.to_string()))?;
        let out = PyDict::new(py);
        out.set_item("events", table(events)?)?;
        out.set_item("duplicate_records", counts.0)?;
        out.set_item("sidechain_replays", counts.1)?;
        Ok(out)
    }
}

/// Decode spooled Claude Code hook payloads, each `(spool name,
/// received_at_ns, account_id, body)`. Returns a dict with `events` and `raws`
/// (Arrow tables), `transcripts` (`(path, account_id)` to read through their
/// cursors) and `rejected` (`(spool name, why)`).
#[pyfunction]
fn decode_claude_hooks<'py>(
    py: Python<'py>,
    payloads: Vec<(String, i64, Option<String>, Vec<u8>)>,
) -> PyResult<Bound<'py, PyDict>> {
    let payloads: Vec<Spooled> = payloads
        .into_iter()
        .map(|(name, received_at_ns, account_id, body)| Spooled { name, received_at_ns, account_id, body })
        .collect();
    let received_at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
    let (batch, tables) = py.detach(|| {
        let batch = crate::hooks::claude::decode(&payloads);
        let tables =
            events_batch(&batch.events).and_then(|e| Ok((e, raws_batch(&batch.raws, received_at_us)?)));
        (batch, tables)
    });
    let (events, raws) = tables.map_err(|e| PyValueError::new_err(e.to_string()))?;
    let out = PyDict::new(py);
    out.set_item("events", table(events)?)?;
    out.set_item("raws", table(raws)?)?;
    out.set_item("transcripts", batch.transcripts)?;
    out.set_item("rejected", batch.rejected)?;
    Ok(out)
}

/// Normalize a raw model id to the id users group by
/// (`claude-sonnet-4-5-20250929` -> `claude-sonnet-4-5`).
#[pyfunction]
fn normalize_model(raw: &str) -> String {
    crate::normalize::model_id(raw)
}

/// A raw model id as price lists know it (`Claude-Opus-4-8[1m]` -> `claude-opus-4-8`).
#[pyfunction]
fn model_ref(raw: &str) -> String {
    crate::normalize::model_ref(raw)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(discover_jsonl, m)?)?;
    m.add_class::<ClaudeReader>()?;
    m.add_function(wrap_pyfunction!(decode_claude_hooks, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_model, m)?)?;
    m.add_function(wrap_pyfunction!(model_ref, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
