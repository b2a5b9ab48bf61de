//! OpenCode's own storage (FORMATS.md §E.3): the SQLite `opencode.db`
//! (or `opencode-<channel>.db`) and the legacy JSON `storage/` tree.
//!
//! Usage is the assistant message's `tokens` and `cost` only, never added
//! again from `step-finish` parts, `event` rows or session aggregates.
//! OpenCode rewrites a message row while it streams, so a message is one
//! event whose latest version wins (`event::Merge::Latest`), never a sum.
//!
//! The database is opened read-only (`mode=ro`) and never written: OpenCode
//! may be running and writing it (WAL), and a reader sees a consistent
//! snapshot. Incremental reads take the rows whose `time_updated` is at or
//! after the last run's maximum: a rowid cursor would miss the updates
//! OpenCode makes to rows it already wrote (tokens arrive after the row).
//!
//! Token vocabulary: OpenCode's `tokens.input` already excludes cache reads
//! and writes, and `tokens.output` excludes reasoning, which is separate;
//! our output includes it. OpenCode's `cost` is `reported`, and a reported
//! 0 (subscription, free model) stays 0.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;

use crate::event::{CostSource, RawRecord, Tokens, UsageEvent};
use crate::ids::{stable_id, Id, IdSet};
use crate::jsonl::{DecodeError, Problem};
use crate::normalize::model_id;

pub const SOURCE_SYSTEM: &str = "opencode";
pub const CHANNEL_DB: &str = "db";
pub const CHANNEL_STORAGE: &str = "storage";
pub const CHANNEL_PLUGIN: &str = "plugin";

/// The fields of a message that matter for usage, borrowed from its JSON
/// where they can be (most messages are not usage; nothing is copied for them).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "sessionID", borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(rename = "modelID", borrow)]
    model_id: Option<Cow<'a, str>>,
    #[serde(rename = "providerID", borrow)]
    provider_id: Option<Cow<'a, str>>,
    time: Option<Time>,
    #[serde(borrow)]
    path: Option<MessagePath<'a>>,
    cost: Option<f64>,
    tokens: Option<MessageTokens>,
}

#[derive(Deserialize, Default)]
struct Time {
    created: Option<f64>,
}

#[derive(Deserialize, Default)]
struct MessagePath<'a> {
    #[serde(borrow)]
    cwd: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct MessageTokens {
    input: Option<f64>,
    output: Option<f64>,
    reasoning: Option<f64>,
    cache: Option<Cache>,
}

#[derive(Deserialize, Default)]
struct Cache {
    read: Option<f64>,
    write: Option<f64>,
}

/// Token counts are JSON numbers written by JavaScript: take whole,
/// non-negative values; anything else counts as 0.
fn count(value: Option<f64>) -> u64 {
    value.filter(|v| v.is_finite() && *v >= 0.0).map_or(0, |v| v as u64)
}

impl MessageTokens {
    fn tokens(&self) -> Tokens {
        let cache = self.cache.as_ref();
        let reasoning = count(self.reasoning);
        Tokens {
            input: count(self.input),
            output: count(self.output) + reasoning,
            reasoning,
            cache_read: count(cache.and_then(|c| c.read)),
            cache_write: count(cache.and_then(|c| c.write)),
            cache_write_1h: 0,
        }
    }
}

/// A message as an event and its raw record; None when it is not one.
type Record = Option<(UsageEvent, RawRecord)>;

/// Where a message came from, and what its row knows beside the JSON.
pub struct Origin<'a> {
    pub channel: &'static str,
    /// `source_ref` of the raw record.
    pub source_ref: String,
    /// The row's id and session (the DB's JSON omits them).
    pub id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub time_created_ms: Option<i64>,
    /// The session's folder, when the message has no `path.cwd`.
    pub directory: Option<&'a str>,
    /// The session is a child (subagent) session.
    pub child_session: bool,
}

/// The event id of an OpenCode message: the same from the DB, the legacy
/// files and the plugin.
pub fn message_event_id(message_id: &str) -> crate::ids::Id {
    stable_id(&[b"message", SOURCE_SYSTEM.as_bytes(), message_id.as_bytes()])
}

