//! In-memory image classification data: u8 pixels (channel planes), labels, checked on load.

use super::cifar::{CifarKind, read_cifar};
use super::idx::{IdxArray, decode_idx, read_idx};
use super::photos::{FolderSpec, SkippedImage, class_folders, read_folder};
use crate::config::{DataConfig, DataFormat};
use crate::error::{Error, Result};
use crate::vocab::{Normalize, PerChannel};
use std::path::{Path, PathBuf};

/// Images (grey-scale or colour) with integer labels.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    /// Pixels, `len × channels × height × width`, row-major (one plane per channel, as the
    /// models and CIFAR's files hold them): in memory, or read from the image cache when the
    /// set is larger than the memory budget.
    pub images: super::Pixels,
    /// One label per image, in `0..num_classes`.
    pub labels: Vec<crate::classifier::Label>,
    /// Colour channels (1 grey, 3 RGB).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// The normalisation models see the pixels with (identity until the splits fix it).
    pub normalize: Normalize,
}

impl ImageDataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image (`channels × height × width`).
    pub fn pixels(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The model input of one image: `[channels, height, width]`.
    pub fn input_shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// The pixels of image `i` (read from the cache file for a file-backed set).
    pub fn image(&self, i: usize) -> std::borrow::Cow<'_, [u8]> {
        self.images.image(i, self.pixels())
    }

    /// Every image's pixels, one after the other (read whole from the file for a file-backed
    /// set).
    pub fn pixel_bytes(&self) -> Vec<u8> {
        self.images.to_vec(self.len(), self.pixels())
    }

    /// Pairs an images array with a labels array, checking counts, shapes and label range.
    pub fn from_idx(
        images: IdxArray,
        images_path: &Path,
        labels: IdxArray,
        labels_path: &Path,
        num_classes: usize,
    ) -> Result<Self> {
        if images.dims.len() != 3 {
            return Err(Error::Idx {
                path: images_path.to_path_buf(),
                message: format!(
                    "expected 3 dimensions (count, rows, cols), found {:?}",
                    images.dims
                ),
            });
        }
        if labels.dims.len() != 1 {
            return Err(Error::Idx {
                path: labels_path.to_path_buf(),
                message: format!("expected 1 dimension (count), found {:?}", labels.dims),
            });
        }
        if images.dims[0] != labels.dims[0] {
            return Err(Error::DataMismatch {
                message: format!(
                    "{} holds {} images but {} holds {} labels",
                    images_path.display(),
                    images.dims[0],
                    labels_path.display(),
                    labels.dims[0]
                ),
            });
        }
        if images.dims[0] == 0 {
            return Err(Error::Idx {
                path: images_path.to_path_buf(),
                message: "holds no images".into(),
            });
        }
        if let Some((i, &l)) = labels
            .data
            .iter()
            .enumerate()
            .find(|&(_, &l)| l as usize >= num_classes)
        {
            return Err(Error::Idx {
                path: labels_path.to_path_buf(),
                message: format!("label {l} at index {i} is not below num_classes = {num_classes}"),
            });
        }
        Ok(ImageDataset {
            images: images.data.into(),
            labels: labels
                .data
                .iter()
                .map(|&y| y as crate::classifier::Label)
                .collect(),
            channels: 1,
            height: images.dims[1],
            width: images.dims[2],
            num_classes,
            normalize: IDENTITY,
        })
    }

    /// The subset at `indices`, in that order (a file-backed set stays in its file).
    pub fn subset(&self, indices: &[usize]) -> Self {
        ImageDataset {
            images: self.images.subset(indices, self.pixels()),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            num_classes: self.num_classes,
            normalize: self.normalize,
        }
    }

    /// SHA-256 over the shape, the pixels and the labels: identifies this exact data.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for d in [self.len(), self.height, self.width, self.num_classes] {
            h.update((d as u64).to_le_bytes());
        }
        // Grey-scale fingerprints are those written before there were channels.
        if self.channels != 1 {
            h.update(b"channels");
            h.update((self.channels as u64).to_le_bytes());
        }
        // Image by image, so that a file-backed set gives the same fingerprint as in memory.
        match self.images.in_memory() {
            Some(all) => h.update(all),
            None => self
                .images
                .for_each(self.len(), self.pixels(), |img| h.update(img)),
        }
        h.update(crate::classifier::label_bytes(&self.labels));
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Mean and standard deviation of the pixels scaled to [0, 1]: one pair for grey-scale
    /// images, one per channel for colour.
    pub fn pixel_stats(&self) -> Normalize {
        let c = self.channels.max(1);
        let plane = self.height * self.width;
        let mut sums = vec![(0f64, 0f64); c];
        self.images.for_each(self.len(), self.pixels(), |image| {
            for (ch, values) in image.chunks_exact(plane.max(1)).enumerate() {
                let (s, s2) = &mut sums[ch];
                for &p in values {
                    let x = p as f64 / 255.0;
                    *s += x;
                    *s2 += x * x;
                }
            }
        });
        let n = (self.len() * plane).max(1) as f64;
        let stats: Vec<(f32, f32)> = sums
            .iter()
            .map(|&(s, s2)| {
                let mean = s / n;
                let var = (s2 / n - mean * mean).max(1e-12);
                (mean as f32, var.sqrt() as f32)
            })
            .collect();
        let means: Vec<f32> = stats.iter().map(|s| s.0).collect();
        let stds: Vec<f32> = stats.iter().map(|s| s.1).collect();
        Normalize {
            mean: PerChannel::of(&means).expect("1 to 4 channels"),
            std: PerChannel::of(&stds).expect("1 to 4 channels"),
        }
    }
}

