//! What usagecore's OpenCode plugin hands over: JSON lines of
//! `{"ts": epoch ms, "hook": "event" | "tool.execute.after", "payload": ...}`.
//!
//! * `message.updated` of an assistant message: its usage, decoded exactly
//!   as the database's copy (`opencode::decode_message`), so live and
//!   backfill give the same event, and the latest version wins.
//! * `tool.execute.after`: a `tool_call` event (the tool's output is never sent).
//! * `session.created` / `session.deleted` / `session.error`: session
//!   boundaries and API errors; other session events are kept as raw records.

use serde_json::{Map, Value};

use super::{HookBatch, Spooled};
use crate::event::{RawRecord, UsageEvent};
use crate::ids::{stable_id, IdMap};
use crate::opencode::{decode_message, Origin, CHANNEL_PLUGIN, SOURCE_SYSTEM};

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str().filter(|s| !s.is_empty())
}

/// Decode a batch of plugin payloads; within it, the last version of a message wins.
pub fn decode(payloads: &[Spooled]) -> HookBatch {
    let mut batch = HookBatch::default();
    let mut index: IdMap<usize> = IdMap::default();
    let mut raw_ids = crate::ids::IdSet::default();
    for spooled in payloads {
        let mut lines = 0;
        for (number, line) in spooled.body.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines += 1;
            match decode_line(spooled, number, line) {
                Ok(Some((event, raw))) => {
                    if raw_ids.insert(raw.raw_event_id) {
                        batch.raws.push(raw);
                    }
                    if let Some(event) = event {
                        match index.get(&event.event_id) {
                            Some(&at) => batch.events[at] = event,
                            None => {
                                index.insert(event.event_id, batch.events.len());
                                batch.events.push(event);
                            }
                        }
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    batch.rejected.push((spooled.name.clone(), format!("line {}: {reason}", number + 1)));
                    break;
                }
            }
        }
        if lines == 0 {
            batch.rejected.push((spooled.name.clone(), "empty plugin payload".to_owned()));
        }
    }
    batch
}

type Decoded = Option<(Option<UsageEvent>, RawRecord)>;

