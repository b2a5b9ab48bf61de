//! Codex CLI rollouts (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`).
//!
//! Every line is an envelope `{"timestamp", "type", "payload"}` (FORMATS.md
//! §D.2). Usage comes from two kinds of lines, and a line's meaning depends
//! on the lines before it in the same file, hence `CodexState`:
//!
//! * `token_usage_record` (2026 builds): one line per model response, with
//!   its `response_id` and usage. Where a file has them, they are the events.
//! * `event_msg` / `token_count`: the thread's cumulative `total_token_usage`.
//!   An event is the growth of that total since the previous line (§D.3):
//!   a re-emit with an unchanged total adds nothing, `info: null` heartbeats
//!   add nothing, and a total that goes down is a reset (resume, compaction,
//!   rollback), counted by its `last_token_usage`.
//!
//! A forked or subagent thread starts by replaying its parent's history, all
//! written within a moment of its `session_meta`: those lines set the
//! baseline and are never counted (the parent's file counts them).
//! `token_usage_record`s name their thread, so replayed ones are recognized
//! by that too. The model is the latest `turn_context`'s.
//!
//! Token vocabulary: OpenAI's `input_tokens` include the cached ones (and the
//! cache writes newer builds report), `output_tokens` include reasoning.
//! Ours: input = input − cached − cache writes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{DecodeError, Decoded, LineFormat, Source};
use crate::event::{CostSource, RawRecord, Tokens, UsageEvent};
use crate::ids::{stable_id, Id};
use crate::normalize::{model_id, timestamp_us};

pub const SOURCE_SYSTEM: &str = "codex";
pub const SOURCE_CHANNEL: &str = "rollout";

/// Lines written this soon after a fork's `session_meta` are its parent's
/// replayed history: Codex writes them all at once when the thread starts,
/// before any request of its own can have completed.
const REPLAY_WINDOW_US: i64 = 1_000_000;

/// Codex's rollout format.
pub struct CodexRollout;

impl LineFormat for CodexRollout {
    /// The line types that matter; as keys or values in the envelope their
    /// quotes are bare, inside message text they would be escaped.
    const NEEDLES: &'static [&'static [u8]] =
        &[b"\"token_count\"", b"\"token_usage_record\"", b"\"turn_context\"", b"\"session_meta\""];
    type State = CodexState;
    const IN_ORDER: bool = true;

    fn decode(
        line: &[u8],
        source: &Source,
        state: &mut CodexState,
        wanted: impl Fn(Id) -> bool,
    ) -> Result<Decoded, DecodeError> {
        decode_line(line, source, state, wanted)
    }

    /// Most of a rollout's bytes are `response_item` lines (model output,
    /// tool calls and their output), which never carry usage: Codex writes
    /// the envelope's `type` first after the timestamp, so they are known by
    /// their first few dozen bytes, and not searched for the needles.
    fn may_matter(line: &[u8], has_needle: impl FnOnce() -> bool) -> bool {
        envelope_type(line) != Some(b"response_item".as_slice()) && has_needle()
    }

    /// Bare legacy rollouts (mid-2025) have no envelope and no usage.
    fn recognized(state: &CodexState) -> bool {
        state.thread_id.is_some() || state.total.is_some()
    }
}

/// The envelope's `type` of a line as Codex writes it
/// (`{"timestamp":"…","type":"…",`); None for any other layout.
fn envelope_type(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(b"{\"timestamp\":\"")?;
    let rest = &rest[memchr::memchr(b'"', rest)? + 1..];
    let rest = rest.strip_prefix(b",\"type\":\"")?;
    let kind = &rest[..memchr::memchr(b'"', rest)?];
    // Only a complete line is judged by its start; a cut one goes on to the needles.
    (line.last() == Some(&b'}')).then_some(kind)
}

/// A thread's cumulative usage, in Codex's own terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    input: u64,
    cached: u64,
    cache_write: u64,
    output: u64,
    reasoning: u64,
}

