//! Reading JSONL files incrementally and in parallel.
//!
//! Each file has a cursor: how far it was read (complete lines only) and two
//! fingerprints (its first bytes and the bytes just before the cursor). A file
//! whose fingerprints still match is read from the cursor on; one that shrank
//! or changed is read again from the start, which is safe because events are
//! identified by stable ids. Files are cut into units of a few megabytes;
//! each unit decodes the lines that start in it, on all cores. A format whose
//! lines depend on earlier ones (`LineFormat::IN_ORDER`) reads each file as
//! one unit instead, and its decoder state is kept in the cursor.
//!
//! `*.jsonl.zst` files (compressed, finished Codex rollouts) are read whole:
//! they do not grow, so their cursor only says whether they were read.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use memchr::memmem::Finder;
use rayon::prelude::*;

use super::{Decoded, LineFormat, Problem, Source};
use crate::dedup::Collector;
use crate::event::RawRecord;
use crate::ids::fingerprint;

/// Bytes hashed at each end of the already-read region.
const FINGERPRINT_LEN: u64 = 4096;
/// Files are read and decoded in units of about this many bytes.
const UNIT_LEN: u64 = 4 << 20;
/// Bytes read per system call. Reading the page cache in larger steps took
/// several times the kernel time per byte here (315 MB of rollouts: 0.05 s in
/// 64 KiB steps, 0.2 s in whole files), and the lines are decoded while
/// they are still in the CPU's cache.
const READ_LEN: usize = 64 << 10;
/// Problems described in detail per call; the rest are only counted.
const MAX_PROBLEMS: usize = 50;

/// A file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
}

/// How far a file has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub path: String,
    /// End of the last complete line read.
    pub offset: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub head_hash: u64,
    pub tail_hash: u64,
    /// The decoder's state at `offset` (JSON), for formats that have one.
    pub state: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub lines: u64,
    pub usage_lines: u64,
    pub synthetic_lines: u64,
    pub skipped_lines: u64,
    /// Files that shrank or changed before the cursor and were read again.
    pub reread_files: u64,
    /// Files read from the start that turned out not to be in the format
    /// (e.g. legacy layouts without usage): skipped, not an error.
    pub skipped_files: u64,
    /// Files that could not be read (no cursor moved): the next run tries again.
    pub unreadable_files: u64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.lines += other.lines;
        self.usage_lines += other.usage_lines;
        self.synthetic_lines += other.synthetic_lines;
        self.skipped_lines += other.skipped_lines;
        self.reread_files += other.reread_files;
        self.skipped_files += other.skipped_files;
        self.unreadable_files += other.unreadable_files;
    }
}

/// What one read produced besides events, which stay in the collector.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// Raw records new to the collector.
    pub raws: Vec<RawRecord>,
    pub cursors: Vec<Cursor>,
    pub stats: Stats,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
}

/// All `*.jsonl` and `*.jsonl.zst` files under `roots` (files given directly
/// are taken as they are); a compressed file whose plain sibling exists is
/// left out. Missing roots are skipped; unreadable folders become problems.
pub fn discover(roots: &[PathBuf]) -> (Vec<FileInfo>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for root in roots {
        walk(root, &mut files, &mut problems, 0);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    let plain: std::collections::HashSet<String> =
        files.iter().filter(|f| !is_compressed(&f.path)).map(|f| f.path.clone()).collect();
    files.retain(|f| {
        !f.path.strip_suffix(".zst").is_some_and(|p| is_compressed(&f.path) && plain.contains(p))
    });
    (files, problems)
}

/// A zstd-compressed file (`*.jsonl.zst`).
pub fn is_compressed(path: &str) -> bool {
    path.ends_with(".zst")
}

fn walk(path: &Path, files: &mut Vec<FileInfo>, problems: &mut Vec<Problem>, depth: u32) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_file() {
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        if name.ends_with(".jsonl") || name.ends_with(".jsonl.zst") || depth == 0 {
            files.push(FileInfo {
                path: path.to_string_lossy().into_owned(),
                size: meta.len(),
                mtime_ns: mtime_ns(&meta),
            });
        }
        return;
    }
    // Claude nests at most <project>/<session>/subagents/workflows/<id>; a
    // generous limit guards against symlink loops.
    if !meta.is_dir() || depth > 16 {
        return;
    }
    match std::fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries.flatten() {
                walk(&entry.path(), files, problems, depth + 1);
            }
        }
        Err(err) => problems.push(Problem {
            path: path.to_string_lossy().into_owned(),
            offset: 0,
            message: format!("cannot list folder: {err}"),
        }),
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i64)
}

