//! Fuzzing every reader of user input, on stable Rust: a seeded mutation loop per target over a
//! corpus of valid inputs (bit flips, interesting bytes and numbers, insertions, deletions,
//! duplications, truncation, splices). The assertion is that every input gets an `Ok` or a
//! clear `Err`: no panic, no abort (an abort kills the test binary) and no hang (each input
//! within [`BOUND`]).
//!
//! CI runs `DEFAULT_ITERS` inputs per target. The long run (counts in `docs/RELIABILITY.md`):
//!
//! ```text
//! DISTILL_FUZZ_ITERS=1000000 cargo test --release --test it fuzz:: -- --nocapture --test-threads 2
//! ```
//!
//! Each target prints how many inputs it executed, how many were accepted and refused. A
//! failing input is written to `target/fuzz-failures/` to reproduce it.

use crate::common;
use distill::card::{ModelCard, TabularModelCard};
use distill::config::Experiment;
use distill::data::idx::{IdxArray, decode_idx, encode_idx, encode_idx_gz};
use distill::models::{MlpConfig, ModelConfig};
use distill::soft_labels::{
    Provenance, ShardHeader, decode_shard, read_shard, shard_file_name, write_shard,
};
use distill::tabular::TabularExperiment;
use distill::text::config::TextExperiment;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Inputs per target when `DISTILL_FUZZ_ITERS` is not set.
const DEFAULT_ITERS: u64 = 1_500;

/// The longest one input may take.
const BOUND: Duration = Duration::from_secs(5);

fn iterations() -> u64 {
    std::env::var("DISTILL_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERS)
}

/// A small, fast, seeded generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that tend to break parsers of text formats.
const INTERESTING_TEXT: &[&str] = &[
    "0",
    "-1",
    "4294967296",
    "18446744073709551616",
    "9223372036854775807",
    "1e308",
    "nan",
    "inf",
    "\"",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "\t",
    "\u{0}",
    "é",
    "[[",
    "type = \"cnn\"",
    "\"\"\"",
];

/// One to four mutations of an input drawn from `corpus`.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = [0u8, 0xff, 0x7f, 0x80, 0x01, b'9'][rng.below(6)];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let copy = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            5 => data.truncate(rng.below(len + 1)),
            6 => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            7 => {
                let token = INTERESTING_TEXT[rng.below(INTERESTING_TEXT.len())].as_bytes();
                let i = rng.below(len + 1);
                data.splice(i..i, token.iter().copied());
            }
            _ if len >= 4 => {
                // An interesting 32-bit value, big- or little-endian (sizes in binary headers).
                let v: u32 =
                    [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1000_0000][rng.below(6)];
                let bytes = match rng.below(2) {
                    0 => v.to_be_bytes(),
                    _ => v.to_le_bytes(),
                };
                let i = rng.below(len - 3);
                data[i..i + 4].copy_from_slice(&bytes);
            }
            _ => {}
        }
    }
    data
}

/// Runs `target` on `iterations()` mutated inputs; `target` returns whether it accepted one.
fn fuzz(name: &str, corpus: Vec<Vec<u8>>, target: impl Fn(&[u8]) -> bool) {
    assert!(!corpus.is_empty());
    let iters = iterations();
    let mut rng = Rng(0x5eed ^ name.bytes().map(u64::from).sum::<u64>());
    let (mut accepted, mut refused) = (0u64, 0u64);
    let started = Instant::now();
    // The corpus itself first: valid inputs must be accepted.
    for (i, input) in corpus.iter().enumerate() {
        assert!(
            target(input),
            "{name}: corpus input {i} is refused: {}",
            String::from_utf8_lossy(input)
        );
    }
    for i in 0..iters {
        let input = mutate(&mut rng, &corpus);
        let t = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| target(&input))) {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => {
                let path = save_failure(name, i, &input);
                panic!("{name}: input {i} panicked; saved to {}", path.display());
            }
        }
        if t.elapsed() > BOUND {
            let path = save_failure(name, i, &input);
            panic!(
                "{name}: input {i} took {:?} (bound {BOUND:?}); saved to {}",
                t.elapsed(),
                path.display()
            );
        }
    }
    eprintln!(
        "fuzz {name}: {iters} inputs in {:.1}s: {accepted} accepted, {refused} refused with an error, 0 panics",
        started.elapsed().as_secs_f64()
    );
}

