//! The CIFAR-10 and CIFAR-100 binary files (the "binary version" of
//! <https://www.cs.toronto.edu/~kriz/cifar.html>): fixed-size records, each the label byte(s)
//! and then 3072 pixel bytes, the red, green and blue 32×32 planes in row-major order.
//!
//! | format | record | labels |
//! |---|---|---|
//! | CIFAR-10 (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`) | 3073 bytes | 1 byte, 0–9 |
//! | CIFAR-100 (`train.bin`, `test.bin`) | 3074 bytes | coarse (0–19), then fine (0–99) |
//!
//! Class names come from the files the archives ship beside the data (`batches.meta.txt`,
//! `coarse_label_names.txt`, `fine_label_names.txt`, one name per line) when they are there.

use super::dataset::{IDENTITY, ImageDataset};
use crate::config::CifarLabels;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Side of a CIFAR image.
pub const SIDE: usize = 32;
/// Pixel bytes of a record.
const PIXELS: usize = 3 * SIDE * SIDE;

/// CIFAR-10's class names, in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which of the two layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// One label byte per record.
    Cifar10,
    /// Coarse and fine label bytes per record; which one is used.
    Cifar100(CifarLabels),
}

impl CifarKind {
    fn label_bytes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 1,
            CifarKind::Cifar100(_) => 2,
        }
    }

    /// The number of classes of the labels used.
    pub fn classes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 10,
            CifarKind::Cifar100(CifarLabels::Fine) => 100,
            CifarKind::Cifar100(CifarLabels::Coarse) => 20,
        }
    }
}

/// Decodes CIFAR records from `raw` (read from `path`, named in errors).
pub fn decode_cifar(raw: &[u8], path: &Path, kind: CifarKind) -> Result<ImageDataset> {
    let record = kind.label_bytes() + PIXELS;
    if raw.is_empty() || !raw.len().is_multiple_of(record) {
        return Err(Error::Data {
            path: path.to_path_buf(),
            message: format!(
                "{} bytes is not a whole number of {record}-byte records ({}: {} label byte(s) \
                 + 3072 pixel bytes); is this the binary version of the {} files?",
                raw.len(),
                match kind {
                    CifarKind::Cifar10 => "CIFAR-10",
                    CifarKind::Cifar100(_) => "CIFAR-100",
                },
                kind.label_bytes(),
                match kind {
                    CifarKind::Cifar10 => "CIFAR-10 (cifar-10-binary.tar.gz)",
                    CifarKind::Cifar100(_) => "CIFAR-100 (cifar-100-binary.tar.gz)",
                }
            ),
        });
    }
    let n = raw.len() / record;
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    let classes = kind.classes();
    for (i, rec) in raw.chunks_exact(record).enumerate() {
        let label = match kind {
            CifarKind::Cifar10 => rec[0],
            CifarKind::Cifar100(CifarLabels::Coarse) => rec[0],
            CifarKind::Cifar100(CifarLabels::Fine) => rec[1],
        };
        if label as usize >= classes {
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: format!(
                    "record {i} (byte {}) has label {label}, not below {classes}",
                    i * record
                ),
            });
        }
        labels.push(label as crate::classifier::Label);
        images.extend_from_slice(&rec[kind.label_bytes()..]);
    }
    Ok(ImageDataset {
        images: images.into(),
        labels,
        channels: 3,
        height: SIDE,
        width: SIDE,
        num_classes: classes,
        normalize: IDENTITY,
    })
}

/// Reads and concatenates the CIFAR files `paths`, in order.
pub fn read_cifar(paths: &[PathBuf], kind: CifarKind) -> Result<ImageDataset> {
    let mut all: Option<(ImageDataset, Vec<u8>)> = None;
    for path in paths {
        let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let mut part = decode_cifar(&raw, path, kind)?;
        let (count, px) = (part.len(), part.pixels());
        let pixels = std::mem::replace(&mut part.images, Vec::new().into()).into_vec(count, px);
        match &mut all {
            None => all = Some((part, pixels)),
            Some((a, images)) => {
                images.extend_from_slice(&pixels);
                a.labels.extend_from_slice(&part.labels);
            }
        }
    }
    all.map(|(mut a, images)| {
        a.images = images.into();
        a
    })
    .ok_or_else(|| Error::Data {
        path: PathBuf::from("<data.train_files>"),
        message: "no CIFAR files given".into(),
    })
}

/// The class names shipped beside `first_file` (`batches.meta.txt` for CIFAR-10,
/// `fine_label_names.txt` / `coarse_label_names.txt` for CIFAR-100), when present with the
/// right count; else CIFAR-10's names, or `None` for CIFAR-100.
pub fn class_names(first_file: &Path, kind: CifarKind) -> Option<Vec<String>> {
    let dir = first_file.parent().unwrap_or(Path::new(""));
    let file = match kind {
        CifarKind::Cifar10 => "batches.meta.txt",
        CifarKind::Cifar100(CifarLabels::Fine) => "fine_label_names.txt",
        CifarKind::Cifar100(CifarLabels::Coarse) => "coarse_label_names.txt",
    };
    let from_file = std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|text| {
            let names: Vec<String> = text
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            (names.len() == kind.classes() && unique.len() == names.len()).then_some(names)
        });
    from_file.or_else(|| {
        (kind == CifarKind::Cifar10)
            .then(|| CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(labels: &[u8], fill: u8) -> Vec<u8> {
        let mut r = labels.to_vec();
        r.extend((0..PIXELS).map(|i| fill.wrapping_add(i as u8)));
        r
    }

    #[test]
    fn cifar100_reads_the_fine_or_the_coarse_byte() {
        let mut raw = record(&[3, 77], 0);
        raw.extend(record(&[19, 99], 9));
        let p = Path::new("train.bin");
        let fine = decode_cifar(&raw, p, CifarKind::Cifar100(CifarLabels::Fine)).unwrap();
        assert_eq!(fine.labels, vec![77, 99]);
        assert_eq!(fine.num_classes, 100);
        let coarse = decode_cifar(&raw, p, CifarKind::Cifar100(CifarLabels::Coarse)).unwrap();
        assert_eq!(coarse.labels, vec![3, 19]);
        assert_eq!(&coarse.image(1)[..3], &[9, 10, 11]);
        assert_eq!(coarse.input_shape(), [3, 32, 32]);
    }

    #[test]
    fn a_torn_file_or_a_bad_label_is_named() {
        let raw = record(&[1], 0);
        let p = Path::new("data_batch_1.bin");
        let e = decode_cifar(&raw[..3000], p, CifarKind::Cifar10)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data_batch_1.bin") && e.contains("3073-byte"),
            "{e}"
        );
        let e = decode_cifar(&record(&[10], 0), p, CifarKind::Cifar10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("record 0") && e.contains("label 10"), "{e}");
    }
}
