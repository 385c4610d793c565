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
    use std::io::BufRead;
    // Streamed: a file that never ends (`/dev/zero`) or expands without bound is refused from
    // its header, never read whole.
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = std::io::BufReader::new(file);
    let gzip = reader
        .fill_buf()
        .map_err(|e| Error::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    match gzip {
        true => decode_stream(flate2::read::MultiGzDecoder::new(reader), path, true),
        false => decode_stream(reader, path, false),
    }
}

/// Largest image side an IDX file may declare (pixels).
pub const MAX_IMAGE_SIDE: usize = crate::limits::MAX_IMAGE_SIDE;

/// Largest IDX payload distill reads (bytes): 16 GiB.
pub const MAX_IDX_BYTES: usize = 16 << 30;

/// Decodes IDX bytes (gzip or raw); `path` names the source in errors. A gzip stream is
/// decompressed against its header: the header is read first, and no more than the data bytes
/// it declares (plus one, to detect trailing bytes) are ever decompressed.
pub fn decode_idx(raw: &[u8], path: &Path) -> Result<IdxArray> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        decode_stream(flate2::read::MultiGzDecoder::new(raw), path, true)
    } else {
        decode_stream(raw, path, false)
    }
}

fn decode_stream(mut input: impl Read, path: &Path, gzip: bool) -> Result<IdxArray> {
    let err = |message: String| Error::Idx {
        path: path.to_path_buf(),
        message,
    };
    let read_err = |e: std::io::Error| match gzip {
        true => err(format!(
            "not a valid gzip stream ({e}); the file may be truncated"
        )),
        false => err(format!("cannot read: {e}")),
    };
    // Reads up to `n` bytes (fewer only at the end of the stream).
    let mut read_up_to = |n: usize| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        (&mut input)
            .take(n as u64)
            .read_to_end(&mut out)
            .map_err(read_err)?;
        Ok(out)
    };
    let magic_bytes = read_up_to(4)?;
    if magic_bytes.len() < 4 {
        return Err(err(format!(
            "only {} bytes; an IDX header needs at least 4",
            magic_bytes.len()
        )));
    }
    let b = &magic_bytes;
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if b[0] != 0 || b[1] != 0 || b[2] != 0x08 || !(1..=4).contains(&b[3]) {
        return Err(err(format!(
            "wrong magic number 0x{magic:08x}: expected 0x00000801 (labels) or 0x00000803 (images) of unsigned bytes"
        )));
    }
    let ndim = b[3] as usize;
    let dim_bytes = read_up_to(4 * ndim)?;
    if dim_bytes.len() < 4 * ndim {
        return Err(err(format!(
            "truncated header: {} bytes, need {}",
            4 + dim_bytes.len(),
            4 + 4 * ndim
        )));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    if let Some((i, &d)) = dims
        .iter()
        .enumerate()
        .skip(1)
        .find(|&(_, &d)| d == 0 || d > MAX_IMAGE_SIDE)
    {
        return Err(err(format!(
            "dimension {i} is {d} (dimensions {dims:?}); each dimension after the count must be 1..={MAX_IMAGE_SIDE}"
        )));
    }
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let expected = match expected {
        Some(n) if n <= MAX_IDX_BYTES => n,
        _ => {
            return Err(err(format!(
                "dimensions {dims:?} describe more than {} GiB of data; distill reads at most that",
                MAX_IDX_BYTES >> 30
            )));
        }
    };
    if let Some(available) = crate::limits::available_bytes()
        && expected as u128 > available
    {
        return Err(err(format!(
            "dimensions {dims:?} describe {} of data, more than the {} of memory available",
            crate::limits::human(expected as u128),
            crate::limits::human(available)
        )));
    }
    let data = read_up_to(expected + 1)?;
    let found = data.len();
    if found < expected {
        return Err(err(format!(
            "truncated: dimensions {dims:?} need {expected} data bytes, found {found}"
        )));
    }
    if found > expected {
        // Counted, not kept: a stream that expands far past its header uses no memory here.
        let extra = std::io::copy(&mut input, &mut std::io::sink()).map_err(read_err)? + 1;
        return Err(err(format!(
            "{extra} trailing bytes after the {expected} data bytes that dimensions {dims:?} describe"
        )));
    }
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

    #[test]
    fn refuses_empty_images_and_oversized_headers() {
        for dims in [vec![4, 0, 0], vec![4, 28, 0]] {
            let bytes = encode_idx(&IdxArray { dims, data: vec![] });
            let e = decode_idx(&bytes, Path::new("z.idx"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("z.idx") && e.contains("must be 1..=4096"), "{e}");
        }
        // A header claiming 2^31 images of 4096 x 4096 is refused before anything is read.
        let bytes = encode_idx(&IdxArray {
            dims: vec![1 << 31, 4096, 4096],
            data: vec![],
        });
        let e = decode_idx(&bytes, Path::new("big.idx"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 16 GiB"), "{e}");
    }

    #[test]
    fn an_endless_file_is_refused_from_its_header() {
        let e = read_idx(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("wrong magic number 0x00000000"), "{e}");
    }

    #[test]
    fn a_gzip_bomb_is_not_decompressed_past_its_header() {
        // 64 MiB of zeros behind a header that declares 12 bytes: the error comes after
        // decompressing 13 bytes of data (the trailing count is then read, streamed).
        let mut raw = encode_idx(&sample());
        raw.extend(std::iter::repeat_n(0u8, 64 << 20));
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&raw).unwrap();
        let gz = enc.finish().unwrap();
        assert!(gz.len() < 1 << 20);
        let e = decode_idx(&gz, Path::new("bomb.gz"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("trailing bytes"), "{e}");
    }
}