fn save_failure(name: &str, i: u64, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{i}.bin"));
    std::fs::write(&path, input).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn idx_reader() {
    let (images, labels) = common::images_and_labels(6, 3);
    let small = IdxArray {
        dims: vec![2, 3, 2],
        data: (0..12).collect(),
    };
    let corpus = vec![
        encode_idx(&images),
        encode_idx(&labels),
        encode_idx_gz(&images),
        encode_idx(&small),
        encode_idx_gz(&small),
    ];
    fuzz("idx", corpus, |b| decode_idx(b, Path::new("f.idx")).is_ok());
}

#[test]
fn cifar_reader_and_image_cache() {
    use distill::config::{BadImagePolicy, CifarLabels};
    use distill::data::cifar::{CifarKind, decode_cifar};
    use distill::data::photos::{FolderSpec, decode_cache, read_folder};
    let record = |labels: &[u8]| {
        let mut r = labels.to_vec();
        r.extend((0..3072).map(|i| (i % 251) as u8));
        r
    };
    let corpus = vec![record(&[3]), [record(&[1]), record(&[9])].concat()];
    fuzz("cifar10", corpus, |b| {
        decode_cifar(b, Path::new("data_batch_1.bin"), CifarKind::Cifar10).is_ok()
    });
    let corpus = vec![record(&[3, 77]), record(&[19, 99])];
    fuzz("cifar100", corpus, |b| {
        decode_cifar(
            b,
            Path::new("train.bin"),
            CifarKind::Cifar100(CifarLabels::Coarse),
        )
        .is_ok()
    });

    // A real cache file of a tiny folder; mutated caches are refused (decoded again), never
    // trusted half-way, never a panic.
    let dir = tempfile::tempdir().unwrap();
    for (c, name) in ["a", "b"].iter().enumerate() {
        std::fs::create_dir_all(dir.path().join("train").join(name)).unwrap();
        for i in 0..3 {
            image::RgbImage::from_pixel(5, 4, image::Rgb([c as u8 * 100, i * 40, 7]))
                .save(dir.path().join("train").join(name).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let spec = FolderSpec {
        channels: 3,
        size: [4, 4],
        resize: distill::vocab::Resize::CenterCrop,
        on_bad_image: BadImagePolicy::Fail,
        cache: true,
        cache_dir: Some(dir.path().join("cache")),
        memory_limit: None,
    };
    let classes = vec!["a".to_string(), "b".to_string()];
    read_folder(&dir.path().join("train"), &classes, true, &spec).unwrap();
    let cache = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let corpus = vec![std::fs::read(cache).unwrap()];
    fuzz("image-cache", corpus, |b| {
        decode_cache(b, 2, &spec).is_some()
    });
}

fn examples(names: &[&str]) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap())
        .collect()
}

#[test]
fn image_experiment_parser() {
    let mut corpus = examples(&[
        "demo.toml",
        "fashion-mnist.toml",
        "pytorch-teacher.toml",
        "colour-emoji.toml",
    ]);
    corpus.push(common::experiment_text(&[]).into_bytes());
    fuzz("experiment-image", corpus, |b| {
        Experiment::parse(&text(b), Path::new("e.toml")).is_ok()
    });
}

#[test]
fn text_and_tabular_experiment_parsers() {
    let corpus = examples(&["text-demo.toml", "text-spam-minilm-ft.toml"]);
    fuzz("experiment-text", corpus, |b| {
        TextExperiment::parse(&text(b), Path::new("t.toml")).is_ok()
    });
    let corpus = examples(&["tabular-letter.toml"]);
    fuzz("experiment-tabular", corpus, |b| {
        TabularExperiment::parse(&text(b), Path::new("t.toml")).is_ok()
    });
}

#[test]
fn labelled_text_readers() {
    use distill::text::{TextFields, TextFormat, parse_labelled_text};
    let fields = TextFields {
        text: "text",
        label: "label",
    };
    let csv =
        b"text,label\n\"free money, now\",spam\nsee you at noon,ham\nwin a prize,spam\n".to_vec();
    let tsv = b"text\tlabel\nfree money now\tspam\nlunch at noon\tham\n".to_vec();
    let jsonl = b"{\"text\": \"free money\", \"label\": \"spam\"}\n{\"text\": \"noon?\", \"label\": \"ham\"}\n".to_vec();
    for (name, format, corpus) in [
        ("text-csv", TextFormat::Csv, vec![csv]),
        ("text-tsv", TextFormat::Tsv, vec![tsv]),
        ("text-jsonl", TextFormat::Jsonl, vec![jsonl]),
    ] {
        fuzz(name, corpus, |b| {
            parse_labelled_text(Path::new("d.csv"), &text(b), format, &fields, None).is_ok()
        });
    }
}

#[test]
fn tabular_csv_reader() {
    use distill::tabular::ReadOptions;
    use distill::tabular::data::parse_training;
    let csv = b"a,b,colour,label\n1.5,2,red,x\n-3,4e2,blue,y\n0.25,5,green,x\n7,8,red,y\n".to_vec();
    let categorical = vec!["b".to_string()];
    let opts = ReadOptions {
        label: "label",
        categorical: &categorical,
        ignore: &[],
        classes: None,
        delimiter: None,
    };
    if let Err(e) = parse_training(Path::new("t.csv"), &text(&csv), &opts) {
        panic!("the corpus is refused: {e}");
    }
    fuzz("tabular-csv", vec![csv], |b| {
        parse_training(Path::new("t.csv"), &text(b), &opts).is_ok()
    });
}

fn shard_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let header = |index: usize, count: usize, views: bool| {
        let (start, end) = distill::soft_labels::shard_range(6, index, count);
        ShardHeader {
            num_samples: 6,
            num_classes: 3,
            shard_index: index,
            num_shards: count,
            start,
            end,
            dtype: "f16".into(),
            provenance: Provenance {
                teacher_hash: "t".into(),
                dataset_fingerprint: "d".into(),
                preprocessing: "p".into(),
                views: views.then_some(distill::soft_labels::ViewSpec {
                    count: 2,
                    crop_padding: 1,
                    hflip: true,
                    seed: 1,
                    random_resized_crop: None,
                }),
            },
            sha256: String::new(),
            top_k: None,
        }
    };
    let mut corpus = Vec::new();
    let sub = dir.join("top-k");
    let mut h = header(0, 1, false);
    h.top_k = Some(2);
    let logits: Vec<f32> = (0..18).map(|i| (i as f32 * 0.7).sin()).collect();
    corpus.push(std::fs::read(write_shard(&sub, &h, &logits).unwrap()).unwrap());
    for (index, count) in [(0, 1), (1, 2)] {
        let h = header(index, count, false);
        let rows = h.end - h.start;
        let logits: Vec<f32> = (0..rows * 3).map(|i| i as f32 * 0.5 - 1.0).collect();
        let path = write_shard(dir, &h, &logits).unwrap();
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            shard_file_name(index, count)
        );
        corpus.push(std::fs::read(&path).unwrap());
        read_shard(&path).unwrap();
    }
    corpus
}

