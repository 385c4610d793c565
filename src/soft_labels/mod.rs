//! The soft-label store: a teacher's logits for every training image, recorded once.
//!
//! One file per shard (`shard-00000-of-00004.dsl`), each written atomically by an independent
//! process. A shard file is:
//!
//! ```text
//! b"DSTLSOFT" | u32 LE version (2) | u32 LE header length | header JSON | rows × classes f16 LE
//!   [ | rows × (i8 dy, i8 dx, u8 flip) ]
//! ```
//!
//! A top-k store (`top_k = K` in the header; `record --top-k K` or `[soft_labels] top_k`, the
//! design of DistillKit and Megatron-LM's top-k shards) keeps, per row, the K largest logits
//! (f16), their class ids (u32 LE) and the log-sum-exp of the other logits (f32 LE):
//! `rows × (K × f16 | K × u32 | f32)` in place of the dense rows. Reading rebuilds dense rows:
//! the K logits where they were, and each of the other `C − K` classes at
//! `lse_rest − ln(C − K)`, so that at T = 1 the softmax keeps the K probabilities exactly and
//! spreads the rest of the mass evenly; at another T the tail is an approximation. Every
//! objective reads both kinds.
//!
//! A plain store has one row per training sample. A store of augmented views (offline KD with
//! augmentation, the idea of FKD, Shen & Xing 2022, and ReLabel, Yun et al. 2021) has `K` rows
//! per sample, sample-major: the teacher's logits for view `v` of sample `i` in row `i·K + v`,
//! and after the logits the view itself (crop offset and flip) of each row, so that the student
//! sees exactly the input the teacher labelled. The provenance names the views (count, padding,
//! flip, seed); a reader that expects another kind of store is refused.
//!
//! The header holds the total sample count, the shard's row range, the class count, the teacher's
//! tensors' hash, the dataset fingerprint, the preprocessing and a SHA-256 of the whole file
//! (magic, version, header with the checksum field zeroed, payload), so that an edited header is
//! refused like a corrupt payload. Reading refuses a store that belongs to other data, another
//! teacher or other preprocessing, and says which one differs; two files of the same shard, a
//! shard count above [`MAX_SHARDS`] or a missing shard are refused too.

mod diagnostics;
mod location;

pub use location::{
    MULTIPART_THRESHOLD, ObjectLocation, PART_SIZE, Published, SHARD_EXTENSION, ShardObject,
    StoreLocation,
};

pub use diagnostics::{
    AtTemperature, ONE_HOT_TOP_PROBABILITY, TeacherDiagnostics, teacher_diagnostics,
};

use crate::classifier::{Classifier, Rows};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::progress::Progress;
use crate::vocab::{AugmentConfig, View};
use burn::tensor::{Device, Tensor, TensorData};
use half::f16;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"DSTLSOFT";
const VERSION: u32 = 2;

/// Most shards a store may have.
pub const MAX_SHARDS: usize = 65_536;

/// The checksum field of a header being written (SHA-256 hex is always 64 characters).
fn placeholder() -> String {
    "0".repeat(64)
}

/// The bytes before the payload: magic, version, header length and the header JSON.
fn prefix_bytes(header_json: &[u8]) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(16 + header_json.len());
    prefix.extend_from_slice(MAGIC);
    prefix.extend_from_slice(&VERSION.to_le_bytes());
    prefix.extend_from_slice(&(header_json.len() as u32).to_le_bytes());
    prefix.extend_from_slice(header_json);
    prefix
}

/// What a store was recorded from; a reader must present the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// SHA-256 of the teacher's weights file.
    pub teacher_hash: String,
    /// [`ImageDataset::fingerprint`](crate::data::ImageDataset::fingerprint) of the training set.
    pub dataset_fingerprint: String,
    /// How images were preprocessed before the teacher saw them.
    pub preprocessing: String,
    /// The augmented views recorded per sample (`None`: a plain store, one unaugmented row per
    /// sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<ViewSpec>,
}

/// How a store's augmented views were drawn ([`AugmentConfig::recorded_view`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewSpec {
    /// Views per sample.
    pub count: usize,
    /// Crop padding of the draws.
    pub crop_padding: usize,
    /// Whether the draws flip.
    pub hflip: bool,
    /// Seed of the draws.
    pub seed: u64,
    /// The random resized crop each view starts with (its box is recorded with the view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_resized_crop: Option<crate::vocab::ResizedCrop>,
}

impl ViewSpec {
    /// The augmentation the views were drawn with.
    pub fn augment(&self) -> AugmentConfig {
        AugmentConfig {
            crop_padding: self.crop_padding,
            hflip: self.hflip,
            views: self.count,
            random_resized_crop: self.random_resized_crop,
        }
    }

    /// Bytes each view takes in a shard: the offset and flip (3), and a crop box (4 × u16 LE)
    /// when the views start with a random resized crop.
    pub fn view_bytes(&self) -> usize {
        if self.random_resized_crop.is_some() {
            3 + 8
        } else {
            3
        }
    }
}