impl Total {
    fn any_below(&self, other: &Total) -> bool {
        self.input < other.input
            || self.cached < other.cached
            || self.cache_write < other.cache_write
            || self.output < other.output
            || self.reasoning < other.reasoning
    }

    fn minus(&self, other: &Total) -> Total {
        Total {
            input: self.input - other.input,
            cached: self.cached - other.cached,
            cache_write: self.cache_write - other.cache_write,
            output: self.output - other.output,
            reasoning: self.reasoning - other.reasoning,
        }
    }

    fn plus(&self, other: &Total) -> Total {
        Total {
            input: self.input + other.input,
            cached: self.cached + other.cached,
            cache_write: self.cache_write + other.cache_write,
            output: self.output + other.output,
            reasoning: self.reasoning + other.reasoning,
        }
    }

    fn is_zero(&self) -> bool {
        *self == Total::default()
    }

    fn tokens(&self) -> Tokens {
        Tokens {
            input: self.input.saturating_sub(self.cached).saturating_sub(self.cache_write),
            output: self.output,
            reasoning: self.reasoning,
            cache_read: self.cached,
            cache_write: self.cache_write,
            cache_write_1h: 0,
        }
    }
}

/// What the lines of a rollout so far tell about the lines to come. Kept in
/// the file's cursor between runs (a thread resumed days later appends to
/// the same file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodexState {
    pub thread_id: Option<String>,
    pub provider: Option<String>,
    pub cli_version: Option<String>,
    pub git_branch: Option<String>,
    pub cwd: Option<String>,
    /// Set for subagent threads (their own thread id).
    pub agent_id: Option<String>,
    /// Replayed parent history ends here (forks and subagents only).
    pub replay_until_us: Option<i64>,
    /// From the latest `turn_context`.
    pub model: Option<String>,
    pub turn_id: Option<String>,
    /// The thread's cumulative usage after the last usage line.
    pub total: Option<Total>,
    /// The file has `token_usage_record`s: they are the events, and
    /// `token_count`s only keep the total.
    pub has_records: bool,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct SessionMeta {
    id: Option<String>,
    cwd: Option<String>,
    model_provider: Option<String>,
    cli_version: Option<String>,
    model: Option<String>,
    git: Option<Git>,
    forked_from_id: Option<String>,
    /// `"cli"`, `"exec"`, ... or `{"subagent": {"thread_spawn": {...}}}`.
    source: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Git {
    branch: Option<String>,
}

#[derive(Deserialize)]
struct TurnContext {
    turn_id: Option<String>,
    cwd: Option<String>,
    model: Option<String>,
}

#[derive(Deserialize)]
struct EventMsg {
    #[serde(rename = "type")]
    kind: Option<String>,
    info: Option<Info>,
}

#[derive(Deserialize)]
struct Info {
    total_token_usage: Option<Usage>,
    last_token_usage: Option<Usage>,
    model: Option<String>,
}

#[derive(Deserialize)]
struct UsageRecord {
    thread_id: Option<String>,
    turn_id: Option<String>,
    response_id: Option<String>,
    usage: Option<Usage>,
    thread_token_usage: Option<Usage>,
}

/// Missing counts are zero.
#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<u64>,
    cached_input_tokens: Option<u64>,
    cache_write_input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    reasoning_output_tokens: Option<u64>,
}