/// `bytes` with the checksum recomputed, when their header parses: the mutations then reach
/// the payload decoding (sizes, top-k ids, views) instead of stopping at the checksum.
fn resealed(bytes: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let Some(hlen) = bytes
        .get(12..16)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return bytes.to_vec();
    };
    let Some(json) = bytes.get(16..16 + hlen) else {
        return bytes.to_vec();
    };
    let Ok(mut header) = serde_json::from_slice::<ShardHeader>(json) else {
        return bytes.to_vec();
    };
    let payload = &bytes[16 + hlen..];
    let prefix = |h: &ShardHeader| {
        let json = serde_json::to_vec(h).unwrap();
        let mut p = bytes[..12].to_vec();
        p.extend_from_slice(&(json.len() as u32).to_le_bytes());
        p.extend_from_slice(&json);
        p
    };
    header.sha256 = "0".repeat(64);
    let mut hasher = Sha256::new();
    hasher.update(prefix(&header));
    hasher.update(payload);
    header.sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = prefix(&header);
    out.extend_from_slice(payload);
    out
}

#[test]
fn shard_reader() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = shard_corpus(dir.path());
    fuzz("shard", corpus.clone(), |b| {
        decode_shard(b, Path::new("s.dsl")).is_ok()
    });
    // The same mutations with a valid checksum.
    fuzz("shard-resealed", corpus, |b| {
        decode_shard(&resealed(b), Path::new("s.dsl")).is_ok()
    });
}

/// A saved 4×4-pixel, 3-class MLP with its card; returns the weights' path.
fn tiny_model(dir: &Path) -> PathBuf {
    let card = common::models::card(
        ModelConfig::Mlp(MlpConfig {
            hidden: vec![4],
            dropout: 0.0,
        }),
        [1, 4, 4],
        3,
    );
    common::models::saved_model(dir, "m", &card, 1).1
}

