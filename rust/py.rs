//! The Rust/Python boundary: the only file that knows Python.
//!
//! Every call releases the GIL around the Rust work. Rows cross the boundary
//! only as Arrow tables (the Arrow PyCapsule stream interface, which DuckDB
//! scans directly); small metadata crosses as tuples and dicts.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyTable;

use crate::arrow::{cursors_batch, events_batch, raws_batch};
use crate::dedup::Collector;
use crate::hooks::Spooled;
use crate::jsonl::claude::ClaudeTranscript;
use crate::jsonl::codex::CodexRollout;
use crate::jsonl::scan::{discover, read_files, Cursor, FileInfo, ReadResult};
use crate::jsonl::Problem;

/// (path, offset, size, mtime_ns, head_hash, tail_hash, state)
type CursorTuple = (String, u64, u64, i64, u64, u64, Option<String>);
/// (path, size, mtime_ns)
type FileTuple = (String, u64, i64);
/// (path, content_type, body, account_id, received_at_ns) of one OTLP request.
type OtlpPart = (String, String, Vec<u8>, Option<String>, u64);
/// A request of a spool segment as Python gets it (like `OtlpPart`).
type OtlpFrame<'py> = (String, String, Bound<'py, pyo3::types::PyBytes>, Option<String>, u64);

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

/// The fingerprint of every file under `paths` (see `unchanged`):
/// (hash as 32 hex digits, newest modification time in ns, files).
#[pyfunction]
fn fingerprint(py: Python<'_>, paths: Vec<PathBuf>) -> (String, i64, u64) {
    let found = py.detach(|| crate::unchanged::fingerprint(&paths));
    (format!("{:032x}", found.hash), found.newest_mtime_ns, found.files)
}

/// The JSONL history formats a `Reader` knows, by `source_system`.
#[derive(Clone, Copy)]
enum Format {
    Claude,
    Codex,
}

impl Format {
    fn read(
        self,
        tasks: &[(FileInfo, Option<Cursor>)],
        keep_content: bool,
        collector: &mut Collector,
    ) -> ReadResult {
        match self {
            Format::Claude => read_files::<ClaudeTranscript>(tasks, keep_content, collector),
            Format::Codex => read_files::<CodexRollout>(tasks, keep_content, collector),
        }
    }
}

/// Reads one source's JSONL history files from their cursors on,
/// de-duplicating across every `read` until `finish`.
///
/// Raw records leave after each read (they never change); events leave at
/// `finish`, because a later read may still grow them (the rest of a
/// response, a resumed copy) or reveal them as side-chain replays.
#[pyclass(module = "usagecore._core")]
struct Reader {
    format: Format,
    keep_content: bool,
    collector: Collector,
}