/// One stored message as an event, or None when it is not an assistant
/// message with usage (user messages; a message still waiting for its
/// first tokens). Given its JSON as an owned `String`, the raw record keeps
/// that string instead of a copy.
pub fn decode_message<'a>(data: impl Into<Cow<'a, str>>, origin: &Origin) -> Result<Record, DecodeError> {
    let data = data.into();
    let Some(event) = decode_event(&data, origin)? else {
        return Ok(None);
    };
    let raw = RawRecord {
        raw_event_id: event.raw_event_id,
        source_system: SOURCE_SYSTEM,
        source_channel: origin.channel,
        occurred_at_us: Some(event.occurred_at_us),
        account_id: None,
        source_ref: origin.source_ref.clone(),
        // A message holds no text (that lives in its parts): kept as it is.
        payload: data.into_owned(),
    };
    Ok(Some((event, raw)))
}

fn decode_event(data: &str, origin: &Origin) -> Result<Option<UsageEvent>, DecodeError> {
    let message: Message = serde_json::from_str(data)?;
    if message.role.as_deref() != Some("assistant") {
        return Ok(None);
    }
    let tokens = message.tokens.as_ref().map(MessageTokens::tokens).unwrap_or_default();
    let cost = message.cost.filter(|c| c.is_finite());
    if tokens == Tokens::default() && cost.unwrap_or(0.0) == 0.0 {
        return Ok(None);
    }
    let Some(id) = origin.id.map(str::to_owned).or(message.id.map(Cow::into_owned)) else {
        return Ok(None);
    };
    let session_id = origin.session_id.map(str::to_owned).or(message.session_id.map(Cow::into_owned));
    let created_ms =
        message.time.as_ref().and_then(|t| t.created).filter(|t| t.is_finite()).map(|t| t as i64);
    let occurred_at_us = created_ms.or(origin.time_created_ms).ok_or(DecodeError::Timestamp)? * 1000;
    let raw_event_id = stable_id(&[SOURCE_SYSTEM.as_bytes(), id.as_bytes(), data.as_bytes()]);
    let model_raw = message.model_id.filter(|m| !m.is_empty()).map(Cow::into_owned);
    let project =
        message.path.and_then(|p| p.cwd).map(Cow::into_owned).or(origin.directory.map(str::to_owned));
    let event_id = message_event_id(&id);
    Ok(Some(UsageEvent {
        event_id,
        raw_event_id,
        occurred_at_us,
        event_type: "message",
        source_system: SOURCE_SYSTEM,
        source_channel: origin.channel,
        provider_id: message.provider_id.filter(|p| !p.is_empty()).map(Cow::into_owned),
        account_id: None,
        model: model_raw.as_deref().map(model_id),
        model_raw,
        tokens,
        cost_usd: cost,
        cost_source: if cost.is_some() { CostSource::Reported } else { CostSource::Unknown },
        requests: 1,
        agent_id: origin.child_session.then(|| session_id.clone()).flatten(),
        session_id,
        turn_id: None,
        message_id: Some(id),
        request_id: None,
        tool_call_id: None,
        tool_name: None,
        project,
        user_id: None,
        is_sidechain: false,
        client_version: None,
        git_branch: None,
        // Tool-call and boundary fields stay empty.
        ..UsageEvent::bare(event_id, raw_event_id, occurred_at_us, "message", SOURCE_SYSTEM, origin.channel)
    }))
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let uri = format!("file:{}?mode=ro", path.to_string_lossy().replace('?', "%3f").replace('#', "%23"));
    let flags =
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let con = Connection::open_with_flags(uri, flags)?;
    // OpenCode may hold a write lock for a moment; wait rather than fail.
    con.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(con)
}

/// What one batch of reading produced.
#[derive(Default)]
pub struct Batch {
    pub records: Vec<(UsageEvent, RawRecord)>,
    /// Database rows or legacy files looked at.
    pub rows: u64,
    /// Message JSON bytes looked at.
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

/// One database read in batches of rows, all from one snapshot: a read
/// transaction stays open from the first batch to the last, so rows
/// OpenCode writes meanwhile are neither half seen nor seen twice.
pub struct DbStream {
    con: Connection,
    shown: String,
    since: i64,
    /// Batches go through the rows in rowid order (keyset pagination).
    after_rowid: i64,
    /// The largest `time_updated` seen: the next run starts there.
    pub max_time_updated: i64,
    pub done: bool,
}

impl DbStream {
    /// Open the database at `path` to read the messages updated at or after
    /// `since` (ms).
    pub fn open(path: &Path, since: i64) -> rusqlite::Result<Self> {
        let con = open(path)?;
        con.execute_batch("BEGIN")?;
        let shown = path.to_string_lossy().into_owned();
        Ok(DbStream { con, shown, since, after_rowid: i64::MIN, max_time_updated: since, done: false })
    }

