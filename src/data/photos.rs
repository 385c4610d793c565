//! Photos in folders, one sub-folder per class (torchvision's `ImageFolder` layout), decoded
//! once into u8 channel planes of one size, and kept in a cache file so that later runs read
//! the pixels instead of decoding again.
//!
//! ```text
//! train/
//!   cat/ 0001.jpg 0002.png …
//!   dog/ a.webp …
//! ```
//!
//! Class `i` is the `i`-th sub-folder in name order (as `ImageFolder` numbers them). Files whose
//! extension is not `.png`, `.jpg`, `.jpeg` or `.webp` (any case), hidden files and files
//! directly in the root are not images of the set and are left alone.

use super::dataset::{IDENTITY, ImageDataset};
use super::pixels::{FilePixels, Pixels};
use crate::config::BadImagePolicy;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::vocab::Resize;
use image::DynamicImage;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The file extensions read as images (compared without case).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp"];

/// Bumped whenever decoding changes, so that caches of older decoders are not used.
const DECODER_VERSION: u32 = 2;
/// First bytes of a cache file.
const CACHE_MAGIC: &[u8; 8] = b"DSTLIMG2";

/// True when `path` has one of the [`IMAGE_EXTENSIONS`].
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// `img` as `channels` planes (1: grey, 3: RGB) of `h × w` u8 pixels, brought to that size by
/// `resize` (bilinear filtering).
pub fn to_planes(
    img: &DynamicImage,
    channels: usize,
    h: usize,
    w: usize,
    resize: Resize,
) -> Vec<u8> {
    use image::imageops::FilterType::Triangle;
    let (tw, th) = (w as u32, h as u32);
    let sized = if img.width() == tw && img.height() == th {
        img.clone()
    } else {
        match resize {
            Resize::Stretch => img.resize_exact(tw, th, Triangle),
            Resize::CenterCrop => {
                // Scale so that the image covers h × w, then cut out the centre.
                let scale = (tw as f64 / img.width() as f64).max(th as f64 / img.height() as f64);
                let sw = ((img.width() as f64 * scale).round() as u32).max(tw);
                let sh = ((img.height() as f64 * scale).round() as u32).max(th);
                let scaled = img.resize_exact(sw, sh, Triangle);
                scaled.crop_imm((sw - tw) / 2, (sh - th) / 2, tw, th)
            }
        }
    };
    let plane = h * w;
    match channels {
        1 => sized.to_luma8().into_raw(),
        c => {
            let rgba = sized.to_rgba8();
            let mut out = vec![0u8; c * plane];
            for (i, px) in rgba.pixels().enumerate() {
                for ch in 0..c {
                    // 2 channels: grey + alpha; 3: RGB; 4: RGBA.
                    let v = match (c, ch) {
                        (2, 0) => image::Pixel::to_luma(px).0[0],
                        (2, _) => px.0[3],
                        _ => px.0[ch],
                    };
                    out[ch * plane + i] = v;
                }
            }
            out
        }
    }
}

/// How a folder's images are read.
#[derive(Debug, Clone)]
pub struct FolderSpec {
    /// Channels of the decoded images (1 or 3).
    pub channels: usize,
    /// `[height, width]` of the decoded images.
    pub size: [usize; 2],
    /// How images of another size are brought to `size`.
    pub resize: Resize,
    /// What a file that cannot be decoded does.
    pub on_bad_image: BadImagePolicy,
    /// Read and write the cache.
    pub cache: bool,
    /// The cache's folder (default [`cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Most bytes of decoded pixels held in memory (`None`: no limit); a larger folder is read
    /// from its cache file as batches need it.
    pub memory_limit: Option<u128>,
}

/// An image left out under `on_bad_image = "skip"`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkippedImage {
    /// The file.
    pub path: PathBuf,
    /// Why it could not be read.
    pub reason: String,
}

/// A decoded image folder.
#[derive(Debug, Clone)]
pub struct Folder {
    /// The images, labelled by their class folder's position in `class_names`.
    pub data: ImageDataset,
    /// Files left out because they could not be decoded.
    pub skipped: Vec<SkippedImage>,
    /// Whether the pixels came from the cache.
    pub from_cache: bool,
}

/// The class sub-folders of `dir`, in name order: at least 2.
pub fn class_folders(dir: &Path) -> Result<Vec<String>> {
    let classes = sub_folders(dir)?;
    if classes.len() < 2 {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            message: format!(
                "found {} class folder(s); an image folder holds one sub-folder per class \
                 (train/<class>/*.jpg), at least 2",
                classes.len()
            ),
        });
    }
    Ok(classes)
}

