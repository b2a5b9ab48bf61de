//! Durable hand-off of received requests: the shared spool of
//! `usagecore.spool` (tmp/ -> fsync -> rename into new/), with group commit:
//! a writer takes every request that is waiting into one file, so one fsync
//! acknowledges many requests; a few writers sync at the same time, so the
//! next group need not wait for the previous one's fsync.
//!
//! A file holding one request is a plain spool file: one JSON header line
//! (`v`, `source`, `channel`, `received_at_ns`, `account_id`, `path`,
//! `content_type`), `\n`, the body as received (decompressed). A file holding
//! several has `parts` in its header instead, each with its `path`,
//! `content_type`, `account_id`, `received_at_ns` and `length`, and the
//! bodies follow back to back in that order.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

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
    pub queue: usize,
    /// Writer threads, each writing and syncing its own files.
    pub writers: usize,
    pub max_pending_files: u64,
    /// Most bytes in one spool file; a larger group is split.
    pub max_file_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { queue: 4096, writers: 4, max_pending_files: 20_000, max_file_bytes: 32 << 20 }
    }
}

/// The sending side, shared by the HTTP and gRPC servers.
#[derive(Clone)]
pub struct Spool {
    jobs: mpsc::Sender<Job>,
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
        let (jobs, receiver) = mpsc::channel(limits.queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let pending_files = Arc::new(AtomicU64::new(count_files(&dir.join("new"))));
        let stats = Arc::new(SpoolStats::default());
        let mut handles = Vec::new();
        for index in 0..limits.writers.max(1) {
            let writer = Writer {
                dir: dir.to_owned(),
                limits: limits.clone(),
                pending_files: pending_files.clone(),
                stats: stats.clone(),
                index: index as u64,
                counter: 0,
                last_count: Instant::now(),
            };
            let receiver = receiver.clone();
            let name = format!("usagecore-spool-{index}");
            handles.push(std::thread::Builder::new().name(name).spawn(move || writer.run(&receiver))?);
        }
        Ok((Spool { jobs, pending_files, max_pending_files: limits.max_pending_files, stats }, handles))
    }

    /// Queue `part`; the receiver resolves once it is durable on disk.
    pub fn submit(&self, part: Part) -> Result<oneshot::Receiver<Result<(), String>>, Refused> {
        if self.pending_files.load(Ordering::Relaxed) >= self.max_pending_files {
            return Err(Refused::Backlog);
        }
        let (done, receiver) = oneshot::channel();
        self.jobs.try_send(Job { part, done }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refused::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Refused::Closed,
        })?;
        Ok(receiver)
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

struct Writer {
    dir: PathBuf,
    limits: Limits,
    pending_files: Arc<AtomicU64>,
    stats: Arc<SpoolStats>,
    index: u64,
    counter: u64,
    last_count: Instant,
}

impl Writer {
    fn run(mut self, receiver: &Mutex<mpsc::Receiver<Job>>) {
        // Ends when every sender is gone and the queue is empty: a stop
        // writes out everything that was accepted.
        loop {
            let group = {
                let Ok(mut receiver) = receiver.lock() else { return };
                let Some(first) = receiver.blocking_recv() else { return };
                let mut group = vec![first];
                let mut bytes = group[0].part.body.len();
                while bytes < self.limits.max_file_bytes {
                    match receiver.try_recv() {
                        Ok(job) => {
                            bytes += job.part.body.len();
                            group.push(job);
                        }
                        Err(_) => break,
                    }
                }
                group
            };
            let bytes: usize = group.iter().map(|j| j.part.body.len()).sum();
            let parts: Vec<&Part> = group.iter().map(|j| &j.part).collect();
            let result = self.write(&parts).map_err(|e| format!("spool {}: {e}", self.dir.display()));
            if result.is_ok() {
                self.stats.requests.fetch_add(group.len() as u64, Ordering::Relaxed);
                self.stats.files.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                self.pending_files.fetch_add(1, Ordering::Relaxed);
            }
            for job in group {
                let _ = job.done.send(result.clone());
            }
            // The drain removes files behind our back: recount now and then.
            if self.last_count.elapsed() > Duration::from_millis(250) {
                self.pending_files.store(count_files(&self.dir.join("new")), Ordering::Relaxed);
                self.last_count = Instant::now();
            }
        }
    }

    fn write(&mut self, parts: &[&Part]) -> std::io::Result<()> {
        let first = parts[0];
        let header = if parts.len() == 1 {
            serde_json::json!({
                "v": 1, "source": "otlp", "channel": "otlp", "received_at_ns": first.received_at_ns,
                "account_id": first.account_id, "path": first.path, "content_type": first.content_type,
            })
        } else {
            let list: Vec<_> = parts
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "path": p.path, "content_type": p.content_type, "account_id": p.account_id,
                        "received_at_ns": p.received_at_ns, "length": p.body.len(),
                    })
                })
                .collect();
            serde_json::json!({
                "v": 1, "source": "otlp", "channel": "otlp", "received_at_ns": first.received_at_ns,
                "account_id": null, "parts": list,
            })
        };
        self.counter += 1;
        let stamp = now_ns();
        let rand = crate::ids::stable_id(&[
            &stamp.to_be_bytes(),
            &self.index.to_be_bytes(),
            &self.counter.to_be_bytes(),
        ]) as u32;
        let name = format!("{:019}-{}-{:08x}.otlp.otlp", stamp, std::process::id(), rand);
        let tmp = self.dir.join("tmp").join(&name);
        let mut file = File::create(&tmp)?;
        let mut head = serde_json::to_vec(&header)?;
        head.push(b'\n');
        file.write_all(&head)?;
        for part in parts {
            file.write_all(&part.body)?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, self.dir.join("new").join(&name))?;
        // The rename is durable only once the folder is synced.
        File::open(self.dir.join("new"))?.sync_all()
    }
}