    /// The next rows, about `max_bytes` of message JSON, decoded. Once the
    /// last row is read, `done` is set and the snapshot let go.
    pub fn next_batch(&mut self, max_bytes: u64) -> rusqlite::Result<Batch> {
        let mut statement = self.con.prepare_cached(
            "SELECT m.rowid, m.id, m.session_id, m.time_created, m.time_updated, m.data, s.directory, \
             s.parent_id IS NOT NULL \
             FROM message AS m LEFT JOIN session AS s ON s.id = m.session_id \
             WHERE m.rowid > ?1 AND m.time_updated >= ?2 ORDER BY m.rowid",
        )?;
        let mut rows = statement.query(rusqlite::params![self.after_rowid, self.since])?;
        let mut raw_rows = Vec::new();
        let mut batch = Batch::default();
        let mut exhausted = true;
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            let id: String = row.get(1)?;
            let session: Option<String> = row.get(2)?;
            let created: Option<i64> = row.get(3)?;
            let updated: Option<i64> = row.get(4)?;
            // `data` is TEXT, but a damaged row could hold anything.
            let data: Option<String> = row.get::<_, rusqlite::types::Value>(5).map(|v| match v {
                rusqlite::types::Value::Text(t) => Some(t),
                _ => None,
            })?;
            let directory: Option<String> = row.get(6)?;
            let child: Option<bool> = row.get(7)?;
            self.after_rowid = rowid;
            self.max_time_updated = self.max_time_updated.max(updated.unwrap_or(self.since));
            batch.rows += 1;
            batch.bytes += data.as_ref().map_or(0, |d| d.len() as u64);
            raw_rows.push((id, session, created, data, directory, child.unwrap_or(false)));
            if batch.bytes >= max_bytes {
                exhausted = false;
                break;
            }
        }
        drop(rows);
        drop(statement);
        if exhausted {
            self.done = true;
            self.con.execute_batch("COMMIT")?;
        }
        let shown = &self.shown;
        // Decoding is independent per row: on every core.
        let decoded: Vec<Result<Record, Problem>> = raw_rows
            .into_par_iter()
            .map(|(id, session, created, data, directory, child)| {
                let path = format!("{shown}#message/{id}");
                let Some(data) = data else {
                    return Err(Problem { path, offset: 0, message: "message data is not text".to_owned() });
                };
                let origin = Origin {
                    channel: CHANNEL_DB,
                    source_ref: path.clone(),
                    id: Some(&id),
                    session_id: session.as_deref(),
                    time_created_ms: created,
                    directory: directory.as_deref(),
                    child_session: child,
                };
                decode_message(data, &origin).map_err(|e| Problem { path, offset: 0, message: e.to_string() })
            })
            .collect();
        for result in decoded {
            match result {
                Ok(Some(record)) => batch.records.push(record),
                Ok(None) => {}
                Err(problem) => batch.problems.push(problem),
            }
        }
        Ok(batch)
    }
}

/// Every message id in the database (to let its copies in `storage/` go),
/// each as the hash `message_key` gives: hundreds of thousands of them, with
/// no string kept per message.
pub fn db_message_ids(path: &Path, ids: &mut IdSet) -> Result<(), rusqlite::Error> {
    let con = open(path)?;
    let mut statement = con.prepare("SELECT id FROM message")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        if let Ok(id) = row.get_ref(0)?.as_str() {
            ids.insert(message_key(id));
        }
    }
    Ok(())
}

fn message_key(id: &str) -> Id {
    stable_id(&[b"opencode message", id.as_bytes()])
}

