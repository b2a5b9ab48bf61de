//! JSONL history files: finding them, reading only what is new, and decoding
//! their lines. One module per source format; `scan` is shared by all.

pub mod claude;
pub mod scan;

/// Something wrong with the input, reported to the user; never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    /// Byte offset of the offending line within the file.
    pub offset: u64,
    pub message: String,
}
