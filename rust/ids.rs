//! Stable identifiers: a 128-bit XXH3 of the identifying parts, as hex.
//!
//! XXH3 is a fixed, versioned algorithm, so an id computed today equals the id
//! computed by any later build or by another channel that sees the same call.

use xxhash_rust::xxh3::Xxh3;

/// Hash `parts` (separated by a byte that cannot occur in text ids) into 32 hex chars.
pub fn stable_id(parts: &[&str]) -> String {
    let mut hasher = Xxh3::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(&[0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    format!("{:032x}", hasher.digest128())
}

/// 64-bit fingerprint of a byte range, used to notice rewritten files.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_separated() {
        assert_eq!(stable_id(&["a", "bc"]).len(), 32);
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]));
        assert_eq!(stable_id(&["message", "req_1"]), stable_id(&["message", "req_1"]));
    }
}