/// No normalisation: `x / 255`.
pub const IDENTITY: Normalize = Normalize::scalar(0.0, 1.0);

/// The data an experiment works on, of any kind: rows to train on (and to record soft labels
/// for), an optional validation split carved from them, and the held-out test rows.
#[derive(Debug, Clone)]
pub struct Splits<R = ImageDataset> {
    /// Rows the models are trained on (and the soft labels are recorded for).
    pub train: R,
    /// Rows held out of training to pick the best epoch (none: the test set is monitored).
    pub validation: Option<R>,
    /// Held-out rows every model is compared on.
    pub test: R,
}

impl<R> Splits<R> {
    /// The set used for per-epoch curves and best-epoch selection: the validation split, else
    /// the test set.
    pub fn monitor(&self) -> &R {
        self.validation.as_ref().unwrap_or(&self.test)
    }

    /// The same splits with every set mapped by `f`.
    pub fn map<S>(&self, f: impl Fn(&R) -> S) -> Splits<S> {
        Splits {
            train: f(&self.train),
            validation: self.validation.as_ref().map(&f),
            test: f(&self.test),
        }
    }
}

impl Splits<ImageDataset> {
    /// The normalisation every model uses.
    pub fn normalize(&self) -> Normalize {
        self.train.normalize
    }

    /// Describes the preprocessing, for fingerprints and reports.
    pub fn preprocessing(&self) -> String {
        let n = self.normalize();
        let t = &self.train;
        format!(
            "u8/255, normalize(mean={}, std={}), shape={}x{}x{}",
            n.mean.fixed6(),
            n.std.fixed6(),
            t.channels,
            t.height,
            t.width
        )
    }
}

const BUILTIN_TRAIN_IMAGES: &[u8] = include_bytes!("../../data/builtin/train-images-idx3-ubyte.gz");
const BUILTIN_TRAIN_LABELS: &[u8] = include_bytes!("../../data/builtin/train-labels-idx1-ubyte.gz");
const BUILTIN_TEST_IMAGES: &[u8] = include_bytes!("../../data/builtin/t10k-images-idx3-ubyte.gz");
const BUILTIN_TEST_LABELS: &[u8] = include_bytes!("../../data/builtin/t10k-labels-idx1-ubyte.gz");

/// The data of an image experiment: its splits and what the files said of the classes.
#[derive(Debug, Clone)]
pub struct LoadedImages {
    /// Training (with validation) and test splits, normalised.
    pub splits: Splits,
    /// Class names the files give (an image folder's sub-folders, CIFAR's name files).
    pub class_names: Option<Vec<String>>,
    /// Images of a folder left out under `on_bad_image = "skip"`.
    pub skipped: Vec<SkippedImage>,
}

/// Loads the training and test sets named by `config`, applies `train_limit`, splits off the
/// validation fraction with `seed`, and fixes the normalisation.
pub fn load_splits(config: &DataConfig, seed: u64) -> Result<Splits> {
    Ok(load_images(config, seed)?.splits)
}

/// The share of an image folder held out as the test set when there is no `test_dir`.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