/// A view as a shard stores it: `dy, dx, flip`, then with `crop` its top, left, height and width
/// as u16 LE.
fn encode_view(v: &View, with_crop: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(&[v.dy as u8, v.dx as u8, v.flip as u8]);
    if with_crop {
        let c = v.crop.unwrap_or(crate::vocab::CropBox {
            top: 0,
            left: 0,
            height: 0,
            width: 0,
        });
        for x in [c.top, c.left, c.height, c.width] {
            out.extend_from_slice(&(x.min(u16::MAX as usize) as u16).to_le_bytes());
        }
    }
}

/// The view [`encode_view`] wrote into `b`.
fn decode_view(b: &[u8]) -> View {
    let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    View {
        dy: b[0] as i8,
        dx: b[1] as i8,
        flip: b[2] != 0,
        crop: (b.len() >= 11).then(|| crate::vocab::CropBox {
            top: u(3),
            left: u(5),
            height: u(7),
            width: u(9),
        }),
    }
}

impl Provenance {
    /// Rows per sample: the number of views, 1 for a plain store.
    pub fn rows_per_sample(&self) -> usize {
        self.views.as_ref().map_or(1, |v| v.count.max(1))
    }
}

/// The header of one shard file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardHeader {
    /// Samples in the whole store.
    pub num_samples: usize,
    /// Classes per sample.
    pub num_classes: usize,
    /// This shard's index, 0-based.
    pub shard_index: usize,
    /// Shards in the store.
    pub num_shards: usize,
    /// First row (inclusive).
    pub start: usize,
    /// Last row (exclusive).
    pub end: usize,
    /// Element type of the payload.
    pub dtype: String,
    /// Logits kept per row (a top-k store); absent in a dense store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// What the logits were recorded from.
    pub provenance: Provenance,
    /// SHA-256 of the file with this field set to 64 zeros: the header is covered as well as
    /// the payload.
    pub sha256: String,
}

/// The rows `[start, end)` that shard `index` of `count` covers, for `total` samples.
pub fn shard_range(total: usize, index: usize, count: usize) -> (usize, usize) {
    (total * index / count, total * (index + 1) / count)
}

/// The file name of shard `index` of `count`.
pub fn shard_file_name(index: usize, count: usize) -> String {
    format!("shard-{index:05}-of-{count:05}.dsl")
}

/// Writes one shard file atomically: `logits` holds `(end − start) × num_classes` values.
pub fn write_shard(dir: &Path, header: &ShardHeader, logits: &[f32]) -> Result<PathBuf> {
    let mut writer = ShardWriter::create(dir, header)?;
    writer.push(logits)?;
    writer.finish()
}

/// Writes one shard file batch by batch, so that recording holds one batch of logits in memory
/// whatever the size of the data set.
///
/// The header is written first with a placeholder checksum of the same length (SHA-256 hex is
/// always 64 characters), the payload is streamed after it and hashed on the way, and
/// [`finish`](Self::finish) rewrites the header in place and renames the temporary file onto the
/// shard's name. A writer dropped before `finish` removes its temporary file: nothing is left
/// half-written.
pub struct ShardWriter {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    header: ShardHeader,
    header_len: usize,
    hasher: Sha256,
    rows: usize,
    encoded: Vec<u8>,
    views: Vec<View>,
}

impl ShardWriter {
    /// Starts shard `header.shard_index` of `header.num_shards` in `dir` (created if needed).
    pub fn create(dir: &Path, header: &ShardHeader) -> Result<Self> {
        let path = dir.join(shard_file_name(header.shard_index, header.num_shards));
        if let Some(problem) = header_problem(header) {
            return Err(Error::SoftLabels {
                path,
                message: problem,
            });
        }
        fsutil::create_dir_all(dir)?;
        // A killed recording of this shard left its temporary file: remove it (only this
        // shard's, whose writer is no longer running; other shards may be being written).
        fsutil::sweep_temps_of(&path);
        let tmp = fsutil::temp_path(&path);
        let mut header = header.clone();
        header.dtype = "f16".into();
        header.sha256 = placeholder();
        let json = serde_json::to_vec(&header).expect("header serialises");
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut writer = ShardWriter {
            path,
            tmp,
            file: Some(BufWriter::new(file)),
            header,
            header_len: json.len(),
            hasher: Sha256::new(),
            rows: 0,
            encoded: Vec::new(),
            views: Vec::new(),
        };
        let prefix = prefix_bytes(&json);
        writer.hasher.update(&prefix);
        writer.write(&prefix)?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let file = self.file.as_mut().expect("open until finish");
        file.write_all(bytes).map_err(|e| Error::io(&self.tmp, e))
    }

    /// Rows the shard holds: its samples times the views per sample.
    fn expected_rows(&self) -> usize {
        (self.header.end - self.header.start) * self.header.provenance.rows_per_sample()
    }

    /// Appends whole rows of logits of a store of views, with the view of each row.
    pub fn push_views(&mut self, logits: &[f32], views: &[View]) -> Result<()> {
        let rows = logits.len() / self.header.num_classes.max(1);
        if self.header.provenance.views.is_none() || views.len() != rows {
            return Err(Error::SoftLabels {
                path: self.path.clone(),
                message: format!(
                    "{} views for {rows} rows (a store of views needs one per row, a plain store none)",
                    views.len()
                ),
            });
        }
        self.push(logits)?;
        self.views.extend_from_slice(views);
        Ok(())
    }