#[pymethods]
impl Reader {
    /// `source`: `claude_code` (transcripts) or `codex` (rollouts).
    #[new]
    #[pyo3(signature = (source, *, keep_content = false))]
    fn new(source: &str, keep_content: bool) -> PyResult<Self> {
        let format = match source {
            crate::jsonl::claude::SOURCE_SYSTEM => Format::Claude,
            crate::jsonl::codex::SOURCE_SYSTEM => Format::Codex,
            other => return Err(PyValueError::new_err(format!("no JSONL reader for source {other:?}"))),
        };
        Ok(Reader { format, keep_content, collector: Collector::default() })
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
                let cursor = cursor.map(|(path, offset, size, mtime_ns, head_hash, tail_hash, state)| {
                    Cursor { path, offset, size, mtime_ns, head_hash, tail_hash, state }
                });
                (FileInfo { path, size, mtime_ns }, cursor)
            })
            .collect();
        let received_at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        let (format, keep_content, collector) = (self.format, self.keep_content, &mut self.collector);
        let (mut result, batches) = py.detach(|| {
            let result = format.read(&tasks, keep_content, collector);
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
            ("skipped_files", s.skipped_files),
            ("unreadable_files", s.unreadable_files),
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

/// The OTLP receiver (rust/server), serving until `stop`.
#[pyclass(module = "usagecore._core")]
struct OtlpServer {
    server: Option<crate::server::Server>,
}

#[pymethods]
impl OtlpServer {
    /// Bind and serve. `tokens` maps bearer tokens to account ids (or None);
    /// empty means no authentication.
    #[new]
    #[pyo3(signature = (*, host, port, grpc_port, spool_dir, tokens, max_body_bytes = 16 << 20,
                        max_decompressed_bytes = 64 << 20, max_pending_files = 20_000,
                        body_timeout_s = 30.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        host: String,
        port: u16,
        grpc_port: Option<u16>,
        spool_dir: PathBuf,
        tokens: std::collections::HashMap<String, Option<String>>,
        max_body_bytes: usize,
        max_decompressed_bytes: usize,
        max_pending_files: u64,
        body_timeout_s: f64,
    ) -> PyResult<Self> {
        use crate::server::{Auth, Config, Limits, Server};
        let body_timeout =
            std::time::Duration::try_from_secs_f64(body_timeout_s).ok().filter(|d| !d.is_zero()).ok_or_else(
                || PyValueError::new_err(format!("body_timeout_s must be > 0, not {body_timeout_s}")),
            )?;
        let config = Config {
            host,
            http_port: port,
            grpc_port,
            spool_dir,
            auth: Auth::new(tokens),
            limits: Limits {
                max_body_bytes,
                max_decompressed_bytes,
                max_pending_files,
                body_timeout,
                ..Limits::default()
            },
        };
        let server = py.detach(|| Server::start(config)).map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(OtlpServer { server: Some(server) })
    }

    #[getter]
    fn http_port(&self) -> Option<u16> {
        self.server.as_ref().map(|s| s.http_addr.port())
    }

    #[getter]
    fn grpc_port(&self) -> Option<u16> {
        self.server.as_ref().and_then(|s| s.grpc_addr.map(|a| a.port()))
    }

    /// Requests made durable so far, spool files written, files waiting.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        use std::sync::atomic::Ordering::Relaxed;
        let out = PyDict::new(py);
        if let Some(server) = &self.server {
            out.set_item("requests", server.stats.requests.load(Relaxed))?;
            out.set_item("files", server.stats.files.load(Relaxed))?;
            out.set_item("bytes", server.stats.bytes.load(Relaxed))?;
            out.set_item("pending_files", server.pending_files())?;
        }
        Ok(out)
    }

    /// Stop accepting, finish requests in flight, write out everything accepted.
    fn stop(&mut self, py: Python<'_>) {
        if let Some(mut server) = self.server.take() {
            py.detach(move || server.stop());
        }
    }
}

/// OTLP request bodies, each `(path, content_type, body, account_id,
/// received_at_ns)`, and the payloads of spool segments (`segments`, split
/// into their requests here: rust/server/spool.rs), decoded and converted.
/// Returns a dict of Arrow tables (`points`, `otel_events`, `spans`,
/// `events`, `raws`), `stats`, `failed`: `(index, message)` for each body of
/// `parts` that could not be decoded, `segment_failed`: `(segment index,
/// request index, message)` likewise, and `torn`: `(segment index, bytes)`
/// for each segment whose last request was cut off (never acknowledged).
#[pyfunction]
#[pyo3(signature = (parts, *, keep_content = false, segments = Vec::new()))]
fn otlp_convert<'py>(
    py: Python<'py>,
    parts: Vec<OtlpPart>,
    keep_content: bool,
    segments: Vec<Bound<'py, pyo3::types::PyBytes>>,
) -> PyResult<Bound<'py, PyDict>> {
    use crate::otlp::arrow::{otel_events_batch, points_batch, spans_batch};
    use crate::otlp::convert::{Converted, Origin};
    use crate::otlp::{decode, Encoding, Signal};
    use crate::server::spool::read_frames;
    let received_at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
    let payloads: Vec<&[u8]> = segments.iter().map(|segment| segment.as_bytes()).collect();
    let (converted, failed, segment_failed, torn, batches) = py.detach(|| {
        let mut converted = Converted::default();
        let mut add = |path: &str,
                       content_type: &str,
                       body: &[u8],
                       account_id: &Option<String>,
                       received_at_ns: u64| {
            let signal = Signal::from_path(path)
                .or_else(|| crate::otlp::json::sniff_signal(body))
                .ok_or_else(|| format!("unknown OTLP path {path:?}"))?;
            let encoding = Encoding::from_content_type(content_type)
                .ok_or_else(|| format!("unknown content type {content_type:?}"))?;
            let request = decode(signal, encoding, body).map_err(|e| e.to_string())?;
            converted.add(&request, &Origin { account_id: account_id.clone(), received_at_ns, keep_content });
            Ok::<(), String>(())
        };
        let mut failed = Vec::new();
        for (index, (path, content_type, body, account_id, received_at_ns)) in parts.iter().enumerate() {
            if let Err(message) = add(path, content_type, body, account_id, *received_at_ns) {
                failed.push((index, message));
            }
        }
        let mut segment_failed = Vec::new();
        let mut torn = Vec::new();
        for (segment, payload) in payloads.iter().enumerate() {
            let (frames, cut) = read_frames(payload);
            if cut > 0 {
                torn.push((segment, cut));
            }
            for (index, frame) in frames.iter().enumerate() {
                let added = add(
                    &frame.path,
                    &frame.content_type,
                    frame.body,
                    &frame.account_id,
                    frame.received_at_ns,
                );
                if let Err(message) = added {
                    segment_failed.push((segment, index, message));
                }
            }
        }
        let batches = (|| {
            Ok::<_, arrow_schema::ArrowError>([
                points_batch(&converted.points, received_at_us)?,
                otel_events_batch(&converted.events, received_at_us)?,
                spans_batch(&converted.spans, received_at_us)?,
                events_batch(&converted.usage)?,
                raws_batch(&converted.raws, received_at_us)?,
            ])
        })();
        (converted, failed, segment_failed, torn, batches)
    });
    let [points, otel_events, spans, events, raws] =
        batches.map_err(|e| PyValueError::new_err(e.to_string()))?;
    let out = PyDict::new(py);
    out.set_item("points", table(points)?)?;
    out.set_item("otel_events", table(otel_events)?)?;
    out.set_item("spans", table(spans)?)?;
    out.set_item("events", table(events)?)?;
    out.set_item("raws", table(raws)?)?;
    let stats = PyDict::new(py);
    let s = &converted.stats;
    for (name, value) in [
        ("points", s.points),
        ("log_records", s.log_records),
        ("spans_kept", s.spans_kept),
        ("spans_dropped", s.spans_dropped),
        ("points_without_value", s.points_without_value),
        ("rejected_points", s.rejected_points),
        ("rejected_log_records", s.rejected_log_records),
        ("rejected_spans", s.rejected_spans),
    ] {
        stats.set_item(name, value)?;
    }
    out.set_item("stats", stats)?;
    out.set_item("failed", failed)?;
    out.set_item("segment_failed", segment_failed)?;
    out.set_item("torn", torn)?;
    Ok(out)
}