fn read_range(file: &mut File, start: u64, len: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Read buffers are reused across units: a fresh one costs page faults, and
/// a compressed rollout (decompressed whole) needs a large one.
static BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn take_buffer() -> Vec<u8> {
    let mut buf = BUFFERS.lock().map(|mut pool| pool.pop()).ok().flatten().unwrap_or_default();
    buf.clear();
    buf
}

fn give_back(buf: Vec<u8>) {
    if let Ok(mut pool) = BUFFERS.lock() {
        pool.push(buf);
    }
}

fn head_hash(file: &mut File, offset: u64) -> io::Result<u64> {
    Ok(fingerprint(&read_range(file, 0, offset.min(FINGERPRINT_LEN))?))
}

fn tail_hash(file: &mut File, offset: u64) -> io::Result<u64> {
    let len = offset.min(FINGERPRINT_LEN);
    Ok(fingerprint(&read_range(file, offset - len, len)?))
}

/// Where to resume reading: the cursor if the bytes before it are unchanged, else 0.
/// A compressed file is read whole or not at all.
fn resume_offset(
    file: &mut File,
    size: u64,
    cursor: Option<&Cursor>,
    compressed: bool,
) -> io::Result<(u64, bool)> {
    let Some(cursor) = cursor else {
        return Ok((0, false));
    };
    if cursor.offset == 0 {
        return Ok((0, false));
    }
    let intact = cursor.offset <= size
        && (!compressed || cursor.offset == size)
        && head_hash(file, cursor.offset)? == cursor.head_hash
        && tail_hash(file, cursor.offset)? == cursor.tail_hash;
    Ok(if intact { (cursor.offset, false) } else { (0, true) })
}

/// Counts and problems of a read.
#[derive(Default)]
struct Report {
    stats: Stats,
    problems: Vec<Problem>,
    problem_count: u64,
}

impl Report {
    fn problem(&mut self, path: &str, offset: u64, message: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem { path: path.to_owned(), offset, message });
        }
    }

    fn unreadable(&mut self, path: &str, offset: u64, err: impl std::fmt::Display) {
        self.stats.unreadable_files += 1;
        self.problem(path, offset, format!("cannot read file: {err}"));
    }

    fn add(&mut self, other: Report) {
        self.stats.add(&other.stats);
        self.problem_count += other.problem_count;
        let room = MAX_PROBLEMS.saturating_sub(self.problems.len());
        self.problems.extend(other.problems.into_iter().take(room));
    }
}

/// How lines are decoded, the same for every unit of a read.
struct How<'a> {
    keep_content: bool,
    /// Find the pre-filter's needles.
    finders: Vec<Finder<'a>>,
    /// What earlier reads collected: raw records it has need no payload.
    seen: &'a Collector,
}

/// What decoding the lines of one unit produced.
#[derive(Default)]
struct Decoding {
    collector: Collector,
    report: Report,
}

