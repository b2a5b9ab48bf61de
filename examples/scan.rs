//! Profile the transcript reader: `cargo run --release --example scan -- DIR`.
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let roots: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let started = Instant::now();
    let (files, _) = _core::jsonl::scan::discover(&roots);
    let tasks: Vec<_> = files.into_iter().map(|f| (f, None)).collect();
    let mut collector = _core::dedup::Collector::default();
    let result = _core::jsonl::scan::read_files::<_core::jsonl::claude::ClaudeTranscript>(
        &tasks,
        false,
        &mut collector,
    );
    let events = collector.finish().events;
    let batch = _core::arrow::events_batch(&events).map(|b| b.num_rows());
    println!("{:?} events={} {:?} in {:?}", result.stats, events.len(), batch, started.elapsed());
}
