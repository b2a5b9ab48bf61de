//! Every decoder that takes bytes from outside, behind one entry point:
//! OTLP protobuf and OTLP/JSON of each signal, gzip and deflate bodies, and
//! the hook payloads of Claude Code, Codex (`notify`) and OpenCode (plugin).
//! `exercise` feeds an input through what the receiver and the drain do with
//! it (decompress, decode, count rejections, convert, build the Arrow
//! batches the store gets) and checks what must hold for any input.
//!
//! Two drivers: the bounded property-based run below (proptest, in `cargo
//! test`: mutations of the real captures in tests/data/captures, a few
//! seconds), and the coverage-guided targets in fuzz/ (cargo-fuzz, nightly).

use crate::arrow::{events_batch, raws_batch};
use crate::hooks::{HookBatch, Spooled};
use crate::otlp::arrow::{otel_events_batch, points_batch, spans_batch};
use crate::otlp::body::{decompress, Compression};
use crate::otlp::convert::{rejections, Converted, Origin};
use crate::otlp::{decode, Encoding, Signal};

/// A decoder entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A request body as received: `Content-Encoding` undone (gzip and
    /// deflate bounded to `BODY_LIMIT`), then decoded.
    Otlp(Signal, Encoding, Compression),
    ClaudeHook,
    CodexNotify,
    OpenCodePlugin,
}

const SIGNALS: [Signal; 3] = [Signal::Logs, Signal::Metrics, Signal::Traces];

/// Every target.
pub fn targets() -> Vec<Target> {
    let mut out = Vec::new();
    for signal in SIGNALS {
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            for compression in [Compression::None, Compression::Gzip, Compression::Deflate] {
                out.push(Target::Otlp(signal, encoding, compression));
            }
        }
    }
    out.extend([Target::ClaudeHook, Target::CodexNotify, Target::OpenCodePlugin]);
    out
}

/// Decompressed bodies are bounded (the receiver's bound is 64 MiB; here
/// 4 MiB keeps a run fast and still lets a small input expand a lot).
pub const BODY_LIMIT: usize = 4 << 20;

/// What an input came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Refused, with the message the client or the quarantine would see.
    Refused(String),
    /// Accepted: how many rows (points, log records, spans, canonical events) it gave.
    Stored(usize),
}

/// Feed `input` to `target`. `Err` names a broken property (a bug); a panic
/// is one too. Bad input gives `Ok(Outcome::Refused(..))`.
pub fn exercise(target: Target, input: &[u8]) -> Result<Outcome, String> {
    match target {
        Target::Otlp(signal, encoding, compression) => otlp(signal, encoding, compression, input),
        Target::ClaudeHook => hooks(crate::hooks::claude::decode, input),
        Target::CodexNotify => hooks(crate::hooks::codex::decode, input),
        Target::OpenCodePlugin => hooks(crate::hooks::opencode::decode, input),
    }
}

fn otlp(
    signal: Signal,
    encoding: Encoding,
    compression: Compression,
    input: &[u8],
) -> Result<Outcome, String> {
    let body = match decompress(compression, input.to_vec(), BODY_LIMIT) {
        Ok(body) => body,
        Err(e) => return refused(e.to_string()),
    };
    if body.len() > BODY_LIMIT {
        return Err(format!("{} bytes came out of decompress, over its limit", body.len()));
    }
    // The drain's fallback when a spool file names no path.
    if encoding == Encoding::Json {
        let _ = crate::otlp::json::sniff_signal(&body);
    }
    let request = match decode(signal, encoding, &body) {
        Ok(request) => request,
        Err(e) => return refused(e.to_string()),
    };
    if request.signal() != signal {
        return Err(format!("asked for {signal:?}, decoded {:?}", request.signal()));
    }
    // What was decoded survives the spool: gRPC requests are spooled as
    // protobuf, JSON ones are stored as the same rows as their protobuf.
    let encoded = request.encode_to_vec();
    let again =
        decode(signal, Encoding::Protobuf, &encoded).map_err(|e| format!("re-encoded request: {e}"))?;
    if again.encode_to_vec() != encoded {
        return Err("the request changed through protobuf and back".to_owned());
    }
    let (rejected, why) = rejections(&request);
    if rejected < 0 || (rejected > 0) != why.is_some() {
        return Err(format!("rejections: {rejected} with message {why:?}"));
    }
    let mut converted = Converted::default();
    converted.add(&request, &Origin { received_at_ns: 1, ..Origin::default() });
    let s = &converted.stats;
    let counted_rejections = s.rejected_points + s.rejected_log_records + s.rejected_spans;
    if counted_rejections as i64 != rejected {
        return Err(format!(
            "the receiver answered {rejected} rejected, the conversion rejected {counted_rejections}"
        ));
    }
    let arrow = |e: arrow_schema::ArrowError| format!("Arrow batch: {e}");
    let rows = points_batch(&converted.points, 1).map_err(arrow)?.num_rows()
        + otel_events_batch(&converted.events, 1).map_err(arrow)?.num_rows()
        + spans_batch(&converted.spans, 1).map_err(arrow)?.num_rows()
        + events_batch(&converted.usage).map_err(arrow)?.num_rows();
    raws_batch(&converted.raws, 1).map_err(arrow)?;
    Ok(Outcome::Stored(rows))
}