/// The names of the sub-folders of `dir` (hidden ones left out), in name order.
fn sub_folders(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(Error::Data {
                path: entry.path(),
                message: "a class folder's name must be UTF-8 (it becomes the class name)".into(),
            });
        };
        if !name.starts_with('.') && entry.path().is_dir() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// The image files of each class of `dir` that is one of `classes`, as (file, label) in a
/// fixed order (class, then file name). A class folder of `dir` not in `classes` is an error.
fn list_images(
    dir: &Path,
    classes: &[String],
    need_every_class: bool,
) -> Result<Vec<(PathBuf, u16)>> {
    let found = sub_folders(dir)?;
    for name in &found {
        if !classes.contains(name) {
            return Err(Error::Data {
                path: dir.join(name),
                message: format!(
                    "a class folder that the training folder does not have (its classes: {})",
                    classes.join(", ")
                ),
            });
        }
    }
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&class_dir).map_err(|e| Error::io(&class_dir, e))? {
            let entry = entry.map_err(|e| Error::io(&class_dir, e))?;
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && is_image_file(&path) && path.is_file() {
                names.push(path);
            }
        }
        names.sort();
        if names.is_empty() && need_every_class {
            return Err(Error::Data {
                path: class_dir,
                message: format!(
                    "no images in this class folder (looked for {})",
                    IMAGE_EXTENSIONS.join(", ")
                ),
            });
        }
        files.extend(names.into_iter().map(|p| (p, label as u16)));
    }
    if files.is_empty() {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            message: "no images in any class folder".into(),
        });
    }
    Ok(files)
}

/// Reads the image folder `dir` with `classes` (the training folder's, in label order):
/// from the cache when it holds exactly these files at this spec, else by decoding every file
/// (in parallel, with progress) and writing the cache as it goes. A folder whose decoded
/// pixels are larger than `spec.memory_limit` is not held in memory: its images are read from
/// the cache file as batches need them.
pub fn read_folder(
    dir: &Path,
    classes: &[String],
    need_every_class: bool,
    spec: &FolderSpec,
) -> Result<Folder> {
    let files = list_images(dir, classes, need_every_class)?;
    let key = cache_key(dir, classes, &files, spec)?;
    let cache_path = spec
        .cache_dir
        .clone()
        .or_else(cache_dir)
        .map(|d| d.join(format!("{key}.dimg")));
    let [h, w] = spec.size;
    let bytes = (files.len() as u128) * (spec.channels * h * w) as u128;
    let in_memory = spec.memory_limit.is_none_or(|m| bytes <= m);
    if !in_memory && (!spec.cache || cache_path.is_none()) {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            message: format!(
                "{} images at {h}x{w}x{} are {} once decoded, more than the {} distill may hold \
                 in memory (half the memory budget, --memory): they must be read from the image \
                 cache, but {}: set data.cache = true (and data.cache_dir or \
                 DISTILL_CACHE_DIR), choose a smaller data.image_size, or give more --memory",
                files.len(),
                spec.channels,
                crate::limits::human(bytes),
                crate::limits::human(spec.memory_limit.unwrap_or(0)),
                if spec.cache {
                    "there is no cache folder (no HOME)"
                } else {
                    "data.cache = false"
                }
            ),
        });
    }
    if !in_memory {
        tracing::info!(
            "{}: {} images are {} once decoded, more than the {} held in memory (half the \
             memory budget): batches read them from the image cache",
            dir.display(),
            files.len(),
            crate::limits::human(bytes),
            crate::limits::human(spec.memory_limit.unwrap_or(0))
        );
    }
    if spec.cache
        && let Some(path) = &cache_path
        && let Some(folder) = read_cache(path, classes.len(), spec, in_memory)
    {
        return Ok(folder);
    }
    let sink = match (spec.cache, &cache_path) {
        (true, Some(path)) => match CacheWriter::create(path) {
            Ok(w) => Some(w),
            // A cache that cannot be written costs only the next run's decoding, unless the
            // pixels are to be read from it.
            Err(e) if in_memory => {
                eprintln!(
                    "warning: could not write the image cache {}: {e}",
                    path.display()
                );
                None
            }
            Err(e) => return Err(e),
        },
        _ => None,
    };
    let folder = decode_all(dir, &files, classes.len(), spec, sink, in_memory)?;
    Ok(folder)
}

