//! Claude Code transcript lines (`~/.claude/projects/<cwd>/<session>.jsonl`).
//!
//! Only `assistant` lines carry usage, one line per content block of a
//! response (docs/formats-claude-code.md §C). This module turns one such line into a usage
//! record; merging the lines of one response is `dedup`'s job.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{DecodeError, Decoded, LineFormat, Source};
use crate::event::{CostSource, RawRecord, Tokens, UsageEvent};
use crate::ids::{stable_id, Id};
use crate::normalize::{model_id, timestamp_us};

pub const SOURCE_SYSTEM: &str = "claude_code";
pub const SOURCE_CHANNEL: &str = "jsonl";

/// Claude Code's transcript format.
pub struct ClaudeTranscript;

impl LineFormat for ClaudeTranscript {
    /// A line can only carry usage if it has a `"usage"` key; inside JSON
    /// strings the quotes would be escaped, so this finds keys only.
    const NEEDLES: &'static [&'static [u8]] = &[b"\"usage\""];
    /// Each line stands alone: files are cut into units read in parallel.
    type State = ();
    const IN_ORDER: bool = false;

    fn decode(
        line: &[u8],
        source: &Source,
        _state: &mut (),
        wanted: impl Fn(Id) -> bool,
    ) -> Result<Decoded, DecodeError> {
        decode_line(line, source, wanted)
    }
}

/// Model name Claude Code gives to messages it made up locally (errors, interrupts).
const SYNTHETIC_MODEL: &str = "<synthetic>";

/// The fields of a transcript line that matter for usage, borrowed from the
/// line where possible. Serializing it gives the stripped raw payload, so it
/// is also the documentation of what `usage_raw_events.payload` holds.
///
/// Descriptive fields are lenient (`lenient`): one of the wrong type is left
/// out rather than costing the line its usage. What identifies the call
/// (`type`, `requestId`, `message.id`, `timestamp`) and the usage must be right.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    #[serde(rename = "type", borrow, skip_serializing_if = "Option::is_none")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text", skip_serializing_if = "Option::is_none")]
    uuid: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text", skip_serializing_if = "Option::is_none")]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text", skip_serializing_if = "Option::is_none")]
    cwd: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text", skip_serializing_if = "Option::is_none")]
    version: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text", skip_serializing_if = "Option::is_none")]
    git_branch: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient::flag", skip_serializing_if = "Option::is_none")]
    is_sidechain: Option<bool>,
    #[serde(borrow, default, deserialize_with = "lenient::text", skip_serializing_if = "Option::is_none")]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    request_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "costUSD",
        default,
        deserialize_with = "lenient::number",
        skip_serializing_if = "Option::is_none"
    )]
    cost_usd: Option<f64>,
    #[serde(
        rename = "isApiErrorMessage",
        default,
        deserialize_with = "lenient::flag",
        skip_serializing_if = "Option::is_none"
    )]
    is_api_error: Option<bool>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    message: Option<Message<'a>>,
    /// A progress line's payload, read only for `agent_progress` (`Progress`).
    #[serde(borrow, default, skip_serializing)]
    data: Option<&'a RawValue>,
}

/// The `data` of a `progress` line. An `agent_progress` line embeds a message
/// of a running subagent, usage and all: a copy of a line of the subagent's
/// own file, which it merges with (same call id). When that line was lost (a
/// subagent file cut by a crash) the copy is the only record of the spend.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Progress<'a> {
    #[serde(rename = "type", borrow, default, deserialize_with = "lenient::text")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text")]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Line<'a>>,
}

#[derive(Deserialize, Serialize)]
struct Message<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::text", skip_serializing_if = "Option::is_none")]
    model: Option<Cow<'a, str>>,
    /// Kept verbatim in the raw payload: every usage field, known or not yet.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    usage: Option<&'a RawValue>,
}

/// Missing counts are zero.
#[derive(Deserialize, Default)]
struct Usage<'a> {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation: Option<CacheCreation>,
    output_tokens_details: Option<OutputDetails>,
    /// `fast` for responses served in fast mode (billed at other rates).
    #[serde(borrow, default, deserialize_with = "lenient::text")]
    speed: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct OutputDetails {
    thinking_tokens: Option<u64>,
}

