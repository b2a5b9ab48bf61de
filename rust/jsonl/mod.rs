//! JSONL history files: finding them, reading only what is new, and decoding
//! their lines. `scan` is shared by every source; each source format is a
//! module implementing `LineFormat`.

pub mod claude;
pub mod scan;

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
    /// Only lines containing these bytes are parsed: the cheap pre-filter.
    const NEEDLE: &'static [u8];

    /// Decode one line. `wanted(raw_id)` says whether its raw record is still
    /// needed; when it is not (a repeated copy), the payload need not be built.
    fn decode(line: &[u8], source: &Source, wanted: impl Fn(Id) -> bool) -> Result<Decoded, DecodeError>;
}
