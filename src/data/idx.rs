//! IDX files (the MNIST family's format), gzip-compressed or raw.
//!
//! Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then
//! one big-endian u32 per dimension, then the data. Images are IDX3 (magic 0x00000803), labels
//! IDX1 (magic 0x00000801).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file from disk, un-gzipping it when it starts with the gzip magic.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_idx(&raw, path)
}

/// Decodes IDX bytes (gzip or raw); `path` names the source in errors.
pub fn decode_idx(raw: &[u8], path: &Path) -> Result<IdxArray> {
    let err = |message: String| Error::Idx {
        path: path.to_path_buf(),
        message,
    };
    let bytes: Vec<u8> = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 3);
        flate2::read::MultiGzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| {
                err(format!(
                    "not a valid gzip stream ({e}); the file may be truncated"
                ))
            })?;
        out
    } else {
        raw.to_vec()
    };
    if bytes.len() < 4 {
        return Err(err(format!(
            "only {} bytes; an IDX header needs at least 4",
            bytes.len()
        )));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || !(1..=4).contains(&bytes[3]) {
        return Err(err(format!(
            "wrong magic number 0x{magic:08x}: expected 0x00000801 (labels) or 0x00000803 (images) of unsigned bytes"
        )));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(err(format!(
            "truncated header: {} bytes, need {header}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let expected = expected.ok_or_else(|| err(format!("dimensions {dims:?} overflow")))?;
    let found = bytes.len() - header;
    if found < expected {
        return Err(err(format!(
            "truncated: dimensions {dims:?} need {expected} data bytes, found {found}"
        )));
    }
    if found > expected {
        return Err(err(format!(
            "{} trailing bytes after the {expected} data bytes that dimensions {dims:?} describe",
            found - expected
        )));
    }
    let mut data = bytes;
    data.drain(..header);
    Ok(IdxArray { dims, data })
}

/// Encodes an array as raw (uncompressed) IDX bytes.
pub fn encode_idx(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, array.dims.len() as u8];
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

/// Encodes an array as gzip-compressed IDX bytes.
pub fn encode_idx_gz(array: &IdxArray) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&encode_idx(array))
        .expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IdxArray {
        IdxArray {
            dims: vec![2, 3, 2],
            data: (0..12).collect(),
        }
    }

    #[test]
    fn round_trips_raw_and_gzip() {
        let a = sample();
        assert_eq!(decode_idx(&encode_idx(&a), Path::new("x")).unwrap(), a);
        assert_eq!(decode_idx(&encode_idx_gz(&a), Path::new("x")).unwrap(), a);
    }

    #[test]
    fn refuses_wrong_magic() {
        let mut bytes = encode_idx(&sample());
        bytes[2] = 0x0d;
        let e = decode_idx(&bytes, Path::new("bad.idx"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.idx") && e.contains("wrong magic number 0x00000d03"),
            "{e}"
        );
    }

    #[test]
    fn refuses_truncation_raw_and_gzip() {
        let bytes = encode_idx(&sample());
        let e = decode_idx(&bytes[..bytes.len() - 1], Path::new("t.idx"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("truncated") && e.contains("need 12 data bytes, found 11"),
            "{e}"
        );
        let gz = encode_idx_gz(&sample());
        let e = decode_idx(&gz[..gz.len() / 2], Path::new("t.gz"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.gz") && e.contains("truncated"), "{e}");
        let e = decode_idx(&bytes[..6], Path::new("h.idx"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated header"), "{e}");
    }
}