    /// Appends whole rows of logits (`rows × num_classes` values), stored as f16.
    pub fn push(&mut self, logits: &[f32]) -> Result<()> {
        let classes = self.header.num_classes;
        let expected = self.expected_rows();
        let rows = logits.len() / classes;
        if !logits.len().is_multiple_of(classes) || self.rows + rows > expected {
            return Err(Error::SoftLabels {
                path: self.path.clone(),
                message: format!(
                    "{} values do not make whole rows of {classes} classes within the shard's {expected} rows ({} written)",
                    logits.len(),
                    self.rows
                ),
            });
        }
        let mut encoded = std::mem::take(&mut self.encoded);
        encoded.clear();
        match self.header.top_k {
            None => encoded.extend(logits.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes())),
            Some(k) => {
                for row in logits.chunks_exact(classes) {
                    let (values, ids, lse) = top_k_row(row, k);
                    encoded.extend(values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()));
                    encoded.extend(ids.iter().flat_map(|i| i.to_le_bytes()));
                    encoded.extend(lse.to_le_bytes());
                }
            }
        }
        self.hasher.update(&encoded);
        let written = self.write(&encoded);
        self.encoded = encoded;
        written?;
        self.rows += rows;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Checks that every row of the shard was written, writes the checksum into the header and
    /// moves the file into place. Returns its path.
    pub fn finish(mut self) -> Result<PathBuf> {
        let expected = self.expected_rows();
        if self.rows != expected {
            return Err(Error::SoftLabels {
                path: self.path.clone(),
                message: format!("{} rows written, the shard has {expected}", self.rows),
            });
        }
        if self.header.provenance.views.is_some() {
            if self.views.len() != expected {
                return Err(Error::SoftLabels {
                    path: self.path.clone(),
                    message: format!("{} views for {expected} rows", self.views.len()),
                });
            }
            let with_crop = self
                .header
                .provenance
                .views
                .as_ref()
                .is_some_and(|s| s.random_resized_crop.is_some());
            let mut bytes = Vec::with_capacity(self.views.len() * 11);
            for v in &self.views {
                encode_view(v, with_crop, &mut bytes);
            }
            self.hasher.update(&bytes);
            self.write(&bytes)?;
        }
        let digest = std::mem::take(&mut self.hasher).finalize();
        self.header.sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
        let json = serde_json::to_vec(&self.header).expect("header serialises");
        assert_eq!(json.len(), self.header_len, "header length is fixed");
        let mut file = self.file.take().expect("open until finish");
        let tmp = self.tmp.clone();
        let io = |e| Error::io(&tmp, e);
        file.seek(SeekFrom::Start(16)).map_err(io)?;
        file.write_all(&json).map_err(io)?;
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        fsutil::rename(&self.tmp, &self.path)?;
        fsutil::sync_parent(&self.path);
        Ok(self.path.clone())
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Runs `model` (in evaluation mode) over rows `rows` of `data` in batches of `batch_size` and
/// streams the logits into `writer`, advancing `bar` once per batch.
pub fn record_rows<M, R>(
    model: &M,
    data: &R,
    rows: Range<usize>,
    batch_size: usize,
    device: &Device,
    writer: &mut ShardWriter,
    bar: &Progress,
) -> Result<()>
where
    M: Classifier,
    R: Rows<Input = M::Input> + ?Sized,
{
    let indices: Vec<usize> = rows.collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let logits = model.logits(data.inputs(chunk, None, device));
        writer.push(&logits.into_data().try_to_vec::<f32>().expect("f32 logits"))?;
        bar.step(|| format!("{} rows", writer.rows()));
    }
    Ok(())
}

/// One shard as read back: its header, its logits and (a store of views) the view of each row.
pub type Shard = (ShardHeader, Vec<f32>, Vec<View>);

/// Records the augmented views the `writer`'s provenance names for each of the samples `rows`
/// of `data`: the views drawn for each sample ([`AugmentConfig::recorded_view`]), the
/// teacher's logits for each, in batches of about `batch_size` images.
pub fn record_views<M, R>(
    model: &M,
    data: &R,
    rows: Range<usize>,
    batch_size: usize,
    device: &Device,
    writer: &mut ShardWriter,
    bar: &Progress,
) -> Result<()>
where
    M: Classifier,
    R: Rows<Input = M::Input> + ?Sized,
{
    let spec = writer
        .header
        .provenance
        .views
        .clone()
        .ok_or_else(|| Error::SoftLabels {
            path: writer.path.clone(),
            message: "a plain store has no views to record".into(),
        })?;
    let aug = spec.augment();
    let size = match (data.image_size(), &spec.random_resized_crop) {
        (Some(size), _) => size,
        (None, None) => (0, 0),
        (None, Some(_)) => {
            return Err(Error::SoftLabels {
                path: writer.path.clone(),
                message: "random resized crops need images: remove student.train.augment.random_resized_crop or views".into(),
            });
        }
    };
    let samples: Vec<usize> = rows.collect();
    let per_batch = (batch_size / spec.count.max(1)).max(1);
    for chunk in samples.chunks(per_batch) {
        let mut indices = Vec::with_capacity(chunk.len() * spec.count);
        let mut views = Vec::with_capacity(chunk.len() * spec.count);
        for &i in chunk {
            for v in 0..spec.count {
                indices.push(i);
                views.push(aug.recorded_view(spec.seed, i, v, size));
            }
        }
        let inputs = data.view_inputs(&indices, &views, device).ok_or_else(|| {
            Error::SoftLabels {
                path: writer.path.clone(),
                message: "this kind of data has no augmentation, so a store of augmented views cannot be recorded: remove student.train.augment.views".into(),
            }
        })?;
        let logits = model.logits(inputs);
        writer.push_views(
            &logits.into_data().try_to_vec::<f32>().expect("f32 logits"),
            &views,
        )?;
        bar.step(|| format!("{} rows", writer.rows()));
    }
    Ok(())
}