/// [`load_splits`], with the class names and skipped images the files gave.
pub fn load_images(config: &DataConfig, seed: u64) -> Result<LoadedImages> {
    let mut class_names = None;
    let mut skipped = Vec::new();
    let (train, test) = match config.format {
        DataFormat::Builtin => {
            let load = |img: &[u8], lab: &[u8], name: &str| {
                let ip = PathBuf::from(format!("<builtin>/{name}-images-idx3-ubyte.gz"));
                let lp = PathBuf::from(format!("<builtin>/{name}-labels-idx1-ubyte.gz"));
                ImageDataset::from_idx(decode_idx(img, &ip)?, &ip, decode_idx(lab, &lp)?, &lp, 10)
            };
            (
                load(BUILTIN_TRAIN_IMAGES, BUILTIN_TRAIN_LABELS, "train")?,
                load(BUILTIN_TEST_IMAGES, BUILTIN_TEST_LABELS, "t10k")?,
            )
        }
        DataFormat::Idx => {
            let load = |img: &Option<PathBuf>, lab: &Option<PathBuf>| {
                let (ip, lp) = (
                    img.as_deref().unwrap_or(Path::new("")),
                    lab.as_deref().unwrap_or(Path::new("")),
                );
                ImageDataset::from_idx(read_idx(ip)?, ip, read_idx(lp)?, lp, config.num_classes)
            };
            (
                load(&config.train_images, &config.train_labels)?,
                load(&config.test_images, &config.test_labels)?,
            )
        }
        DataFormat::Cifar10 | DataFormat::Cifar100 => {
            let kind = if config.format == DataFormat::Cifar10 {
                CifarKind::Cifar10
            } else {
                CifarKind::Cifar100(config.labels.unwrap_or_default())
            };
            class_names = config
                .train_files
                .first()
                .and_then(|f| super::cifar::class_names(f, kind));
            (
                read_cifar(&config.train_files, kind)?,
                read_cifar(&config.test_files, kind)?,
            )
        }
        DataFormat::Folder => {
            let train_dir = config.train_dir.as_deref().unwrap_or(Path::new(""));
            let [h, w] = config.image_size.unwrap_or([32, 32]);
            let spec = FolderSpec {
                channels: config.channels.unwrap_or(3),
                size: [h, w],
                resize: config.resize.unwrap_or_default(),
                on_bad_image: config.on_bad_image.unwrap_or_default(),
                cache: config.cache.unwrap_or(true),
                cache_dir: config.cache_dir.clone(),
                memory_limit: crate::limits::pixel_memory_limit(),
            };
            let classes = class_folders(train_dir)?;
            let all = read_folder(train_dir, &classes, true, &spec)?;
            skipped.extend(all.skipped);
            let pair = match &config.test_dir {
                Some(test_dir) => {
                    let test = read_folder(test_dir, &classes, false, &spec)?;
                    skipped.extend(test.skipped);
                    (all.data, test.data)
                }
                None => {
                    let fraction = config.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
                    let (kept, held) = crate::split::stratified_split(
                        &all.data.labels,
                        fraction,
                        config.split_seed ^ TEST_SPLIT_SALT,
                    );
                    (all.data.subset(&kept), all.data.subset(&held))
                }
            };
            class_names = Some(classes);
            pair
        }
    };
    if train.input_shape() != test.input_shape() {
        return Err(Error::DataMismatch {
            message: format!(
                "training images are {:?} (channels, height, width) but test images are {:?}",
                train.input_shape(),
                test.input_shape()
            ),
        });
    }
    // A copy only when the limit leaves images out (a copy of a large set in memory is its
    // size again).
    let train = match config.train_limit {
        Some(limit) if limit < train.len() => train.subset(&(0..limit).collect::<Vec<usize>>()),
        _ => train,
    };
    let (train, validation) = if config.validation_fraction > 0.0 {
        let (kept, held) =
            crate::split::stratified_split(&train.labels, config.validation_fraction, seed);
        (train.subset(&kept), Some(train.subset(&held)))
    } else {
        (train, None)
    };
    if let Some(n) = config.normalize
        && let Err(reason) = n.check(train.channels)
    {
        return Err(Error::DataMismatch {
            message: format!(
                "normalize {{ mean = {}, std = {} }} does not fit the images: {reason}",
                n.mean, n.std
            ),
        });
    }
    let normalize = config.normalize.unwrap_or_else(|| train.pixel_stats());
    let with = |mut d: ImageDataset| {
        d.normalize = normalize;
        d
    };
    Ok(LoadedImages {
        splits: Splits {
            train: with(train),
            validation: validation.map(with),
            test: with(test),
        },
        class_names,
        skipped,
    })
}

/// Mixed into `split_seed` for the test split of an image folder without `test_dir`, so that
/// it is independent of the validation split.
const TEST_SPLIT_SALT: u64 = 0x7e57_5917_u64;