fn decode_line(spooled: &Spooled, number: usize, line: &[u8]) -> Result<Decoded, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let hook = text(&value, &["hook"]).ok_or("no hook name")?;
    let payload = value.get("payload").ok_or("no payload")?;
    let at_us = value
        .get("ts")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t > 0.0)
        .map_or(spooled.received_at_ns / 1000, |ms| (ms * 1000.0) as i64);
    let raw_event_id = stable_id(&[
        SOURCE_SYSTEM.as_bytes(),
        CHANNEL_PLUGIN.as_bytes(),
        spooled.name.as_bytes(),
        &(number as u64).to_be_bytes(),
    ]);
    let source_ref = format!("spool:{}:{}", spooled.name, number + 1);
    let raw = |kept: Value| RawRecord {
        raw_event_id,
        source_system: SOURCE_SYSTEM,
        source_channel: CHANNEL_PLUGIN,
        occurred_at_us: Some(at_us),
        account_id: spooled.account_id.clone(),
        source_ref: source_ref.clone(),
        payload: kept.to_string(),
    };
    let bare = |event_type: &'static str, event_id| {
        let mut event =
            UsageEvent::bare(event_id, raw_event_id, at_us, event_type, SOURCE_SYSTEM, CHANNEL_PLUGIN);
        event.account_id = spooled.account_id.clone();
        event
    };
    match hook {
        "event" => {
            let kind = text(payload, &["type"]).unwrap_or_default();
            if kind == "message.updated" {
                let Some(info) = payload.get("properties").and_then(|p| p.get("info")) else {
                    return Ok(None);
                };
                if text(info, &["role"]) != Some("assistant") {
                    return Ok(None);
                }
                let data = info.to_string();
                let origin = Origin {
                    channel: CHANNEL_PLUGIN,
                    source_ref: source_ref.clone(),
                    id: text(info, &["id"]),
                    session_id: text(info, &["sessionID"]),
                    time_created_ms: None,
                    directory: None,
                    child_session: false,
                };
                return match decode_message(&data, &origin).map_err(|e| e.to_string())? {
                    Some((mut event, mut message_raw)) => {
                        event.account_id = spooled.account_id.clone();
                        message_raw.account_id = spooled.account_id.clone();
                        Ok(Some((Some(event), message_raw)))
                    }
                    None => Ok(None), // still waiting for its first tokens
                };
            }
            let session = text(payload, &["properties", "info", "id"])
                .or_else(|| text(payload, &["properties", "sessionID"]));
            let kept = serde_json::json!({"type": kind, "sessionID": session});
            let event = match (kind, session) {
                ("session.created", Some(id)) => {
                    let mut start = bare(
                        "session_start",
                        stable_id(&[b"session_start", SOURCE_SYSTEM.as_bytes(), id.as_bytes()]),
                    );
                    start.session_id = Some(id.to_owned());
                    start.project = text(payload, &["properties", "info", "directory"]).map(str::to_owned);
                    start.agent_id =
                        text(payload, &["properties", "info", "parentID"]).map(|_| id.to_owned());
                    Some(start)
                }
                ("session.deleted", Some(id)) => {
                    let mut end = bare(
                        "session_end",
                        stable_id(&[b"session_end", SOURCE_SYSTEM.as_bytes(), id.as_bytes()]),
                    );
                    end.session_id = Some(id.to_owned());
                    end.detail = Some("deleted".to_owned());
                    Some(end)
                }
                ("session.error", _) => {
                    let mut error = bare("api_error", raw_event_id);
                    error.session_id = session.map(str::to_owned);
                    error.detail = text(payload, &["properties", "error", "name"]).map(str::to_owned);
                    Some(error)
                }
                _ => None,
            };
            Ok(Some((event, raw(kept))))
        }
        "tool.execute.after" => {
            let input = payload.get("input").ok_or("tool.execute.after without input")?;
            let call_id = text(input, &["callID"]);
            let event_id = match call_id {
                Some(call) => stable_id(&[b"tool_call", call.as_bytes()]),
                None => raw_event_id,
            };
            let mut call = bare("tool_call", event_id);
            call.tool_call_id = call_id.map(str::to_owned);
            call.tool_name = text(input, &["tool"]).map(str::to_owned);
            call.session_id = text(input, &["sessionID"]).map(str::to_owned);
            let failed = payload.get("output").and_then(|o| o.get("error")).and_then(Value::as_bool);
            call.success = Some(!failed.unwrap_or(false));
            let kept: Map<String, Value> = [
                ("tool", call.tool_name.clone()),
                ("callID", call.tool_call_id.clone()),
                ("sessionID", call.session_id.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.map_or(Value::Null, Value::String)))
            .collect();
            Ok(Some((Some(call), raw(Value::Object(kept)))))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spooled(body: &str) -> Spooled {
        Spooled {
            name: "n".into(),
            received_at_ns: 1_795_344_577_000_000_000,
            account_id: None,
            body: body.into(),
        }
    }

    fn update(output: u64, completed: bool) -> String {
        let done = if completed { r#","completed":1795344597800"# } else { "" };
        format!(
            r#"{{"ts":1795344597801,"hook":"event","payload":{{"type":"message.updated","properties":{{"info":{{"id":"msg_b","sessionID":"ses_1","role":"assistant","cost":0.001,"tokens":{{"input":10,"output":{output},"reasoning":10,"cache":{{"write":0,"read":2001}}}},"modelID":"mock-model","providerID":"mock","time":{{"created":1795344595996{done}}}}}}}}}}}"#
        )
    }

    #[test]
    fn message_updates_are_one_event_the_last_wins() {
        let zero = update(0, false)
            .replace(r#""input":10"#, r#""input":0"#)
            .replace(r#""read":2001"#, r#""read":0"#)
            .replace(r#""reasoning":10"#, r#""reasoning":0"#)
            .replace("0.001", "0");
        let body = format!("{zero}\n{}\n{}\n", update(17, false), update(17, true));
        let batch = decode(&[spooled(&body)]);
        assert_eq!(batch.events.len(), 1);
        let event = &batch.events[0];
        assert_eq!(event.event_id, crate::opencode::message_event_id("msg_b"));
        assert_eq!((event.tokens.output, event.tokens.reasoning, event.tokens.cache_read), (27, 10, 2001));
        assert_eq!(event.source_channel, CHANNEL_PLUGIN);
    }

    #[test]
    fn tool_calls_and_bad_lines() {
        let tool = r#"{"ts":1,"hook":"tool.execute.after","payload":{"input":{"tool":"bash","sessionID":"s","callID":"c1"},"output":{"title":"echo hi","error":false}}}"#;
        let batch = decode(&[spooled(tool), spooled("garbage\n")]);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.events[0].event_type, "tool_call");
        assert_eq!(batch.events[0].success, Some(true));
        assert!(!batch.raws[0].payload.contains("echo hi"));
        assert_eq!(batch.rejected.len(), 1);
    }
}
