//! Claude Code command-hook payloads (docs/formats-claude-code.md §B).
//!
//! No hook carries tokens. `Stop`, `StopFailure` and `SubagentStop` say which
//! transcript has grown, and the drain reads it through the same cursors as a
//! backfill; tool calls, prompts and session boundaries become events of
//! their own. Every payload is also kept as a raw record, reduced to the
//! fields below: prompts, tool input and output and messages are never stored.

use serde_json::{Map, Value};

use super::{HookBatch, Spooled};
use crate::event::{RawRecord, UsageEvent};
use crate::ids::{stable_id, Id};

pub const SOURCE_SYSTEM: &str = "claude_code";
pub const SOURCE_CHANNEL: &str = "hook";

/// Fields kept in the raw record; everything else (prompt, tool_input,
/// tool_response, last_assistant_message, error_details...) may hold content.
const KEPT_FIELDS: &[&str] = &[
    "hook_event_name",
    "session_id",
    "transcript_path",
    "agent_transcript_path",
    "cwd",
    "permission_mode",
    "prompt_id",
    "agent_id",
    "agent_type",
    "tool_name",
    "tool_use_id",
    "duration_ms",
    "is_interrupt",
    "stop_hook_active",
    "source",
    "reason",
    "model",
    "trigger",
    "notification_type",
    "effort",
];

/// The error kinds `StopFailure` reports are short identifiers; anything
/// longer is treated as content and not kept.
const MAX_ERROR_KIND_LEN: usize = 64;

fn text<'a>(payload: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn owned(payload: &Map<String, Value>, key: &str) -> Option<String> {
    text(payload, key).map(str::to_owned)
}

