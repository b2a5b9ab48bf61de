//! Writes the starting corpus of the `decoders` target: every real input in
//! tests/data/captures, prefixed with the byte that picks its target.
//! `cargo run --bin seed_corpus` (from fuzz/); the corpus is not checked in.

use _core::fuzz::{seeds, targets};

fn main() -> std::io::Result<()> {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let captures = here.join("../tests/data/captures");
    let corpus = here.join("corpus/decoders");
    std::fs::create_dir_all(&corpus)?;
    let mut written = 0;
    for (pick, target) in targets().into_iter().enumerate() {
        for (n, seed) in seeds(&captures, target, 256 << 10).into_iter().enumerate() {
            let mut input = vec![pick as u8];
            input.extend(seed);
            std::fs::write(corpus.join(format!("{pick:02}-{n:03}")), input)?;
            written += 1;
        }
    }
    println!("{written} seeds in {}", corpus.display());
    Ok(())
}
