//! The canonical vocabulary: one `UsageEvent` per model API call (and, later,
//! per tool call, turn, session boundary...), plus the `RawRecord` it came from.
//!
//! Token semantics are the same for every source:
//! `input` = prompt tokens neither read from nor written to cache,
//! `cache_read` and `cache_write` separate (`cache_write_1h` is the part of
//! `cache_write` with a one-hour TTL), `output` includes reasoning,
//! `reasoning` is the part of `output` that was reasoning,
//! `total` = input + output + cache_read + cache_write.

use crate::ids::Id;

/// Token counts of one event, in the canonical vocabulary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub reasoning: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub cache_write_1h: u64,
}

impl Tokens {
    /// Saturates rather than wrapping or panicking on absurd input.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
    }

    /// Per-field maximum: streaming snapshots of one response only ever grow,
    /// so the largest value seen for each field is the final one.
    pub fn max(&self, other: &Tokens) -> Tokens {
        Tokens {
            input: self.input.max(other.input),
            output: self.output.max(other.output),
            reasoning: self.reasoning.max(other.reasoning),
            cache_read: self.cache_read.max(other.cache_read),
            cache_write: self.cache_write.max(other.cache_write),
            cache_write_1h: self.cache_write_1h.max(other.cache_write_1h),
        }
    }
}

/// How two records of the same event combine; each source has one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Per-field maximum: the records are growing snapshots or exact copies
    /// (Claude's lines per content block, Codex re-reads).
    Max,
    /// The record added last replaces the event: the source rewrites its
    /// record in place and only its latest version is true (an OpenCode
    /// message, whose tokens are overwritten by its last step's).
    Latest,
}

impl Merge {
    pub fn of(source_system: &str) -> Merge {
        match source_system {
            crate::opencode::SOURCE_SYSTEM => Merge::Latest,
            _ => Merge::Max,
        }
    }
}

/// Where a cost figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostSource {
    /// The agent wrote the cost itself.
    Reported,
    /// Not known yet; the store prices it from the model's unit prices.
    Unknown,
}

impl CostSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CostSource::Reported => "reported",
            CostSource::Unknown => "unknown",
        }
    }
}

/// One canonical usage event (a row of `usage_events`).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    pub event_id: Id,
    pub raw_event_id: Id,
    /// Microseconds since the Unix epoch, UTC.
    pub occurred_at_us: i64,
    pub event_type: &'static str,
    pub source_system: &'static str,
    pub source_channel: &'static str,
    pub provider_id: Option<String>,
    pub account_id: Option<String>,
    pub model_raw: Option<String>,
    pub model: Option<String>,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
    pub cost_source: CostSource,
    pub requests: u32,
    pub session_id: Option<String>,
    pub turn_id: Option<String>,
    pub message_id: Option<String>,
    pub request_id: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_name: Option<String>,
    pub project: Option<String>,
    pub agent_id: Option<String>,
    pub user_id: Option<String>,
    /// Written on a side chain (subagent, `/btw` side question...).
    pub is_sidechain: bool,
    pub client_version: Option<String>,
    pub git_branch: Option<String>,
    /// How long a tool call took.
    pub duration_ms: Option<i64>,
    /// Whether a tool call succeeded.
    pub success: Option<bool>,
    /// What kind of boundary or failure: a session's start `source` or end
    /// `reason`, an API error's kind.
    pub detail: Option<String>,
    /// How the response was served: `fast` (fast mode, billed at other rates),
    /// `standard`, or None when the source does not say.
    pub speed: Option<String>,
}

impl UsageEvent {
    /// An event with identity, time and kind only; no usage, nothing known yet.
    pub fn bare(
        event_id: Id,
        raw_event_id: Id,
        occurred_at_us: i64,
        event_type: &'static str,
        source_system: &'static str,
        source_channel: &'static str,
    ) -> UsageEvent {
        UsageEvent {
            event_id,
            raw_event_id,
            occurred_at_us,
            event_type,
            source_system,
            source_channel,
            provider_id: None,
            account_id: None,
            model_raw: None,
            model: None,
            tokens: Tokens::default(),
            cost_usd: None,
            cost_source: CostSource::Unknown,
            requests: 0,
            session_id: None,
            turn_id: None,
            message_id: None,
            request_id: None,
            tool_call_id: None,
            tool_name: None,
            project: None,
            agent_id: None,
            user_id: None,
            is_sidechain: false,
            client_version: None,
            git_branch: None,
            duration_ms: None,
            success: None,
            detail: None,
            speed: None,
        }
    }
}

/// One source record as received (a row of `usage_raw_events`), with content
/// stripped unless the user asked to keep it. Records that repeat the same
/// usage of the same call (Claude writes a copy per content block) are one
/// raw record: keeping each distinct usage snapshot is enough to rebuild the event.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub raw_event_id: Id,
    pub source_system: &'static str,
    pub source_channel: &'static str,
    pub occurred_at_us: Option<i64>,
    pub account_id: Option<String>,
    /// Where it came from, e.g. `path:byte_offset`.
    pub source_ref: String,
    /// Compact JSON.
    pub payload: String,
}