impl Usage {
    fn total(&self) -> Total {
        Total {
            input: self.input_tokens.unwrap_or(0),
            cached: self.cached_input_tokens.unwrap_or(0),
            cache_write: self.cache_write_input_tokens.unwrap_or(0),
            output: self.output_tokens.unwrap_or(0),
            reasoning: self.reasoning_output_tokens.unwrap_or(0),
        }
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// The thread id from a rollout's file name (`rollout-<time>-<uuid>.jsonl`),
/// for a file whose `session_meta` line is missing or cut off.
fn thread_from_path(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let stem = name.strip_suffix(".zst").unwrap_or(name).strip_suffix(".jsonl")?;
    let id = stem.get(stem.len().checked_sub(36)?..)?;
    (id.bytes().filter(|&b| b == b'-').count() == 4).then(|| id.to_owned())
}

fn session_meta(meta: SessionMeta, at_us: Option<i64>, state: &mut CodexState) {
    // A fork's replayed history may carry its parent's session_meta: only
    // the first one of a file is the thread's own.
    if state.thread_id.is_some() {
        return;
    }
    let subagent = meta
        .source
        .as_ref()
        .is_some_and(|s| s.get("subagent").is_some() || s.to_string().contains("thread_spawn"));
    state.thread_id = non_empty(meta.id);
    state.provider = non_empty(meta.model_provider);
    state.cli_version = non_empty(meta.cli_version);
    state.git_branch = meta.git.and_then(|g| non_empty(g.branch));
    state.cwd = non_empty(meta.cwd);
    state.model = state.model.take().or(non_empty(meta.model));
    if subagent {
        state.agent_id = state.thread_id.clone();
    }
    if subagent || meta.forked_from_id.is_some() {
        state.replay_until_us = at_us.map(|t| t + REPLAY_WINDOW_US);
    }
}

fn replaying(state: &CodexState, at_us: i64) -> bool {
    state.replay_until_us.is_some_and(|until| at_us <= until)
}

/// Decode one rollout line (see `LineFormat::decode`).
pub fn decode_line(
    line: &[u8],
    source: &Source,
    state: &mut CodexState,
    wanted: impl Fn(Id) -> bool,
) -> Result<Decoded, DecodeError> {
    let envelope: Envelope = serde_json::from_slice(line)?;
    let (Some(kind), Some(payload)) = (envelope.kind.as_deref(), envelope.payload) else {
        return Ok(Decoded::Irrelevant);
    };
    let at_us = envelope.timestamp.as_deref().and_then(timestamp_us);
    match kind {
        "session_meta" => {
            session_meta(serde_json::from_str(payload.get())?, at_us, state);
            Ok(Decoded::Irrelevant)
        }
        "turn_context" => {
            let turn: TurnContext = serde_json::from_str(payload.get())?;
            state.model = non_empty(turn.model).or(state.model.take());
            state.turn_id = non_empty(turn.turn_id).or(state.turn_id.take());
            state.cwd = non_empty(turn.cwd).or(state.cwd.take());
            Ok(Decoded::Irrelevant)
        }
        "event_msg" => {
            let msg: EventMsg = serde_json::from_str(payload.get())?;
            if msg.kind.as_deref() != Some("token_count") {
                return Ok(Decoded::Irrelevant);
            }
            // `info: null` is a rate-limit-only heartbeat.
            let Some(info) = msg.info else { return Ok(Decoded::Irrelevant) };
            let Some(total) = info.total_token_usage.as_ref().map(Usage::total) else {
                return Ok(Decoded::Irrelevant);
            };
            let at_us = at_us.ok_or(DecodeError::Timestamp)?;
            let previous = state.total.replace(total);
            if state.has_records || replaying(state, at_us) {
                return Ok(Decoded::Irrelevant);
            }
            let delta = match previous {
                None => total,
                Some(previous) if total.any_below(&previous) => {
                    // A reset: the total restarted; the response is the last one.
                    info.last_token_usage.as_ref().map_or(total, Usage::total)
                }
                Some(previous) => total.minus(&previous),
            };
            if delta.is_zero() {
                return Ok(Decoded::Irrelevant); // a re-emit of the same total
            }
            let thread = thread_id(state, source);
            let event_id = stable_id(&[
                b"message",
                SOURCE_SYSTEM.as_bytes(),
                thread.as_bytes(),
                envelope.timestamp.as_deref().unwrap_or_default().as_bytes(),
                &total_bytes(&total),
            ]);
            let model = non_empty(info.model).or_else(|| state.model.clone());
            Ok(usage_event(
                line,
                source,
                state,
                wanted,
                Response { event_id, at_us, delta, model, turn_id: None, response_id: None },
            ))
        }
        "token_usage_record" => {
            let record: UsageRecord = serde_json::from_str(payload.get())?;
            let at_us = at_us.ok_or(DecodeError::Timestamp)?;
            let usage = record.usage.as_ref().map(Usage::total).unwrap_or_default();
            let thread_total = record.thread_token_usage.as_ref().map(Usage::total);
            let own = thread_id(state, source);
            let foreign = record.thread_id.as_deref().is_some_and(|t| !t.is_empty() && t != own);
            let previous = state.total.unwrap_or_default();
            state.total = Some(thread_total.unwrap_or_else(|| previous.plus(&usage)));
            if foreign || replaying(state, at_us) {
                return Ok(Decoded::Irrelevant);
            }
            state.has_records = true;
            if usage.is_zero() {
                return Ok(Decoded::Irrelevant);
            }
            let response_id = non_empty(record.response_id);
            let event_id = match &response_id {
                Some(response) => stable_id(&[b"message", SOURCE_SYSTEM.as_bytes(), response.as_bytes()]),
                None => stable_id(&[
                    b"message",
                    SOURCE_SYSTEM.as_bytes(),
                    own.as_bytes(),
                    envelope.timestamp.as_deref().unwrap_or_default().as_bytes(),
                    &total_bytes(&state.total.unwrap_or_default()),
                ]),
            };
            let turn_id = non_empty(record.turn_id);
            let model = state.model.clone();
            Ok(usage_event(
                line,
                source,
                state,
                wanted,
                Response { event_id, at_us, delta: usage, model, turn_id, response_id },
            ))
        }
        _ => Ok(Decoded::Irrelevant),
    }
}

fn thread_id(state: &CodexState, source: &Source) -> String {
    state.thread_id.clone().or_else(|| thread_from_path(source.path)).unwrap_or_default()
}

fn total_bytes(total: &Total) -> [u8; 40] {
    let mut out = [0; 40];
    for (chunk, value) in
        out.chunks_mut(8).zip([total.input, total.cached, total.cache_write, total.output, total.reasoning])
    {
        chunk.copy_from_slice(&value.to_be_bytes());
    }
    out
}

/// One model response found in a usage line.
struct Response {
    event_id: Id,
    at_us: i64,
    delta: Total,
    model: Option<String>,
    turn_id: Option<String>,
    response_id: Option<String>,
}

fn usage_event(
    line: &[u8],
    source: &Source,
    state: &CodexState,
    wanted: impl Fn(Id) -> bool,
    response: Response,
) -> Decoded {
    let raw_event_id = stable_id(&[SOURCE_SYSTEM.as_bytes(), SOURCE_CHANNEL.as_bytes(), line]);
    // Usage lines carry no message text: the line is the raw record as it is.
    let (payload, source_ref) = if wanted(raw_event_id) {
        (String::from_utf8_lossy(line).into_owned(), format!("{}:{}", source.path, source.offset))
    } else {
        (String::new(), String::new())
    };
    let thread = thread_id(state, source);
    let event = UsageEvent {
        event_id: response.event_id,
        raw_event_id,
        occurred_at_us: response.at_us,
        event_type: "message",
        source_system: SOURCE_SYSTEM,
        source_channel: SOURCE_CHANNEL,
        provider_id: state.provider.clone(),
        account_id: None,
        model: response.model.as_deref().map(model_id),
        model_raw: response.model,
        tokens: response.delta.tokens(),
        cost_usd: None,
        cost_source: CostSource::Unknown,
        requests: 1,
        session_id: (!thread.is_empty()).then_some(thread),
        turn_id: response.turn_id.or_else(|| state.turn_id.clone()),
        message_id: None,
        request_id: response.response_id,
        tool_call_id: None,
        tool_name: None,
        project: state.cwd.clone(),
        agent_id: state.agent_id.clone(),
        user_id: None,
        is_sidechain: false,
        client_version: state.cli_version.clone(),
        git_branch: state.git_branch.clone(),
        // Tool-call and boundary fields stay empty.
        ..UsageEvent::bare(
            response.event_id,
            raw_event_id,
            response.at_us,
            "message",
            SOURCE_SYSTEM,
            SOURCE_CHANNEL,
        )
    };
    let raw = RawRecord {
        raw_event_id,
        source_system: SOURCE_SYSTEM,
        source_channel: SOURCE_CHANNEL,
        occurred_at_us: Some(response.at_us),
        account_id: None,
        source_ref,
        payload,
    };
    Decoded::Usage(Box::new((event, raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = r#"{"timestamp":"2026-02-23T11:40:23.000Z","type":"session_meta","payload":{"id":"019c8bfe-ec25-79e0-97d7-bda6a9c575ff","cwd":"/home/me/app","cli_version":"0.104.0","model_provider":"openai","git":{"branch":"main"}}}"#;
    const TURN: &str = r#"{"timestamp":"2026-02-23T11:40:24.000Z","type":"turn_context","payload":{"turn_id":"t1","cwd":"/home/me/app","model":"gpt-5-codex"}}"#;

    fn count(ts: &str, total: (u64, u64, u64), last: (u64, u64, u64)) -> String {
        format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{},"cached_input_tokens":{},"output_tokens":{},"reasoning_output_tokens":0}},"last_token_usage":{{"input_tokens":{},"cached_input_tokens":{},"output_tokens":{},"reasoning_output_tokens":0}}}}}}}}"#,
            total.0, total.1, total.2, last.0, last.1, last.2
        )
    }

    /// Decode lines in order; the events' tokens.
    fn run(lines: &[String], state: &mut CodexState) -> Vec<UsageEvent> {
        let source = Source {
            path: "/x/rollout-2026-02-23T12-40-23-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl",
            offset: 0,
            keep_content: false,
        };
        let mut out = Vec::new();
        for line in lines {
            if let Ok(Decoded::Usage(pair)) = decode_line(line.as_bytes(), &source, state, |_| true) {
                out.push(pair.0);
            }
        }
        out
    }

    #[test]
    fn response_items_are_known_by_their_start() {
        let item = r#"{"timestamp":"2026-02-23T11:40:25.000Z","type":"response_item","payload":{"type":"function_call_output","output":"{\"type\":\"token_count\"}"}}"#;
        assert_eq!(envelope_type(item.as_bytes()), Some(&b"response_item"[..]));
        assert!(!CodexRollout::may_matter(item.as_bytes(), || true));
        // Other types, other layouts and cut lines are left to the needles.
        assert!(CodexRollout::may_matter(TURN.as_bytes(), || true));
        assert!(CodexRollout::may_matter(&item.as_bytes()[..60], || true));
        assert!(CodexRollout::may_matter(br#"{"type":"response_item","timestamp":"x"}"#, || true));
        assert!(!CodexRollout::may_matter(TURN.as_bytes(), || false));
    }

    #[test]
    fn deltas_of_the_total_skip_re_emits_heartbeats_and_count_resets() {
        let heartbeat = r#"{"timestamp":"2026-02-23T11:40:25.000Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{}}}"#.to_owned();
        let lines = vec![
            META.to_owned(),
            TURN.to_owned(),
            heartbeat,
            count("2026-02-23T11:40:30.000Z", (100, 40, 10), (100, 40, 10)),
            count("2026-02-23T11:40:31.000Z", (100, 40, 10), (100, 40, 10)), // re-emit
            count("2026-02-23T11:40:40.000Z", (250, 140, 30), (150, 100, 20)),
            count("2026-02-23T11:41:00.000Z", (70, 0, 5), (70, 0, 5)), // reset
        ];
        let mut state = CodexState::default();
        let events = run(&lines, &mut state);
        let tokens: Vec<(u64, u64, u64)> =
            events.iter().map(|e| (e.tokens.input, e.tokens.cache_read, e.tokens.output)).collect();
        assert_eq!(tokens, [(60, 40, 10), (50, 100, 20), (70, 0, 5)]);
        let e = &events[0];
        assert_eq!(e.model.as_deref(), Some("gpt-5-codex"));
        assert_eq!(e.provider_id.as_deref(), Some("openai"));
        assert_eq!(e.session_id.as_deref(), Some("019c8bfe-ec25-79e0-97d7-bda6a9c575ff"));
        assert_eq!(e.turn_id.as_deref(), Some("t1"));
        assert_eq!(e.project.as_deref(), Some("/home/me/app"));
        assert!(CodexRollout::recognized(&state));
    }

    #[test]
    fn state_survives_a_round_trip_and_resumes_the_deltas() {
        let mut state = CodexState::default();
        run(
            &[
                META.to_owned(),
                TURN.to_owned(),
                count("2026-02-23T11:40:30.000Z", (100, 40, 10), (100, 40, 10)),
            ],
            &mut state,
        );
        let mut resumed: CodexState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        let events = run(&[count("2026-02-25T09:00:00.000Z", (300, 140, 30), (200, 100, 20))], &mut resumed);
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].tokens.input, events[0].tokens.output), (100, 20));
        assert_eq!(events[0].model.as_deref(), Some("gpt-5-codex"));
    }

    #[test]
    fn fork_replay_is_the_baseline() {
        let fork = META.replace(r#""cwd""#, r#""forked_from_id":"parent","cwd""#);
        let lines = vec![
            fork,
            count("2026-02-23T11:40:23.200Z", (1000, 0, 100), (1000, 0, 100)), // replayed
            count("2026-02-23T11:40:23.300Z", (2000, 0, 200), (1000, 0, 100)), // replayed
            TURN.to_owned(),
            count("2026-02-23T11:40:50.000Z", (2500, 0, 250), (500, 0, 50)),
        ];
        let events = run(&lines, &mut CodexState::default());
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].tokens.input, events[0].tokens.output), (500, 50));
    }

    #[test]
    fn usage_records_are_the_events_where_present() {
        let record = |ts: &str, thread: &str, resp: &str, input: u64, total: u64| {
            format!(
                r#"{{"timestamp":"{ts}","type":"token_usage_record","payload":{{"thread_id":"{thread}","turn_id":"t1","response_id":"{resp}","usage":{{"input_tokens":{input},"cached_input_tokens":1,"output_tokens":7,"reasoning_output_tokens":5}},"thread_token_usage":{{"input_tokens":{total},"cached_input_tokens":2,"output_tokens":14,"reasoning_output_tokens":10}}}}}}"#
            )
        };
        let own = "019c8bfe-ec25-79e0-97d7-bda6a9c575ff";
        let lines = vec![
            META.to_owned(),
            TURN.to_owned(),
            record("2026-02-23T11:40:30.000Z", own, "resp_1", 11, 11),
            count("2026-02-23T11:40:30.100Z", (11, 1, 7), (11, 1, 7)),
            record("2026-02-23T11:40:40.000Z", "someone-else", "resp_0", 11, 11),
            record("2026-02-23T11:40:50.000Z", own, "resp_2", 21, 32),
            count("2026-02-23T11:40:50.100Z", (32, 2, 14), (21, 1, 7)),
        ];
        let events = run(&lines, &mut CodexState::default());
        let ids: Vec<_> = events.iter().map(|e| e.request_id.clone().unwrap()).collect();
        assert_eq!(ids, ["resp_1", "resp_2"]);
        assert_eq!(events[1].tokens.input, 20);
        assert_eq!(events[1].tokens.reasoning, 5);
        assert_eq!(events[1].event_id, stable_id(&[b"message", b"codex", b"resp_2"]));
    }

    #[test]
    fn legacy_files_are_not_recognized_and_bad_lines_are_errors() {
        let mut state = CodexState::default();
        let legacy = r#"{"id":"abc","timestamp":"2025-06-01T10:00:00Z","instructions":"x"}"#.to_owned();
        assert!(run(&[legacy], &mut state).is_empty());
        assert!(!CodexRollout::recognized(&state));
        let source = Source { path: "f", offset: 0, keep_content: false };
        let cut = &count("2026-02-23T11:40:30.000Z", (1, 0, 1), (1, 0, 1))[..90];
        assert!(decode_line(cut.as_bytes(), &source, &mut state, |_| true).is_err());
    }
}