/// What [`time_decoding`] measured, in seconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecodeTimes {
    /// Images decoded.
    pub images: usize,
    /// Listing the folder and decoding every file (no cache).
    pub decode_s: f64,
    /// Writing the cache file.
    pub write_cache_s: f64,
    /// Reading the cache file back (what later runs pay instead of decoding).
    pub read_cache_s: f64,
    /// The cache file's size.
    pub cache_bytes: u64,
}

/// Times decoding the image folder `dir` (classes from its sub-folders) at `spec`, writing
/// its cache into `scratch`, and reading the cache back: `distill bench --decode`.
pub fn time_decoding(dir: &Path, spec: &FolderSpec, scratch: &Path) -> Result<DecodeTimes> {
    let start = std::time::Instant::now();
    let classes = class_folders(dir)?;
    let files = list_images(dir, &classes, true)?;
    let folder = decode_all(dir, &files, classes.len(), spec, None, true)?;
    let decode_s = start.elapsed().as_secs_f64();
    let path = scratch.join("bench.dimg");
    let start = std::time::Instant::now();
    write_cache(&path, &folder)?;
    let write_cache_s = start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    let back = read_cache(&path, classes.len(), spec, true).ok_or_else(|| Error::Data {
        path: path.clone(),
        message: "the cache just written did not read back".into(),
    })?;
    let read_cache_s = start.elapsed().as_secs_f64();
    let cache_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(&path);
    Ok(DecodeTimes {
        images: back.data.len(),
        decode_s,
        write_cache_s,
        read_cache_s,
        cache_bytes,
    })
}

/// Where decoded folders are cached: `DISTILL_CACHE_DIR`, else `$XDG_CACHE_HOME/distill/images`,
/// else `~/.cache/distill/images`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DISTILL_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("distill").join("images"))
}

