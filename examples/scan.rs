//! Profile the JSONL readers: `cargo run --release --example scan -- [--codex] DIR...`.
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let codex = args.iter().any(|a| a == "--codex");
    let roots: Vec<PathBuf> = args.iter().filter(|a| *a != "--codex").map(PathBuf::from).collect();
    let started = Instant::now();
    let (files, _) = _core::jsonl::scan::discover(&roots);
    let tasks: Vec<_> = files.into_iter().map(|f| (f, None)).collect();
    let mut collector = _core::dedup::Collector::default();
    let result = if codex {
        _core::jsonl::scan::read_files::<_core::jsonl::codex::CodexRollout>(&tasks, false, &mut collector)
    } else {
        _core::jsonl::scan::read_files::<_core::jsonl::claude::ClaudeTranscript>(
            &tasks,
            false,
            &mut collector,
        )
    };
    let events = collector.finish().events;
    let batch = _core::arrow::events_batch(&events).map(|b| b.num_rows());
    println!("{:?} events={} {:?} in {:?}", result.stats, events.len(), batch, started.elapsed());
}
