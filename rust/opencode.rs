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

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;

use crate::event::{CostSource, RawRecord, Tokens, UsageEvent};
use crate::ids::stable_id;
use crate::jsonl::{DecodeError, Problem};
use crate::normalize::model_id;

pub const SOURCE_SYSTEM: &str = "opencode";
pub const CHANNEL_DB: &str = "db";
pub const CHANNEL_STORAGE: &str = "storage";
pub const CHANNEL_PLUGIN: &str = "plugin";

/// The fields of a message that matter for usage.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Message {
    id: Option<String>,
    #[serde(rename = "sessionID")]
    session_id: Option<String>,
    role: Option<String>,
    #[serde(rename = "modelID")]
    model_id: Option<String>,
    #[serde(rename = "providerID")]
    provider_id: Option<String>,
    time: Option<Time>,
    path: Option<MessagePath>,
    cost: Option<f64>,
    tokens: Option<MessageTokens>,
}

#[derive(Deserialize, Default)]
struct Time {
    created: Option<f64>,
}

#[derive(Deserialize, Default)]
struct MessagePath {
    cwd: Option<String>,
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
/// first tokens).
pub fn decode_message(data: &str, origin: &Origin) -> Result<Record, DecodeError> {
    let message: Message = serde_json::from_str(data)?;
    if message.role.as_deref() != Some("assistant") {
        return Ok(None);
    }
    let tokens = message.tokens.as_ref().map(MessageTokens::tokens).unwrap_or_default();
    let cost = message.cost.filter(|c| c.is_finite());
    if tokens == Tokens::default() && cost.unwrap_or(0.0) == 0.0 {
        return Ok(None);
    }
    let Some(id) = origin.id.map(str::to_owned).or(message.id) else {
        return Ok(None);
    };
    let session_id = origin.session_id.map(str::to_owned).or(message.session_id);
    let created_ms =
        message.time.as_ref().and_then(|t| t.created).filter(|t| t.is_finite()).map(|t| t as i64);
    let occurred_at_us = created_ms.or(origin.time_created_ms).ok_or(DecodeError::Timestamp)? * 1000;
    let raw_event_id = stable_id(&[SOURCE_SYSTEM.as_bytes(), id.as_bytes(), data.as_bytes()]);
    let model_raw = message.model_id.filter(|m| !m.is_empty());
    let project = message.path.and_then(|p| p.cwd).or(origin.directory.map(str::to_owned));
    let event_id = message_event_id(&id);
    let event = UsageEvent {
        event_id,
        raw_event_id,
        occurred_at_us,
        event_type: "message",
        source_system: SOURCE_SYSTEM,
        source_channel: origin.channel,
        provider_id: message.provider_id.filter(|p| !p.is_empty()),
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
    };
    let raw = RawRecord {
        raw_event_id,
        source_system: SOURCE_SYSTEM,
        source_channel: origin.channel,
        occurred_at_us: Some(occurred_at_us),
        account_id: None,
        source_ref: origin.source_ref.clone(),
        // A message holds no text (that lives in its parts): kept as it is.
        payload: data.to_owned(),
    };
    Ok(Some((event, raw)))
}

/// What reading one database produced.
#[derive(Default)]
pub struct DbRead {
    pub records: Vec<(UsageEvent, RawRecord)>,
    /// Rows looked at.
    pub rows: u64,
    /// The largest `time_updated` seen: the next run starts there.
    pub max_time_updated: i64,
    pub problems: Vec<Problem>,
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

/// Assistant messages updated at or after `since` (ms) in the database at `path`.
pub fn read_db(path: &Path, since: i64) -> Result<DbRead, rusqlite::Error> {
    let con = open(path)?;
    let shown = path.to_string_lossy();
    let mut out = DbRead { max_time_updated: since, ..DbRead::default() };
    // One read transaction: a consistent snapshot while OpenCode writes.
    con.execute_batch("BEGIN")?;
    let mut statement = con.prepare(
        "SELECT m.id, m.session_id, m.time_created, m.time_updated, m.data, s.directory, s.parent_id IS NOT NULL \
         FROM message AS m LEFT JOIN session AS s ON s.id = m.session_id WHERE m.time_updated >= ?1",
    )?;
    let mut rows = statement.query([since])?;
    let mut raw_rows = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let session: Option<String> = row.get(1)?;
        let created: Option<i64> = row.get(2)?;
        let updated: Option<i64> = row.get(3)?;
        // `data` is TEXT, but a damaged row could hold anything.
        let data: Option<String> = row.get::<_, rusqlite::types::Value>(4).map(|v| match v {
            rusqlite::types::Value::Text(t) => Some(t),
            _ => None,
        })?;
        let directory: Option<String> = row.get(5)?;
        let child: Option<bool> = row.get(6)?;
        out.rows += 1;
        out.max_time_updated = out.max_time_updated.max(updated.unwrap_or(since));
        raw_rows.push((id, session, created, data, directory, child.unwrap_or(false)));
    }
    drop(rows);
    drop(statement);
    con.execute_batch("COMMIT")?;
    // Decoding is independent per row: on every core.
    let decoded: Vec<Result<Record, (String, String)>> = raw_rows
        .par_iter()
        .map(|(id, session, created, data, directory, child)| {
            let Some(data) = data else {
                return Err((id.clone(), "message data is not text".to_owned()));
            };
            let origin = Origin {
                channel: CHANNEL_DB,
                source_ref: format!("{shown}#message/{id}"),
                id: Some(id),
                session_id: session.as_deref(),
                time_created_ms: *created,
                directory: directory.as_deref(),
                child_session: *child,
            };
            decode_message(data, &origin).map_err(|e| (id.clone(), e.to_string()))
        })
        .collect();
    for result in decoded {
        match result {
            Ok(Some(record)) => out.records.push(record),
            Ok(None) => {}
            Err((id, message)) => {
                out.problems.push(Problem { path: format!("{shown}#message/{id}"), offset: 0, message })
            }
        }
    }
    Ok(out)
}

/// Every message id in the database (to let its copies in `storage/` go).
pub fn db_message_ids(path: &Path) -> Result<HashSet<String>, rusqlite::Error> {
    let con = open(path)?;
    let mut statement = con.prepare("SELECT id FROM message")?;
    let ids = statement.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}

/// What reading a legacy `storage/` tree produced.
#[derive(Default)]
pub struct StorageRead {
    pub records: Vec<(UsageEvent, RawRecord)>,
    pub files: u64,
    pub bytes: u64,
    /// The newest modification time read (ns): the next run starts there.
    pub max_mtime_ns: i64,
    pub problems: Vec<Problem>,
}

/// Assistant messages in `storage/message/<session>/<message>.json` files
/// modified at or after `since_ns`, except those in `skip` (the database
/// has them, and the database wins).
pub fn read_storage(storage: &Path, since_ns: i64, skip: &HashSet<String>) -> StorageRead {
    let mut out = StorageRead { max_mtime_ns: since_ns, ..StorageRead::default() };
    let mut files: Vec<(PathBuf, i64)> = Vec::new();
    let sessions = match std::fs::read_dir(storage.join("message")) {
        Ok(entries) => entries,
        Err(_) => return out,
    };
    for session in sessions.flatten() {
        let Ok(messages) = std::fs::read_dir(session.path()) else { continue };
        for message in messages.flatten() {
            let path = message.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let mtime = message
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64);
            if mtime >= since_ns {
                files.push((path, mtime));
            }
        }
    }
    let decoded: Vec<(u64, Result<Record, Problem>)> = files
        .par_iter()
        .map(|(path, _)| {
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
            let id = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if id.as_ref().is_some_and(|id| skip.contains(id)) {
                return (text.len() as u64, Ok(None));
            }
            let origin = Origin {
                channel: CHANNEL_STORAGE,
                source_ref: shown.clone(),
                id: None,
                session_id: None,
                time_created_ms: None,
                directory: None,
                child_session: false,
            };
            let result = decode_message(&text, &origin).map_err(|e| Problem {
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
            (text.len() as u64, result)
        })
        .collect();
    for ((_, mtime), (bytes, result)) in files.iter().zip(decoded) {
        out.files += 1;
        out.bytes += bytes;
        out.max_mtime_ns = out.max_mtime_ns.max(*mtime);
        match result {
            Ok(Some(record)) => out.records.push(record),
            Ok(None) => {}
            Err(problem) => out.problems.push(problem),
        }
    }
    out
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