impl Decoding {
    /// Decode one line that starts at byte `offset` of `path`; `unterminated`
    /// when it is the file's last line and has no newline yet.
    fn line<F: LineFormat>(
        &mut self,
        path: &str,
        offset: u64,
        line: &[u8],
        how: &How,
        state: &mut F::State,
        unterminated: bool,
    ) {
        let line = trim(line);
        if line.is_empty() {
            return;
        }
        let report = &mut self.report;
        report.stats.lines += 1;
        let incomplete = || {
            if unterminated {
                "last line has no newline (still being written, or cut off by a crash): skipped for now, read again next time".into()
            } else {
                "not a complete JSON object (truncated line?)".into()
            }
        };
        if !F::may_matter(line, || how.finders.iter().any(|finder| finder.find(line).is_some())) {
            // Not worth a parse; a cut-off or garbage line still gets noticed.
            if line[0] != b'{' || line[line.len() - 1] != b'}' {
                report.stats.skipped_lines += 1;
                report.problem(path, offset, incomplete());
            }
            return;
        }
        let source = Source { path, offset, keep_content: how.keep_content };
        let collector = &mut self.collector;
        match F::decode(line, &source, state, |id| how.seen.wants_raw(id) && collector.wants_raw(id)) {
            Ok(Decoded::Usage(pair)) => {
                report.stats.usage_lines += 1;
                let (event, raw) = *pair;
                collector.add(event, raw);
            }
            Ok(Decoded::Synthetic) => report.stats.synthetic_lines += 1,
            Ok(Decoded::Irrelevant) => {}
            Err(err) => {
                report.stats.skipped_lines += 1;
                let message = if unterminated { incomplete() } else { err.to_string() };
                report.problem(path, offset, message);
            }
        }
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &line[start..end]
}

/// A file to read, from `start` (its cursor, or 0) to `size`.
struct Plan {
    path: String,
    start: u64,
    size: u64,
    reread: bool,
    compressed: bool,
    /// The decoder's state at `start` (JSON; None at the start of a file).
    state: Option<String>,
}

/// One unit of parallel work: the lines of a file that *start* in `[from, to)`.
struct Unit {
    file: usize,
    from: u64,
    to: u64,
}

fn plan_file(file: &FileInfo, cursor: Option<&Cursor>) -> io::Result<Plan> {
    let mut handle = File::open(&file.path)?;
    // The size may have changed since discovery; read what is there now.
    let size = handle.metadata()?.len();
    let compressed = is_compressed(&file.path);
    let (start, reread) = resume_offset(&mut handle, size, cursor, compressed)?;
    let state = if start > 0 { cursor.and_then(|c| c.state.clone()) } else { None };
    Ok(Plan { path: file.path.clone(), start, size, reread, compressed, state })
}

/// What one unit leaves for its file's cursor.
struct UnitEnd {
    /// Just after the last newline-terminated line decoded, if any.
    consumed_to: Option<u64>,
    /// The decoder's state there (in-order formats only).
    state: Option<String>,
    /// Read from the start, and not in the format after all.
    unrecognized: bool,
}

/// The decoder state a plan starts with; one that does not parse (written by
/// an older build) starts afresh rather than failing the file.
fn initial_state<F: LineFormat>(plan: &Plan) -> F::State {
    plan.state.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()
}

/// A whole compressed file, decompressed.
fn decompress(path: &str, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut decoder = zstd::stream::read::Decoder::new(File::open(path)?)?;
    decoder.read_to_end(buf)?;
    Ok(())
}

/// Read and decode one unit; also returns the position just after the last
/// newline-terminated line it decoded. Reading starts one byte early to learn
/// whether `from` begins a line, and goes past `to` to finish the last line.
///
/// The unit is read in steps of READ_LEN into one small buffer, each step's
/// lines decoded before the next is read; only a line longer than a step
/// makes the buffer grow.
fn read_unit<F: LineFormat>(plan: &Plan, unit: &Unit, how: &How) -> io::Result<(Decoding, UnitEnd)> {
    if plan.compressed {
        return read_compressed::<F>(plan, how);
    }
    let mut out = Decoding::default();
    let mut state = initial_state::<F>(plan);
    let mut handle = File::open(&plan.path)?;
    let base = unit.from.saturating_sub(1).max(plan.start);
    handle.seek(SeekFrom::Start(base))?;
    // Never past the size planned: what was appended since is for the next run.
    let mut left = plan.size - base;
    let mut buf = take_buffer();
    // buf[..filled] holds the file from `buf_at` on; lines start from buf[pos].
    let (mut buf_at, mut filled, mut pos) = (base, 0usize, 0usize);
    // buf[pos..searched] has no newline: the next search starts after it.
    let mut searched = 0usize;
    // A unit that does not start the file begins inside a line of the previous one.
    let mut skipping = unit.from != plan.start;
    let mut consumed_to = None;
    let mut kept_state = None;
    loop {
        // Keep the unfinished line (moved once: until it ends, `pos` stays 0),
        // and make room for the next step.
        if pos > 0 {
            buf.copy_within(pos..filled, 0);
            buf_at += pos as u64;
            (filled, searched, pos) = (filled - pos, searched.saturating_sub(pos), 0);
        }
        if buf.len() < filled + READ_LEN {
            buf.resize(filled + READ_LEN, 0);
        }
        let want = READ_LEN.min(usize::try_from(left).unwrap_or(READ_LEN));
        let got = if want == 0 { 0 } else { read_some(&mut handle, &mut buf[filled..filled + want])? };
        filled += got;
        left -= got as u64;
        let at_end = got == 0;
        while pos < filled && buf_at + (pos as u64) < unit.to {
            let Some(len) = memchr::memchr(b'\n', &buf[searched.max(pos)..filled]) else {
                if !at_end {
                    searched = filled;
                    break;
                }
                if skipping {
                    pos = filled;
                    break;
                }
                // A last line without its newline may still be being written:
                // take its usage if it already parses, but leave the cursor
                // (and the state it carries) before it so the next read sees
                // the finished line (the merge makes the second sighting harmless).
                if F::IN_ORDER {
                    kept_state = Some(state.clone());
                }
                out.line::<F>(&plan.path, buf_at + pos as u64, &buf[pos..filled], how, &mut state, true);
                pos = filled;
                break;
            };
            let end = searched.max(pos) + len;
            if skipping {
                skipping = false;
            } else {
                out.line::<F>(&plan.path, buf_at + pos as u64, &buf[pos..end], how, &mut state, false);
                consumed_to = Some(buf_at + end as u64 + 1);
            }
            pos = end + 1;
        }
        if at_end || buf_at + (pos as u64) >= unit.to {
            break;
        }
    }
    out.report.stats.bytes = unit.to - unit.from;
    give_back(buf);
    let state = kept_state.unwrap_or(state);
    let unrecognized = F::IN_ORDER && plan.start == 0 && !F::recognized(&state);
    let state = if F::IN_ORDER { serde_json::to_string(&state).ok() } else { None };
    Ok((out, UnitEnd { consumed_to, state, unrecognized }))
}

/// One `read`, retried if a signal interrupts it.
fn read_some(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// Read a compressed file whole. Offsets in problems are offsets in the
/// decompressed text; the cursor covers the whole compressed file.
fn read_compressed<F: LineFormat>(plan: &Plan, how: &How) -> io::Result<(Decoding, UnitEnd)> {
    let mut out = Decoding::default();
    let mut state = F::State::default();
    let mut buf = take_buffer();
    if let Err(err) = decompress(&plan.path, &mut buf) {
        give_back(buf);
        return Err(io::Error::new(err.kind(), format!("does not decompress (zstd): {err}")));
    }
    let mut pos = 0;
    while pos < buf.len() {
        let len = memchr::memchr(b'\n', &buf[pos..]).unwrap_or(buf.len() - pos);
        out.line::<F>(&plan.path, pos as u64, &buf[pos..pos + len], how, &mut state, false);
        pos += len + 1;
    }
    out.report.stats.bytes = plan.size;
    give_back(buf);
    let unrecognized = !F::recognized(&state);
    let state = if F::IN_ORDER { serde_json::to_string(&state).ok() } else { None };
    Ok((out, UnitEnd { consumed_to: Some(plan.size), state, unrecognized }))
}

fn final_cursor(plan: &Plan, offset: u64, state: Option<String>) -> io::Result<Cursor> {
    let mut handle = File::open(&plan.path)?;
    Ok(Cursor {
        path: plan.path.clone(),
        offset,
        size: plan.size,
        mtime_ns: mtime_ns(&handle.metadata()?),
        head_hash: head_hash(&mut handle, offset)?,
        tail_hash: tail_hash(&mut handle, offset)?,
        state,
    })
}

/// Read `files` (each with its cursor, if any) into `collector`, which
/// de-duplicates across everything it has seen.
///
/// Files are cut into units of about `UNIT_LEN` bytes so that one large file
/// keeps every core busy; each unit reads into a small reused buffer.
pub fn read_files<F: LineFormat>(
    files: &[(FileInfo, Option<Cursor>)],
    keep_content: bool,
    collector: &mut Collector,
) -> ReadResult {
    let mut all = Report::default();
    let planned: Vec<io::Result<Plan>> = files.par_iter().map(|(f, c)| plan_file(f, c.as_ref())).collect();
    let mut plans = Vec::with_capacity(files.len());
    for (result, (file, _)) in planned.into_iter().zip(files) {
        match result {
            Ok(plan) => plans.push(plan),
            Err(err) => all.unreadable(&file.path, 0, err),
        }
    }
    let mut units = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        let mut from = plan.start;
        while from < plan.size {
            let whole = F::IN_ORDER || plan.compressed;
            let to = if whole { plan.size } else { (from + UNIT_LEN).min(plan.size) };
            units.push(Unit { file: index, from, to });
            from = to;
        }
    }
    // In-order files are one unit each: the largest first, so that one big
    // file does not start last and leave the other cores idle.
    if F::IN_ORDER {
        units.sort_by_key(|u| std::cmp::Reverse(u.to - u.from));
    }

    let finders = F::NEEDLES.iter().map(Finder::new).collect();
    let how = How { keep_content, finders, seen: collector };
    let (ends, decoded): (Vec<io::Result<UnitEnd>>, Vec<Decoding>) = units
        .par_iter()
        .map(|unit| match read_unit::<F>(&plans[unit.file], unit, &how) {
            Ok((decoding, end)) => (Ok(end), decoding),
            Err(err) => (Err(err), Decoding::default()),
        })
        .unzip();
    // Absorbed in the order of units, so which copy of a repeated record is
    // stored does not depend on thread timing.
    let mut collectors = Vec::with_capacity(decoded.len());
    for decoding in decoded {
        collectors.push(decoding.collector);
        all.add(decoding.report);
    }
    collector.absorb_all(collectors);

    // Per file: how far complete lines were read (and the decoder's state
    // there), or None if a unit failed.
    let mut consumed: Vec<Option<(u64, Option<String>)>> =
        plans.iter().map(|p| Some((p.start, p.state.clone()))).collect();
    for (unit, end) in units.iter().zip(ends) {
        match end {
            Ok(end) => {
                all.stats.skipped_files += u64::from(end.unrecognized);
                if let (Some(done), Some(to)) = (consumed[unit.file].as_mut(), end.consumed_to) {
                    if to > done.0 {
                        *done = (to, end.state);
                    }
                }
            }
            Err(err) => {
                all.unreadable(&plans[unit.file].path, unit.from, err);
                consumed[unit.file] = None;
            }
        }
    }

    let finals: Vec<(&Plan, u64, io::Result<Cursor>)> = plans
        .par_iter()
        .zip(consumed)
        .filter_map(|(plan, done)| {
            done.map(|(offset, state)| (plan, offset, final_cursor(plan, offset, state)))
        })
        .collect();
    let mut cursors = Vec::with_capacity(finals.len());
    for (plan, offset, cursor) in finals {
        all.stats.files += 1;
        all.stats.reread_files += u64::from(plan.reread);
        match cursor {
            Ok(cursor) => cursors.push(cursor),
            Err(err) => all.unreadable(&plan.path, offset, err),
        }
    }

    ReadResult {
        raws: collector.take_raws(),
        cursors,
        stats: all.stats,
        problems: all.problems,
        problem_count: all.problem_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::claude::ClaudeTranscript;
    use std::io::Write;

    const A1: &str = r#"{"type":"assistant","uuid":"a","sessionId":"s","timestamp":"2026-01-01T00:00:01Z","requestId":"r1","message":{"id":"m1","model":"claude-opus-4-6","usage":{"input_tokens":3,"output_tokens":10}}}"#;
    const A2: &str = r#"{"type":"assistant","uuid":"b","sessionId":"s","timestamp":"2026-01-01T00:00:02Z","requestId":"r1","message":{"id":"m1","model":"claude-opus-4-6","usage":{"input_tokens":3,"output_tokens":441}}}"#;
    const B1: &str = r#"{"type":"assistant","uuid":"c","sessionId":"s","timestamp":"2026-01-01T00:01:00Z","requestId":"r2","message":{"id":"m2","model":"claude-opus-4-6","usage":{"input_tokens":5,"output_tokens":7}}}"#;

    fn info(path: &Path) -> FileInfo {
        let (files, _) = discover(&[path.to_path_buf()]);
        files.into_iter().next().unwrap()
    }

    fn read(path: &Path, cursor: Option<Cursor>) -> (ReadResult, Vec<crate::event::UsageEvent>) {
        let mut collector = Collector::default();
        let result = read_files::<ClaudeTranscript>(&[(info(path), cursor)], false, &mut collector);
        (result, collector.finish().events)
    }

    #[test]
    fn partial_last_line_is_not_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut f = File::create(&path).unwrap();
        write!(f, "{A1}\n{}", &A2[..50]).unwrap();
        let (first, events) = read(&path, None);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].tokens.output, 10);
        assert_eq!(first.stats.skipped_lines, 1, "skipped for now");
        assert!(first.problems[0].message.contains("no newline"));
        let cursor = first.cursors[0].clone();
        assert_eq!(cursor.offset, A1.len() as u64 + 1);