/// The requests of a spool segment's payload (rust/server/spool.rs), each
/// `(path, content_type, body, account_id, received_at_ns)`, and the length
/// of a torn last one (0 when there is none).
#[pyfunction]
fn otlp_frames<'py>(py: Python<'py>, payload: &[u8]) -> (Vec<OtlpFrame<'py>>, usize) {
    let (frames, torn) = crate::server::spool::read_frames(payload);
    let frames = frames
        .into_iter()
        .map(|f| {
            (f.path, f.content_type, pyo3::types::PyBytes::new(py, f.body), f.account_id, f.received_at_ns)
        })
        .collect();
    (frames, torn)
}

/// Reads OpenCode's storage in batches (see `opencode::Reader`).
#[pyclass(module = "usagecore._core")]
struct OpenCodeReader {
    // A database connection may move between threads but not be shared.
    inner: std::sync::Mutex<crate::opencode::Reader>,
}

#[pymethods]
impl OpenCodeReader {
    /// `databases`: `(path, since)`, the cursor's offset (the largest
    /// `time_updated` in ms read before, 0 for everything); `storages`:
    /// `(path, state)`, the legacy tree's cursor state (None: read it all).
    #[new]
    fn new(databases: Vec<(String, i64)>, storages: Vec<(String, Option<String>)>) -> Self {
        OpenCodeReader { inner: std::sync::Mutex::new(crate::opencode::Reader::new(databases, storages)) }
    }