/// Reads and checks one shard file: magic, version, header, payload size and checksum.
pub fn read_shard(path: &Path) -> Result<Shard> {
    decode_shard(&fsutil::read(path)?, path)
}

/// Checks and decodes the bytes of a shard file; `path` names it in errors.
pub fn decode_shard(bytes: &[u8], path: &Path) -> Result<Shard> {
    let err = |message: String| Error::SoftLabels {
        path: path.to_path_buf(),
        message,
    };
    let (header, hlen) = split_header(bytes, path)?;
    if header.dtype != "f16" {
        return Err(err(format!("dtype {:?}, expected \"f16\"", header.dtype)));
    }
    if let Some(problem) = header_problem(&header) {
        return Err(err(problem));
    }
    let payload = &bytes[16 + hlen..];
    let per = header.provenance.rows_per_sample();
    if per > MAX_VIEWS {
        return Err(err(format!("{per} views per sample; at most {MAX_VIEWS}")));
    }
    let rows = (header.end - header.start) * per;
    let per_view = header
        .provenance
        .views
        .as_ref()
        .map_or(0, ViewSpec::view_bytes);
    let view_bytes = rows * per_view;
    let expected = row_bytes(&header)
        .and_then(|r| rows.checked_mul(r))
        .and_then(|b| b.checked_add(view_bytes))
        .ok_or_else(|| err("header sizes overflow".into()))?;
    if payload.len() != expected {
        return Err(err(format!(
            "truncated or padded payload: {} bytes, header says {expected}",
            payload.len()
        )));
    }
    let mut zeroed = header.clone();
    zeroed.sha256 = placeholder();
    let mut hasher = Sha256::new();
    hasher.update(prefix_bytes(
        &serde_json::to_vec(&zeroed).expect("header serialises"),
    ));
    hasher.update(payload);
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != header.sha256 {
        return Err(err(
            "checksum mismatch: the header or the payload was changed after recording, or the file is corrupt".into(),
        ));
    }
    let (logit_bytes, view_bytes) = payload.split_at(payload.len() - view_bytes);
    let logits = match header.top_k {
        None => logit_bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Some(k) => dense_rows(logit_bytes, k, header.num_classes).map_err(err)?,
    };
    let views: Vec<View> = view_bytes
        .chunks_exact(per_view.max(1))
        .map(decode_view)
        .collect();
    if let Some(bad) = views.iter().position(|v| {
        v.crop.is_some_and(|c| {
            c.height == 0
                || c.width == 0
                || c.top + c.height > crate::limits::MAX_IMAGE_SIDE
                || c.left + c.width > crate::limits::MAX_IMAGE_SIDE
        })
    }) {
        return Err(err(format!(
            "view {bad} has an empty or oversized crop box"
        )));
    }
    Ok((header, logits, views))
}

/// Dense rows of logits from top-k rows (see the module documentation).
fn dense_rows(bytes: &[u8], k: usize, classes: usize) -> std::result::Result<Vec<f32>, String> {
    let row_len = 6 * k + 4;
    let fill_shift = ((classes - k) as f32).ln();
    let mut out = Vec::with_capacity(bytes.len() / row_len * classes);
    let mut seen = vec![usize::MAX; classes];
    for (r, row) in bytes.chunks_exact(row_len).enumerate() {
        let (values, rest) = row.split_at(2 * k);
        let (ids, lse) = rest.split_at(4 * k);
        let lse = f32::from_le_bytes([lse[0], lse[1], lse[2], lse[3]]);
        if lse.is_nan() {
            return Err(format!("row {r}: the log-sum-exp of the tail is NaN"));
        }
        let start = out.len();
        out.resize(start + classes, lse - fill_shift);
        for (v, id) in values.chunks_exact(2).zip(ids.chunks_exact(4)) {
            let id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]) as usize;
            if id >= classes || seen[id] == r {
                return Err(format!(
                    "row {r}: class id {id} is out of range or repeated ({classes} classes)"
                ));
            }
            seen[id] = r;
            out[start + id] = f16::from_le_bytes([v[0], v[1]]).to_f32();
        }
    }
    Ok(out)
}

/// Most views per sample a store may hold.
pub const MAX_VIEWS: usize = 64;

/// What is wrong with a shard header's sizes, if anything.
fn header_problem(h: &ShardHeader) -> Option<String> {
    if h.num_shards == 0 || h.num_shards > MAX_SHARDS {
        return Some(format!(
            "{} shards; a store has 1..={MAX_SHARDS}",
            h.num_shards
        ));
    }
    if h.shard_index >= h.num_shards {
        return Some(format!(
            "shard index {} of {} shards",
            h.shard_index, h.num_shards
        ));
    }
    if h.end < h.start || h.end > h.num_samples || h.num_classes == 0 {
        return Some(format!(
            "inconsistent header: rows {}..{} of {}, {} classes",
            h.start, h.end, h.num_samples, h.num_classes
        ));
    }
    if let Some(k) = h.top_k
        && (k == 0 || k >= h.num_classes || k > crate::config::MAX_TOP_K)
    {
        return Some(format!(
            "top_k = {k} with {} classes: a top-k store keeps 1..={} logits and fewer than the \
             classes (keep every logit with a dense store)",
            h.num_classes,
            crate::config::MAX_TOP_K
        ));
    }
    None
}

