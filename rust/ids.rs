//! Stable identifiers: a 128-bit XXH3 of the identifying parts.
//!
//! XXH3 is a fixed, versioned algorithm, so an id computed today equals the id
//! computed by any later build or by another channel that sees the same call.
//! Ids stay numbers inside Rust (cheap to hash and compare) and become 32 hex
//! characters at the boundary.

use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::Xxh3;

pub type Id = u128;

/// Hash `parts`, separated by a byte that cannot occur in text ids.
pub fn stable_id(parts: &[&[u8]]) -> Id {
    let mut hasher = Xxh3::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(&[0x1f]);
        }
        hasher.update(part);
    }
    hasher.digest128()
}

/// The id as users see it: 32 lowercase hex digits, written into `out`.
pub fn hex(id: Id, out: &mut [u8; 32]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = DIGITS[((id >> (124 - 4 * i)) & 0xf) as usize];
    }
    // Only ASCII hex digits were written.
    std::str::from_utf8(out).unwrap_or_default()
}

/// 64-bit fingerprint of a byte range, used to notice rewritten files.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Ids are already uniformly distributed hashes: hash maps keyed by them can
/// use their low bits as they are.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, id: u128) {
        self.0 = id as u64;
    }
}

pub type IdMap<V> = std::collections::HashMap<Id, V, BuildHasherDefault<IdHasher>>;
pub type IdSet = std::collections::HashSet<Id, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_separated() {
        let mut text = [0; 32];
        assert_ne!(stable_id(&[b"ab", b"c"]), stable_id(&[b"a", b"bc"]));
        // Pinned: changing this value would change every id in every store.
        assert_eq!(hex(stable_id(&[b"message", b"req_1"]), &mut text), "77fef6adf2acd45a76068b100dc5c42f");
        assert_eq!(hex(0xab, &mut text), format!("{:032x}", 0xab));
    }
}