impl Usage<'_> {
    fn tokens(&self) -> Tokens {
        let split = self.cache_creation.as_ref();
        let write_5m = split.and_then(|c| c.ephemeral_5m_input_tokens).unwrap_or(0);
        let write_1h = split.and_then(|c| c.ephemeral_1h_input_tokens).unwrap_or(0);
        Tokens {
            input: self.input_tokens.unwrap_or(0),
            output: self.output_tokens.unwrap_or(0),
            reasoning: self.output_tokens_details.as_ref().and_then(|d| d.thinking_tokens).unwrap_or(0),
            cache_read: self.cache_read_input_tokens.unwrap_or(0),
            // Before v2.1.152 the total was sometimes 0 while the split had values.
            cache_write: self.cache_creation_input_tokens.unwrap_or(0).max(write_5m.saturating_add(write_1h)),
            cache_write_1h: write_1h,
        }
    }
}

/// Lenient reading of descriptive fields: a value of another type counts as
/// absent, so that one odd field does not cost a line its usage.
mod lenient {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    enum Scalar<'de> {
        Text(Cow<'de, str>),
        Flag(bool),
        Number(f64),
        Other,
    }

    struct AnyValue;

    impl<'de> Visitor<'de> for AnyValue {
        type Value = Scalar<'de>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Scalar::Text(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Scalar::Text(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Scalar::Text(Cow::Owned(v)))
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Scalar::Flag(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Scalar::Number(v as f64))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Scalar::Number(v as f64))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Scalar::Number(v))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Scalar::Other)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(Scalar::Other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Scalar::Other)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Scalar::Other)
        }
    }

    /// A string.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
        Ok(match d.deserialize_any(AnyValue)? {
            Scalar::Text(text) => Some(text),
            _ => None,
        })
    }

    /// A boolean, also written as the string "true" or "false".
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match d.deserialize_any(AnyValue)? {
            Scalar::Flag(flag) => Some(flag),
            Scalar::Text(text) => text.trim().parse().ok(),
            _ => None,
        })
    }

    /// A finite number, also written as a string ("0.1").
    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(match d.deserialize_any(AnyValue)? {
            Scalar::Number(n) => Some(n),
            Scalar::Text(text) => text.trim().parse().ok(),
            _ => None,
        }
        .filter(|n: &f64| n.is_finite()))
    }
}

/// What was wrong with a line serde rejected, in the words of the format:
/// which field, what it should be and what it was. serde's own message names
/// a Rust type and a column instead; it is kept when the line is not JSON.
fn explain(line: &[u8], err: serde_json::Error) -> DecodeError {
    use serde_json::Value;

    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return DecodeError::Json(err);
    };
    let wrong = |field: &str, expected: &'static str, got: &Value| DecodeError::WrongType {
        field: field.to_owned(),
        expected,
        got: describe(got),
    };
    let Some(object) = value.as_object() else {
        return wrong("the line", "a JSON object", &value);
    };
    const TEXT: &str = "a string";
    const COUNT: &str = "a whole number of tokens (0 or more)";
    const OBJECT: &str = "an object";
    for key in ["type", "requestId", "timestamp"] {
        if let Some(v) = present(object.get(key)).filter(|v| !v.is_string()) {
            return wrong(key, TEXT, v);
        }
    }
    let Some(message) = present(object.get("message")) else {
        return DecodeError::Json(err);
    };
    let Some(message) = message.as_object() else {
        return wrong("message", OBJECT, message);
    };
    if let Some(v) = present(message.get("id")).filter(|v| !v.is_string()) {
        return wrong("message.id", TEXT, v);
    }
    let Some(usage) = present(message.get("usage")) else {
        return DecodeError::Json(err);
    };
    let Some(usage) = usage.as_object() else {
        return wrong("message.usage", OBJECT, usage);
    };
    let counts = [
        ("input_tokens", None),
        ("output_tokens", None),
        ("cache_creation_input_tokens", None),
        ("cache_read_input_tokens", None),
        ("cache_creation", Some(["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"].as_slice())),
        ("output_tokens_details", Some(["thinking_tokens"].as_slice())),
    ];
    for (key, inner) in counts {
        let Some(v) = present(usage.get(key)) else { continue };
        let field = format!("message.usage.{key}");
        match inner {
            None if !v.is_u64() => return wrong(&field, COUNT, v),
            None => {}
            Some(keys) => {
                let Some(nested) = v.as_object() else { return wrong(&field, OBJECT, v) };
                for inner_key in keys {
                    if let Some(n) = present(nested.get(*inner_key)).filter(|n| !n.is_u64()) {
                        return wrong(&format!("{field}.{inner_key}"), COUNT, n);
                    }
                }
            }
        }
    }
    DecodeError::Json(err)
}

