//! Codex `notify` payloads (FORMATS.md §D.1): kebab-case JSON, the last
//! command-line argument Codex gives the notify program. Only
//! `agent-turn-complete` matters; it carries no usage, so it becomes a `turn`
//! event and names the thread whose rollout is read next (through the same
//! cursors as a backfill). Other types are kept as raw records only.

use serde_json::{Map, Value};

use super::{HookBatch, Spooled};
use crate::event::{RawRecord, UsageEvent};
use crate::ids::stable_id;

pub const SOURCE_SYSTEM: &str = "codex";
pub const SOURCE_CHANNEL: &str = "notify";

/// What is kept of a payload: no prompts, no answers.
const KEPT_FIELDS: &[&str] = &["type", "thread-id", "turn-id", "cwd", "client"];

fn text<'a>(payload: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Decode a batch of notify payloads.
pub fn decode(payloads: &[Spooled]) -> HookBatch {
    let mut batch = HookBatch::default();
    for spooled in payloads {
        if let Err(reason) = decode_one(spooled, &mut batch) {
            batch.rejected.push((spooled.name.clone(), reason));
        }
    }
    let mut unique = std::collections::HashSet::new();
    batch.threads.retain(|(thread, _)| unique.insert(thread.clone()));
    batch
}

fn decode_one(spooled: &Spooled, batch: &mut HookBatch) -> Result<(), String> {
    let value: Value =
        serde_json::from_slice(&spooled.body).map_err(|e| format!("notify payload is not JSON: {e}"))?;
    let Value::Object(payload) = value else {
        return Err("notify payload is not a JSON object".to_owned());
    };
    let occurred_at_us = spooled.received_at_ns / 1000;
    let raw_event_id =
        stable_id(&[SOURCE_SYSTEM.as_bytes(), SOURCE_CHANNEL.as_bytes(), spooled.name.as_bytes()]);
    let kept: Map<String, Value> =
        KEPT_FIELDS.iter().filter_map(|k| payload.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
    batch.raws.push(RawRecord {
        raw_event_id,
        source_system: SOURCE_SYSTEM,
        source_channel: SOURCE_CHANNEL,
        occurred_at_us: Some(occurred_at_us),
        account_id: spooled.account_id.clone(),
        source_ref: format!("spool:{}", spooled.name),
        payload: Value::Object(kept).to_string(),
    });
    if text(&payload, "type") != Some("agent-turn-complete") {
        return Ok(()); // unknown types (a fork's agent-turn-start...) are ignored
    }
    let thread = text(&payload, "thread-id");
    let turn = text(&payload, "turn-id");
    let event_id = match (thread, turn) {
        (Some(thread), Some(turn)) => {
            stable_id(&[b"turn", SOURCE_SYSTEM.as_bytes(), thread.as_bytes(), turn.as_bytes()])
        }
        _ => stable_id(&[b"turn", SOURCE_SYSTEM.as_bytes(), spooled.name.as_bytes()]),
    };
    let mut event =
        UsageEvent::bare(event_id, raw_event_id, occurred_at_us, "turn", SOURCE_SYSTEM, SOURCE_CHANNEL);
    event.account_id = spooled.account_id.clone();
    event.session_id = thread.map(str::to_owned);
    event.turn_id = turn.map(str::to_owned);
    event.project = text(&payload, "cwd").map(str::to_owned);
    event.detail = text(&payload, "client").map(str::to_owned);
    batch.events.push(event);
    if let Some(thread) = thread {
        batch.threads.push((thread.to_owned(), spooled.account_id.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spooled(name: &str, body: &str) -> Spooled {
        Spooled {
            name: name.into(),
            received_at_ns: 1_795_344_577_000_000_000,
            account_id: None,
            body: body.into(),
        }
    }

    #[test]
    fn a_turn_names_its_thread_and_keeps_no_text() {
        let body = r#"{"type":"agent-turn-complete","thread-id":"t1","turn-id":"u1","cwd":"/w","client":"codex_exec","input-messages":["secret"],"last-assistant-message":"words"}"#;
        let batch =
            decode(&[spooled("a", body), spooled("b", body), spooled("c", r#"{"type":"agent-turn-start"}"#)]);
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.events[0].event_id, batch.events[1].event_id);
        assert_eq!(batch.events[0].event_type, "turn");
        assert_eq!(batch.threads, [("t1".to_owned(), None)]);
        assert_eq!(batch.raws.len(), 3);
        assert!(!batch.raws[0].payload.contains("secret") && !batch.raws[0].payload.contains("words"));
    }

    #[test]
    fn not_json_is_rejected() {
        let batch = decode(&[spooled("x", "{not json")]);
        assert_eq!(batch.rejected.len(), 1);
        assert!(batch.rejected[0].1.contains("not JSON"));
    }
}