#[test]
fn model_card_and_weights_loading() {
    let dir = tempfile::tempdir().unwrap();
    let weights = tiny_model(dir.path());
    let card_path = ModelCard::path_for(&weights);
    let card = std::fs::read(&card_path).unwrap();
    let tensors = std::fs::read(&weights).unwrap();
    let target_weights = dir.path().join("f.safetensors");
    let target_card = ModelCard::path_for(&target_weights);
    // The card.
    std::fs::write(&target_weights, &tensors).unwrap();
    // A card with a temperature scaling too (the fields `distill predict` reads).
    let mut calibrated: serde_json::Value = serde_json::from_slice(&card).unwrap();
    calibrated["calibration"] = serde_json::json!({
        "temperature": 0.5, "fitted_on": "validation split, 10 images", "nll": 1.0,
        "nll_calibrated": 0.9, "ece": 0.2, "ece_calibrated": 0.1, "cv_nll": 1.0,
        "cv_nll_calibrated": 0.95, "applied": true
    });
    let calibrated = serde_json::to_vec_pretty(&calibrated).unwrap();
    std::fs::write(&target_card, &calibrated).unwrap();
    assert_eq!(
        distill::card::card_calibration(&target_weights)
            .unwrap()
            .map(|c| c.temperature),
        Some(0.5)
    );
    fuzz("model-card", vec![card.clone(), calibrated], |b| {
        std::fs::write(&target_card, b).unwrap();
        let image = ModelCard::load_for(&target_weights).is_ok();
        let tabular = TabularModelCard::load_for(&target_weights).is_ok();
        let calibration = distill::card::card_calibration(&target_weights).is_ok();
        image || tabular || calibration
    });
    // The weights, loaded into the card's architecture.
    std::fs::write(&target_card, &card).unwrap();
    let device = distill::default_device();
    fuzz("safetensors", vec![tensors], |b| {
        std::fs::write(&target_weights, b).unwrap();
        let card = ModelCard::load_for(&target_weights).unwrap();
        card.load_model(&target_weights, &device).is_ok()
    });
}

#[test]
fn pytorch_reader() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch");
    let corpus = vec![
        std::fs::read(fixtures.join("mlp.pth")).unwrap(),
        std::fs::read(fixtures.join("cnn.pth")).unwrap(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.pth");
    let import = distill::models::import::ImportConfig {
        format: Some(distill::models::import::WeightsFormat::Pytorch),
        ..distill::models::import::pytorch_safetensors(
            &path,
            distill::config::Normalize::scalar(0.0, 1.0),
        )
    };
    fuzz("pth", corpus, |b| {
        std::fs::write(&path, b).unwrap();
        import.source_tensors().is_ok()
    });
}

#[test]
fn image_inputs_of_predict() {
    let dir = tempfile::tempdir().unwrap();
    let weights = tiny_model(dir.path());
    let predictor = distill::predict::Predictor::load(&weights).unwrap();
    let png = {
        let img = image::GrayImage::from_fn(4, 4, |x, y| image::Luma([(x * 60 + y * 3) as u8]));
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
        bytes
    };
    let csv = b"0,10,20,30,40,50,60,70,80,90,100,110,120,130,140,150\n".to_vec();
    for (name, file, corpus) in [
        ("png", "x.png", vec![png]),
        ("pixel-csv", "x.csv", vec![csv]),
    ] {
        let path = dir.path().join(file);
        fuzz(name, corpus, |b| {
            std::fs::write(&path, b).unwrap();
            predictor
                .predict_files(std::slice::from_ref(&path), 1)
                .is_ok()
        });
    }
}

#[test]
fn store_locations_and_shard_headers() {
    let corpus: Vec<Vec<u8>> = [
        "s3://bucket/prefix/store",
        "gs://bucket/a/b",
        "file:///tmp/store",
        "runs/out/soft_labels",
        "s3://bucket",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    // Parsing a location builds a client but sends no request.
    fuzz("store-url", corpus, |b| {
        distill::soft_labels::StoreLocation::parse(&text(b)).is_ok()
    });
    let dir = tempfile::tempdir().unwrap();
    fuzz("shard-header", shard_corpus(dir.path()), |b| {
        distill::soft_labels::peek_header(b, Path::new("s.dsl")).is_ok()
    });
}
