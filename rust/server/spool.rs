//! Durable hand-off of received requests into the shared spool of
//! `usagecore.spool`, with group commit into append-only segments.
//!
//! A writer thread appends the requests waiting for it to its open segment
//! in `tmp/` and syncs the file once for all of them (group commit); only
//! then are they acknowledged. A segment is closed — synced, renamed into
//! `new/`, the folder synced — when it is old (`rotate_after`) or large
//! (`max_file_bytes`), and at a stop, so the drain sees few large files.
//! One spool file per request (or per group) used to cost more than
//! everything else in `serve`: creating and unlinking thousands of inodes a
//! second (ext4's inode allocator scans recently deleted inodes).
//!
//! A segment is a spool file whose header says `"framed": true`; its payload
//! is a sequence of frames, each a JSON line (`path`, `content_type`,
//! `account_id`, `received_at_ns`, `length`, `xxh3` of the body) and `length`
//! body bytes (the request body as received, decompressed). A process killed
//! mid-append leaves its segment in `tmp/` with a torn last frame that was
//! never acknowledged; `spool.recover` moves such segments into `new/` and the
//! drain stores every complete frame. Files of older versions (one request,
//! or a `parts` header, or frames without `xxh3`) are still read
//! (python/usagecore/live/otlp.py).
//!
//! Segments are prepared ahead, zero-filled (`Preparer`): a sync of data
//! written over blocks the file already has is a data flush only, while a
//! sync that grows the file also commits the file system's journal (on
//! ext4 here 117 against 210 µs a group, 51 against 88 µs of CPU). So a
//! segment may end in zeros (a stop truncates them, a crash does not); the
//! checksum tells a torn frame written over zeros from a complete one.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

/// One received request, ready to be made durable.
#[derive(Debug)]
pub struct Part {
    pub path: &'static str,
    pub content_type: &'static str,
    pub account_id: Option<String>,
    pub received_at_ns: u64,
    pub body: Vec<u8>,
}

struct Job {
    part: Part,
    done: oneshot::Sender<Result<(), String>>,
}

/// Why a request could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The in-memory queue is full (retry soon: 429).
    QueueFull,
    /// The spool holds more than its bound: the store is behind (503).
    Backlog,
    /// The writer has stopped (shutting down).
    Closed,
}

/// Bounds on what may wait.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests waiting for the writers, all writers together.
    pub queue: usize,
    /// Writer threads, each appending to and syncing its own segment. A
    /// request goes to the first writer that is idle or has been syncing
    /// for less than `slow_sync` (`Spool::submit`): while syncs are quick,
    /// one writer takes everything, in groups as large as possible (a sync,
    /// mostly a VM exit and a context switch, is most of a writer's CPU:
    /// spreading requests over four writers took twice the CPU per request,
    /// 55 against 26 µs at peak); when the disk is slow (other processes
    /// writing), the next writer syncs beside it, so a slow sync does not
    /// hold up everybody.
    pub writers: usize,
    /// How long a sync may take before requests go to the next writer.
    pub slow_sync: Duration,
    /// Segments waiting for the drain before requests get 503 and `Retry-After`:
    /// rotated four times a second per busy writer.
    pub max_pending_files: u64,
    /// A segment this large is closed.
    pub max_file_bytes: usize,
    /// A segment this old is closed (how long the drain may wait for a request).
    pub rotate_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            queue: 4096,
            writers: 4,
            slow_sync: Duration::from_micros(500),
            max_pending_files: 2_000,
            max_file_bytes: 8 << 20,
            rotate_after: Duration::from_millis(250),
        }
    }
}

/// A writer's queue, how many requests wait in it, and since when (in
/// `Spool::clock` nanoseconds, plus one) it has been writing and syncing a
/// group (0: it is not).
struct Lane {
    jobs: SyncSender<Job>,
    waiting: Arc<AtomicUsize>,
    busy_since: Arc<AtomicU64>,
}

/// The sending side, shared by the HTTP and gRPC servers.
#[derive(Clone)]
pub struct Spool {
    lanes: Arc<Vec<Lane>>,
    clock: Instant,
    slow_sync_ns: u64,
    pending_files: Arc<AtomicU64>,
    max_pending_files: u64,
    pub stats: Arc<SpoolStats>,
}