/// Bytes one row of a shard takes: `C` f16 logits, or a top-k row.
fn row_bytes(h: &ShardHeader) -> Option<usize> {
    match h.top_k {
        None => h.num_classes.checked_mul(2),
        Some(k) => k.checked_mul(6)?.checked_add(4),
    }
}

/// The top `k` of one row of logits: the values, their class ids (largest first; ties by the
/// lower id) and the log-sum-exp of the others.
fn top_k_row(row: &[f32], k: usize) -> (Vec<f32>, Vec<u32>, f32) {
    // Largest first, ties to the lower class id: a strict total order, so the selection below
    // picks the same K as a full sort would, in linear time.
    let before = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
    let mut order: Vec<usize> = (0..row.len()).collect();
    if k < order.len() {
        order.select_nth_unstable_by(k, before);
    }
    let top = &mut order[..k];
    top.sort_unstable_by(before);
    let mut in_top = vec![false; row.len()];
    for &i in top.iter() {
        in_top[i] = true;
    }
    // The log-sum-exp of the rest, summed in class order.
    let rest = || (0..row.len()).filter(|&i| !in_top[i]).map(|i| row[i]);
    let max = rest().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = rest().map(|v| f64::from(v - max).exp()).sum();
    let lse = max + sum.ln() as f32;
    (
        top.iter().map(|&i| row[i]).collect(),
        top.iter().map(|&i| i as u32).collect(),
        lse,
    )
}

/// A whole store, read back from all its shards.
#[derive(Debug, Clone)]
pub struct SoftLabels {
    /// `num_samples × num_classes` teacher logits (decoded from f16).
    pub logits: Vec<f32>,
    /// Samples.
    pub num_samples: usize,
    /// Classes.
    pub num_classes: usize,
    /// What they were recorded from.
    pub provenance: Provenance,
    /// Shard files read.
    pub shards: usize,
    /// Rows per sample: 1 for a plain store, the number of views for a store of views.
    pub views_per_sample: usize,
    /// The view of each row (empty for a plain store).
    pub views: Vec<View>,
    /// Logits kept per row when recorded as a top-k store (`None`: dense).
    pub top_k: Option<usize>,
    /// Bytes of all its shard files.
    pub bytes: u64,
}

impl SoftLabels {
    /// Opens the store at `location` and checks that it is complete and was recorded from
    /// `expected` (same data, teacher and preprocessing).
    pub fn open(location: impl Into<StoreLocation>, expected: &Provenance) -> Result<Self> {
        load_store(&location.into(), Some(expected))
    }
    /// The teacher's logits for the samples at `indices` (a store of views: their view 0),
    /// as a `[n, classes]` tensor.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        self.batch_views(indices, None, device)
    }

    /// The teacher's logits for the samples at `indices`, seen through their views `picks[k]`
    /// (a store of views; `None`: view 0), as a `[n, classes]` tensor.
    pub fn batch_views(
        &self,
        indices: &[usize],
        picks: Option<&[usize]>,
        device: &Device,
    ) -> Tensor<2> {
        let c = self.num_classes;
        let k = self.views_per_sample;
        let mut out = Vec::with_capacity(indices.len() * c);
        for (j, &i) in indices.iter().enumerate() {
            let row = i * k + picks.map_or(0, |p| p[j]);
            out.extend_from_slice(&self.logits[row * c..(row + 1) * c]);
        }
        Tensor::<2>::from_data(TensorData::new(out, [indices.len(), c]), device)
    }

    /// View `pick` of sample `i` (a store of views).
    pub fn view(&self, i: usize, pick: usize) -> View {
        self.views[i * self.views_per_sample + pick]
    }

    /// The logits of the first view of every sample (`num_samples × num_classes`): the plain
    /// store's logits, or view 0 of each sample of a store of views.
    pub fn first_view_logits(&self) -> Vec<f32> {
        let (c, k) = (self.num_classes, self.views_per_sample);
        (0..self.num_samples)
            .flat_map(|i| self.logits[i * k * c..(i * k + 1) * c].iter().copied())
            .collect()
    }
}

/// Reads every shard at `location` and checks that they make one whole store: one recording
/// (shard count, samples, classes, kind, provenance), each shard's own range, no shard twice,
/// none missing, every checksum. With `expected`, each shard must have been recorded from it;
/// without (`distill store verify`), from what the first shard says.
pub fn load_store(location: &StoreLocation, expected: Option<&Provenance>) -> Result<SoftLabels> {
    scan_store(location, expected, true)
}

/// The checks of [`load_store`] against what the first shard says, one shard in memory at a
/// time: the returned store's `logits` and `views` are empty (`distill store verify`).
pub fn verify_store(location: &StoreLocation) -> Result<SoftLabels> {
    scan_store(location, None, false)
}

