//! Reading JSONL files incrementally and in parallel.
//!
//! Each file has a cursor: how far it was read (complete lines only) and two
//! fingerprints (its first bytes and the bytes just before the cursor). A file
//! whose fingerprints still match is read from the cursor on; one that shrank
//! or changed is read again from the start, which is safe because events are
//! identified by stable ids. Large reads are cut into chunks at line
//! boundaries and decoded on all cores.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use memchr::memmem::Finder;
use rayon::prelude::*;

use super::claude::{decode_line, Decoded, USAGE_NEEDLE};
use super::Problem;
use crate::dedup::{dedup, Deduped};
use crate::event::{RawRecord, UsageEvent};
use crate::ids::fingerprint;

/// Bytes hashed at each end of the already-read region.
const FINGERPRINT_LEN: u64 = 4096;
/// Decoding work is split into chunks of about this size.
const CHUNK_LEN: usize = 1 << 21;
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
    }
}

/// Everything one read produced.
#[derive(Debug, Default)]
pub struct ReadResult {
    pub events: Vec<UsageEvent>,
    pub raws: Vec<RawRecord>,
    pub cursors: Vec<Cursor>,
    pub stats: Stats,
    pub duplicate_records: u64,
    pub sidechain_replays: u64,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
}

/// All `*.jsonl` files under `roots` (files given directly are taken as they are).
/// Missing roots are skipped; unreadable folders become problems.
pub fn discover(roots: &[PathBuf]) -> (Vec<FileInfo>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for root in roots {
        walk(root, &mut files, &mut problems, 0);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    (files, problems)
}

fn walk(path: &Path, files: &mut Vec<FileInfo>, problems: &mut Vec<Problem>, depth: u32) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    if meta.is_file() {
        if path.extension().is_some_and(|e| e == "jsonl") || depth == 0 {
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
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Whether a file needs reading at all: new, or changed since its cursor.
pub fn is_unchanged(file: &FileInfo, cursor: &Cursor) -> bool {
    file.size == cursor.size && file.mtime_ns == cursor.mtime_ns
}

fn read_range(file: &mut File, start: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_range_into(file, start, len, &mut buf)?;
    Ok(buf)
}

fn read_range_into(file: &mut File, start: u64, len: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    file.seek(SeekFrom::Start(start))?;
    buf.clear();
    buf.reserve(len as usize);
    file.take(len).read_to_end(buf)?;
    Ok(())
}

/// Read buffers are reused across files: fresh multi-megabyte allocations
/// cost more in page faults than the reading itself.
static BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn take_buffer() -> Vec<u8> {
    BUFFERS.lock().map(|mut pool| pool.pop()).ok().flatten().unwrap_or_default()
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
fn resume_offset(file: &mut File, size: u64, cursor: Option<&Cursor>) -> io::Result<(u64, bool)> {
    let Some(cursor) = cursor else { return Ok((0, false)) };
    if cursor.offset == 0 {
        return Ok((0, false));
    }
    let intact = cursor.offset <= size
        && head_hash(file, cursor.offset)? == cursor.head_hash
        && tail_hash(file, cursor.offset)? == cursor.tail_hash;
    Ok(if intact { (cursor.offset, false) } else { (0, true) })
}

/// What decoding a run of complete lines produced.
#[derive(Default)]
struct Decoding {
    records: Vec<(UsageEvent, RawRecord)>,
    stats: Stats,
    problems: Vec<Problem>,
    problem_count: u64,
}

impl Decoding {
    fn problem(&mut self, path: &str, offset: u64, message: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem { path: path.to_owned(), offset, message });
        }
    }

    fn absorb(&mut self, other: Decoding) {
        self.records.extend(other.records);
        self.stats.add(&other.stats);
        self.problem_count += other.problem_count;
        let room = MAX_PROBLEMS.saturating_sub(self.problems.len());
        self.problems.extend(other.problems.into_iter().take(room));
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &line[start..end]
}

/// Decode the complete lines in `chunk`, which starts at byte `base` of `path`.
fn decode_chunk(path: &str, base: u64, chunk: &[u8], keep_content: bool, finder: &Finder) -> Decoding {
    let mut out = Decoding::default();
    let mut start = 0usize;
    for end in memchr::memchr_iter(b'\n', chunk).chain(std::iter::once(chunk.len())) {
        let raw_line = &chunk[start..end];
        let offset = base + start as u64;
        start = end + 1;
        let line = trim(raw_line);
        if line.is_empty() {
            continue;
        }
        out.stats.lines += 1;
        if finder.find(line).is_none() {
            // Not worth a parse; a cut-off or garbage line still gets noticed.
            if line[0] != b'{' || line[line.len() - 1] != b'}' {
                out.stats.skipped_lines += 1;
                out.problem(path, offset, "not a complete JSON object (truncated line?)".into());
            }
            continue;
        }
        match decode_line(line, format!("{path}:{offset}"), keep_content) {
            Ok(Decoded::Usage(pair)) => {
                out.stats.usage_lines += 1;
                out.records.push(*pair);
            }
            Ok(Decoded::Synthetic) => out.stats.synthetic_lines += 1,
            Ok(Decoded::Irrelevant) => {}
            Err(err) => {
                out.stats.skipped_lines += 1;
                out.problem(path, offset, err.to_string());
            }
        }
    }
    out
}

/// Split `buf` into chunks of about `CHUNK_LEN` that end at line boundaries.
fn chunks(buf: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::with_capacity(buf.len() / CHUNK_LEN + 1);
    let mut start = 0;
    while start < buf.len() {
        let target = (start + CHUNK_LEN).min(buf.len());
        let end = match memchr::memchr(b'\n', &buf[target..]) {
            Some(nl) if target < buf.len() => target + nl + 1,
            _ => buf.len(),
        };
        out.push((start, &buf[start..end]));
        start = end;
    }
    out
}

/// Read one file from its cursor on; returns what it held and its new cursor.
fn read_file(file: &FileInfo, cursor: Option<&Cursor>, keep_content: bool) -> (Decoding, Option<Cursor>) {
    let mut out = Decoding::default();
    let result = (|| -> io::Result<Cursor> {
        let mut handle = File::open(&file.path)?;
        // The size may have grown since discovery; read what is there now.
        let size = handle.metadata()?.len();
        let (start, reread) = resume_offset(&mut handle, size, cursor)?;
        let mut buf = take_buffer();
        read_range_into(&mut handle, start, size - start, &mut buf)?;
        let complete = memchr::memrchr(b'\n', &buf).map_or(0, |nl| nl + 1);
        let finder = Finder::new(USAGE_NEEDLE);
        let parts: Vec<Decoding> = chunks(&buf[..complete])
            .into_par_iter()
            .map(|(at, chunk)| decode_chunk(&file.path, start + at as u64, chunk, keep_content, &finder))
            .collect();
        for part in parts {
            out.absorb(part);
        }
        // A last line without its newline may still be being written: take its
        // usage if it already parses, but leave the cursor before it so the
        // next read sees the finished line (the merge makes that harmless).
        let pending = trim(&buf[complete..]);
        if pending.last() == Some(&b'}') && finder.find(pending).is_some() {
            let at = start + complete as u64;
            if let Ok(Decoded::Usage(pair)) = decode_line(pending, format!("{}:{at}", file.path), keep_content) {
                out.stats.usage_lines += 1;
                out.records.push(*pair);
            }
        }
        out.stats.files = 1;
        out.stats.bytes = buf.len() as u64;
        give_back(buf);
        out.stats.reread_files = u64::from(reread);
        let offset = start + complete as u64;
        Ok(Cursor {
            path: file.path.clone(),
            offset,
            size,
            mtime_ns: mtime_ns(&handle.metadata()?),
            head_hash: head_hash(&mut handle, offset)?,
            tail_hash: tail_hash(&mut handle, offset)?,
        })
    })();
    match result {
        Ok(cursor) => (out, Some(cursor)),
        Err(err) => {
            out.problem(&file.path, 0, format!("cannot read file: {err}"));
            (out, None)
        }
    }
}

/// Read `files` (each with its cursor, if any) and de-duplicate what they hold.
pub fn read_files(files: &[(FileInfo, Option<Cursor>)], keep_content: bool) -> ReadResult {
    let per_file: Vec<(Decoding, Option<Cursor>)> = files
        .par_iter()
        .map(|(file, cursor)| read_file(file, cursor.as_ref(), keep_content))
        .collect();
    let mut all = Decoding::default();
    let mut cursors = Vec::with_capacity(files.len());
    for (decoding, cursor) in per_file {
        all.absorb(decoding);
        cursors.extend(cursor);
    }
    let Deduped { events, raws, duplicate_records, sidechain_replays } = dedup(all.records);
    ReadResult {
        events,
        raws,
        cursors,
        stats: all.stats,
        duplicate_records,
        sidechain_replays,
        problems: all.problems,
        problem_count: all.problem_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const A1: &str = r#"{"type":"assistant","uuid":"a","sessionId":"s","timestamp":"2026-01-01T00:00:01Z","requestId":"r1","message":{"id":"m1","model":"claude-opus-4-6","usage":{"input_tokens":3,"output_tokens":10}}}"#;
    const A2: &str = r#"{"type":"assistant","uuid":"b","sessionId":"s","timestamp":"2026-01-01T00:00:02Z","requestId":"r1","message":{"id":"m1","model":"claude-opus-4-6","usage":{"input_tokens":3,"output_tokens":441}}}"#;
    const B1: &str = r#"{"type":"assistant","uuid":"c","sessionId":"s","timestamp":"2026-01-01T00:01:00Z","requestId":"r2","message":{"id":"m2","model":"claude-opus-4-6","usage":{"input_tokens":5,"output_tokens":7}}}"#;

    fn info(path: &Path) -> FileInfo {
        let (files, _) = discover(&[path.to_path_buf()]);
        files.into_iter().next().unwrap()
    }

    fn read(path: &Path, cursor: Option<Cursor>) -> ReadResult {
        read_files(&[(info(path), cursor)], false)
    }

    #[test]
    fn partial_last_line_is_not_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut f = File::create(&path).unwrap();
        write!(f, "{A1}\n{}", &A2[..50]).unwrap();
        let first = read(&path, None);
        assert_eq!(first.events.len(), 1);
        assert_eq!(first.events[0].tokens.output, 10);
        assert_eq!(first.stats.skipped_lines, 0, "a line being written is not malformed");
        let cursor = first.cursors[0].clone();
        assert_eq!(cursor.offset, A1.len() as u64 + 1);

        write!(f, "{}\n{B1}\n", &A2[50..]).unwrap();
        let second = read(&path, Some(cursor));
        assert_eq!(second.stats.reread_files, 0);
        assert_eq!(second.stats.lines, 2);
        let outputs: Vec<u64> = second.events.iter().map(|e| e.tokens.output).collect();
        assert_eq!(outputs, [441, 7]);
    }

    #[test]
    fn rewritten_and_truncated_files_are_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(&path, format!("{A1}\n{B1}\n")).unwrap();
        let cursor = read(&path, None).cursors[0].clone();

        std::fs::write(&path, format!("{A1}\n")).unwrap();
        let truncated = read(&path, Some(cursor.clone()));
        assert_eq!((truncated.stats.reread_files, truncated.events.len()), (1, 1));

        std::fs::write(&path, format!("{A2}\n{B1}\n")).unwrap();
        let rewritten = read(&path, Some(cursor));
        assert_eq!((rewritten.stats.reread_files, rewritten.events.len()), (1, 2));
    }

    #[test]
    fn malformed_lines_are_counted_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let cut = &A2[..120];
        std::fs::write(&path, format!("{A1}\n{cut}\nnot json\n{{\"type\":\"assistant\",\"message\":{{\"usage\":5}}}}\n\n{B1}\n")).unwrap();
        let out = read(&path, None);
        assert_eq!(out.events.len(), 2);
        assert_eq!(out.stats.skipped_lines, 3);
        assert_eq!(out.problems.len(), 3);
        assert_eq!(out.problems[0].offset, A1.len() as u64 + 1);
    }

    #[test]
    fn chunks_end_on_line_boundaries() {
        let line = format!("{A1}\n");
        let buf = line.repeat(CHUNK_LEN / line.len() * 3 + 7);
        let parts = chunks(buf.as_bytes());
        assert!(parts.len() >= 3);
        assert_eq!(parts.iter().map(|(_, c)| c.len()).sum::<usize>(), buf.len());
        assert!(parts.iter().all(|(_, c)| c.ends_with(b"\n")));
    }
}