fn hooks(decode: fn(&[Spooled]) -> HookBatch, input: &[u8]) -> Result<Outcome, String> {
    let payload = Spooled {
        name: "1795344577000000000-1-00000000.fuzz.hook".to_owned(),
        received_at_ns: 1_795_344_577_000_000_000,
        account_id: None,
        body: input.to_vec(),
    };
    let batch = decode(std::slice::from_ref(&payload));
    if batch.rejected.iter().any(|(name, why)| name != &payload.name || why.is_empty()) {
        return Err(format!("rejections without the payload's name or a reason: {:?}", batch.rejected));
    }
    let arrow = |e: arrow_schema::ArrowError| format!("Arrow batch: {e}");
    let rows = events_batch(&batch.events).map_err(arrow)?.num_rows();
    raws_batch(&batch.raws, 1).map_err(arrow)?;
    match batch.rejected.into_iter().next() {
        Some((_, why)) => Ok(Outcome::Refused(why)),
        None => Ok(Outcome::Stored(rows)),
    }
}

fn refused(message: String) -> Result<Outcome, String> {
    if message.is_empty() {
        return Err("refused without a message".to_owned());
    }
    Ok(Outcome::Refused(message))
}

/// The real inputs of `target` in tests/data/captures (the starting points
/// of mutation), each at most `max_len` bytes as the target takes them.
pub fn seeds(captures: &std::path::Path, target: Target, max_len: usize) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    collect_files(captures, &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path.to_string_lossy().into_owned();
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let seed = match target {
            Target::Otlp(signal, encoding, compression) => {
                let wanted = match encoding {
                    Encoding::Protobuf => ".pb",
                    Encoding::Json => ".json",
                };
                if !file.contains(&format!("_v1_{}", &signal.path()[4..])) || !file.contains(wanted) {
                    continue;
                }
                let plain = if file.ends_with(".gz") {
                    match decompress(Compression::Gzip, bytes, BODY_LIMIT) {
                        Ok(plain) => plain,
                        Err(_) => continue,
                    }
                } else {
                    bytes
                };
                compress(compression, &plain)
            }
            Target::ClaudeHook if name.contains("/hooks/") && file.ends_with(".json") => bytes,
            Target::CodexNotify if name.contains("/notify/") => bytes,
            Target::OpenCodePlugin if file == "plugin_events.jsonl" => bytes,
            _ => continue,
        };
        if seed.len() <= max_len {
            out.push(seed);
        }
    }
    out
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// `body` with `Content-Encoding` `compression` applied.
pub fn compress(compression: Compression, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let level = flate2::Compression::fast();
    let written = match compression {
        Compression::None => return body.to_vec(),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
            encoder.write_all(body).and_then(|()| encoder.finish())
        }
        Compression::Deflate => {
            let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), level);
            encoder.write_all(body).and_then(|()| encoder.finish())
        }
    };
    written.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    /// Cases per target; `USAGECORE_FUZZ_CASES` raises it for a longer run.
    fn cases() -> u32 {
        std::env::var("USAGECORE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150)
    }

    /// Tokens that sit at the edges of what the decoders take: JSON values of
    /// every kind and out of range, OTLP/JSON spellings, protobuf keys and
    /// varints, huge lengths.
    const TOKENS: &[&[u8]] = &[
        b"null",
        b"true",
        b"false",
        b"-1",
        b"0",
        b"1e999",
        b"-1e999",
        b"18446744073709551616",
        b"-9223372036854775809",
        b"9223372036854775807",
        b"0.5",
        b"\"\"",
        b"\"NaN\"",
        b"\"Infinity\"",
        b"\"-Infinity\"",
        b"\"\\ud800\"",
        b"\"\\u0000\"",
        b"\"zz\"",
        b"\"0x1f\"",
        b"{}",
        b"[]",
        b"[[[[[[[[",
        b"{\"intValue\":\"x\"}",
        b"{\"doubleValue\":\"1\"}",
        b"{\"kvlistValue\":{\"values\":[{}]}}",
        b"{\"arrayValue\":{\"values\":[null]}}",
        b"\"traceId\":\"00\"",
        b"\"spanId\":5",
        b"\"timeUnixNano\":-5",
        b"\"aggregationTemporality\":7",
        b"\"asInt\":\"99999999999999999999\"",
        b"\"bucketCounts\":[\"-1\"]",
        b"\"type\":\"message.updated\"",
        b"\"hook\":\"event\"",
        b"\"hook_event_name\":\"Stop\"",
        b"\"transcript_path\":\"/dev/null\"",
        b"\n",
        b",",
        b":",
        b"\"",
        b"\\",
        b"\xff\xfe",
        b"\x00",
        b"\x0a\xff\xff\xff\xff\x0f",
        b"\x0a\x00",
        b"\x12\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x08\x96\x01",
        b"\x1a\x03abc",
        b"\x39\xff\xff\xff\xff\xff\xff\xf7\x7f",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
        b"\x78\x9c",
    ];

    /// One change to an input.
    #[derive(Debug, Clone)]
    enum Mutation {
        Set(Index, u8),
        FlipBit(Index, u8),
        Insert(Index, Vec<u8>),
        Token(Index, Index),
        Remove(Index, usize),
        Truncate(Index),
        /// A piece of another seed of the same target, over this one.
        Splice(Index, Index, Index, usize),
        /// A stretch repeated (nesting, repeated fields).
        Repeat(Index, usize, u8),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
            (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..16))
                .prop_map(|(i, b)| Mutation::Insert(i, b)),
            (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Token(i, t)),
            (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
            any::<Index>().prop_map(Mutation::Truncate),
            (any::<Index>(), any::<Index>(), any::<Index>(), 1usize..256)
                .prop_map(|(i, s, j, n)| Mutation::Splice(i, s, j, n)),
            (any::<Index>(), 1usize..32, 2u8..16).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        ]
    }

    fn apply(input: &mut Vec<u8>, mutation: &Mutation, seeds: &[Vec<u8>]) {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match mutation {
            Mutation::Set(i, b) if !input.is_empty() => {
                let i = i.index(input.len());
                input[i] = *b;
            }
            Mutation::FlipBit(i, bit) if !input.is_empty() => {
                let i = i.index(input.len());
                input[i] ^= 1 << bit;
            }
            Mutation::Insert(i, bytes) => {
                let i = at(i, input.len());
                input.splice(i..i, bytes.iter().copied());
            }
            Mutation::Token(i, t) => {
                let i = at(i, input.len());
                input.splice(i..i, TOKENS[t.index(TOKENS.len())].iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = at(i, input.len());
                let end = (i + n).min(input.len());
                input.drain(i..end);
            }
            Mutation::Truncate(i) => input.truncate(at(i, input.len())),
            Mutation::Splice(i, s, j, n) => {
                let other = &seeds[s.index(seeds.len())];
                let j = at(j, other.len());
                let piece = &other[j..(j + n).min(other.len())];
                let i = at(i, input.len());
                let end = (i + piece.len()).min(input.len());
                input.splice(i..end, piece.iter().copied());
            }
            Mutation::Repeat(i, n, k) => {
                let i = at(i, input.len());
                let end = (i + n).min(input.len());
                let piece = input[i..end].to_vec();
                for _ in 1..*k {
                    input.splice(end..end, piece.iter().copied());
                }
            }
            Mutation::Set(..) | Mutation::FlipBit(..) => {}
        }
    }

    fn captures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures")
    }

    /// Mutated seeds (and, now and then, bytes from nowhere) through `target`:
    /// no panic, no broken property, and a decision for every input.
    fn run(target: Target) -> (usize, usize) {
        // A compressed body is mutated before compression (what the decoder
        // behind it sees) or after (what the decompressor sees).
        let (plain_target, compression) = match target {
            Target::Otlp(signal, encoding, compression) => {
                (Target::Otlp(signal, encoding, Compression::None), compression)
            }
            _ => (target, Compression::None),
        };
        // Small seeds keep the unoptimized test build at a few seconds.
        let plain = seeds(&captures(), plain_target, 48 << 10);
        assert!(!plain.is_empty(), "{target:?}: no seeds in the captures");
        let sent: Vec<Vec<u8>> = plain.iter().map(|p| compress(compression, p)).collect();
        // Every seed as it is: accepted (the golden tests check what it gives).
        for seed in &sent {
            let outcome = exercise(target, seed).unwrap_or_else(|e| panic!("{target:?}: {e}"));
            if target != Target::ClaudeHook {
                assert!(
                    matches!(outcome, Outcome::Stored(_)),
                    "{target:?}: a capture was refused: {outcome:?}"
                );
            }
        }
        let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(
            config,
            proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
        );
        let inputs = prop_oneof![
            9 => (any::<Index>(), proptest::collection::vec(mutation(), 1..5), any::<bool>()).prop_map({
                move |(seed, mutations, before)| {
                    let seed = seed.index(plain.len());
                    let pool = if before || compression == Compression::None { &plain } else { &sent };
                    let mut input = pool[seed].clone();
                    for m in &mutations {
                        apply(&mut input, m, pool);
                    }
                    if before {
                        compress(compression, &input)
                    } else {
                        input
                    }
                }
            }),
            1 => proptest::collection::vec(any::<u8>(), 0..512),
        ];
        let stored = std::cell::Cell::new(0);
        let refused = std::cell::Cell::new(0);
        runner
            .run(&inputs, |input| {
                match exercise(target, &input).map_err(TestCaseError::fail)? {
                    Outcome::Stored(_) => stored.set(stored.get() + 1),
                    Outcome::Refused(_) => refused.set(refused.get() + 1),
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{target:?}: {e}"));
        (stored.get(), refused.get())
    }

    fn run_all(pick: impl Fn(&Target) -> bool) {
        for target in targets().into_iter().filter(pick) {
            let (stored, refused) = run(target);
            eprintln!("{target:?}: {stored} stored, {refused} refused");
            // The run reaches past the decoders' front doors: some mutants
            // still decode and are converted, others are refused.
            assert!(stored > 0 && refused > 0, "{target:?}: {stored} stored, {refused} refused");
        }
    }

    #[test]
    fn otlp_logs_never_panic() {
        run_all(|t| matches!(t, Target::Otlp(Signal::Logs, ..)));
    }

    #[test]
    fn otlp_metrics_never_panic() {
        run_all(|t| matches!(t, Target::Otlp(Signal::Metrics, ..)));
    }

    #[test]
    fn otlp_traces_never_panic() {
        run_all(|t| matches!(t, Target::Otlp(Signal::Traces, ..)));
    }

    #[test]
    fn hook_payloads_never_panic() {
        run_all(|t| !matches!(t, Target::Otlp(..)));
    }

    #[test]
    fn a_gzip_bomb_is_refused_at_the_limit() {
        let bomb = compress(Compression::Gzip, &vec![b' '; BODY_LIMIT + 1]);
        let outcome = exercise(Target::Otlp(Signal::Logs, Encoding::Json, Compression::Gzip), &bomb).unwrap();
        assert!(matches!(outcome, Outcome::Refused(ref m) if m.contains("larger than")), "{outcome:?}");
    }
}
