//! JSONL history files: finding them, reading only what is new, and decoding
//! their lines. `scan` is shared by every source; each source format is a
//! module implementing `LineFormat`.

pub mod claude;
pub mod codex;
pub mod scan;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::event::{RawRecord, UsageEvent};
use crate::ids::Id;

/// Something wrong with the input, reported to the user; never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    /// Byte offset of the offending line within the file.
    pub offset: u64,
    pub message: String,
}

/// What one line amounts to.
#[derive(Debug)]
pub enum Decoded {
    Usage(Box<(UsageEvent, RawRecord)>),
    /// A message the agent generated itself; no API call, no spend.
    Synthetic,
    /// Nothing to count (e.g. a tool result quoting a subagent's usage).
    Irrelevant,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("usage line without a valid timestamp")]
    Timestamp,
    /// A field the line cannot be counted without has the wrong type.
    #[error("{field}: expected {expected}, got {got}")]
    WrongType { field: String, expected: &'static str, got: String },
}

/// Where a line came from.
pub struct Source<'a> {
    pub path: &'a str,
    pub offset: u64,
    /// Store the whole line, message text included.
    pub keep_content: bool,
}

/// A line-oriented history format.
pub trait LineFormat: Sync {
    /// Only lines containing one of these are parsed: the cheap pre-filter.
    const NEEDLES: &'static [&'static [u8]];

    /// What decoding a line may depend on from earlier lines of the same file
    /// (Codex: the session, the latest model, the previous cumulative total).
    /// It travels in the file's cursor, so a later run resumes with it.
    type State: Default + Clone + Send + Serialize + DeserializeOwned;

    /// Lines depend on earlier ones (through `State`): each file is then read
    /// in order, as one unit; files still go in parallel.
    const IN_ORDER: bool;

    /// Decode one line. `wanted(raw_id)` says whether its raw record is still
    /// needed; when it is not (a repeated copy), the payload need not be built.
    fn decode(
        line: &[u8],
        source: &Source,
        state: &mut Self::State,
        wanted: impl Fn(Id) -> bool,
    ) -> Result<Decoded, DecodeError>;

    /// Whether a line may matter at all, given `has_needle` (the pre-filter:
    /// one of `NEEDLES` occurs in it). A format whose lines say early what
    /// they are may answer without searching the whole line.
    fn may_matter(_line: &[u8], has_needle: impl FnOnce() -> bool) -> bool {
        has_needle()
    }

    /// Whether a file read from its start, ending in `state`, was in this
    /// format at all; one that was not (e.g. a legacy layout without usage) is
    /// counted as a skipped file, not as an error.
    fn recognized(_state: &Self::State) -> bool {
        true
    }
}
