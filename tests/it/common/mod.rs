//! Tiny generated data sets and experiment files for the integration tests.
#![allow(dead_code)]

pub mod models;

use distill::data::idx::{IdxArray, encode_idx, encode_idx_gz};
use std::path::{Path, PathBuf};

/// Image side of the generated data.
pub const SIDE: usize = 8;

/// A seeded linear congruential generator of 31-bit numbers (Knuth's MMIX constants).
pub fn lcg(seed: u64) -> impl FnMut() -> u32 {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    }
}

/// `n` 8×8 images of 3 classes: each class lights one horizontal band, plus seeded noise.
pub fn images_and_labels(n: usize, seed: u64) -> (IdxArray, IdxArray) {
    let mut next = lcg(seed);
    let mut pixels = Vec::with_capacity(n * SIDE * SIDE);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 3) as u8;
        for y in 0..SIDE {
            for _x in 0..SIDE {
                let band = y * 3 / SIDE;
                let base = if band == class as usize { 150 } else { 40 };
                pixels.push((base + (next() % 90) as i32 - 45).clamp(0, 255) as u8);
            }
        }
        labels.push(class);
    }
    (
        IdxArray {
            dims: vec![n, SIDE, SIDE],
            data: pixels,
        },
        IdxArray {
            dims: vec![n],
            data: labels,
        },
    )
}

/// Writes train (gzip) and test (raw) IDX files into `dir`.
pub fn write_dataset(dir: &Path, n_train: usize, n_test: usize) {
    let (ti, tl) = images_and_labels(n_train, 1);
    let (vi, vl) = images_and_labels(n_test, 2);
    std::fs::write(dir.join("train-images.gz"), encode_idx_gz(&ti)).unwrap();
    std::fs::write(dir.join("train-labels.gz"), encode_idx_gz(&tl)).unwrap();
    std::fs::write(dir.join("test-images"), encode_idx(&vi)).unwrap();
    std::fs::write(dir.join("test-labels"), encode_idx(&vl)).unwrap();
}

/// An experiment file over the generated data in `dir`, with `extra` appended to the
/// `[objective]` table and `replace` pairs applied to the text.
pub fn experiment_text(replace: &[(&str, &str)]) -> String {
    let mut text = String::from(
        r#"seed = 7
student_seeds = [1]

[data]
format = "idx"
train_images = "train-images.gz"
train_labels = "train-labels.gz"
test_images = "test-images"
test_labels = "test-labels"
num_classes = 3
class_names = ["top", "middle", "bottom"]

[teacher.model]
type = "mlp"
hidden = [64]
dropout = 0.5

[teacher.train]
epochs = 3
batch_size = 32
optimizer = { type = "adam", lr = 0.01 }

[student.model]
type = "cnn"
blocks = [[4]]
batch_norm = false

[student.train]
epochs = 2
batch_size = 32
optimizer = { type = "adam", lr = 0.01 }

[objective]
alpha = 0.1
temperature = 4.0

[evaluation]
latency_runs = 5
warmup_runs = 1
throughput_batch = 16
"#,
    );
    for (from, to) in replace {
        assert!(text.contains(from), "template lacks {from}");
        text = text.replacen(from, to, 1);
    }
    text
}

/// Writes the data and an experiment file into a fresh temp dir; returns (dir, config path).
pub fn setup(replace: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), 240, 60);
    let config = dir.path().join("experiment.toml");
    std::fs::write(&config, experiment_text(replace)).unwrap();
    (dir, config)
}