    /// The next batch of about `max_bytes` of messages, or None when all is
    /// read: a dict with `events` and `raws` (Arrow tables), `repeats` (an
    /// event of an earlier batch comes again), `stats`, `problems`.
    fn read<'py>(&mut self, py: Python<'py>, max_bytes: u64) -> PyResult<Option<Bound<'py, PyDict>>> {
        let received_at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        let inner = &self.inner;
        let Some((mut step, batches)) = py.detach(|| {
            // Poisoned only by a panic in an earlier read, whose state is still usable.
            let step = inner.lock().unwrap_or_else(|e| e.into_inner()).next(max_bytes)?;
            let batches = events_batch(&step.deduped.events)
                .and_then(|events| Ok([events, raws_batch(&step.deduped.raws, received_at_us)?]));
            Some((step, batches))
        }) else {
            return Ok(None);
        };
        let duplicates = step.deduped.duplicate_records;
        drop_later(std::mem::take(&mut step.deduped));
        let [events, raws] = batches.map_err(|e| PyValueError::new_err(e.to_string()))?;
        let out = PyDict::new(py);
        out.set_item("events", table(events)?)?;
        out.set_item("raws", table(raws)?)?;
        out.set_item("repeats", step.repeats)?;
        let stats = PyDict::new(py);
        for (name, value) in [
            ("files", step.files),
            ("bytes", step.bytes),
            ("lines", step.rows),
            ("usage_lines", step.usage),
            ("skipped_lines", step.problems.len() as u64),
            ("duplicate_records", duplicates),
        ] {
            stats.set_item(name, value)?;
        }
        out.set_item("stats", stats)?;
        out.set_item("problems", problems_list(step.problems))?;
        Ok(Some(out))
    }

    /// The cursors of the databases and trees read to the end (Arrow table).
    fn cursors(&self) -> PyResult<PyTable> {
        let reader = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let batch = cursors_batch(&reader.cursors).map_err(|e| PyValueError::new_err(e.to_string()))?;
        table(batch)
    }
}

/// Spooled payloads as `(spool name, received_at_ns, account_id, body)`,
/// decoded by `decode` into a dict with `events` and `raws` (Arrow tables),
/// `transcripts` (`(path, account_id)`: Claude transcripts to read through
/// their cursors), `threads` (`(thread id, account_id)`: Codex rollouts to
/// read) and `rejected` (`(spool name, why)`).
fn decode_spooled<'py>(
    py: Python<'py>,
    payloads: Vec<(String, i64, Option<String>, Vec<u8>)>,
    decode: fn(&[Spooled]) -> crate::hooks::HookBatch,
) -> PyResult<Bound<'py, PyDict>> {
    let payloads: Vec<Spooled> = payloads
        .into_iter()
        .map(|(name, received_at_ns, account_id, body)| Spooled { name, received_at_ns, account_id, body })
        .collect();
    let received_at_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
    let (batch, tables) = py.detach(|| {
        let batch = decode(&payloads);
        let tables =
            events_batch(&batch.events).and_then(|e| Ok((e, raws_batch(&batch.raws, received_at_us)?)));
        (batch, tables)
    });
    let (events, raws) = tables.map_err(|e| PyValueError::new_err(e.to_string()))?;
    let out = PyDict::new(py);
    out.set_item("events", table(events)?)?;
    out.set_item("raws", table(raws)?)?;
    out.set_item("transcripts", batch.transcripts)?;
    out.set_item("threads", batch.threads)?;
    out.set_item("rejected", batch.rejected)?;
    Ok(out)
}

/// Decode spooled Claude Code hook payloads (see `decode_spooled`).
#[pyfunction]
fn decode_claude_hooks<'py>(
    py: Python<'py>,
    payloads: Vec<(String, i64, Option<String>, Vec<u8>)>,
) -> PyResult<Bound<'py, PyDict>> {
    decode_spooled(py, payloads, crate::hooks::claude::decode)
}

/// Decode spooled Codex `notify` payloads (see `decode_spooled`).
#[pyfunction]
fn decode_codex_notify<'py>(
    py: Python<'py>,
    payloads: Vec<(String, i64, Option<String>, Vec<u8>)>,
) -> PyResult<Bound<'py, PyDict>> {
    decode_spooled(py, payloads, crate::hooks::codex::decode)
}

/// Decode spooled payloads of usagecore's OpenCode plugin (see `decode_spooled`).
#[pyfunction]
fn decode_opencode_plugin<'py>(
    py: Python<'py>,
    payloads: Vec<(String, i64, Option<String>, Vec<u8>)>,
) -> PyResult<Bound<'py, PyDict>> {
    decode_spooled(py, payloads, crate::hooks::opencode::decode)
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
    m.add_function(wrap_pyfunction!(fingerprint, m)?)?;
    m.add_class::<Reader>()?;
    m.add_function(wrap_pyfunction!(decode_claude_hooks, m)?)?;
    m.add_function(wrap_pyfunction!(decode_codex_notify, m)?)?;
    m.add_function(wrap_pyfunction!(decode_opencode_plugin, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_model, m)?)?;
    m.add_class::<OpenCodeReader>()?;
    m.add_function(wrap_pyfunction!(model_ref, m)?)?;
    m.add_class::<OtlpServer>()?;
    m.add_function(wrap_pyfunction!(otlp_convert, m)?)?;
    m.add_function(wrap_pyfunction!(otlp_frames, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