/// One session folder of a legacy `storage/message/` tree as found now.
/// Its `hash` covers its files' names, sizes and modification times, and is
/// kept in the tree's cursor: a folder whose hash changed (or that is new)
/// is read again whole, which finds every new or changed file, also one
/// copied in with an old modification time.
pub struct Folder {
    pub name: String,
    pub hash: String,
    pub files: Vec<(PathBuf, u64)>,
    /// A file or the folder could not be looked at: the folder is not
    /// marked as read, so the next run tries again.
    pub problems: Vec<Problem>,
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The session folders of a legacy `storage/` tree, each with its hash and
/// `*.json` files (stat'ed in parallel: a large tree has tens of thousands).
pub fn scan_storage(storage: &Path) -> Result<Vec<Folder>, Problem> {
    let root = storage.join("message");
    let sessions = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            let path = root.to_string_lossy().into_owned();
            return Err(Problem { path, offset: 0, message: format!("cannot list folder: {err}") });
        }
    };
    let mut names: Vec<String> = sessions
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let folders = names
        .into_par_iter()
        .map(|name| {
            let dir = root.join(&name);
            let mut problems = Vec::new();
            let mut entries: Vec<(String, u64, i64)> = Vec::new();
            match std::fs::read_dir(&dir) {
                Ok(listing) => {
                    for entry in listing.flatten() {
                        let file = entry.file_name().to_string_lossy().into_owned();
                        if !file.ends_with(".json") {
                            continue;
                        }
                        match entry.metadata() {
                            Ok(meta) => entries.push((file, meta.len(), mtime_ns(&meta))),
                            Err(err) => problems.push(Problem {
                                path: dir.join(&file).to_string_lossy().into_owned(),
                                offset: 0,
                                message: format!("cannot read file: {err}"),
                            }),
                        }
                    }
                }
                Err(err) => problems.push(Problem {
                    path: dir.to_string_lossy().into_owned(),
                    offset: 0,
                    message: format!("cannot list folder: {err}"),
                }),
            }
            entries.sort();
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            for (file, size, mtime) in &entries {
                hasher.update(file.as_bytes());
                hasher.update(&[0]);
                hasher.update(&size.to_le_bytes());
                hasher.update(&mtime.to_le_bytes());
            }
            let hash = format!("{:016x}", hasher.digest());
            let files = entries.into_iter().map(|(file, size, _)| (dir.join(file), size)).collect();
            Folder { name, hash, files, problems }
        })
        .collect();
    Ok(folders)
}

/// Decode legacy message files, skipping the ids in `skip` (the database
/// has them, and the database wins).
pub fn read_storage_files(files: &[(PathBuf, u64)], skip: &IdSet) -> Batch {
    let decoded: Vec<(u64, Result<Record, Problem>)> = files
        .par_iter()
        .map(|(path, size)| {
            // A message the databases have is not read at all: the database wins,
            // and after OpenCode moved to SQLite its old tree is mostly such copies.
            let id = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if id.as_deref().is_some_and(|id| skip.contains(&message_key(id))) {
                return (*size, Ok(None));
            }
            let shown = path.to_string_lossy().into_owned();
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(err) => {
                    return (
                        0,
                        Err(Problem { path: shown, offset: 0, message: format!("cannot read file: {err}") }),
                    )
                }
            };
            let origin = Origin {
                channel: CHANNEL_STORAGE,
                source_ref: shown.clone(),
                id: None,
                session_id: None,
                time_created_ms: None,
                directory: None,
                child_session: false,
            };
            let len = text.len() as u64;
            let result = decode_message(text, &origin).map_err(|e| Problem {
                path: shown,
                offset: 0,
                message: e.to_string(),
            });
            // The file name is the id when the JSON lacks one.
            let result = result.map(|r| {
                r.map(|(mut event, raw)| {
                    if event.message_id.is_none() {
                        event.message_id = id.clone();
                    }
                    (event, raw)
                })
            });
            (len, result)
        })
        .collect();
    let mut batch = Batch::default();
    for (bytes, result) in decoded {
        batch.rows += 1;
        batch.bytes += bytes;
        match result {
            Ok(Some(record)) => batch.records.push(record),
            Ok(None) => {}
            Err(problem) => batch.problems.push(problem),
        }
    }
    batch
}

