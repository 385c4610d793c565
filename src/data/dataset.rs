//! In-memory image classification data: u8 pixels, u8 labels, checked on load.

use super::idx::{IdxArray, decode_idx, read_idx};
use crate::config::{DataConfig, DataFormat};
use crate::error::{Error, Result};
use crate::vocab::Normalize;
use std::path::{Path, PathBuf};

/// Grey-scale images with integer labels.
#[derive(Debug, Clone)]
pub struct ImageDataset {
    /// Pixels, `len × height × width`, row-major.
    pub images: Vec<u8>,
    /// One label per image, in `0..num_classes`.
    pub labels: Vec<crate::classifier::Label>,
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

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
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
            images: images.data,
            labels: labels
                .data
                .iter()
                .map(|&y| y as crate::classifier::Label)
                .collect(),
            height: images.dims[1],
            width: images.dims[2],
            num_classes,
            normalize: IDENTITY,
        })
    }

    /// The subset at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let mut images = Vec::with_capacity(indices.len() * self.pixels());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        ImageDataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
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
        h.update(&self.images);
        h.update(crate::classifier::label_bytes(&self.labels));
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Mean and standard deviation of the pixels scaled to [0, 1].
    pub fn pixel_stats(&self) -> Normalize {
        let n = self.images.len().max(1) as f64;
        let (mut s, mut s2) = (0f64, 0f64);
        for &p in &self.images {
            let x = p as f64 / 255.0;
            s += x;
            s2 += x * x;
        }
        let mean = s / n;
        let var = (s2 / n - mean * mean).max(1e-12);
        Normalize {
            mean: mean as f32,
            std: var.sqrt() as f32,
        }
    }
}

/// No normalisation: `x / 255`.
pub const IDENTITY: Normalize = Normalize {
    mean: 0.0,
    std: 1.0,
};

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
        format!(
            "u8/255, normalize(mean={:.6}, std={:.6}), shape=1x{}x{}",
            n.mean, n.std, self.train.height, self.train.width
        )
    }
}

const BUILTIN_TRAIN_IMAGES: &[u8] = include_bytes!("../../data/builtin/train-images-idx3-ubyte.gz");
const BUILTIN_TRAIN_LABELS: &[u8] = include_bytes!("../../data/builtin/train-labels-idx1-ubyte.gz");
const BUILTIN_TEST_IMAGES: &[u8] = include_bytes!("../../data/builtin/t10k-images-idx3-ubyte.gz");
const BUILTIN_TEST_LABELS: &[u8] = include_bytes!("../../data/builtin/t10k-labels-idx1-ubyte.gz");

/// Loads the training and test sets named by `config`, applies `train_limit`, splits off the
/// validation fraction with `seed`, and fixes the normalisation.
pub fn load_splits(config: &DataConfig, seed: u64) -> Result<Splits> {
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
    };
    if (train.height, train.width) != (test.height, test.width) {
        return Err(Error::DataMismatch {
            message: format!(
                "training images are {}x{} but test images are {}x{}",
                train.height, train.width, test.height, test.width
            ),
        });
    }
    let mut order: Vec<usize> = (0..train.len()).collect();
    if let Some(limit) = config.train_limit {
        order.truncate(limit);
    }
    let train = train.subset(&order);
    let (train, validation) = if config.validation_fraction > 0.0 {
        let (kept, held) =
            crate::split::stratified_split(&train.labels, config.validation_fraction, seed);
        (train.subset(&kept), Some(train.subset(&held)))
    } else {
        (train, None)
    };
    let normalize = config.normalize.unwrap_or_else(|| train.pixel_stats());
    let with = |mut d: ImageDataset| {
        d.normalize = normalize;
        d
    };
    Ok(Splits {
        train: with(train),
        validation: validation.map(with),
        test: with(test),
    })
}