fn scan_store(
    location: &StoreLocation,
    expected: Option<&Provenance>,
    keep_rows: bool,
) -> Result<SoftLabels> {
    let err = |path: PathBuf, message: String| Error::SoftLabels { path, message };
    let files = location.list_shards()?;
    if files.is_empty() {
        return Err(err(
            location.path(),
            "no shard files (*.dsl); run `distill record` first".into(),
        ));
    }
    let mut shards: Vec<(ShardHeader, Vec<f32>, Vec<View>, PathBuf)> = Vec::new();
    for f in &files {
        let path = location.shard_path(&f.name);
        let (h, l, v) = decode_shard(&location.read(&f.name)?, &path)?;
        match keep_rows {
            true => shards.push((h, l, v, path)),
            false => shards.push((h, Vec::new(), Vec::new(), path)),
        }
    }
    let first = shards[0].0.clone();
    let mut seen: Vec<Option<&Path>> = vec![None; first.num_shards];
    for (h, _, _, path) in &shards {
        if h.num_shards != first.num_shards
            || h.num_samples != first.num_samples
            || h.num_classes != first.num_classes
            || h.top_k != first.top_k
        {
            let describe = |h: &ShardHeader| {
                format!(
                    "{} shards / {} samples / {} classes / {}",
                    h.num_shards,
                    h.num_samples,
                    h.num_classes,
                    h.top_k.map_or("dense".to_string(), |k| format!("top-{k}"))
                )
            };
            return Err(err(
                path.clone(),
                format!(
                    "belongs to another recording: {}, others say {}",
                    describe(h),
                    describe(&first)
                ),
            ));
        }
        if h.shard_index >= h.num_shards
            || (h.start, h.end) != shard_range(h.num_samples, h.shard_index, h.num_shards)
        {
            return Err(err(
                path.clone(),
                format!(
                    "shard {} covers rows {}..{}, which is not its range",
                    h.shard_index, h.start, h.end
                ),
            ));
        }
        if let Some(other) = seen[h.shard_index] {
            return Err(err(
                path.clone(),
                format!(
                    "holds shard {} of {}, which {} holds too: two recordings of one shard \
                     (a copy?) would put the soft labels out of line; keep one",
                    h.shard_index,
                    h.num_shards,
                    other.display()
                ),
            ));
        }
        seen[h.shard_index] = Some(path);
        check_provenance(&h.provenance, expected.unwrap_or(&first.provenance), path)?;
    }
    if let Some(missing) = seen.iter().position(|s| s.is_none()) {
        return Err(err(
            location.path(),
            format!(
                "incomplete store: shard {missing} of {} ({}) is missing",
                first.num_shards,
                shard_file_name(missing, first.num_shards)
            ),
        ));
    }
    shards.sort_by_key(|(h, _, _, _)| h.shard_index);
    let mut logits = Vec::new();
    let mut views = Vec::new();
    for (_, l, v, _) in shards {
        logits.extend(l);
        views.extend(v);
    }
    Ok(SoftLabels {
        logits,
        num_samples: first.num_samples,
        num_classes: first.num_classes,
        views_per_sample: first.provenance.rows_per_sample(),
        provenance: first.provenance,
        shards: first.num_shards,
        views,
        top_k: first.top_k,
        bytes: files.iter().map(|f| f.bytes).sum(),
    })
}

/// The header of a shard from its first bytes (at least [`HEADER_PEEK`] of them, or the whole
/// file), without checking the payload: what `distill store ls` shows.
pub fn peek_header(bytes: &[u8], path: &Path) -> Result<ShardHeader> {
    split_header(bytes, path).map(|(header, _)| header)
}