/// A number, also when written as a string.
fn integer(payload: &Map<String, Value>, key: &str) -> Option<i64> {
    match payload.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn stripped(payload: &Map<String, Value>) -> String {
    let kept: Map<String, Value> =
        KEPT_FIELDS.iter().filter_map(|k| payload.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
    Value::Object(kept).to_string()
}

/// Decode a batch of Claude Code hook payloads.
pub fn decode(payloads: &[Spooled]) -> HookBatch {
    let mut batch = HookBatch::default();
    let mut seen = crate::ids::IdSet::default();
    for spooled in payloads {
        match decode_one(spooled, &mut batch) {
            Ok(Some(event)) => {
                // The same call reported twice in one batch is one event.
                if seen.insert(event.event_id) {
                    batch.events.push(event);
                }
            }
            Ok(None) => {}
            Err(reason) => batch.rejected.push((spooled.name.clone(), reason)),
        }
    }
    let mut unique = std::collections::HashSet::new();
    batch.transcripts.retain(|(path, _)| unique.insert(path.clone()));
    batch
}

fn decode_one(spooled: &Spooled, batch: &mut HookBatch) -> Result<Option<UsageEvent>, String> {
    let value: Value =
        serde_json::from_slice(&spooled.body).map_err(|e| format!("hook payload is not JSON: {e}"))?;
    let Value::Object(payload) = value else {
        return Err("hook payload is not a JSON object".to_owned());
    };
    let Some(hook) = text(&payload, "hook_event_name") else {
        return Err("hook payload has no hook_event_name".to_owned());
    };
    let occurred_at_us = spooled.received_at_ns / 1000;
    let raw_event_id =
        stable_id(&[SOURCE_SYSTEM.as_bytes(), SOURCE_CHANNEL.as_bytes(), spooled.name.as_bytes()]);
    batch.raws.push(RawRecord {
        raw_event_id,
        source_system: SOURCE_SYSTEM,
        source_channel: SOURCE_CHANNEL,
        occurred_at_us: Some(occurred_at_us),
        account_id: spooled.account_id.clone(),
        source_ref: format!("spool:{}", spooled.name),
        payload: stripped(&payload),
    });

    let event = |event_type: &'static str, event_id: Id| {
        let mut event = UsageEvent::bare(
            event_id,
            raw_event_id,
            occurred_at_us,
            event_type,
            SOURCE_SYSTEM,
            SOURCE_CHANNEL,
        );
        event.account_id = spooled.account_id.clone();
        event.session_id = owned(&payload, "session_id");
        event.project = owned(&payload, "cwd");
        event.agent_id = owned(&payload, "agent_id");
        event.is_sidechain = event.agent_id.is_some();
        event.turn_id = owned(&payload, "prompt_id");
        event
    };
    // Events with no identity of their own are identified by their spool
    // file, which a re-run of the drain sees again under the same name.
    let per_payload = |kind: &[u8]| stable_id(&[kind, SOURCE_SYSTEM.as_bytes(), spooled.name.as_bytes()]);

    let mut read_transcript = |key: &str| {
        if let Some(path) = text(&payload, key) {
            batch.transcripts.push((path.to_owned(), spooled.account_id.clone()));
        }
    };
    Ok(match hook {
        "Stop" | "SubagentStop" | "StopFailure" => {
            read_transcript("transcript_path");
            read_transcript("agent_transcript_path");
            (hook == "StopFailure").then(|| {
                let mut failure = event("api_error", per_payload(b"api_error"));
                failure.detail =
                    text(&payload, "error").filter(|e| e.len() <= MAX_ERROR_KIND_LEN).map(str::to_owned);
                failure
            })
        }
        "PostToolUse" | "PostToolUseFailure" => {
            let tool_use_id = owned(&payload, "tool_use_id");
            let id = match &tool_use_id {
                // The same id OTLP's tool_result computes from `tool_use_id`.
                Some(tool_use_id) => stable_id(&[b"tool_call", tool_use_id.as_bytes()]),
                None => per_payload(b"tool_call"),
            };
            let mut call = event("tool_call", id);
            call.tool_call_id = tool_use_id;
            call.tool_name = owned(&payload, "tool_name");
            call.duration_ms = integer(&payload, "duration_ms");
            call.success = Some(hook == "PostToolUse");
            Some(call)
        }
        "UserPromptSubmit" => {
            let id = match (text(&payload, "session_id"), text(&payload, "prompt_id")) {
                // The same id OTLP's user_prompt computes from `prompt.id`.
                (Some(session), Some(prompt)) => {
                    stable_id(&[b"prompt", session.as_bytes(), prompt.as_bytes()])
                }
                _ => per_payload(b"prompt"),
            };
            Some(event("prompt", id))
        }
        "SessionStart" => {
            let mut start = event("session_start", per_payload(b"session_start"));
            start.detail = owned(&payload, "source");
            start.model_raw = owned(&payload, "model");
            start.model = start.model_raw.as_deref().map(crate::normalize::model_id);
            Some(start)
        }
        "SessionEnd" => {
            // A last read: Claude Code may write a response's final lines
            // after the turn's Stop hook has been handled.
            read_transcript("transcript_path");
            let mut end = event("session_end", per_payload(b"session_end"));
            end.detail = owned(&payload, "reason");
            Some(end)
        }
        // Kept as raw records only.
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spooled(name: &str, body: &str) -> Spooled {
        Spooled {
            name: name.to_owned(),
            received_at_ns: 1_700_000_000_000_000_000,
            account_id: None,
            body: body.into(),
        }
    }

    #[test]
    fn tool_calls_prompts_and_sessions() {
        let batch = decode(&[
            spooled(
                "1",
                r#"{"hook_event_name":"PostToolUse","session_id":"s","cwd":"/p","tool_name":"Bash","tool_use_id":"toolu_1","duration_ms":28,"tool_input":{"command":"secret"},"tool_response":"secret"}"#,
            ),
            spooled(
                "2",
                r#"{"hook_event_name":"PostToolUseFailure","session_id":"s","tool_name":"Bash","tool_use_id":"toolu_2","duration_ms":"7","error":"secret"}"#,
            ),
            spooled(
                "3",
                r#"{"hook_event_name":"UserPromptSubmit","session_id":"s","prompt_id":"p1","prompt":"secret"}"#,
            ),
            spooled(
                "4",
                r#"{"hook_event_name":"SessionEnd","session_id":"s","transcript_path":"/s.jsonl","reason":"other"}"#,
            ),
            spooled(
                "5",
                r#"{"hook_event_name":"Stop","session_id":"s","transcript_path":"/t.jsonl","last_assistant_message":"secret"}"#,
            ),
            spooled("6", r#"{"hook_event_name":"PreToolUse","session_id":"s","tool_input":{"x":"secret"}}"#),
        ]);
        let kinds: Vec<_> = batch.events.iter().map(|e| e.event_type).collect();
        assert_eq!(kinds, ["tool_call", "tool_call", "prompt", "session_end"]);
        assert_eq!(batch.events[0].event_id, stable_id(&[b"tool_call", b"toolu_1"]));
        assert_eq!((batch.events[0].duration_ms, batch.events[0].success), (Some(28), Some(true)));
        assert_eq!((batch.events[1].duration_ms, batch.events[1].success), (Some(7), Some(false)));
        assert_eq!(batch.events[3].detail.as_deref(), Some("other"));
        // Read at the end of a session too: lines may follow the last Stop.
        assert_eq!(batch.transcripts, [("/s.jsonl".to_owned(), None), ("/t.jsonl".to_owned(), None)]);
        assert_eq!(batch.raws.len(), 6);
        assert!(batch.raws.iter().all(|r| !r.payload.contains("secret")));
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        let batch = decode(&[spooled("a", "not json"), spooled("b", "[1]"), spooled("c", r#"{"x":1}"#)]);
        let reasons: Vec<_> = batch.rejected.iter().map(|(n, r)| format!("{n}: {r}")).collect();
        assert_eq!(reasons.len(), 3);
        assert!(reasons[0].starts_with("a: hook payload is not JSON"));
        assert!(reasons[2].contains("hook_event_name"));
        assert!(batch.events.is_empty() && batch.raws.is_empty());
    }
}
