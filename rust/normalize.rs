//! Source-independent normalization: model ids and timestamps.

use chrono::DateTime;

/// A raw model id as a price list knows it: trimmed, lower-case, without
/// the context window Claude Code appends (`claude-opus-4-8[1m]`). Provider
/// prefixes and cloud suffixes stay: they decide who bills and at what price.
pub fn model_ref(raw: &str) -> String {
    let mut m = raw.trim().to_ascii_lowercase();
    if let Some(open) = m.find('[') {
        m.truncate(open); // context-window marker such as [1m]
    }
    m.truncate(m.trim_end().len());
    m
}

/// Normalize a model id as agents write it to the id users group by.
///
/// `claude-opus-4-8[1m]` -> `claude-opus-4-8`, `claude-sonnet-4-5-20250929` ->
/// `claude-sonnet-4-5`, `us.anthropic.claude-3-7-sonnet-20250219-v1:0` ->
/// `claude-3-7-sonnet`, `claude-opus-4-1@20250805` -> `claude-opus-4-1`,
/// `anthropic/claude-haiku-4-5` -> `claude-haiku-4-5`. Only snapshot dates,
/// aliases and cloud packaging are dropped, never what tells models apart:
/// `deepseek-v3`, `qwen3:32b` and `foo-20ab-cd-ef` stay as they are. The raw
/// id is kept beside it, so nothing is lost.
pub fn model_id(raw: &str) -> String {
    let mut m = model_ref(raw);
    if let Some(slash) = m.rfind('/') {
        m.drain(..=slash); // provider prefix: anthropic/, openai/, models/
    }
    if let Some(at) = m.find('@') {
        m.truncate(at); // Vertex version suffix
    }
    // Bedrock: [region.]anthropic.<model>-v1:0. Only there are `-vN` and `:N`
    // packaging; elsewhere `-v3` is a model generation and `:32b` a size.
    if let Some(pos) = m.find("anthropic.") {
        m.drain(..pos + "anthropic.".len());
        if let Some((head, tail)) = m.rsplit_once(':') {
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                m.truncate(head.len());
            }
        }
        if let Some(stripped) = strip_suffix_version(&m) {
            m = stripped;
        }
    }
    if let Some(s) = m.strip_suffix("-latest") {
        m = s.to_string();
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

/// Whether `text` is a date `20YYMMDD` (or `20YY-MM-DD` when `dashed`).
fn is_date(text: &[u8], dashed: bool) -> bool {
    let digits: Vec<u8> = if dashed {
        if text.len() != 10 || text[4] != b'-' || text[7] != b'-' {
            return false;
        }
        [&text[..4], &text[5..7], &text[8..]].concat()
    } else {
        text.to_vec()
    };
    if digits.len() != 8 || !digits.iter().all(u8::is_ascii_digit) || !digits.starts_with(b"20") {
        return false;
    }
    let number =
        |range: std::ops::Range<usize>| digits[range].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    (1..=12).contains(&number(4..6)) && (1..=31).contains(&number(6..8))
}

/// `-20250929` or `-2025-09-29`: a snapshot date.
fn strip_date_suffix(m: &str) -> Option<String> {
    let bytes = m.as_bytes();
    for (len, dashed) in [(8, false), (10, true)] {
        if bytes.len() > len + 1
            && bytes[bytes.len() - len - 1] == b'-'
            && is_date(&bytes[bytes.len() - len..], dashed)
        {
            return Some(m[..m.len() - len - 1].to_string());
        }
    }
    None
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
        assert_eq!(model_id("anthropic.claude-opus-4-1-20250805-v1:0"), "claude-opus-4-1");
    }

    #[test]
    fn different_models_stay_apart() {
        for id in [
            "deepseek-v3",
            "deepseek-v2",
            "qwen3:32b",
            "qwen3:8b",
            "foo-20ab-cd-ef",
            "foo-20251399",
            "gemma-2-2b-v1",
            "llama3.1:70b",
        ] {
            assert_eq!(model_id(id), id);
        }
    }

    #[test]
    fn model_refs_keep_what_prices_depend_on() {
        assert_eq!(model_ref(" Claude-Opus-4-8[1m] "), "claude-opus-4-8");
        assert_eq!(
            model_ref("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        assert_eq!(model_ref("openrouter/anthropic/claude-opus-4.8"), "openrouter/anthropic/claude-opus-4.8");
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_us("2026-11-22T10:48:15.605Z"), Some(1_795_344_495_605_000));
        assert_eq!(timestamp_us("2026-11-22T11:48:15.605+01:00"), Some(1_795_344_495_605_000));
        assert_eq!(timestamp_us("yesterday"), None);
    }
}