        write!(f, "{}\n{B1}\n", &A2[50..]).unwrap();
        let (second, events) = read(&path, Some(cursor));
        assert_eq!(second.stats.reread_files, 0);
        assert_eq!(second.stats.lines, 2);
        let outputs: Vec<u64> = events.iter().map(|e| e.tokens.output).collect();
        assert_eq!(outputs, [441, 7]);
    }

    #[test]
    fn rewritten_and_truncated_files_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(&path, format!("{A1}\n{B1}\n")).unwrap();
        let cursor = read(&path, None).0.cursors[0].clone();

        std::fs::write(&path, format!("{A1}\n")).unwrap();
        let (truncated, events) = read(&path, Some(cursor.clone()));
        assert_eq!((truncated.stats.reread_files, events.len()), (1, 1));

        std::fs::write(&path, format!("{A2}\n{B1}\n")).unwrap();
        let (rewritten, events) = read(&path, Some(cursor));
        assert_eq!((rewritten.stats.reread_files, events.len()), (1, 2));
    }

    #[test]
    fn malformed_lines_are_counted_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let cut = &A2[..120];
        std::fs::write(
            &path,
            format!(
                "{A1}\n{cut}\nnot json\n{{\"type\":\"assistant\",\"message\":{{\"usage\":5}}}}\n\n{B1}\n"
            ),
        )
        .unwrap();
        let (out, events) = read(&path, None);
        assert_eq!(events.len(), 2);
        assert_eq!(out.stats.skipped_lines, 3);
        assert_eq!(out.problems.len(), 3);
        assert_eq!(out.problems[0].offset, A1.len() as u64 + 1);
    }

    #[test]
    fn units_split_lines_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let mut body = String::new();
        let mut n = 0;
        while body.len() < 3 * UNIT_LEN as usize + 12_345 {
            n += 1;
            body.push_str(&B1.replace("r2", &format!("r{n}")).replace("m2", &format!("m{n}")));
            body.push('\n');
            body.push_str(&"x".repeat(n % 7000)); // lines of every length, some straddling units
            body.push('\n');
        }
        std::fs::write(&path, &body).unwrap();
        let (out, events) = read(&path, None);
        assert_eq!(events.len(), n);
        assert_eq!(out.stats.lines, 2 * n as u64);
        assert_eq!(out.cursors[0].offset, body.len() as u64);
    }

    #[test]
    fn lines_longer_than_a_read_are_decoded_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.jsonl");
        let mut body = String::new();
        let mut n = 0;
        // Lines of 1 to 3 reads, some across unit boundaries.
        while body.len() < 2 * UNIT_LEN as usize + 7_777 {
            n += 1;
            let pad = "p".repeat(READ_LEN - 300 + (n * 40_009) % (2 * READ_LEN));
            let line = B1.replace("r2", &format!("r{n}")).replace("m2", &format!("m{n}"));
            body.push_str(&line.replacen('{', &format!("{{\"pad\":\"{pad}\","), 1));
            body.push('\n');
        }
        let complete = body.len() as u64;
        body.push_str(&format!("{{\"pad\":\"{}", "q".repeat(3 * READ_LEN))); // cut off
        std::fs::write(&path, &body).unwrap();
        let (out, events) = read(&path, None);
        assert_eq!(events.len(), n);
        assert_eq!(out.stats.lines, n as u64 + 1);
        assert_eq!(out.stats.skipped_lines, 1);
        assert_eq!(out.cursors[0].offset, complete);
    }
}