/// Identifies a decoding: the decoder, the spec, the folder and every file's name, size and
/// modification time (a changed, added or removed file gives another key).
fn cache_key(
    dir: &Path,
    classes: &[String],
    files: &[(PathBuf, u16)],
    spec: &FolderSpec,
) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(DECODER_VERSION.to_le_bytes());
    h.update(format!(
        "{:?}|{:?}|{:?}|{:?}",
        spec.channels, spec.size, spec.resize, spec.on_bad_image
    ));
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    h.update(root.to_string_lossy().as_bytes());
    for c in classes {
        h.update((c.len() as u64).to_le_bytes());
        h.update(c.as_bytes());
    }
    for (path, label) in files {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let name = path.strip_prefix(dir).unwrap_or(path).to_string_lossy();
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(label.to_le_bytes());
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Decodes every file, in parallel chunks, with a progress bar. The pixels go into memory
/// when `in_memory`, and into the cache file of `sink` as they are decoded; without
/// `in_memory` the folder reads them back from that file (which must then be given).
fn decode_all(
    dir: &Path,
    files: &[(PathBuf, u16)],
    classes: usize,
    spec: &FolderSpec,
    mut sink: Option<CacheWriter>,
    in_memory: bool,
) -> Result<Folder> {
    let [h, w] = spec.size;
    let bytes = (files.len() as u128) * (spec.channels * h * w) as u128;
    if in_memory
        && let Some(available) = crate::limits::available_bytes()
        && bytes > available
    {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            message: format!(
                "{} images at {h}x{w}x{} need {} of memory once decoded, more than the {} \
                 available: choose a smaller data.image_size",
                files.len(),
                spec.channels,
                crate::limits::human(bytes),
                crate::limits::human(available)
            ),
        });
    }
    let start = std::time::Instant::now();
    let progress =
        crate::progress::Progress::new(files.len().div_ceil(CHUNK) as u64, "decoding images", true);
    let mut images = Vec::with_capacity(if in_memory {
        usize::try_from(bytes).unwrap_or(0)
    } else {
        0
    });
    let mut labels = Vec::with_capacity(files.len());
    let mut skipped = Vec::new();
    for (i, chunk) in files.chunks(CHUNK).enumerate() {
        let decoded: Vec<std::result::Result<Vec<u8>, String>> = chunk
            .par_iter()
            .map(|(path, _)| {
                let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
                let img = image::load_from_memory(&bytes).map_err(|e| e.to_string())?;
                Ok(to_planes(&img, spec.channels, h, w, spec.resize))
            })
            .collect();
        for ((path, label), result) in chunk.iter().zip(decoded) {
            match result {
                Ok(planes) => {
                    if let Some(writer) = &mut sink
                        && let Err(e) = writer.push(&planes)
                    {
                        if !in_memory {
                            return Err(e);
                        }
                        eprintln!("warning: could not write the image cache: {e}");
                        sink = None;
                    }
                    if in_memory {
                        images.extend_from_slice(&planes);
                    }
                    labels.push(*label);
                }
                Err(reason) => match spec.on_bad_image {
                    BadImagePolicy::Fail => {
                        return Err(Error::Data {
                            path: path.clone(),
                            message: format!(
                                "cannot decode the image ({reason}); fix or remove it, or set \
                                 data.on_bad_image = \"skip\" to leave such files out"
                            ),
                        });
                    }
                    BadImagePolicy::Skip => {
                        eprintln!("warning: skipped {}: {reason}", path.display());
                        skipped.push(SkippedImage {
                            path: path.clone(),
                            reason,
                        });
                    }
                },
            }
        }
        progress.step(|| format!("{} of {}", ((i + 1) * CHUNK).min(files.len()), files.len()));
    }
    progress.finish(&format!(
        "decoded {} images of {} in {:.1} s{}",
        labels.len(),
        dir.display(),
        start.elapsed().as_secs_f64(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(", skipped {} that could not be read", skipped.len())
        }
    ));
    if labels.is_empty() {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            message: "no image in the folder could be decoded".into(),
        });
    }
    let header = CacheHeader {
        channels: spec.channels,
        height: h,
        width: w,
        count: labels.len(),
        classes,
        skipped: skipped.clone(),
        payload_sha256: String::new(),
    };
    let written = match sink {
        Some(writer) => match writer.finish(header, &labels) {
            Ok(path) => Some(path),
            Err(e) if in_memory => {
                eprintln!("warning: could not write the image cache: {e}");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let images = match (in_memory, written) {
        (true, _) => Pixels::Memory(images),
        (false, Some(path)) => {
            let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            Pixels::File(FilePixels::new(
                file,
                path,
                CACHE_MAGIC.len() as u64,
                labels.len(),
            ))
        }
        (false, None) => unreachable!("a folder kept out of memory is decoded into its cache"),
    };
    Ok(Folder {
        data: ImageDataset {
            images,
            labels,
            channels: spec.channels,
            height: h,
            width: w,
            num_classes: classes,
            normalize: IDENTITY,
        },
        skipped,
        from_cache: false,
    })
}

/// Files decoded per parallel chunk (one progress step).
const CHUNK: usize = 256;

/// The small part of a cache file: everything but the pixels and labels.
#[derive(serde::Serialize, serde::Deserialize)]
struct CacheHeader {
    channels: usize,
    height: usize,
    width: usize,
    count: usize,
    classes: usize,
    skipped: Vec<SkippedImage>,
    /// SHA-256 of the pixels followed by the labels (u16 LE).
    payload_sha256: String,
}

/// A cache file being written as images are decoded: `MAGIC, pixels, labels (u16 LE), header
/// JSON, header length (u64 LE)`. The header goes last because its count and checksum are known
/// only at the end; the file is written under a temporary name and renamed into place whole.
/// Dropped unfinished (a decoding error, a full disk), it removes its temporary file.
struct CacheWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
    sha: sha2::Sha256,
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        if self.out.is_some() {
            self.out = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl CacheWriter {
    fn create(path: &Path) -> Result<Self> {
        use sha2::Digest;
        use std::io::Write;
        if let Some(parent) = path.parent() {
            fsutil::create_dir_all(parent)?;
        }
        let tmp = fsutil::temp_path(path);
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(CACHE_MAGIC).map_err(|e| Error::io(&tmp, e))?;
        Ok(CacheWriter {
            path: path.to_path_buf(),
            tmp,
            out: Some(out),
            sha: sha2::Sha256::new(),
        })
    }

    fn push(&mut self, planes: &[u8]) -> Result<()> {
        use sha2::Digest;
        use std::io::Write;
        self.sha.update(planes);
        let out = self.out.as_mut().expect("open until finished");
        out.write_all(planes).map_err(|e| Error::io(&self.tmp, e))
    }

    /// Writes the labels and `header` (its checksum filled in), flushes and renames the file
    /// into place; returns its path.
    fn finish(mut self, mut header: CacheHeader, labels: &[u16]) -> Result<PathBuf> {
        use sha2::Digest;
        use std::io::Write;
        let labels: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
        self.sha.update(&labels);
        header.payload_sha256 = std::mem::take(&mut self.sha)
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let json = serde_json::to_vec(&header).expect("header serialises");
        let tmp = self.tmp.clone();
        let mut out = self.out.take().expect("open until finished");
        let done = (|| {
            out.write_all(&labels)?;
            out.write_all(&json)?;
            out.write_all(&(json.len() as u64).to_le_bytes())?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()
        })()
        .map_err(|e| Error::io(&tmp, e))
        .and_then(|()| fsutil::rename(&tmp, &self.path));
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done?;
        fsutil::sync_parent(&self.path);
        Ok(self.path.clone())
    }
}

/// Writes the in-memory `folder` as a cache file at `path`, atomically.
fn write_cache(path: &Path, folder: &Folder) -> Result<()> {
    let d = &folder.data;
    let mut writer = CacheWriter::create(path)?;
    let mut result = Ok(());
    d.images.for_each(d.len(), d.pixels(), |img| {
        if result.is_ok() {
            result = writer.push(img);
        }
    });
    result?;
    let header = CacheHeader {
        channels: d.channels,
        height: d.height,
        width: d.width,
        count: d.len(),
        classes: d.num_classes,
        skipped: folder.skipped.clone(),
        payload_sha256: String::new(),
    };
    writer.finish(header, &d.labels).map(|_| ())
}

/// Where a cache file's parts are, from its last bytes: the header, and the byte offsets of
/// the labels; `None` when the file is not a whole cache of this spec.
fn cache_layout(
    len: u64,
    tail: &[u8],
    classes: usize,
    spec: &FolderSpec,
) -> Option<(CacheHeader, u64)> {
    // `tail` is the file's last bytes: at least the JSON and its length.
    let json_len = u64::from_le_bytes(tail.get(tail.len().checked_sub(8)?..)?.try_into().ok()?);
    let json_start = tail
        .len()
        .checked_sub(8)?
        .checked_sub(usize::try_from(json_len).ok()?)?;
    let header: CacheHeader = serde_json::from_slice(&tail[json_start..tail.len() - 8]).ok()?;
    let [h, w] = spec.size;
    let want = (header.channels, header.height, header.width, header.classes);
    if want != (spec.channels, h, w, classes) {
        return None;
    }
    let pixels = (header.count as u64).checked_mul((spec.channels * h * w) as u64)?;
    let labels_at = (CACHE_MAGIC.len() as u64).checked_add(pixels)?;
    let expected = labels_at
        .checked_add((header.count as u64).checked_mul(2)?)?
        .checked_add(json_len)?
        .checked_add(8)?;
    (expected == len).then_some((header, labels_at))
}

/// Most header bytes read from the end of a cache file (the skipped list can be long).
const MAX_CACHE_HEADER: u64 = 64 << 20;

/// The folder in the cache file at `path`, when it is there, whole (checksum) and of this
/// spec: its pixels read into memory when `in_memory`, else left in the file; `None` (decode
/// again) otherwise, with a warning when a file was there but unusable.
fn read_cache(path: &Path, classes: usize, spec: &FolderSpec, in_memory: bool) -> Option<Folder> {
    let file = std::fs::File::open(path).ok()?;
    let parsed = read_open_cache(file, path, classes, spec, in_memory);
    if parsed.is_none() {
        eprintln!(
            "warning: the image cache {} is damaged or stale; decoding again",
            path.display()
        );
    }
    parsed
}

fn read_open_cache(
    file: std::fs::File,
    path: &Path,
    classes: usize,
    spec: &FolderSpec,
    in_memory: bool,
) -> Option<Folder> {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::FileExt;
    let len = file.metadata().ok()?.len();
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0).ok()?;
    if &magic != CACHE_MAGIC {
        return None;
    }
    let mut json_len = [0u8; 8];
    file.read_exact_at(&mut json_len, len.checked_sub(8)?)
        .ok()?;
    let tail_len = u64::from_le_bytes(json_len).checked_add(8)?;
    if tail_len > MAX_CACHE_HEADER || tail_len > len {
        return None;
    }
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact_at(&mut tail, len - tail_len).ok()?;
    let (header, labels_at) = cache_layout(len, &tail, classes, spec)?;
    // The checksum over pixels and labels, read in slices; the pixels kept when in memory.
    let mut sha = Sha256::new();
    let mut images = Vec::new();
    if in_memory {
        images = vec![0u8; usize::try_from(labels_at - CACHE_MAGIC.len() as u64).ok()?];
        file.read_exact_at(&mut images, CACHE_MAGIC.len() as u64)
            .ok()?;
        sha.update(&images);
    } else {
        let mut buf = vec![0u8; 1 << 20];
        let mut at = CACHE_MAGIC.len() as u64;
        while at < labels_at {
            let n = (labels_at - at).min(buf.len() as u64) as usize;
            file.read_exact_at(&mut buf[..n], at).ok()?;
            sha.update(&buf[..n]);
            at += n as u64;
        }
    }
    let mut labels = vec![0u8; header.count.checked_mul(2)?];
    file.read_exact_at(&mut labels, labels_at).ok()?;
    sha.update(&labels);
    let digest: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if digest != header.payload_sha256 {
        return None;
    }
    let labels = checked_labels(&labels, classes)?;
    let images = if in_memory {
        Pixels::Memory(images)
    } else {
        Pixels::File(FilePixels::new(
            file,
            path.to_path_buf(),
            CACHE_MAGIC.len() as u64,
            header.count,
        ))
    };
    Some(folder_of(header, images, labels, spec))
}

fn checked_labels(bytes: &[u8], classes: usize) -> Option<Vec<u16>> {
    let labels: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    labels
        .iter()
        .all(|&l| (l as usize) < classes)
        .then_some(labels)
}

fn folder_of(header: CacheHeader, images: Pixels, labels: Vec<u16>, spec: &FolderSpec) -> Folder {
    let [h, w] = spec.size;
    Folder {
        data: ImageDataset {
            images,
            labels,
            channels: spec.channels,
            height: h,
            width: w,
            num_classes: header.classes,
            normalize: IDENTITY,
        },
        skipped: header.skipped,
        from_cache: true,
    }
}

/// The folder a cache file's `bytes` hold, in memory, when they are whole (checksum) and of
/// this spec.
pub fn decode_cache(bytes: &[u8], classes: usize, spec: &FolderSpec) -> Option<Folder> {
    if bytes.get(..CACHE_MAGIC.len())? != CACHE_MAGIC.as_slice() {
        return None;
    }
    let json_len = u64::from_le_bytes(bytes.get(bytes.len().checked_sub(8)?..)?.try_into().ok()?);
    let tail_len = usize::try_from(json_len.checked_add(8)?).ok()?;
    let tail = bytes.get(bytes.len().checked_sub(tail_len)?..)?;
    let (header, labels_at) = cache_layout(bytes.len() as u64, tail, classes, spec)?;
    let labels_at = usize::try_from(labels_at).ok()?;
    let labels_end = labels_at.checked_add(header.count.checked_mul(2)?)?;
    let payload = bytes.get(CACHE_MAGIC.len()..labels_end)?;
    if fsutil::sha256_hex(payload) != header.payload_sha256 {
        return None;
    }
    let labels = checked_labels(&bytes[labels_at..labels_end], classes)?;
    let images = Pixels::Memory(bytes[CACHE_MAGIC.len()..labels_at].to_vec());
    Some(folder_of(header, images, labels, spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_crop_keeps_the_middle_and_stretch_keeps_everything() {
        // 4 wide, 2 high: left half black, right half white; to 2x2.
        let mut img = image::GrayImage::new(4, 2);
        for y in 0..2 {
            for x in 2..4 {
                img.put_pixel(x, y, image::Luma([255]));
            }
        }
        let img = DynamicImage::ImageLuma8(img);
        let crop = to_planes(&img, 1, 2, 2, Resize::CenterCrop);
        assert_eq!(crop, vec![0, 255, 0, 255]);
        let stretched = to_planes(&img, 1, 2, 2, Resize::Stretch);
        assert!(stretched[0] < 64 && stretched[1] > 191, "{stretched:?}");
    }

    #[test]
    fn rgb_planes_are_one_channel_after_the_other() {
        let mut img = image::RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([1, 2, 3]));
        img.put_pixel(1, 0, image::Rgb([4, 5, 6]));
        let planes = to_planes(&DynamicImage::ImageRgb8(img), 3, 1, 2, Resize::CenterCrop);
        assert_eq!(planes, vec![1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn image_files_are_known_by_extension_in_any_case() {
        for yes in ["a.png", "b.JPG", "c.jpeg", "d.WebP"] {
            assert!(is_image_file(Path::new(yes)), "{yes}");
        }
        for no in ["a.txt", "b", ".png.bak", "c.gif"] {
            assert!(!is_image_file(Path::new(no)), "{no}");
        }
    }
}
