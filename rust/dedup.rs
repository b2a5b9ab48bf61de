//! One event per API call.
//!
//! A response is written as several lines (one per content block), resumed
//! sessions copy earlier responses into new files, and side chains replay
//! parent messages. All of them collapse here: by `event_id` with a per-field
//! maximum of the tokens, and by `message_id` for side-chain replays. The store
//! applies the same rules across batches. Sources whose records are rewritten
//! in place (OpenCode) merge by `Merge::Latest` instead.

use std::collections::HashSet;

use rayon::slice::ParallelSliceMut;

use crate::event::{CostSource, Merge, RawRecord, UsageEvent};
use crate::ids::{IdMap, IdSet};

/// Collects records and keeps one event per id and one raw record per id.
/// Collectors can be filled in parallel and absorbed into one another. One
/// collector can span several reads: raw records are taken after each read
/// (they never change), events only at the end (later lines may still grow them).
#[derive(Debug, Default)]
pub struct Collector {
    /// Event id -> position in `events`; the structs themselves never move on rehash.
    index: IdMap<usize>,
    events: Vec<UsageEvent>,
    /// Every raw record id seen, including those already taken.
    raw_ids: IdSet,
    /// Raw records not taken yet.
    raws: Vec<RawRecord>,
    /// Records that added nothing new: more lines of a response already seen.
    pub duplicate_records: u64,
    /// Side-chain replays of a message that also exists on the main chain.
    pub sidechain_replays: u64,
}

#[derive(Debug, Default)]
pub struct Deduped {
    pub events: Vec<UsageEvent>,
    pub raws: Vec<RawRecord>,
    pub duplicate_records: u64,
    pub sidechain_replays: u64,
}

/// Which of two records of the same event describes it: the earliest one,
/// ties broken by raw id so the result does not depend on reading order.
fn is_primary(a: &UsageEvent, b: &UsageEvent) -> bool {
    (a.occurred_at_us, a.raw_event_id) <= (b.occurred_at_us, b.raw_event_id)
}

fn fill(into: &mut Option<String>, from: &mut Option<String>) {
    if into.is_none() {
        *into = from.take();
    }
}

/// Merge `other` into `event` (same `event_id`), by the source's rule.
pub fn merge(event: &mut UsageEvent, mut other: UsageEvent) {
    if Merge::of(other.source_system) == Merge::Latest {
        *event = other;
        return;
    }
    let tokens = event.tokens.max(&other.tokens);
    let cost = match (event.cost_usd, other.cost_usd) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let sidechain = event.is_sidechain && other.is_sidechain;
    if !is_primary(event, &other) {
        std::mem::swap(event, &mut other);
    }
    let e = event;
    let o = &mut other;
    for (into, from) in [
        (&mut e.provider_id, &mut o.provider_id),
        (&mut e.account_id, &mut o.account_id),
        (&mut e.model_raw, &mut o.model_raw),
        (&mut e.model, &mut o.model),
        (&mut e.session_id, &mut o.session_id),
        (&mut e.turn_id, &mut o.turn_id),
        (&mut e.message_id, &mut o.message_id),
        (&mut e.request_id, &mut o.request_id),
        (&mut e.tool_call_id, &mut o.tool_call_id),
        (&mut e.tool_name, &mut o.tool_name),
        (&mut e.project, &mut o.project),
        (&mut e.agent_id, &mut o.agent_id),
        (&mut e.user_id, &mut o.user_id),
        (&mut e.client_version, &mut o.client_version),
        (&mut e.git_branch, &mut o.git_branch),
        (&mut e.detail, &mut o.detail),
        (&mut e.speed, &mut o.speed),
    ] {
        fill(into, from);
    }
    e.duration_ms = e.duration_ms.or(o.duration_ms);
    e.success = e.success.or(o.success);
    e.tokens = tokens;
    e.cost_usd = cost;
    e.cost_source = if cost.is_some() { CostSource::Reported } else { CostSource::Unknown };
    e.is_sidechain = sidechain;
}

impl Collector {
    pub fn add(&mut self, event: UsageEvent, raw: RawRecord) {
        self.add_raw(raw);
        self.add_event(event);
    }

    /// Whether a raw record with this id is new to this collector.
    pub fn wants_raw(&self, id: crate::ids::Id) -> bool {
        !self.raw_ids.contains(&id)
    }

    fn add_raw(&mut self, raw: RawRecord) {
        if self.raw_ids.insert(raw.raw_event_id) {
            self.raws.push(raw);
        }
    }

    fn add_event(&mut self, event: UsageEvent) {
        match self.index.get(&event.event_id) {
            Some(&at) => {
                self.duplicate_records += 1;
                merge(&mut self.events[at], event);
            }
            None => {
                self.index.insert(event.event_id, self.events.len());
                self.events.push(event);
            }
        }
    }

