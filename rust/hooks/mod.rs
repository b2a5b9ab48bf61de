//! Live payloads that agents hand to `usagecore ingest` (hooks, `notify`,
//! plugins), as they come out of the spool: one module per agent.

pub mod claude;
pub mod codex;
pub mod opencode;

use crate::event::{RawRecord, UsageEvent};

/// One spooled payload.
pub struct Spooled {
    /// The spool file's name: unique, and stable if the drain runs again.
    pub name: String,
    pub received_at_ns: i64,
    pub account_id: Option<String>,
    pub body: Vec<u8>,
}

/// What a batch of payloads amounts to.
#[derive(Default)]
pub struct HookBatch {
    pub events: Vec<UsageEvent>,
    pub raws: Vec<RawRecord>,
    /// History files to read through their cursors (e.g. a transcript after `Stop`),
    /// with the account the payload named, each once.
    pub transcripts: Vec<(String, Option<String>)>,
    /// Codex threads whose rollout is to be read (found by thread id), with
    /// the account the payload named, each once.
    pub threads: Vec<(String, Option<String>)>,
    /// Payloads that could not be understood: (spool name, why).
    pub rejected: Vec<(String, String)>,
}