/// The cursor state of a legacy tree: each session folder's hash.
#[derive(serde::Serialize, Deserialize, Default)]
struct StorageState {
    folders: std::collections::BTreeMap<String, String>,
}

/// A legacy tree being read: the files of its changed folders, in batches.
struct StorageRead {
    path: String,
    files: Vec<(PathBuf, u64)>,
    position: usize,
    state: StorageState,
}

/// Reads OpenCode's legacy trees, then its databases, in batches of about
/// a given size, so memory stays bounded however large the history is. The
/// trees go first: a message the database also has is skipped there, and
/// when one is in both anyway (two databases), the later copy wins.
pub struct Reader {
    storages: std::collections::VecDeque<(String, Option<String>)>,
    databases: std::collections::VecDeque<(String, i64)>,
    storage: Option<StorageRead>,
    database: Option<(String, DbStream)>,
    /// Message ids the databases have; loaded when a tree has files to read.
    in_databases: Option<IdSet>,
    all_databases: Vec<String>,
    /// Event ids handed out so far, to tell whether a batch repeats one.
    handed_out: crate::ids::IdSet,
    pub cursors: Vec<crate::jsonl::scan::Cursor>,
}

/// One batch: its records (one per event), whether any of them repeats an
/// event of an earlier batch, and what was looked at.
#[derive(Default)]
pub struct Step {
    pub deduped: crate::dedup::Deduped,
    pub repeats: bool,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    pub usage: u64,
    pub problems: Vec<Problem>,
}

impl Reader {
    /// `databases`: `(path, since)`, the largest `time_updated` read before
    /// (ms, 0 for all); `storages`: `(path, state)`, the tree's cursor state.
    pub fn new(databases: Vec<(String, i64)>, storages: Vec<(String, Option<String>)>) -> Self {
        Reader {
            all_databases: databases.iter().map(|(p, _)| p.clone()).collect(),
            storages: storages.into(),
            databases: databases.into(),
            storage: None,
            database: None,
            in_databases: None,
            handed_out: Default::default(),
            cursors: Vec::new(),
        }
    }

    /// The next batch of about `max_bytes` of message JSON; None when all is read.
    pub fn next(&mut self, max_bytes: u64) -> Option<Step> {
        let mut step = Step::default();
        let batch = loop {
            if let Some(read) = &mut self.storage {
                if read.position < read.files.len() {
                    let mut end = read.position;
                    let mut bytes = 0;
                    while end < read.files.len() && (bytes < max_bytes || end == read.position) {
                        bytes += read.files[end].1;
                        end += 1;
                    }
                    let skip = self.in_databases.get_or_insert_with(|| {
                        let mut ids = IdSet::default();
                        for path in &self.all_databases {
                            // An unreadable database: its copies are read, and the database reports why.
                            let _ = db_message_ids(Path::new(path), &mut ids);
                        }
                        ids
                    });
                    let batch = read_storage_files(&read.files[read.position..end], skip);
                    step.files += (end - read.position) as u64;
                    read.position = end;
                    break batch;
                }
                let files = read.files.len() as u64;
                if let Some(done) = self.storage.take() {
                    self.cursors.push(cursor(done.path, files, 0, serde_json::to_string(&done.state).ok()));
                }
                continue;
            }
            if let Some((path, stream)) = &mut self.database {
                match stream.next_batch(max_bytes) {
                    Ok(batch) => {
                        if stream.done {
                            let size = std::fs::metadata(path.as_str()).map_or(0, |m| m.len());
                            let max = stream.max_time_updated;
                            step.files += 1;
                            if let Some((path, _)) = self.database.take() {
                                self.cursors.push(cursor(path, u64::try_from(max).unwrap_or(0), size, None));
                            }
                        }
                        break batch;
                    }
                    Err(err) => {
                        step.problems.push(Problem {
                            path: path.clone(),
                            offset: 0,
                            message: format!("cannot read OpenCode database: {err}"),
                        });
                        self.database = None;
                        continue;
                    }
                }
            }
            if let Some((path, state)) = self.storages.pop_front() {
                self.storage = self.plan_storage(path, state.as_deref(), &mut step.problems);
                continue;
            }
            if let Some((path, since)) = self.databases.pop_front() {
                match DbStream::open(Path::new(&path), since) {
                    Ok(stream) => self.database = Some((path, stream)),
                    Err(err) => step.problems.push(Problem {
                        path,
                        offset: 0,
                        message: format!("cannot read OpenCode database: {err}"),
                    }),
                }
                continue;
            }
            if step.problems.is_empty() && step.files == 0 {
                return None;
            }
            break Batch::default();
        };
        step.rows += batch.rows;
        step.bytes += batch.bytes;
        step.usage += batch.records.len() as u64;
        step.problems.extend(batch.problems);
        let mut collector = crate::dedup::Collector::default();
        for (event, raw) in batch.records {
            step.repeats |= !self.handed_out.insert(event.event_id);
            collector.add(event, raw);
        }
        step.deduped = collector.finish();
        Some(step)
    }