    /// Take in what other collectors gathered, in order; their records count
    /// as coming after this one's. Room is made once: growing these vectors
    /// step by step would copy every event several times.
    pub fn absorb_all(&mut self, others: Vec<Collector>) {
        let events: usize = others.iter().map(|o| o.events.len()).sum();
        let raws: usize = others.iter().map(|o| o.raws.len()).sum();
        self.index.reserve(events);
        self.events.reserve(events);
        self.raw_ids.reserve(raws);
        self.raws.reserve(raws);
        for other in others {
            self.duplicate_records += other.duplicate_records;
            self.sidechain_replays += other.sidechain_replays;
            for raw in other.raws {
                self.add_raw(raw);
            }
            for event in other.events {
                self.add_event(event);
            }
        }
    }

    /// The raw records collected since the last call, in a stable order.
    pub fn take_raws(&mut self) -> Vec<RawRecord> {
        let mut raws = std::mem::take(&mut self.raws);
        raws.par_sort_unstable_by_key(|r| r.raw_event_id);
        raws
    }

    /// Drop side-chain replays and return events and raw records in a stable order.
    pub fn finish(self) -> Deduped {
        // A side chain may replay a main-chain message under a new request id;
        // the main-chain copy is the real call.
        let replays: IdSet = {
            let main_chain: HashSet<&str> = self
                .events
                .iter()
                .filter(|e| !e.is_sidechain)
                .filter_map(|e| e.message_id.as_deref())
                .collect();
            self.events
                .iter()
                .filter(|e| e.is_sidechain && e.message_id.as_deref().is_some_and(|m| main_chain.contains(m)))
                .map(|e| e.event_id)
                .collect()
        };
        let mut events = self.events;
        events.retain(|e| !replays.contains(&e.event_id));
        events.par_sort_unstable_by_key(|e| (e.occurred_at_us, e.event_id));
        let mut raws = self.raws;
        raws.par_sort_unstable_by_key(|r| r.raw_event_id);
        Deduped {
            events,
            raws,
            duplicate_records: self.duplicate_records,
            sidechain_replays: self.sidechain_replays + replays.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::claude::decode_line;
    use crate::jsonl::{Decoded, Source};

    /// Collapse records into events and distinct raw records.
    fn dedup(records: Vec<(UsageEvent, RawRecord)>) -> Deduped {
        let mut collector = Collector::default();
        for (event, raw) in records {
            collector.add(event, raw);
        }
        collector.finish()
    }

    fn record(line: &str) -> (UsageEvent, RawRecord) {
        let source = Source { path: "f", offset: 0, keep_content: false };
        match decode_line(line.as_bytes(), &source, |_| true).unwrap() {
            Decoded::Usage(pair) => *pair,
            other => panic!("{other:?}"),
        }
    }

    fn line(msg: &str, req: &str, uuid: &str, output: u64, sidechain: bool, ts: &str) -> String {
        format!(
            r#"{{"type":"assistant","uuid":"{uuid}","isSidechain":{sidechain},"sessionId":"s","timestamp":"{ts}","requestId":"{req}","message":{{"id":"{msg}","model":"claude-opus-4-6","usage":{{"input_tokens":3,"output_tokens":{output},"cache_read_input_tokens":100,"cache_creation_input_tokens":7}}}}}}"#
        )
    }

    #[test]
    fn lines_of_one_response_count_once_with_per_field_max() {
        let records = vec![
            record(&line("m1", "r1", "a", 10, false, "2026-01-01T00:00:01Z")),
            record(&line("m1", "r1", "b", 441, false, "2026-01-01T00:00:02Z")),
            record(&line("m1", "r1", "c", 10, false, "2026-01-01T00:00:03Z")),
        ];
        let first_raw = records[0].1.raw_event_id;
        let out = dedup(records);
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.raws.len(), 2, "two distinct usage snapshots");
        assert_eq!(out.duplicate_records, 2);
        assert_eq!(out.events[0].tokens.output, 441);
        assert_eq!(out.events[0].raw_event_id, first_raw);
    }

    #[test]
    fn order_does_not_matter() {
        let a = record(&line("m1", "r1", "a", 10, false, "2026-01-01T00:00:01Z"));
        let b = record(&line("m1", "r1", "b", 441, false, "2026-01-01T00:00:02Z"));
        let forward = dedup(vec![a.clone(), b.clone()]);
        let backward = dedup(vec![b, a]);
        assert_eq!(forward.events, backward.events);
    }

    #[test]
    fn sidechain_replay_is_dropped_but_subagents_are_kept() {
        let out = dedup(vec![
            record(&line("m1", "r1", "a", 10, false, "2026-01-01T00:00:01Z")),
            record(&line("m1", "r9", "b", 10, true, "2026-01-01T00:05:00Z")),
            record(&line("m2", "r2", "c", 10, true, "2026-01-01T00:06:00Z")),
        ]);
        assert_eq!(out.sidechain_replays, 1);
        let ids: Vec<_> = out.events.iter().map(|e| e.request_id.clone().unwrap()).collect();
        assert_eq!(ids, ["r1", "r2"]);
    }
}
