//! A fingerprint of what a backfill reads: every file under the given
//! paths, by path, size and modification time. Equal fingerprints mean no
//! file was added, removed, grown, shrunk or rewritten (a rewrite moves the
//! modification time), which is all a backfill's cursors look at too; so a
//! backfill whose fingerprint equals the last complete run's has nothing to
//! read, and need not even open the store (see python/usagecore/unchanged.py).

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use xxhash_rust::xxh3::Xxh3;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// 128-bit hash of every file's path, size and modification time, in path order.
    pub hash: u128,
    /// The newest modification time seen (ns): a file changed within the
    /// file system's timestamp granularity of the fingerprint could change
    /// again without its time moving, and the caller must not trust it.
    pub newest_mtime_ns: i64,
    pub files: u64,
}

/// Deeper than any tree a backfill reads (Claude nests at most 5); guards
/// against symbolic-link loops.
const MAX_DEPTH: u32 = 16;

/// A stat that failed: counted as a marker, so that the path becoming
/// readable changes the fingerprint.
const UNREADABLE: (u64, i64) = (u64::MAX, -1);

fn size_and_mtime(meta: &std::fs::Metadata) -> (u64, i64) {
    let mtime =
        meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    (meta.len(), i64::try_from(mtime).unwrap_or(i64::MAX))
}

/// What one folder contributes: its path and the hash of its files, the
/// files counted and their newest time.
struct Folder {
    path: String,
    hash: u128,
    files: u64,
    newest_mtime_ns: i64,
}

/// Every folder under `dir` (itself included), sub-folders in parallel: a
/// legacy OpenCode tree has hundreds of folders with a hundred files each.
/// Files are stat'ed relative to their folder (no path to resolve again).
fn walk(dir: &Path, depth: u32, out: &mut Vec<Folder>) {
    let mut files: Vec<(std::ffi::OsString, (u64, i64))> = Vec::new();
    let mut folders = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(listing) => {
            for item in listing.flatten() {
                let Ok(kind) = item.file_type() else {
                    files.push((item.file_name(), UNREADABLE));
                    continue;
                };
                // Symbolic links are followed, as the readers do.
                let meta = if kind.is_symlink() { std::fs::metadata(item.path()) } else { item.metadata() };
                match meta {
                    Ok(meta) if meta.is_dir() => folders.push(item.path()),
                    Ok(meta) => files.push((item.file_name(), size_and_mtime(&meta))),
                    Err(_) => files.push((item.file_name(), UNREADABLE)),
                }
            }
        }
        Err(_) => files.push((Default::default(), UNREADABLE)),
    }
    files.sort_unstable();
    let mut hasher = Xxh3::new();
    for (name, (size, mtime)) in &files {
        hasher.update(name.as_encoded_bytes());
        hasher.update(&[0]);
        hasher.update(&size.to_le_bytes());
        hasher.update(&mtime.to_le_bytes());
    }
    out.push(Folder {
        path: dir.to_string_lossy().into_owned(),
        hash: hasher.digest128(),
        files: files.len() as u64,
        newest_mtime_ns: files.iter().map(|f| f.1 .1).max().unwrap_or(0),
    });
    if depth >= MAX_DEPTH {
        return;
    }
    let nested: Vec<Vec<Folder>> = folders
        .par_iter()
        .map(|folder| {
            let mut found = Vec::new();
            walk(folder, depth + 1, &mut found);
            found
        })
        .collect();
    out.extend(nested.into_iter().flatten());
}

/// The fingerprint of every file under `paths` (files or folders; a missing
/// path counts as missing).
pub fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let mut folders = Vec::new();
    for path in paths {
        let (size, mtime) = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                walk(path, 0, &mut folders);
                continue;
            }
            Ok(meta) => size_and_mtime(&meta),
            Err(_) => (0, -1),
        };
        let mut hasher = Xxh3::new();
        hasher.update(&size.to_le_bytes());
        hasher.update(&mtime.to_le_bytes());
        let path = path.to_string_lossy().into_owned();
        folders.push(Folder { path, hash: hasher.digest128(), files: 1, newest_mtime_ns: mtime });
    }
    folders.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut hasher = Xxh3::new();
    for folder in &folders {
        hasher.update(folder.path.as_bytes());
        hasher.update(&[0]);
        hasher.update(&folder.hash.to_le_bytes());
    }
    Fingerprint {
        hash: hasher.digest128(),
        newest_mtime_ns: folders.iter().map(|f| f.newest_mtime_ns).max().unwrap_or(0),
        files: folders.iter().map(|f| f.files).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_change_to_a_file_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("sessions/2026/03/01");
        std::fs::create_dir_all(&nested).unwrap();
        let file = nested.join("rollout-a.jsonl");
        std::fs::write(&file, b"{}\n").unwrap();
        let missing = dir.path().join("archived_sessions");
        let roots = [dir.path().join("sessions"), missing.clone()];
        let first = fingerprint(&roots);
        assert_eq!(first.files, 2); // the file, and the missing root
        assert_eq!(first, fingerprint(&roots));

        // Same size, new content and time.
        std::fs::write(&file, b"[]\n").unwrap();
        let times = std::fs::FileTimes::new().set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1));
        std::fs::File::options().write(true).open(&file).unwrap().set_times(times).unwrap();
        let rewritten = fingerprint(&roots);
        assert_ne!(first.hash, rewritten.hash);
        assert_eq!(rewritten.newest_mtime_ns, 1_000_000_000);

        // A new file with an old time, in a new folder.
        std::fs::create_dir_all(missing.join("x")).unwrap();
        let copied = missing.join("x/rollout-b.jsonl");
        std::fs::write(&copied, b"{}\n").unwrap();
        std::fs::File::options().write(true).open(&copied).unwrap().set_times(times).unwrap();
        let added = fingerprint(&roots);
        assert_ne!(rewritten.hash, added.hash);
        assert_eq!(added.files, 2);
    }
}
