//! usagecore's hot path.
//!
//! Data flows one way, and each stage is a module:
//!
//! ```text
//! source   jsonl::scan      find history files, read only what is new (cursors), in parallel
//! decode   jsonl::claude    one transcript line -> one usage record (a `LineFormat`)
//!          jsonl::codex     one rollout line, in order, with per-file state (a `LineFormat`)
//!          opencode         OpenCode's SQLite database and legacy JSON files
//!          hooks::claude    spooled hook payloads -> tool calls, prompts, sessions, transcripts to read
//! normalize normalize       model ids, token vocabulary, stable ids
//! dedup    dedup            one event per API call, per-field max across its lines
//! hand-off arrow            canonical events and raw records as Arrow batches
//! skip     unchanged        a fingerprint of a backfill's files: nothing changed, nothing to do
//! ```
//!
//! `py` is the only module that knows Python; everything else builds and tests
//! with plain `cargo test`.

pub mod arrow;
pub mod dedup;
pub mod event;
#[doc(hidden)]
pub mod fuzz;
pub mod hooks;
pub mod ids;
pub mod jsonl;
pub mod normalize;
pub mod opencode;
pub mod otlp;
pub mod server;
pub mod unchanged;

#[cfg(feature = "python")]
mod py;