#[derive(Default, Debug)]
pub struct SpoolStats {
    pub requests: AtomicU64,
    pub files: AtomicU64,
    pub bytes: AtomicU64,
}

impl Spool {
    /// Start the writer threads for spool folder `dir`.
    pub fn start(dir: &Path, limits: Limits) -> std::io::Result<(Spool, Vec<std::thread::JoinHandle<()>>)> {
        for sub in ["tmp", "new", "quarantine"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let writers = limits.writers.max(1);
        let pending_files = Arc::new(AtomicU64::new(count_files(&dir.join("new"))));
        let stats = Arc::new(SpoolStats::default());
        let clock = Instant::now();
        let recent_segment_bytes = Arc::new(AtomicU64::new(0));
        let (ready, prepared) = mpsc::sync_channel(PREPARED_AHEAD);
        let prepared = Arc::new(Mutex::new(prepared));
        let preparer = Preparer {
            dir: dir.to_owned(),
            max_file_bytes: limits.max_file_bytes as u64,
            recent_segment_bytes: recent_segment_bytes.clone(),
            counter: 0,
        };
        let mut lanes = Vec::new();
        let mut handles = Vec::new();
        for index in 0..writers {
            let (jobs, receiver) = mpsc::sync_channel((limits.queue / writers).max(1));
            let waiting = Arc::new(AtomicUsize::new(0));
            let busy_since = Arc::new(AtomicU64::new(0));
            let writer = Writer {
                busy_since: busy_since.clone(),
                clock,
                dir: dir.to_owned(),
                limits: limits.clone(),
                pending_files: pending_files.clone(),
                stats: stats.clone(),
                waiting: waiting.clone(),
                index: index as u64,
                counter: 0,
                segment: None,
                prepared: prepared.clone(),
                recent_segment_bytes: recent_segment_bytes.clone(),
                last_count: Instant::now(),
            };
            let name = format!("usagecore-spool-{index}");
            handles.push(std::thread::Builder::new().name(name).spawn(move || writer.run(&receiver))?);
            lanes.push(Lane { jobs, waiting, busy_since });
        }
        drop(prepared);
        // Last, so that joining the handles in order ends it after the writers.
        let name = "usagecore-spool-prepare".to_owned();
        handles.push(std::thread::Builder::new().name(name).spawn(move || preparer.run(&ready))?);
        let spool = Spool {
            lanes: Arc::new(lanes),
            clock,
            slow_sync_ns: limits.slow_sync.as_nanos() as u64,
            pending_files,
            max_pending_files: limits.max_pending_files,
            stats,
        };
        Ok((spool, handles))
    }

    /// Queue `part`; the receiver resolves once it is durable on disk.
    pub fn submit(&self, part: Part) -> Result<oneshot::Receiver<Result<(), String>>, Refused> {
        if self.pending_files.load(Ordering::Relaxed) >= self.max_pending_files {
            return Err(Refused::Backlog);
        }
        // The first writer that is idle or syncing quickly (see
        // `Limits::writers`), then the others, shortest queue first; a full
        // queue passes the request on to the next.
        let now = self.clock.elapsed().as_nanos() as u64 + 1;
        let quick = |lane: &&Lane| {
            let since = lane.busy_since.load(Ordering::Relaxed);
            since == 0 || now.saturating_sub(since) < self.slow_sync_ns
        };
        let mut slow: Vec<&Lane> = self.lanes.iter().filter(|lane| !quick(lane)).collect();
        slow.sort_by_key(|lane| lane.waiting.load(Ordering::Relaxed));
        let (done, receiver) = oneshot::channel();
        let mut job = Job { part, done };
        for lane in self.lanes.iter().filter(quick).chain(slow) {
            lane.waiting.fetch_add(1, Ordering::Relaxed);
            match lane.jobs.try_send(job) {
                Ok(()) => return Ok(receiver),
                Err(refused) => {
                    lane.waiting.fetch_sub(1, Ordering::Relaxed);
                    match refused {
                        TrySendError::Full(back) => job = back,
                        TrySendError::Disconnected(_) => return Err(Refused::Closed),
                    }
                }
            }
        }
        Err(Refused::QueueFull)
    }

    pub fn pending_files(&self) -> u64 {
        self.pending_files.load(Ordering::Relaxed)
    }
}

fn count_files(dir: &Path) -> u64 {
    fs::read_dir(dir).map_or(0, |entries| entries.count() as u64)
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Segments prepared ahead of the writers that will take them.
const PREPARED_AHEAD: usize = 1;
/// The zeros a prepared segment holds at least.
const MIN_PREPARED_BYTES: u64 = 256 << 10;
/// How many of a prepared segment's zeros go to the disk in one flush.
const ZEROS_FLUSHED_AT_ONCE: usize = 256 << 10;

/// The segment a writer appends to.
struct Segment {
    file: File,
    /// Its name in `tmp/`, and the random part of its name in `new/`.
    tmp_name: String,
    tag: u32,
    /// Bytes durable so far (a failed append is cut back to this).
    bytes: u64,
    /// Where the zeros prepared for it end (at its header when it has none).
    prepared_to: u64,
    /// When a writer took it: how old it is, and its name in `new/` (spool
    /// names sort in arrival order, and a prepared segment may wait long).
    opened: Instant,
    opened_ns: u64,
}

/// A new segment in `tmp/`: its header, then `zeros` zero bytes prepared for
/// frames, synced with its name (which must survive a machine crash with what
/// the segment will hold), under a name that cannot collide and that
/// `spool.recover` attributes to us.
fn create_segment(dir: &Path, seed: &[&[u8]], zeros: u64) -> std::io::Result<Segment> {
    let stamp = now_ns();
    let tag = crate::ids::stable_id(&[
        &stamp.to_be_bytes(),
        &std::process::id().to_be_bytes(),
        seed.concat().as_slice(),
    ]) as u32;
    let tmp_name = segment_name(stamp, tag);
    let header = serde_json::json!({
        "v": 1, "source": "otlp", "channel": "otlp", "received_at_ns": stamp, "account_id": null,
        "framed": true,
    });
    let mut head = serde_json::to_vec(&header)?;
    head.push(b'\n');
    let file = fs::OpenOptions::new().write(true).create_new(true).open(dir.join("tmp").join(&tmp_name))?;
    file.write_all_at(&head, 0)?;
    let bytes = head.len() as u64;
    // Flushed a piece at a time: the disk serves flushes in turn, and a
    // writer's sync waiting behind megabytes of zeros took 15 ms (the p99 of
    // every request at half load); behind one piece it waits well under one.
    let block = vec![0u8; (zeros as usize).min(ZEROS_FLUSHED_AT_ONCE)];
    let mut at = bytes;
    while at < bytes + zeros {
        let n = block.len().min((bytes + zeros - at) as usize);
        file.write_all_at(&block[..n], at)?;
        file.sync_data()?;
        at += n as u64;
    }
    file.sync_all()?;
    File::open(dir.join("tmp"))?.sync_all()?;
    Ok(Segment { file, tmp_name, tag, bytes, prepared_to: at, opened: Instant::now(), opened_ns: stamp })
}

/// Spool names sort in arrival order (`usagecore.spool`).
fn segment_name(stamp: u64, tag: u32) -> String {
    format!("{:019}-{}-{:08x}.otlp.otlp", stamp, std::process::id(), tag)
}

/// Prepares segments ahead, each zero-filled to twice what the last closed
/// segment held (between `MIN_PREPARED_BYTES` and a full segment), so that
/// appends overwrite blocks the file already has (see the module's comment).
struct Preparer {
    dir: PathBuf,
    max_file_bytes: u64,
    recent_segment_bytes: Arc<AtomicU64>,
    counter: u64,
}

impl Preparer {
    /// Ends when no writer is left to take what it prepares.
    fn run(mut self, ready: &SyncSender<Prepared>) {
        loop {
            match self.prepare() {
                Ok(segment) => {
                    let path = self.dir.join("tmp").join(&segment.tmp_name);
                    if ready.send(Prepared { segment: Some(segment), path }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // Writers open segments of their own meanwhile.
                    eprintln!("usagecore: cannot prepare a spool segment in {} ({e})", self.dir.display());
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    fn prepare(&mut self) -> std::io::Result<Segment> {
        self.counter += 1;
        let zeros = (2 * self.recent_segment_bytes.load(Ordering::Relaxed))
            .clamp(MIN_PREPARED_BYTES, self.max_file_bytes + MIN_PREPARED_BYTES);
        create_segment(&self.dir, &[b"prepared", &self.counter.to_be_bytes()], zeros)
    }
}

/// A prepared segment on its way to a writer; removed if nobody takes it
/// (the spool stops).
struct Prepared {
    segment: Option<Segment>,
    path: PathBuf,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(segment) = self.segment.take() {
            drop(segment.file);
            let _ = fs::remove_file(&self.path);
        }
    }
}

struct Writer {
    dir: PathBuf,
    limits: Limits,
    pending_files: Arc<AtomicU64>,
    stats: Arc<SpoolStats>,
    waiting: Arc<AtomicUsize>,
    busy_since: Arc<AtomicU64>,
    clock: Instant,
    index: u64,
    counter: u64,
    segment: Option<Segment>,
    prepared: Arc<Mutex<Receiver<Prepared>>>,
    recent_segment_bytes: Arc<AtomicU64>,
    last_count: Instant,
}

impl Writer {
    fn run(mut self, jobs: &Receiver<Job>) {
        // Ends when every sender is gone and the queue is empty: a stop
        // writes out everything that was accepted.
        loop {
            let first = match &self.segment {
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
                Some(segment) => {
                    match jobs.recv_timeout(self.limits.rotate_after.saturating_sub(segment.opened.elapsed()))
                    {
                        Ok(job) => job,
                        Err(RecvTimeoutError::Timeout) => {
                            self.close_segment();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            let mut group = vec![first];
            let mut bytes = group[0].part.body.len();
            while bytes < self.limits.max_file_bytes {
                match jobs.try_recv() {
                    Ok(job) => {
                        bytes += job.part.body.len();
                        group.push(job);
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.waiting.fetch_sub(group.len(), Ordering::Relaxed);
            self.busy_since.store(self.clock.elapsed().as_nanos() as u64 + 1, Ordering::Relaxed);
            let parts: Vec<&Part> = group.iter().map(|j| &j.part).collect();
            let result = self.append(&parts).map_err(|e| format!("spool {}: {e}", self.dir.display()));
            if result.is_ok() {
                self.stats.requests.fetch_add(group.len() as u64, Ordering::Relaxed);
                self.stats.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            }
            for job in group {
                let _ = job.done.send(result.clone());
            }
            let full = self.segment.as_ref().is_some_and(|s| {
                s.bytes >= self.limits.max_file_bytes as u64 || s.opened.elapsed() >= self.limits.rotate_after
            });
            if full {
                self.close_segment();
            }
            self.busy_since.store(0, Ordering::Relaxed);
            // The drain removes files behind our back: recount now and then.
            if self.last_count.elapsed() > Duration::from_millis(250) {
                self.pending_files.store(count_files(&self.dir.join("new")), Ordering::Relaxed);
                self.last_count = Instant::now();
            }
        }
        self.close_segment();
    }

    /// Append `parts` to the open segment (opening one first) and sync it.
    fn append(&mut self, parts: &[&Part]) -> std::io::Result<()> {
        if self.segment.is_none() {
            self.segment = Some(self.open_segment()?);
        }
        let Some(segment) = self.segment.as_mut() else { return Ok(()) };
        let mut data = Vec::with_capacity(parts.iter().map(|p| p.body.len() + 160).sum());
        for part in parts {
            encode_frame(part, &mut data)?;
        }
        let written = segment.file.write_all_at(&data, segment.bytes).and_then(|()| segment.file.sync_data());
        match written {
            Ok(()) => {
                segment.bytes += data.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Nothing after a torn frame could be read: cut it off, and
                // start afresh in a new segment.
                let _ = segment.file.set_len(segment.bytes);
                self.close_segment();
                Err(e)
            }
        }
    }

    /// A prepared segment if one is ready, else a new one.
    fn open_segment(&mut self) -> std::io::Result<Segment> {
        let ready = self.prepared.lock().ok().and_then(|prepared| prepared.try_recv().ok());
        let mut segment = match ready.and_then(|mut prepared| prepared.segment.take()) {
            Some(segment) => segment,
            None => {
                self.counter += 1;
                create_segment(&self.dir, &[&self.index.to_be_bytes(), &self.counter.to_be_bytes()], 0)?
            }
        };
        segment.opened = Instant::now();
        segment.opened_ns = now_ns();
        Ok(segment)
    }

    /// Hand the open segment to the drain: into `new/`, durably. On failure
    /// it stays in `tmp/`, where `spool.recover` finds it.
    fn close_segment(&mut self) {
        let Some(segment) = self.segment.take() else { return };
        self.recent_segment_bytes.store(segment.bytes, Ordering::Relaxed);
        if segment.prepared_to > segment.bytes {
            // The zeros left are not needed by anybody; a crash before this
            // leaves them, and readers skip them.
            let _ = segment.file.set_len(segment.bytes);
        }
        drop(segment.file);
        let name = segment_name(segment.opened_ns, segment.tag);
        let moved =
            fs::rename(self.dir.join("tmp").join(&segment.tmp_name), self.dir.join("new").join(&name))
                .and_then(|()| File::open(self.dir.join("new"))?.sync_all());
        match moved {
            Ok(()) => {
                self.stats.files.fetch_add(1, Ordering::Relaxed);
                self.pending_files.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => eprintln!(
                "usagecore: spool segment {} stays in tmp/ ({e}); the next drain recovers it",
                segment.tmp_name
            ),
        }
    }
}

/// Append `part` as a frame: its JSON line, then its body.
fn encode_frame(part: &Part, out: &mut Vec<u8>) -> std::io::Result<()> {
    let frame = serde_json::json!({
        "path": part.path, "content_type": part.content_type, "account_id": part.account_id,
        "received_at_ns": part.received_at_ns, "length": part.body.len(),
        "xxh3": xxhash_rust::xxh3::xxh3_64(&part.body),
    });
    serde_json::to_writer(&mut *out, &frame)?;
    out.push(b'\n');
    out.extend_from_slice(&part.body);
    Ok(())
}

/// One request of a segment, its body borrowed from the segment.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub path: String,
    pub content_type: String,
    pub account_id: Option<String>,
    pub received_at_ns: u64,
    pub body: &'a [u8],
}

/// The frames of a segment's payload (after its header line), and the length
/// of a torn last frame (0 when there is none): a writer killed while
/// appending leaves one, never acknowledged, so it is left out. Zeros after
/// the last frame are what was prepared and not used.
pub fn read_frames(payload: &[u8]) -> (Vec<Frame<'_>>, usize) {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < payload.len() {
        let rest = &payload[offset..];
        if rest.iter().all(|&b| b == 0) {
            return (frames, 0);
        }
        let Some(end) = memchr::memchr(b'\n', rest) else { return (frames, rest.len()) };
        let Ok(serde_json::Value::Object(head)) = serde_json::from_slice::<serde_json::Value>(&rest[..end])
        else {
            return (frames, rest.len());
        };
        let length = head.get("length").and_then(serde_json::Value::as_u64).map(|n| n as usize);
        let Some(body) = length.and_then(|n| rest.get(end + 1..end + 1 + n)) else {
            return (frames, rest.len());
        };
        let checksum = head.get("xxh3").map(serde_json::Value::as_u64);
        if checksum.is_some_and(|sum| sum != Some(xxhash_rust::xxh3::xxh3_64(body))) {
            return (frames, rest.len());
        }
        let text = |key: &str| head.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
        frames.push(Frame {
            path: text("path").unwrap_or_default(),
            content_type: text("content_type").unwrap_or_default(),
            account_id: text("account_id"),
            received_at_ns: head.get("received_at_ns").and_then(serde_json::Value::as_u64).unwrap_or(0),
            body,
        });
        offset += end + 1 + body.len();
    }
    (frames, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(path: &'static str, account_id: Option<&str>, body: &[u8]) -> Part {
        Part {
            path,
            content_type: "application/json",
            account_id: account_id.map(str::to_owned),
            received_at_ns: 7,
            body: body.to_vec(),
        }
    }

    #[test]
    fn frames_read_back_as_written_and_a_torn_tail_is_left_out() {
        let parts = [part("/v1/logs", Some("a"), b"{}"), part("/v1/metrics", None, b"\n\x00{\"x\n")];
        let mut data = Vec::new();
        for p in &parts {
            encode_frame(p, &mut data).unwrap();
        }
        let whole = data.len();
        encode_frame(&part("/v1/traces", None, b"0123456789"), &mut data).unwrap();
        let expected: Vec<Frame> = parts
            .iter()
            .map(|p| Frame {
                path: p.path.to_owned(),
                content_type: p.content_type.to_owned(),
                account_id: p.account_id.clone(),
                received_at_ns: 7,
                body: &p.body,
            })
            .collect();
        assert_eq!(read_frames(&data[..whole]), (expected, 0));
        // Cut inside the third frame's body, inside its JSON line, after its newline.
        for cut in
            [data.len() - 3, whole + 5, whole + data[whole..].iter().position(|&b| b == b'\n').unwrap() + 1]
        {
            let (frames, torn) = read_frames(&data[..cut]);
            assert_eq!((frames.len(), torn), (2, cut - whole));
        }
    }

    #[test]
    fn zeros_after_the_last_frame_are_not_a_torn_frame_but_a_frame_torn_over_zeros_is() {
        let mut data = Vec::new();
        encode_frame(&part("/v1/logs", None, b"{\"resourceLogs\":[]}"), &mut data).unwrap();
        let whole = data.len();
        data.resize(whole + 4096, 0);
        let (frames, torn) = read_frames(&data);
        assert_eq!((frames.len(), torn), (1, 0));
        // The next frame's JSON line reached the disk, its body did not:
        // the zeros in its place are as long as the length says.
        let mut next = Vec::new();
        encode_frame(&part("/v1/logs", None, &[b'x'; 100]), &mut next).unwrap();
        let line = next.iter().position(|&b| b == b'\n').unwrap() + 1;
        data[whole..whole + line].copy_from_slice(&next[..line]);
        let (frames, torn) = read_frames(&data);
        assert_eq!((frames.len(), torn), (1, 4096));
        // Only its last block is missing.
        data[whole..whole + next.len() - 10].copy_from_slice(&next[..next.len() - 10]);
        assert_eq!(read_frames(&data).1, 4096);
        data[whole..whole + next.len()].copy_from_slice(&next);
        assert_eq!(read_frames(&data), (read_frames(&data[..whole + next.len()]).0, 0));
    }

    #[test]
    fn a_stopped_spool_hands_every_request_to_the_drain_and_leaves_no_prepared_segment() {
        let dir = tempfile::tempdir().unwrap();
        let limits =
            Limits { max_file_bytes: 4096, rotate_after: Duration::from_millis(20), ..Limits::default() };
        let (spool, handles) = Spool::start(dir.path(), limits).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bodies: Vec<Vec<u8>> =
            (0..200).map(|n| format!("{{\"n\":{n}}}").repeat(n % 50 + 1).into_bytes()).collect();
        for (n, body) in bodies.iter().enumerate() {
            let done = spool.submit(part("/v1/logs", None, body)).unwrap();
            assert_eq!(runtime.block_on(done), Ok(Ok(())));
            if n % 70 == 0 {
                std::thread::sleep(Duration::from_millis(30)); // rotations on age too
            }
        }
        drop(spool);
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        let mut names: Vec<PathBuf> =
            fs::read_dir(dir.path().join("new")).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        assert!(names.len() > 3, "{names:?}");
        let mut read = Vec::new();
        for name in names {
            let data = fs::read(&name).unwrap();
            assert_ne!(data.last(), Some(&0), "{name:?} keeps its zeros");
            let payload = &data[data.iter().position(|&b| b == b'\n').unwrap() + 1..];
            let (frames, torn) = read_frames(payload);
            assert_eq!(torn, 0);
            read.extend(frames.into_iter().map(|f| f.body.to_vec()));
        }
        // Several writers may have taken turns: every request once, in any order.
        let mut sent = bodies.clone();
        sent.sort();
        read.sort();
        assert!(read == sent, "{} requests read back, {} sent", read.len(), sent.len());
    }
}
