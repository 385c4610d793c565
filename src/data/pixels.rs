//! Where an image set's pixels are: in memory, or in a cache file that batches read from as
//! they need it, so that a data set larger than the memory budget (`--memory`) can be trained
//! on with bounded memory.
//!
//! A file-backed set holds an open handle on the cache file, the offset of its first image and,
//! for a subset (a split, a shuffled order), the file's image number of each of its images: 4
//! bytes per image instead of the image. Reads are positioned (`pread`), so threads share the
//! handle; the pages the kernel caches are not this process's memory and are given back under
//! pressure.

use std::borrow::Cow;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// The pixels of a set of images of `pixels` bytes each.
#[derive(Debug, Clone)]
pub enum Pixels {
    /// All images, one after the other.
    Memory(Vec<u8>),
    /// Images read from a cache file when asked for.
    File(FilePixels),
}

/// Images in a file: image `i` of the set is image `rows[i]` of the file (or image `i` when
/// `rows` is `None`), `pixels` bytes from `offset + rows[i] × pixels`.
#[derive(Debug, Clone)]
pub struct FilePixels {
    file: Arc<std::fs::File>,
    path: Arc<PathBuf>,
    offset: u64,
    len: usize,
    rows: Option<Arc<Vec<u32>>>,
}

impl From<Vec<u8>> for Pixels {
    fn from(v: Vec<u8>) -> Self {
        Pixels::Memory(v)
    }
}

impl FilePixels {
    /// The `len` images from byte `offset` of the open `file` (read from `path`, named in
    /// errors). The caller has checked the file's size.
    pub fn new(file: std::fs::File, path: PathBuf, offset: u64, len: usize) -> Self {
        FilePixels {
            file: Arc::new(file),
            path: Arc::new(path),
            offset,
            len,
            rows: None,
        }
    }

    /// The file the pixels are read from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn row(&self, i: usize) -> u64 {
        match &self.rows {
            Some(rows) => rows[i] as u64,
            None => i as u64,
        }
    }

    /// Reads image `i` (`out.len()` bytes each) into `out`.
    ///
    /// # Panics
    /// When the file cannot be read any more: it was opened and its size checked when the data
    /// was loaded, so this is a file changed or a disk failing under a running job, and there
    /// is no batch to make without it.
    pub fn read(&self, i: usize, out: &mut [u8]) {
        let at = self.offset + self.row(i) * out.len() as u64;
        if let Err(e) = self.file.read_exact_at(out, at) {
            panic!(
                "cannot read image {i} of the image cache {} at byte {at}: {e} (was the file \
                 changed or removed while distill was using it?)",
                self.path.display()
            );
        }
    }
}

impl Pixels {
    /// Image `i`, of `pixels` bytes: borrowed from memory, or read from the file.
    pub fn image(&self, i: usize, pixels: usize) -> Cow<'_, [u8]> {
        match self {
            Pixels::Memory(v) => Cow::Borrowed(&v[i * pixels..(i + 1) * pixels]),
            Pixels::File(f) => {
                assert!(i < f.len, "image {i} of {}", f.len);
                let mut out = vec![0u8; pixels];
                f.read(i, &mut out);
                Cow::Owned(out)
            }
        }
    }

    /// Image `i`, of `pixels` bytes: borrowed from memory, or read into `buf` (reused across
    /// calls, so that a batch allocates nothing per image).
    pub fn image_in<'a>(&'a self, i: usize, pixels: usize, buf: &'a mut Vec<u8>) -> &'a [u8] {
        match self {
            Pixels::Memory(v) => &v[i * pixels..(i + 1) * pixels],
            Pixels::File(f) => {
                assert!(i < f.len, "image {i} of {}", f.len);
                buf.resize(pixels, 0);
                f.read(i, buf);
                buf
            }
        }
    }

    /// Images `indices`, in that order, as a set of their own: copied in memory, or the same
    /// file with the indices composed.
    pub fn subset(&self, indices: &[usize], pixels: usize) -> Pixels {
        match self {
            Pixels::Memory(v) => {
                let mut images = Vec::with_capacity(indices.len() * pixels);
                for &i in indices {
                    images.extend_from_slice(&v[i * pixels..(i + 1) * pixels]);
                }
                Pixels::Memory(images)
            }
            Pixels::File(f) => {
                let rows = indices
                    .iter()
                    .map(|&i| {
                        assert!(i < f.len, "image {i} of {}", f.len);
                        f.row(i) as u32
                    })
                    .collect();
                Pixels::File(FilePixels {
                    rows: Some(Arc::new(rows)),
                    len: indices.len(),
                    ..f.clone()
                })
            }
        }
    }

    /// Calls `f` on every image in order (`count` images of `pixels` bytes), reading a file's
    /// images one at a time.
    pub fn for_each(&self, count: usize, pixels: usize, mut f: impl FnMut(&[u8])) {
        match self {
            Pixels::Memory(v) => v.chunks_exact(pixels.max(1)).for_each(f),
            Pixels::File(file) => {
                let mut buf = vec![0u8; pixels];
                for i in 0..count {
                    file.read(i, &mut buf);
                    f(&buf);
                }
            }
        }
    }

    /// The pixels held in memory; `None` for a file-backed set.
    pub fn in_memory(&self) -> Option<&[u8]> {
        match self {
            Pixels::Memory(v) => Some(v),
            Pixels::File(_) => None,
        }
    }

    /// The cache file a file-backed set reads from.
    pub fn file(&self) -> Option<&FilePixels> {
        match self {
            Pixels::Memory(_) => None,
            Pixels::File(f) => Some(f),
        }
    }

    /// Every image's pixels, one after the other, in memory: moved out of a memory set.
    pub fn into_vec(self, count: usize, pixels: usize) -> Vec<u8> {
        match self {
            Pixels::Memory(v) => v,
            file => file.to_vec(count, pixels),
        }
    }

    /// Every image's pixels, one after the other, in memory (tests, small sets).
    pub fn to_vec(&self, count: usize, pixels: usize) -> Vec<u8> {
        match self {
            Pixels::Memory(v) => v.clone(),
            Pixels::File(_) => {
                let mut out = Vec::with_capacity(count * pixels);
                self.for_each(count, pixels, |img| out.extend_from_slice(img));
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_subset_reads_what_the_memory_subset_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("px");
        let bytes: Vec<u8> = (0..7u8 * 6).collect();
        // Three bytes of header before the images.
        let mut file = vec![9, 9, 9];
        file.extend_from_slice(&bytes);
        std::fs::write(&path, &file).unwrap();
        let mem = Pixels::Memory(bytes.clone());
        let disk = Pixels::File(FilePixels::new(
            std::fs::File::open(&path).unwrap(),
            path,
            3,
            7,
        ));
        assert_eq!(disk.to_vec(7, 6), bytes);
        let pick = [6, 0, 3, 3];
        let (m, d) = (mem.subset(&pick, 6), disk.subset(&pick, 6));
        assert_eq!(d.to_vec(4, 6), m.to_vec(4, 6));
        // A subset of a subset composes the indices.
        let (m2, d2) = (m.subset(&[2, 0], 6), d.subset(&[2, 0], 6));
        assert_eq!(d2.image(0, 6), m2.image(0, 6));
        assert_eq!(d2.image(1, 6).as_ref(), &bytes[36..42]);
        assert!(d2.in_memory().is_none() && m2.in_memory().is_some());
    }
}