/// A field that is there and not null (null counts as absent, as for serde).
fn present(value: Option<&serde_json::Value>) -> Option<&serde_json::Value> {
    value.filter(|v| !v.is_null())
}

/// A JSON value as a user would name it, short.
fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("the string {:?}…", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The event id of an API call. Identity comes from the call itself, so the
/// same call seen through another channel (OTLP `request_id`) or in another
/// file lands on the same event.
fn call_id(request_id: &Option<String>, message_id: &Option<String>) -> Option<Id> {
    match (request_id, message_id) {
        (Some(request), _) => Some(stable_id(&[b"message", request.as_bytes()])),
        (None, Some(msg)) => Some(stable_id(&[b"message", b"msg", msg.as_bytes()])),
        (None, None) => None,
    }
}

/// The line without its content, as compact JSON.
fn strip(line: &Line) -> Result<String, DecodeError> {
    let mut out = Vec::with_capacity(1024);
    serde_json::to_writer(&mut out, line)?;
    // serde_json writes UTF-8 only; the lossy path is never taken.
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn owned(value: &Option<Cow<'_, str>>) -> Option<String> {
    value.as_deref().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Decode one transcript line (see `LineFormat::decode`).
pub fn decode_line(
    line: &[u8],
    source: &Source,
    wanted: impl Fn(Id) -> bool,
) -> Result<Decoded, DecodeError> {
    let parsed: Line = serde_json::from_slice(line).map_err(|err| explain(line, err))?;
    match parsed.kind.as_deref() {
        Some("assistant") => decode_assistant(line, parsed, source, wanted),
        Some("progress") => match subagent_copy(parsed) {
            // A copy of `<synthetic>` is not counted again as such.
            Some(copy) => decode_assistant(line, copy, source, wanted).map(|decoded| {
                if matches!(decoded, Decoded::Synthetic) {
                    Decoded::Irrelevant
                } else {
                    decoded
                }
            }),
            None => Ok(Decoded::Irrelevant),
        },
        _ => Ok(Decoded::Irrelevant),
    }
}

/// The subagent's assistant line an `agent_progress` line embeds, in the
/// envelope of the progress line (session, cwd, version, branch), marked as
/// the side chain it belongs to. Anything else, or a payload that does not
/// read as one, is not usage.
fn subagent_copy(progress_line: Line) -> Option<Line> {
    let progress: Progress = serde_json::from_str(progress_line.data?.get()).ok()?;
    let embedded = progress.message?;
    if progress.kind.as_deref() != Some("agent_progress") || embedded.kind.as_deref() != Some("assistant") {
        return None;
    }
    Some(Line {
        session_id: embedded.session_id.or(progress_line.session_id),
        cwd: embedded.cwd.or(progress_line.cwd),
        version: embedded.version.or(progress_line.version),
        git_branch: embedded.git_branch.or(progress_line.git_branch),
        is_sidechain: Some(true),
        agent_id: embedded.agent_id.or(progress.agent_id),
        data: None,
        ..embedded
    })
}

fn decode_assistant(
    line: &[u8],
    parsed: Line,
    source: &Source,
    wanted: impl Fn(Id) -> bool,
) -> Result<Decoded, DecodeError> {
    let Some(message) = parsed.message.as_ref() else {
        return Ok(Decoded::Irrelevant);
    };
    let Some(usage_raw) = message.usage else {
        return Ok(Decoded::Irrelevant);
    };
    if message.model.as_deref() == Some(SYNTHETIC_MODEL) {
        return Ok(Decoded::Synthetic);
    }
    let usage: Usage = serde_json::from_str(usage_raw.get()).map_err(|err| explain(line, err))?;
    let occurred_at_us = parsed.timestamp.as_deref().and_then(timestamp_us).ok_or(DecodeError::Timestamp)?;

    let request_id = owned(&parsed.request_id);
    let message_id = owned(&message.id);
    // A raw record is one distinct usage snapshot of a call; with nothing to
    // identify the call, the record itself is the identity.
    let mut stripped = None;
    let (event_id, raw_event_id) = match call_id(&request_id, &message_id) {
        Some(event_id) => {
            let parts: [&[u8]; 4] = [
                SOURCE_SYSTEM.as_bytes(),
                SOURCE_CHANNEL.as_bytes(),
                &event_id.to_be_bytes(),
                usage_raw.get().as_bytes(),
            ];
            (event_id, stable_id(&parts))
        }
        None => {
            let text = strip(&parsed)?;
            let raw = stable_id(&[SOURCE_SYSTEM.as_bytes(), SOURCE_CHANNEL.as_bytes(), text.as_bytes()]);
            stripped = Some(text);
            (stable_id(&[b"message", b"raw", &raw.to_be_bytes()]), raw)
        }
    };
    let (payload, source_ref) = if !wanted(raw_event_id) {
        (String::new(), String::new())
    } else if source.keep_content {
        (String::from_utf8_lossy(line).into_owned(), format!("{}:{}", source.path, source.offset))
    } else {
        let payload = match stripped {
            Some(text) => text,
            None => strip(&parsed)?,
        };
        (payload, format!("{}:{}", source.path, source.offset))
    };
    let model_raw = owned(&message.model);
    let (cost_usd, cost_source) = match parsed.cost_usd {
        Some(cost) if cost.is_finite() => (Some(cost), CostSource::Reported),
        _ => (None, CostSource::Unknown),
    };

    let event = UsageEvent {
        event_id,
        raw_event_id,
        occurred_at_us,
        event_type: "message",
        source_system: SOURCE_SYSTEM,
        source_channel: SOURCE_CHANNEL,
        provider_id: Some("anthropic".to_owned()),
        account_id: None,
        model: model_raw.as_deref().map(model_id),
        model_raw,
        tokens: usage.tokens(),
        cost_usd,
        cost_source,
        requests: 1,
        session_id: owned(&parsed.session_id),
        turn_id: None,
        message_id,
        request_id,
        tool_call_id: None,
        tool_name: None,
        project: owned(&parsed.cwd),
        agent_id: owned(&parsed.agent_id),
        user_id: None,
        is_sidechain: parsed.is_sidechain.unwrap_or(false),
        client_version: owned(&parsed.version),
        git_branch: owned(&parsed.git_branch),
        duration_ms: None,
        success: None,
        detail: None,
        speed: owned(&usage.speed),
    };
    let raw = RawRecord {
        raw_event_id,
        source_system: SOURCE_SYSTEM,
        source_channel: SOURCE_CHANNEL,
        occurred_at_us: Some(occurred_at_us),
        account_id: None,
        source_ref,
        payload,
    };
    Ok(Decoded::Usage(Box::new((event, raw))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"parentUuid":"p","isSidechain":false,"message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-4-8","content":[{"type":"text","text":"secret words"}],"usage":{"input_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":17842,"cache_creation":{"ephemeral_5m_input_tokens":37,"ephemeral_1h_input_tokens":8000},"output_tokens":441,"output_tokens_details":{"thinking_tokens":40}}},"requestId":"req_1","type":"assistant","uuid":"u1","timestamp":"2026-04-20T09:12:01.118Z","cwd":"/home/me/my.app","sessionId":"s1","version":"2.1.98","gitBranch":"main"}"#;

    const SOURCE: Source = Source { path: "f", offset: 0, keep_content: false };

    fn usage(line: &str) -> (UsageEvent, RawRecord) {
        match decode_line(line.as_bytes(), &SOURCE, |_| true).unwrap() {
            Decoded::Usage(pair) => *pair,
            other => panic!("expected usage, got {other:?}"),
        }
    }

    #[test]
    fn agent_progress_copy_is_the_subagent_call() {
        let progress = format!(
            r#"{{"parentUuid":"p","isSidechain":false,"cwd":"/home/me/my.app","sessionId":"s1","version":"2.1.98","gitBranch":"main","type":"progress","data":{{"message":{},"normalizedMessages":[],"type":"agent_progress","prompt":"x","agentId":"a1"}},"toolUseID":"agent_msg_1","parentToolUseID":"toolu_1","uuid":"u2","timestamp":"2026-04-20T09:12:02Z"}}"#,
            r#"{"type":"assistant","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-4-8","content":[{"type":"text","text":"secret words"}],"usage":{"input_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":17842,"cache_creation":{"ephemeral_5m_input_tokens":37,"ephemeral_1h_input_tokens":8000},"output_tokens":441,"output_tokens_details":{"thinking_tokens":40}}},"requestId":"req_1","uuid":"u1","timestamp":"2026-04-20T09:12:01.118Z"}"#
        );
        let (copy, copy_raw) = usage(&progress);
        let (original, original_raw) = usage(LINE);
        assert_eq!((copy.event_id, copy_raw.raw_event_id), (original.event_id, original_raw.raw_event_id));
        assert_eq!((copy.tokens, copy.occurred_at_us), (original.tokens, original.occurred_at_us));
        assert!(copy.is_sidechain);
        assert_eq!(copy.agent_id.as_deref(), Some("a1"));
        assert_eq!(copy.session_id.as_deref(), Some("s1"));
        assert!(!copy_raw.payload.contains("secret"));

        // Other progress lines, and payloads of another shape, are not usage (nor errors).
        for data in [
            r#"{"type":"bash_progress","output":"usage"}"#,
            r#"{"type":"agent_progress","message":"usage"}"#,
            r#"{"type":"agent_progress","message":{"type":"user","message":{"usage":{}}}}"#,
            r#""usage""#,
        ] {
            let line = format!(
                r#"{{"type":"progress","data":{data},"uuid":"u","timestamp":"2026-04-20T09:12:02Z"}}"#
            );
            assert!(
                matches!(decode_line(line.as_bytes(), &SOURCE, |_| true), Ok(Decoded::Irrelevant)),
                "{line}"
            );
        }
    }

    #[test]
    fn assistant_line_becomes_a_message_event() {
        let (event, raw) = usage(LINE);
        assert_eq!(event.event_id, stable_id(&[b"message", b"req_1"]));
        assert_eq!(event.model.as_deref(), Some("claude-opus-4-8"));
        assert_eq!(event.project.as_deref(), Some("/home/me/my.app"));
        let t = event.tokens;
        assert_eq!((t.input, t.output, t.reasoning, t.cache_read), (3, 441, 40, 17842));
        // The split wins over a zero total (pre-2.1.152 bug), 1h part kept.
        assert_eq!((t.cache_write, t.cache_write_1h), (8037, 8000));
        assert!(!raw.payload.contains("secret words"));
        assert!(raw.payload.contains("\"ephemeral_1h_input_tokens\":8000"));
    }

    #[test]
    fn content_is_kept_only_when_asked() {
        let keep = Source { keep_content: true, ..SOURCE };
        let Decoded::Usage(pair) = decode_line(LINE.as_bytes(), &keep, |_| true).unwrap() else { panic!() };
        assert!(pair.1.payload.contains("secret words"));
        // The raw id does not depend on whether content is kept.
        assert_eq!(pair.1.raw_event_id, usage(LINE).1.raw_event_id);
    }

    #[test]
    fn synthetic_and_irrelevant_lines() {
        let synthetic = LINE.replace("claude-opus-4-8", "<synthetic>");
        assert!(matches!(decode_line(synthetic.as_bytes(), &SOURCE, |_| true), Ok(Decoded::Synthetic)));
        let tool_result = r#"{"type":"user","toolUseResult":{"usage":{"input_tokens":5}}}"#;
        assert!(matches!(decode_line(tool_result.as_bytes(), &SOURCE, |_| true), Ok(Decoded::Irrelevant)));
    }

    #[test]
    fn missing_request_id_falls_back_to_message_id() {
        let line = LINE.replace(r#""requestId":"req_1","#, "");
        assert_eq!(usage(&line).0.event_id, stable_id(&[b"message", b"msg", b"msg_1"]));
    }

    #[test]
    fn wrongly_typed_descriptive_fields_keep_the_usage() {
        let odd = LINE
            .replace(r#""gitBranch":"main""#, r#""gitBranch":5"#)
            .replace(r#""isSidechain":false"#, r#""isSidechain":"true""#)
            .replace(r#""cwd":"/home/me/my.app""#, r#""cwd":{"a":[1,2]},"costUSD":"0.25""#)
            .replace(r#""version":"2.1.98""#, r#""version":null"#);
        let (event, raw) = usage(&odd);
        assert_eq!(event.tokens, usage(LINE).0.tokens);
        assert_eq!((event.git_branch, event.project, event.client_version), (None, None, None));
        assert!(event.is_sidechain);
        assert_eq!((event.cost_usd, event.cost_source), (Some(0.25), CostSource::Reported));
        assert!(!raw.payload.contains("gitBranch"));
    }

    #[test]
    fn wrongly_typed_usage_is_named() {
        let message = |line: String| match decode_line(line.as_bytes(), &SOURCE, |_| true) {
            Err(err) => err.to_string(),
            Ok(other) => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(
            message(LINE.replace("\"input_tokens\":3", "\"input_tokens\":\"3\"")),
            r#"message.usage.input_tokens: expected a whole number of tokens (0 or more), got the string "3""#
        );
        assert_eq!(
            message(LINE.replace("\"ephemeral_1h_input_tokens\":8000", "\"ephemeral_1h_input_tokens\":-1")),
            "message.usage.cache_creation.ephemeral_1h_input_tokens: expected a whole number of tokens (0 or more), \
             got the number -1"
        );
        assert_eq!(
            message(LINE.replace(r#""requestId":"req_1""#, r#""requestId":7"#)),
            "requestId: expected a string, got the number 7"
        );
        assert!(message(LINE[..200].to_string()).starts_with("invalid JSON: "));
    }

    #[test]
    fn absurd_counts_saturate() {
        let max = u64::MAX;
        let huge = LINE
            .replace("\"ephemeral_5m_input_tokens\":37", &format!("\"ephemeral_5m_input_tokens\":{max}"))
            .replace("\"input_tokens\":3", &format!("\"input_tokens\":{max}"));
        let (event, _) = usage(&huge);
        assert_eq!(event.tokens.cache_write, max);
        assert_eq!(event.tokens.total(), max);
    }

    #[test]
    fn speed_is_kept() {
        let fast = LINE.replace("\"output_tokens\":441", "\"output_tokens\":441,\"speed\":\"fast\"");
        assert_eq!(usage(&fast).0.speed.as_deref(), Some("fast"));
        assert_eq!(usage(LINE).0.speed, None);
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        assert!(decode_line(&LINE.as_bytes()[..200], &SOURCE, |_| true).is_err());
        let no_time = LINE.replace("2026-04-20T09:12:01.118Z", "soon");
        assert!(matches!(decode_line(no_time.as_bytes(), &SOURCE, |_| true), Err(DecodeError::Timestamp)));
        let negative = LINE.replace("\"input_tokens\":3", "\"input_tokens\":-3");
        assert!(decode_line(negative.as_bytes(), &SOURCE, |_| true).is_err());
    }
}