    /// What of the tree at `path` to read: the files of its folders whose
    /// hash differs from the one in `state`.
    fn plan_storage(
        &mut self,
        path: String,
        state: Option<&str>,
        problems: &mut Vec<Problem>,
    ) -> Option<StorageRead> {
        let known: StorageState = state.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
        let folders = match scan_storage(Path::new(&path)) {
            Ok(folders) => folders,
            Err(problem) => {
                problems.push(problem);
                return None;
            }
        };
        let mut read = StorageRead { path, files: Vec::new(), position: 0, state: StorageState::default() };
        for folder in folders {
            let known_hash = known.folders.get(&folder.name);
            if folder.problems.is_empty() {
                if known_hash != Some(&folder.hash) {
                    read.files.extend(folder.files);
                }
                read.state.folders.insert(folder.name, folder.hash);
            } else {
                // Read what can be read; the old hash stays, so the next run tries again.
                problems.extend(folder.problems);
                read.files.extend(folder.files);
                if let Some(hash) = known_hash {
                    read.state.folders.insert(folder.name, hash.clone());
                }
            }
        }
        Some(read)
    }
}

fn cursor(path: String, offset: u64, size: u64, state: Option<String>) -> crate::jsonl::scan::Cursor {
    crate::jsonl::scan::Cursor { path, offset, size, mtime_ns: 0, head_hash: 0, tail_hash: 0, state }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = r#"{"parentID":"msg_a","role":"assistant","mode":"build","agent":"build","path":{"cwd":"/home/dev/work/app","root":"/home/dev/work/app"},"cost":0,"tokens":{"total":2038,"input":10,"output":17,"reasoning":10,"cache":{"write":3,"read":2001}},"modelID":"mock-model","providerID":"mock","time":{"created":1795344595996,"completed":1795344597800},"finish":"tool-calls"}"#;

    fn origin() -> Origin<'static> {
        Origin {
            channel: CHANNEL_DB,
            source_ref: "db#message/msg_b".into(),
            id: Some("msg_b"),
            session_id: Some("ses_1"),
            time_created_ms: None,
            directory: None,
            child_session: false,
        }
    }

    #[test]
    fn assistant_message_in_our_vocabulary_with_a_reported_zero_cost() {
        let (event, _) = decode_message(DATA, &origin()).unwrap().unwrap();
        let t = event.tokens;
        assert_eq!((t.input, t.output, t.reasoning, t.cache_read, t.cache_write), (10, 27, 10, 2001, 3));
        assert_eq!(event.cost_usd, Some(0.0));
        assert_eq!(event.cost_source, CostSource::Reported);
        assert_eq!(event.provider_id.as_deref(), Some("mock"));
        assert_eq!(event.event_id, message_event_id("msg_b"));
        assert_eq!(event.occurred_at_us, 1_795_344_595_996_000);
        assert_eq!(event.project.as_deref(), Some("/home/dev/work/app"));
    }

    #[test]
    fn user_and_empty_messages_are_not_events() {
        let user = r#"{"role":"user","time":{"created":1}}"#;
        assert!(decode_message(user, &origin()).unwrap().is_none());
        let streaming = r#"{"role":"assistant","cost":0,"tokens":{"input":0,"output":0,"reasoning":0,"cache":{"read":0,"write":0}},"time":{"created":1}}"#;
        assert!(decode_message(streaming, &origin()).unwrap().is_none());
        assert!(decode_message(&DATA[..80], &origin()).is_err());
    }
}
