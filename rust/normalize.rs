//! Source-independent normalization: model ids and timestamps.

use chrono::DateTime;

/// Normalize a model id as agents write it to the id users group by.
///
/// `claude-opus-4-8[1m]` -> `claude-opus-4-8`, `claude-sonnet-4-5-20250929` ->
/// `claude-sonnet-4-5`, `us.anthropic.claude-3-7-sonnet-20250219-v1:0` ->
/// `claude-3-7-sonnet`, `claude-opus-4-1@20250805` -> `claude-opus-4-1`,
/// `anthropic/claude-haiku-4-5` -> `claude-haiku-4-5`. The raw id is kept
/// beside it, so nothing is lost.
pub fn model_id(raw: &str) -> String {
    let mut m = raw.trim().to_ascii_lowercase();
    if let Some(open) = m.find('[') {
        m.truncate(open); // context-window marker such as [1m]
    }
    if let Some(slash) = m.rfind('/') {
        m.drain(..=slash); // provider prefix: anthropic/, openai/, models/
    }
    if let Some(at) = m.find('@') {
        m.truncate(at); // Vertex version suffix
    }
    // Bedrock: [region.]anthropic.<model>-v1:0
    if let Some(pos) = m.find("anthropic.") {
        m.drain(..pos + "anthropic.".len());
    }
    if let Some(colon) = m.rfind(':') {
        m.truncate(colon);
    }
    if let Some(stripped) = strip_suffix_version(&m) {
        m = stripped;
    }
    for suffix in ["-latest"] {
        if let Some(s) = m.strip_suffix(suffix) {
            m = s.to_string();
        }
    }
    if let Some(stripped) = strip_date_suffix(&m) {
        m = stripped;
    }
    m
}

/// `-v1`, `-v2` (Bedrock model versions).
fn strip_suffix_version(m: &str) -> Option<String> {
    let (head, tail) = m.rsplit_once("-v")?;
    (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())).then(|| head.to_string())
}

/// `-20250929` or `-2025-09-29`.
fn strip_date_suffix(m: &str) -> Option<String> {
    let bytes = m.as_bytes();
    let compact = bytes.len() > 9
        && bytes[bytes.len() - 9] == b'-'
        && bytes[bytes.len() - 8..].iter().all(u8::is_ascii_digit)
        && bytes[bytes.len() - 8..bytes.len() - 6] == *b"20";
    if compact {
        return Some(m[..m.len() - 9].to_string());
    }
    let dashed = bytes.len() > 11
        && bytes[bytes.len() - 11] == b'-'
        && bytes[bytes.len() - 10..bytes.len() - 8] == *b"20"
        && bytes[bytes.len() - 6] == b'-'
        && bytes[bytes.len() - 3] == b'-';
    dashed.then(|| m[..m.len() - 11].to_string())
}

/// Parse an RFC 3339 timestamp into microseconds since the epoch (UTC).
pub fn timestamp_us(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        assert_eq!(model_id("claude-opus-4-8[1m]"), "claude-opus-4-8");
        assert_eq!(model_id("claude-sonnet-4-5-20250929"), "claude-sonnet-4-5");
        assert_eq!(model_id("claude-haiku-4-5-20251001"), "claude-haiku-4-5");
        assert_eq!(model_id("us.anthropic.claude-3-7-sonnet-20250219-v1:0"), "claude-3-7-sonnet");
        assert_eq!(model_id("claude-opus-4-1@20250805"), "claude-opus-4-1");
        assert_eq!(model_id("anthropic/claude-haiku-4-5"), "claude-haiku-4-5");
        assert_eq!(model_id("gpt-5-2025-08-07"), "gpt-5");
        assert_eq!(model_id("gpt-5-codex"), "gpt-5-codex");
        assert_eq!(model_id("claude-opus-5-5"), "claude-opus-5-5");
        assert_eq!(model_id("claude-3-5-sonnet-latest"), "claude-3-5-sonnet");
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_us("2026-11-22T10:48:15.605Z"), Some(1_795_344_495_605_000));
        assert_eq!(timestamp_us("2026-11-22T11:48:15.605+01:00"), Some(1_795_344_495_605_000));
        assert_eq!(timestamp_us("yesterday"), None);
    }
}
