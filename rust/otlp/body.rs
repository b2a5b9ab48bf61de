//! Request bodies before decoding: `Content-Encoding` undone with a hard
//! bound on the decompressed size, so a gzip bomb costs at most the bound.

use std::io::Read;

/// How a body was compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Deflate,
}

impl Compression {
    /// From a `Content-Encoding` header; `None` for an encoding we cannot undo.
    pub fn from_header(value: Option<&str>) -> Option<Compression> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Some(Compression::None),
            Some("gzip") | Some("x-gzip") => Some(Compression::Gzip),
            Some("deflate") => Some(Compression::Deflate),
            Some(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body larger than {limit} bytes after decompression")]
    TooLarge { limit: usize },
    #[error("body is not valid {what}: {source}")]
    Corrupt { what: &'static str, source: std::io::Error },
}

/// The body as the exporter encoded it, at most `limit` bytes.
pub fn decompress(compression: Compression, body: Vec<u8>, limit: usize) -> Result<Vec<u8>, BodyError> {
    let (reader, what): (Box<dyn Read + '_>, _) = match compression {
        Compression::None if body.len() > limit => return Err(BodyError::TooLarge { limit }),
        Compression::None => return Ok(body),
        Compression::Gzip => (Box::new(flate2::read::MultiGzDecoder::new(&body[..])), "gzip"),
        Compression::Deflate => (Box::new(flate2::read::ZlibDecoder::new(&body[..])), "deflate"),
    };
    let mut out = Vec::with_capacity((body.len() * 4).min(limit));
    // One byte past the limit tells "exactly at the limit" from "over it".
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|source| BodyError::Corrupt { what, source })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100_000);
        assert!(matches!(decompress(Compression::Gzip, bomb, 1 << 20), Err(BodyError::TooLarge { .. })));
    }

    #[test]
    fn exact_limit_passes_and_garbage_is_corrupt() {
        assert_eq!(decompress(Compression::Gzip, gzip(b"abcd"), 4).unwrap(), b"abcd");
        assert!(matches!(decompress(Compression::Gzip, b"nope".to_vec(), 4), Err(BodyError::Corrupt { .. })));
        assert!(matches!(
            decompress(Compression::None, b"abcde".to_vec(), 4),
            Err(BodyError::TooLarge { .. })
        ));
    }
}