/// Magic, version and header of a shard's bytes: the header and its length in bytes.
fn split_header(bytes: &[u8], path: &Path) -> Result<(ShardHeader, usize)> {
    let err = |message: String| Error::SoftLabels {
        path: path.to_path_buf(),
        message,
    };
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(err("not a distill soft-label shard (bad magic)".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(err(format!(
            "format version {version}, this distill reads {VERSION}"
        )));
    }
    let hlen = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    let json = bytes.get(16..16 + hlen).ok_or_else(|| {
        err(format!(
            "truncated header: {hlen} bytes, {} after the prefix",
            bytes.len() - 16
        ))
    })?;
    let header =
        serde_json::from_slice(json).map_err(|e| err(format!("unreadable header: {e}")))?;
    Ok((header, hlen))
}

/// Bytes read from the start of a shard to find its header.
pub const HEADER_PEEK: usize = 64 << 10;

fn check_provenance(found: &Provenance, expected: &Provenance, path: &Path) -> Result<()> {
    let mismatch = |what: &str, f: &str, e: &str| Error::SoftLabels {
        path: path.to_path_buf(),
        message: format!(
            "recorded for another {what}: store has {f}, expected {e}; record the soft labels again"
        ),
    };
    if found.dataset_fingerprint != expected.dataset_fingerprint {
        return Err(mismatch(
            "dataset (fingerprint)",
            &found.dataset_fingerprint,
            &expected.dataset_fingerprint,
        ));
    }
    if found.teacher_hash != expected.teacher_hash {
        return Err(mismatch(
            "teacher (weights hash)",
            &found.teacher_hash,
            &expected.teacher_hash,
        ));
    }
    if found.preprocessing != expected.preprocessing {
        return Err(mismatch(
            "preprocessing",
            &found.preprocessing,
            &expected.preprocessing,
        ));
    }
    if found.views != expected.views {
        let describe = |v: &Option<ViewSpec>| match v {
            None => "a plain store (no augmented views)".to_string(),
            Some(v) => format!(
                "{} augmented views per sample (crop padding {}, flip {}, seed {})",
                v.count, v.crop_padding, v.hflip, v.seed
            ),
        };
        return Err(mismatch(
            "kind of store",
            &describe(&found.views),
            &describe(&expected.views),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provenance() -> Provenance {
        Provenance {
            teacher_hash: "t".into(),
            dataset_fingerprint: "d".into(),
            preprocessing: "p".into(),
            views: None,
        }
    }

    fn header(index: usize, count: usize, total: usize) -> ShardHeader {
        let (start, end) = shard_range(total, index, count);
        ShardHeader {
            num_samples: total,
            num_classes: 3,
            shard_index: index,
            num_shards: count,
            start,
            end,
            dtype: String::new(),
            provenance: provenance(),
            sha256: String::new(),
            top_k: None,
        }
    }

    fn softmax(row: &[f32]) -> Vec<f64> {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = row.iter().map(|&v| f64::from(v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    #[test]
    fn a_top_k_store_keeps_the_top_probabilities_and_the_tail_mass_at_t1() {
        let dir = tempfile::tempdir().unwrap();
        let classes = 50;
        let total = 6;
        let all: Vec<f32> = (0..total * classes)
            .map(|v| ((v as f32 * 0.917).sin() * 4.0).round() / 2.0)
            .collect();
        let mut h = header(0, 1, total);
        h.num_classes = classes;
        h.top_k = Some(5);
        let path = write_shard(dir.path(), &h, &all).unwrap();
        // 5 × (2 + 4) + 4 bytes per row instead of 50 × 2.
        let dense_bytes = total * classes * 2;
        let payload = std::fs::metadata(&path).unwrap().len() as usize;
        assert!(payload < dense_bytes, "{payload} >= {dense_bytes}");
        let store = SoftLabels::open(dir.path(), &provenance()).unwrap();
        assert_eq!(store.top_k, Some(5));
        for r in 0..total {
            let truth = softmax(&all[r * classes..(r + 1) * classes]);
            let rebuilt = softmax(&store.logits[r * classes..(r + 1) * classes]);
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| truth[b].total_cmp(&truth[a]).then(a.cmp(&b)));
            // The top 5 probabilities are kept (to f16 precision of their logits) ...
            for &i in &order[..5] {
                assert!((truth[i] - rebuilt[i]).abs() < 2e-3, "row {r} class {i}");
            }
            // ... and the tail keeps its mass, spread evenly.
            let tail = |p: &[f64]| order[5..].iter().map(|&i| p[i]).sum::<f64>();
            assert!((tail(&truth) - tail(&rebuilt)).abs() < 2e-3, "row {r}");
            let spread: Vec<f64> = order[5..].iter().map(|&i| rebuilt[i]).collect();
            assert!(spread.iter().all(|p| (p - spread[0]).abs() < 1e-9));
        }
        // A top-k store needs fewer logits than classes.
        h.top_k = Some(classes);
        let e = ShardWriter::create(dir.path(), &h)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("top_k = 50 with 50 classes"), "{e}");
    }

    #[test]
    fn shards_cover_every_row_once() {
        for total in [0, 1, 7, 100] {
            for count in 1..6 {
                let mut next = 0;
                for i in 0..count {
                    let (s, e) = shard_range(total, i, count);
                    assert_eq!(s, next);
                    next = e;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn sharded_write_reads_back_as_one_store_within_f16_precision() {
        let dir = tempfile::tempdir().unwrap();
        let total = 7;
        let all: Vec<f32> = (0..total * 3).map(|v| v as f32 * 0.37 - 3.0).collect();
        for i in 0..3 {
            let h = header(i, 3, total);
            write_shard(dir.path(), &h, &all[h.start * 3..h.end * 3]).unwrap();
        }
        let store = SoftLabels::open(dir.path(), &provenance()).unwrap();
        assert_eq!(
            (store.num_samples, store.num_classes, store.shards),
            (7, 3, 3)
        );
        for (a, b) in store.logits.iter().zip(&all) {
            assert!((a - b).abs() <= b.abs() * 1e-3 + 1e-3);
        }
    }

    #[test]
    fn streamed_shard_is_byte_identical_to_one_write_and_reads_back() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let h = header(0, 1, 9);
        let all: Vec<f32> = (0..27).map(|v| (v as f32 * 0.731).sin() * 5.0).collect();
        let one = write_shard(a.path(), &h, &all).unwrap();
        let mut w = ShardWriter::create(b.path(), &h).unwrap();
        for rows in [&all[..3], &all[3..12], &all[12..12], &all[12..]] {
            w.push(rows).unwrap();
        }
        let streamed = w.finish().unwrap();
        assert_eq!(
            std::fs::read(one).unwrap(),
            std::fs::read(&streamed).unwrap()
        );
        let (header, logits, _) = read_shard(&streamed).unwrap();
        assert_eq!((header.start, header.end, logits.len()), (0, 9, 27));
        assert_eq!(
            std::fs::read_dir(b.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn views_with_crop_boxes_encode_in_eleven_bytes_and_come_back() {
        let rrc = crate::vocab::ResizedCrop {
            scale: [0.2, 1.0],
            ratio: [0.75, 1.333],
        };
        let spec = ViewSpec {
            count: 3,
            crop_padding: 2,
            hflip: true,
            seed: 9,
            random_resized_crop: Some(rrc),
        };
        assert_eq!(spec.view_bytes(), 11);
        let aug = spec.augment();
        for i in 0..50 {
            let v = aug.recorded_view(spec.seed, i, i % 3, (300, 17));
            let c = v.crop.expect("a crop box");
            assert!(c.top + c.height <= 300 && c.left + c.width <= 17, "{c:?}");
            let mut bytes = Vec::new();
            encode_view(&v, true, &mut bytes);
            assert_eq!(bytes.len(), 11);
            assert_eq!(decode_view(&bytes), v);
            // The same draw without the crop is a plain view of 3 bytes.
            let plain = View { crop: None, ..v };
            let mut bytes = Vec::new();
            encode_view(&plain, false, &mut bytes);
            assert_eq!(decode_view(&bytes), plain);
        }
    }

    #[test]
    fn views_round_trip_and_a_reader_expecting_another_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ViewSpec {
            count: 2,
            crop_padding: 3,
            hflip: true,
            seed: 5,
            random_resized_crop: None,
        };
        let mut prov = provenance();
        prov.views = Some(spec.clone());
        let mut h = header(0, 1, 4);
        h.provenance = prov.clone();
        let aug = spec.augment();
        let views: Vec<View> = (0..4)
            .flat_map(|i| (0..2).map(move |v| (i, v)))
            .map(|(i, v)| aug.recorded_view(5, i, v, (8, 8)))
            .collect();
        let logits: Vec<f32> = (0..8 * 3).map(|v| v as f32 * 0.25).collect();
        let mut w = ShardWriter::create(dir.path(), &h).unwrap();
        let e = w.push(&logits[..3 * 3]).map(|_| ());
        assert!(e.is_ok());
        let e = w.push_views(&logits[9..12], &[]).unwrap_err().to_string();
        assert!(e.contains("0 views for 1 rows"), "{e}");
        drop(w);
        let mut w = ShardWriter::create(dir.path(), &h).unwrap();
        w.push_views(&logits[..12], &views[..4]).unwrap();
        w.push_views(&logits[12..], &views[4..]).unwrap();
        w.finish().unwrap();
        let store = SoftLabels::open(dir.path(), &prov).unwrap();
        assert_eq!(store.views_per_sample, 2);
        assert_eq!(store.views, views, "every view comes back as recorded");
        assert_eq!(store.view(3, 1), views[7]);
        let z = store.batch_views(&[3, 0], Some(&[1, 0]), &Device::flex());
        let z = z.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&z[..3], &logits[21..24]);
        assert_eq!(&z[3..], &logits[..3]);
        assert_eq!(store.first_view_logits().len(), 4 * 3);
        // A student expecting a plain store (or other views) is refused, naming both kinds.
        let e = SoftLabels::open(dir.path(), &provenance())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 augmented views per sample") && e.contains("plain store"),
            "{e}"
        );
    }

    #[test]
    fn writer_refuses_partial_rows_and_short_shards_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let h = header(0, 1, 4);
        let mut w = ShardWriter::create(dir.path(), &h).unwrap();
        let e = w.push(&[1.0; 4]).unwrap_err().to_string();
        assert!(e.contains("whole rows of 3 classes"), "{e}");
        w.push(&[1.0; 6]).unwrap();
        let e = w.push(&[1.0; 9]).unwrap_err().to_string();
        assert!(e.contains("within the shard's 4 rows (2 written)"), "{e}");
        let e = w.finish().unwrap_err().to_string();
        assert!(e.contains("2 rows written, the shard has 4"), "{e}");
        let w = ShardWriter::create(dir.path(), &h).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn refuses_missing_shard_other_data_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let h0 = header(0, 2, 4);
        write_shard(dir.path(), &h0, &[0.0; 6]).unwrap();
        let e = SoftLabels::open(dir.path(), &provenance())
            .unwrap_err()
            .to_string();
        assert!(e.contains("shard 1 of 2") && e.contains("missing"), "{e}");

        let h1 = header(1, 2, 4);
        let p1 = write_shard(dir.path(), &h1, &[1.0; 6]).unwrap();
        let mut other = provenance();
        other.dataset_fingerprint = "x".into();
        let e = SoftLabels::open(dir.path(), &other)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dataset (fingerprint)") && e.contains("store has d, expected x"),
            "{e}"
        );
        let mut other = provenance();
        other.teacher_hash = "y".into();
        let e = SoftLabels::open(dir.path(), &other)
            .unwrap_err()
            .to_string();
        assert!(e.contains("teacher (weights hash)"), "{e}");

        let mut bytes = std::fs::read(&p1).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&p1, &bytes).unwrap();
        let e = SoftLabels::open(dir.path(), &provenance())
            .unwrap_err()
            .to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
        std::fs::write(&p1, &bytes[..bytes.len() - 2]).unwrap();
        let e = SoftLabels::open(dir.path(), &provenance())
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}
