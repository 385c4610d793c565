//! The text pipeline: data → tokenizers → teacher (pre-trained head, or trained here) → soft
//! labels recorded once → students with and without KD → the same report as images.
//!
//! Output folder: `teacher.safetensors` (+ `.history.json`), `teacher.tokenizer.json`,
//! `soft_labels/*.dsl`, `student.tokenizer.json`, `student_{kd,baseline}-seedS.safetensors`,
//! `checkpoints/`, `report.{json,md,html}` and the charts.

use super::config::{TextExperiment, TokenizerConfig};
use super::data::{TextDataset, TextFields, TextFormat, parse_labelled_text, read_labelled_text};
use super::models::{TextModel, TextModelConfig};
use super::predict::TextModelCard;
use super::tokenize::TextTokenizer;
use super::train::{TextTrainJob, TokenSet, predict_text_logits, train_head, train_text};
use crate::error::{Error, Result};
use crate::eval::{SpeedMetrics, quality};
use crate::fsutil;
use crate::objective::Objective;
use crate::pipeline::{
    RunOptions, StudentKind, load_history, save_history, soft_labels_dir, student_path,
    teacher_path,
};
use crate::progress::Progress;
use crate::report::{ModelReport, Report, Timings, measure_students, model_report, write_report};
use crate::soft_labels::{Provenance, ShardHeader, ShardWriter, SoftLabels};
use crate::train::EpochRecord;
use burn::module::Module;
use burn::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The built-in demo set: a scrubbed ham/spam subset of the SpamAssassin corpus
/// (`data/text/spam/NOTICE.md`).
const SPAM_TRAIN: &str = include_str!("../../data/text/spam/train.jsonl");
const SPAM_TEST: &str = include_str!("../../data/text/spam/test.jsonl");

/// Texts per forward pass while recording or embedding.
const TEXT_BATCH: usize = 64;

/// The splits of a text experiment.
#[derive(Debug, Clone)]
pub struct TextSplits {
    /// Training texts (what the soft labels cover).
    pub train: TextDataset,
    /// Held-out part of the training file, when `validation_fraction > 0`.
    pub validation: Option<TextDataset>,
    /// Test texts (what the report measures).
    pub test: TextDataset,
}

impl TextSplits {
    /// The set monitored every epoch: the validation split, else the test set.
    pub fn monitor(&self) -> &TextDataset {
        self.validation.as_ref().unwrap_or(&self.test)
    }
}

/// Reads the experiment's texts and makes its splits (seeded).
pub fn load_text_data(exp: &TextExperiment) -> Result<TextSplits> {
    let d = &exp.data;
    let fields = TextFields {
        text: &d.text_field,
        label: &d.label_field,
    };
    let (mut train, test) = match &d.builtin {
        Some(_) => {
            let train = parse_labelled_text(
                Path::new("<built-in spam>/train.jsonl"),
                SPAM_TRAIN,
                TextFormat::Jsonl,
                &fields,
                d.classes.as_deref(),
            )?;
            let test = parse_labelled_text(
                Path::new("<built-in spam>/test.jsonl"),
                SPAM_TEST,
                TextFormat::Jsonl,
                &fields,
                Some(&train.class_names),
            )?;
            (train, test)
        }
        None => {
            let (tr, te) = (
                d.train.as_ref().expect("validated"),
                d.test.as_ref().expect("validated"),
            );
            let train = read_labelled_text(tr, None, &fields, d.classes.as_deref())?;
            let test = read_labelled_text(te, None, &fields, Some(&train.class_names))?;
            (train, test)
        }
    };
    if train.class_names.len() < 2 || train.class_names.len() > 255 {
        return Err(Error::ConfigValue {
            path: exp.origin.clone(),
            field: "data.label_field".into(),
            value: format!("{} distinct labels", train.class_names.len()),
            reason: "need between 2 and 255 classes".into(),
        });
    }
    exp.check_classes(train.class_names.len())?;
    if let Some(n) = d.limit_train
        && n < train.len()
    {
        let (_, kept) = train.split(n as f64 / train.len() as f64, exp.seed);
        train = kept;
    }
    let validation = if d.validation_fraction > 0.0 {
        let (rest, held_out) = train.split(d.validation_fraction, exp.seed);
        train = rest;
        Some(held_out)
    } else {
        None
    };
    Ok(TextSplits {
        train,
        validation,
        test,
    })
}

/// The teacher's tokenizer file in an output folder.
pub fn teacher_tokenizer_path(out: &Path) -> PathBuf {
    out.join("teacher.tokenizer.json")
}

/// The students' tokenizer file in an output folder.
pub fn student_tokenizer_path(out: &Path) -> PathBuf {
    out.join("student.tokenizer.json")
}

/// Builds (or reads) the teacher's tokenizer and saves it as `teacher.tokenizer.json`.
pub fn teacher_tokenizer(
    exp: &TextExperiment,
    splits: &TextSplits,
    out: &Path,
) -> Result<TextTokenizer> {
    let tok = match (&exp.teacher.model, &exp.teacher.tokenizer) {
        (TextModelConfig::Pretrained(p), _) => {
            TextTokenizer::from_file(&p.tokenizer_path(), exp.data.max_len)?
        }
        (_, TokenizerConfig::Vocabulary { size }) => {
            TextTokenizer::train_word_level(&splits.train.texts, *size, exp.data.max_len)?
        }
        (_, TokenizerConfig::Teacher) => unreachable!("refused by validation"),
    };
    tok.save(&teacher_tokenizer_path(out))?;
    Ok(tok)
}

/// Builds the students' tokenizer (the teacher's, or a vocabulary of the training texts) and
/// saves it as `student.tokenizer.json`.
pub fn student_tokenizer(
    exp: &TextExperiment,
    splits: &TextSplits,
    teacher: &TextTokenizer,
    out: &Path,
) -> Result<TextTokenizer> {
    let tok = match &exp.student.tokenizer {
        TokenizerConfig::Teacher => teacher.clone(),
        TokenizerConfig::Vocabulary { size } => {
            TextTokenizer::train_word_level(&splits.train.texts, *size, exp.data.max_len)?
        }
    };
    tok.save(&student_tokenizer_path(out))?;
    Ok(tok)
}

/// The token ids of a data set.
pub fn tokenize(tok: &TextTokenizer, data: &TextDataset) -> Result<TokenSet> {
    Ok(TokenSet {
        seqs: tok.encode_all(&data.texts)?,
        labels: data.labels.iter().map(|&y| y as u8).collect(),
        num_classes: data.class_names.len(),
        pad_id: tok.pad_id(),
    })
}

/// The training and monitor texts of a split, tokenised once for all the runs that use them.
#[derive(Debug, Clone)]
pub struct TokenSplits {
    /// Training texts.
    pub train: TokenSet,
    /// Monitor texts (validation split, else the test set).
    pub monitor: TokenSet,
    /// Class names, label `i` is `class_names[i]`.
    pub class_names: Vec<String>,
}

impl TokenSplits {
    /// Tokenises the training and monitor texts of `splits` with `tok`.
    pub fn new(tok: &TextTokenizer, splits: &TextSplits) -> Result<Self> {
        Ok(TokenSplits {
            train: tokenize(tok, &splits.train)?,
            monitor: tokenize(tok, splits.monitor())?,
            class_names: splits.train.class_names.clone(),
        })
    }
}

/// Builds a model of `cfg` for this tokenizer and loads `path` into it.
pub fn load_text_model(
    cfg: &TextModelConfig,
    tok: &TextTokenizer,
    classes: usize,
    path: &Path,
    device: &Device,
) -> Result<TextModel> {
    cfg.init(tok.vocab_size(), tok.max_len(), classes, device)?
        .load(path)
}

/// Saves a text model, its card (with the tokenizer file next to it) and its history.
fn save_text_model(
    model: &TextModel,
    weights: &Path,
    cfg: &TextModelConfig,
    tok: &TextTokenizer,
    tok_file: &Path,
    class_names: &[String],
    history: &[EpochRecord],
) -> Result<()> {
    model.save(weights)?;
    TextModelCard {
        task: "text".into(),
        architecture: cfg.clone(),
        tokenizer: PathBuf::from(tok_file.file_name().expect("a tokenizer file name")),
        max_len: tok.max_len(),
        vocab_size: tok.vocab_size(),
        class_names: class_names.to_vec(),
        distill_version: env!("CARGO_PKG_VERSION").to_string(),
    }
    .save_for(weights)?;
    save_history(weights, history)
}

fn run_key(parts: &[String]) -> String {
    fsutil::sha256_hex(parts.join("|").as_bytes())
}

/// Step 1: trains the teacher and saves it with its history.
///
/// A pre-trained encoder first gets a linear head trained on its frozen sentence embeddings
/// (computed once; "linear probing"). With `finetune_layers = 0` that is the teacher, and its
/// logits on the training texts, computed on the way, are returned (so that recording does not
/// run the encoder a second time). Otherwise the probed model (`teacher.probe.safetensors`) is
/// the starting point for fine-tuning the top layers with the head (`[teacher.finetune]`),
/// "LP-FT" (Kumar et al. 2022): a trained head keeps the first fine-tuning steps from tearing
/// up the pre-trained features.
pub fn train_text_teacher(
    exp: &TextExperiment,
    splits: &TextSplits,
    tok: &TextTokenizer,
    opts: &RunOptions,
) -> Result<Option<Vec<f32>>> {
    let device = &opts.device;
    let classes = splits.train.class_names.len();
    let TokenSplits { train, monitor, .. } = TokenSplits::new(tok, splits)?;
    let weights = teacher_path(&opts.out);
    let cfg = &exp.teacher.model;
    let mut probed_path = None;
    if let TextModelConfig::Pretrained(p) = cfg {
        let probed = opts.out.join("teacher.probe.safetensors");
        if !(p.finetune_layers > 0 && opts.resume && probed.is_file()) {
            let model = cfg
                .init(tok.vocab_size(), tok.max_len(), classes, device)?
                .load_pretrained_encoder(&p.weights_path())?;
            let TextModel::Bert(mut bert) = model else {
                unreachable!("a pretrained config builds a BERT model")
            };
            let dim = bert.head.weight.dims()[0];
            let x_train = sentence_embeddings(&bert.encoder, &train, "embed train", opts)?;
            let x_monitor = sentence_embeddings(&bert.encoder, &monitor, "embed monitor", opts)?;
            let (head, history) = train_head(
                "teacher",
                &exp.teacher.train,
                (&x_train, &train.labels),
                (&x_monitor, &monitor.labels),
                dim,
                classes,
                exp.seed,
                opts.progress,
                device,
            );
            let n = train.len();
            let train_logits = head
                .forward(Tensor::<2>::from_data(
                    TensorData::new(x_train, [n, dim]),
                    device,
                ))
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32 logits");
            bert.head = head;
            let target = if p.finetune_layers == 0 {
                &weights
            } else {
                &probed
            };
            save_text_model(
                &TextModel::Bert(bert),
                target,
                cfg,
                tok,
                &teacher_tokenizer_path(&opts.out),
                &splits.train.class_names,
                &history,
            )?;
            if p.finetune_layers == 0 {
                return Ok(Some(train_logits));
            }
        }
        probed_path = Some((probed, p.finetune_layers));
    }
    let init = |d: &Device| -> Result<TextModel> {
        let m = cfg.init(tok.vocab_size(), tok.max_len(), classes, d)?;
        Ok(match &probed_path {
            Some((probed, n)) => match m.load(probed)? {
                TextModel::Bert(mut b) => {
                    b.encoder = b.encoder.freeze_below_top(*n);
                    TextModel::Bert(b)
                }
                other => other,
            },
            None => m,
        })
    };
    let recipe = match (&probed_path, &exp.teacher.finetune) {
        (Some(_), Some(f)) => f,
        (Some(_), None) => unreachable!("validation requires [teacher.finetune]"),
        (None, _) => &exp.teacher.train,
    };
    let objective = Objective::hard_labels_only();
    let job = TextTrainJob {
        name: "teacher",
        recipe,
        train: &train,
        monitor: &monitor,
        objective: &objective,
        soft_labels: None,
        seed: exp.seed,
        run_key: run_key(&[
            "teacher".into(),
            format!("{cfg:?}"),
            format!("{recipe:?}"),
            exp.seed.to_string(),
            train.fingerprint(),
        ]),
        checkpoint_dir: &opts.out.join("checkpoints").join("teacher"),
        resume: opts.resume,
        progress: opts.progress,
        stop_after_epochs: opts.stop_after_epochs,
    };
    let trained = train_text(&job, &init, device)?;
    save_text_model(
        &trained.model,
        &weights,
        cfg,
        tok,
        &teacher_tokenizer_path(&opts.out),
        &splits.train.class_names,
        &trained.history,
    )?;
    Ok(None)
}

/// Mean-pooled hidden states of a (frozen) encoder for every text, `len × hidden`.
fn sentence_embeddings(
    encoder: &super::bert::Bert,
    data: &TokenSet,
    label: &str,
    opts: &RunOptions,
) -> Result<Vec<f32>> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by_key(|&i| data.seqs[i].len());
    let bar = Progress::new(data.len().div_ceil(TEXT_BATCH) as u64, label, opts.progress);
    let start = Instant::now();
    let mut out: Vec<f32> = Vec::new();
    let mut dim = 0;
    for chunk in order.chunks(TEXT_BATCH) {
        let (ids, mask) = data.batch(chunk, &opts.device);
        let pooled = encoder.embed(ids, mask);
        dim = pooled.dims()[1];
        if out.is_empty() {
            out = vec![0f32; data.len() * dim];
        }
        let v = pooled.into_data().try_to_vec::<f32>().expect("f32");
        for (k, &row) in chunk.iter().enumerate() {
            out[row * dim..(row + 1) * dim].copy_from_slice(&v[k * dim..(k + 1) * dim]);
        }
        bar.step(String::new);
    }
    bar.finish(&format!(
        "{label}: {} texts in {:.1}s ({:.1} texts/s, hidden {dim})",
        data.len(),
        start.elapsed().as_secs_f64(),
        data.len() as f64 / start.elapsed().as_secs_f64().max(1e-9)
    ));
    Ok(out)
}

/// What a text store was recorded from: the teacher's weights, the training texts and labels,
/// and the teacher's tokenizer.
pub fn text_provenance(
    splits: &TextSplits,
    teacher: &Path,
    tok_path: &Path,
    max_len: usize,
) -> Result<Provenance> {
    let tok_hash = fsutil::sha256_hex(&fsutil::read(tok_path)?);
    Ok(Provenance {
        teacher_hash: fsutil::sha256_hex(&fsutil::read(teacher)?),
        dataset_fingerprint: splits.train.fingerprint(),
        preprocessing: format!(
            "text: tokenizer sha256 {}, max_len {max_len}",
            &tok_hash[..16]
        ),
    })
}

/// Step 2: runs the teacher over the training texts once and streams its logits into the
/// soft-label store.
pub fn record_text_soft_labels(
    exp: &TextExperiment,
    splits: &TextSplits,
    tok: &TextTokenizer,
    opts: &RunOptions,
) -> Result<PathBuf> {
    let device = &opts.device;
    let classes = splits.train.class_names.len();
    let model = load_text_model(
        &exp.teacher.model,
        tok,
        classes,
        &teacher_path(&opts.out),
        device,
    )?;
    let train = tokenize(tok, &splits.train)?;
    write_text_store(exp, splits, opts, &mut |chunk| {
        let (ids, mask) = train.batch(chunk, device);
        Ok(model
            .forward(ids, mask)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 logits"))
    })
}

/// Streams the teacher's logits on the training texts, `logits_of(rows)` batch by batch, into
/// the soft-label store.
fn write_text_store(
    exp: &TextExperiment,
    splits: &TextSplits,
    opts: &RunOptions,
    logits_of: &mut dyn FnMut(&[usize]) -> Result<Vec<f32>>,
) -> Result<PathBuf> {
    let classes = splits.train.class_names.len();
    let teacher = teacher_path(&opts.out);
    let total = splits.train.len();
    let header = ShardHeader {
        num_samples: total,
        num_classes: classes,
        shard_index: 0,
        num_shards: 1,
        start: 0,
        end: total,
        dtype: "f16".into(),
        provenance: text_provenance(
            splits,
            &teacher,
            &teacher_tokenizer_path(&opts.out),
            exp.data.max_len,
        )?,
        payload_sha256: String::new(),
    };
    let store = soft_labels_dir(&opts.out);
    let mut writer = ShardWriter::create(&store, &header)?;
    let bar = Progress::new(total.div_ceil(TEXT_BATCH) as u64, "record", opts.progress);
    let start = Instant::now();
    let rows: Vec<usize> = (0..total).collect();
    for chunk in rows.chunks(TEXT_BATCH) {
        writer.push(&logits_of(chunk)?)?;
        bar.step(|| format!("{} rows", writer.rows()));
    }
    let path = writer.finish()?;
    let secs = start.elapsed().as_secs_f64();
    bar.finish(&format!(
        "recorded soft labels for {total} texts in {secs:.1}s ({:.0} texts/s)",
        total as f64 / secs.max(1e-9)
    ));
    Ok(path)
}

/// Opens the store, checking it belongs to these texts, this teacher and its tokenizer.
pub fn open_text_soft_labels(
    exp: &TextExperiment,
    splits: &TextSplits,
    out: &Path,
) -> Result<SoftLabels> {
    SoftLabels::open(
        &soft_labels_dir(out),
        &text_provenance(
            splits,
            &teacher_path(out),
            &teacher_tokenizer_path(out),
            exp.data.max_len,
        )?,
    )
}

/// Step 3: one student run (KD or baseline) for `seed` on texts tokenised with the students'
/// tokenizer `tok`, saved with its history.
pub fn train_text_student(
    exp: &TextExperiment,
    tok: &TextTokenizer,
    data: &TokenSplits,
    kind: StudentKind,
    store: Option<&SoftLabels>,
    seed: u64,
    opts: &RunOptions,
) -> Result<()> {
    let classes = data.class_names.len();
    let (train, monitor) = (&data.train, &data.monitor);
    let objective = match kind {
        StudentKind::Kd => Objective::new(exp.objective.clone()),
        StudentKind::Baseline => Objective::hard_labels_only(),
    };
    let name = format!("{}-seed{seed}", kind.name());
    let cfg = &exp.student.model;
    let init = |d: &Device| cfg.init(tok.vocab_size(), tok.max_len(), classes, d);
    let job = TextTrainJob {
        name: &name,
        recipe: &exp.student.train,
        train,
        monitor,
        objective: &objective,
        soft_labels: if kind == StudentKind::Kd { store } else { None },
        seed,
        run_key: run_key(&[
            name.clone(),
            format!("{cfg:?}"),
            format!("{:?}", exp.student.train),
            format!("{:?}", objective.config()),
            seed.to_string(),
            train.fingerprint(),
        ]),
        checkpoint_dir: &opts.out.join("checkpoints").join(&name),
        resume: opts.resume,
        progress: opts.progress,
        stop_after_epochs: opts.stop_after_epochs,
    };
    let trained = train_text(&job, &init, &opts.device)?;
    save_text_model(
        &trained.model,
        &student_path(&opts.out, kind, seed),
        cfg,
        tok,
        &student_tokenizer_path(&opts.out),
        &data.class_names,
        &trained.history,
    )
}

/// Runs every step of a text experiment and writes the report; with `resume`, finished steps
/// are reused.
pub fn run_text(exp: &TextExperiment, opts: &RunOptions) -> Result<Report> {
    // The data is read and checked before anything is written.
    let splits = load_text_data(exp)?;
    fsutil::create_dir_all(&opts.out)?;
    let resolved = toml::to_string_pretty(exp).map_err(|e| Error::Report(e.to_string()))?;
    fsutil::write_atomic(
        &opts.out.join("experiment.resolved.toml"),
        resolved.as_bytes(),
    )?;
    if opts.progress {
        eprintln!(
            "text data: {} train, {} validation, {} test texts, {} classes",
            splits.train.len(),
            splits.validation.as_ref().map_or(0, |v| v.len()),
            splits.test.len(),
            splits.train.class_names.len()
        );
    }
    let mut timings = Timings::default();
    let classes = splits.train.class_names.len();
    let t_tok = teacher_tokenizer(exp, &splits, &opts.out)?;
    let teacher = teacher_path(&opts.out);
    let t = Instant::now();
    let mut train_logits = None;
    if !(opts.resume && teacher.is_file()) {
        train_logits = train_text_teacher(exp, &splits, &t_tok, opts)?;
    }
    timings.teacher_train_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let store = match open_text_soft_labels(exp, &splits, &opts.out) {
        Ok(s) if opts.resume && train_logits.is_none() => s,
        _ => {
            let _ = std::fs::remove_dir_all(soft_labels_dir(&opts.out));
            match &train_logits {
                Some(logits) => {
                    write_text_store(exp, &splits, opts, &mut |chunk| {
                        Ok(chunk
                            .iter()
                            .flat_map(|&r| logits[r * classes..(r + 1) * classes].to_vec())
                            .collect())
                    })?;
                }
                None => {
                    record_text_soft_labels(exp, &splits, &t_tok, opts)?;
                }
            }
            open_text_soft_labels(exp, &splits, &opts.out)?
        }
    };
    timings.record_s = t.elapsed().as_secs_f64();
    let s_tok = student_tokenizer(exp, &splits, &t_tok, &opts.out)?;
    let t = Instant::now();
    let s_data = TokenSplits::new(&s_tok, &splits)?;
    for &seed in &exp.student_seeds {
        for kind in [StudentKind::Kd, StudentKind::Baseline] {
            if !(opts.resume && student_path(&opts.out, kind, seed).is_file()) {
                train_text_student(exp, &s_tok, &s_data, kind, Some(&store), seed, opts)?;
            }
        }
    }
    timings.students_train_s = t.elapsed().as_secs_f64();
    compare_text(exp, &splits, opts, Some(timings))
}

/// Latency at batch 1 on the test text of median token length, and throughput (texts/s) over
/// batches of `batch` test texts padded to their longest; forward passes only (tokenisation is
/// not timed).
pub fn measure_text_speed(
    model: &TextModel,
    data: &TokenSet,
    runs: usize,
    warmup: usize,
    batch: usize,
    device: &Device,
) -> SpeedMetrics {
    let median = data.median_len();
    let one = (0..data.len())
        .find(|&i| data.seqs[i].len() == median)
        .unwrap_or(0);
    let (ids, mask) = data.batch(&[one], device);
    let sync = |t: Tensor<2>| {
        let _ = t.into_data();
    };
    for _ in 0..warmup {
        sync(model.forward(ids.clone(), mask.clone()));
    }
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            sync(model.forward(ids.clone(), mask.clone()));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let pct = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    // A few batches of real texts (built before timing) cover the length mix.
    let rows: Vec<Vec<usize>> = (0..data.len())
        .collect::<Vec<_>>()
        .chunks(batch.max(1))
        .take(4)
        .map(|c| c.to_vec())
        .collect();
    let batches: Vec<_> = rows.iter().map(|r| data.batch(r, device)).collect();
    sync(model.forward(batches[0].0.clone(), batches[0].1.clone()));
    let start = Instant::now();
    let (mut done, mut k) = (0usize, 0usize);
    while done < 2 * batch.min(data.len()) || start.elapsed().as_secs_f64() < 0.5 {
        let (ids, mask) = &batches[k % batches.len()];
        sync(model.forward(ids.clone(), mask.clone()));
        done += rows[k % rows.len()].len();
        k += 1;
    }
    SpeedMetrics {
        latency_ms_b1_p50: pct(0.5),
        latency_ms_b1_p99: pct(0.99),
        throughput_per_s: done as f64 / start.elapsed().as_secs_f64(),
        throughput_batch: batch,
        latency_runs: runs,
    }
}

/// Evaluates the teacher and every student on the test texts and writes the report.
pub fn compare_text(
    exp: &TextExperiment,
    splits: &TextSplits,
    opts: &RunOptions,
    timings: Option<Timings>,
) -> Result<Report> {
    let device = &opts.device;
    let names = splits.train.class_names.clone();
    let classes = names.len();
    let ev = &exp.evaluation;
    let t_tok = TextTokenizer::from_file(&teacher_tokenizer_path(&opts.out), exp.data.max_len)?;
    let s_tok = TextTokenizer::from_file(&student_tokenizer_path(&opts.out), exp.data.max_len)?;
    let t_test = tokenize(&t_tok, &splits.test)?;
    let s_test = tokenize(&s_tok, &splits.test)?;
    let measure = |role: &str,
                   cfg: &TextModelConfig,
                   tok: &TextTokenizer,
                   test: &TokenSet,
                   path: &Path,
                   seed: u64,
                   teacher_logits: Option<&[f32]>,
                   speed: Option<&SpeedMetrics>|
     -> Result<(ModelReport, Vec<f32>)> {
        let model = load_text_model(cfg, tok, classes, path, device)?;
        let logits = predict_text_logits(&model, test, 128, device);
        let mut q = quality(
            &logits,
            &test.labels,
            &names,
            teacher_logits.or(Some(&logits)),
            ev.ece_bins,
        );
        if teacher_logits.is_none() {
            q.kl_to_teacher = Some(0.0);
        }
        let speed = match speed {
            Some(s) => s.clone(),
            None => {
                if opts.progress {
                    eprintln!("timing {role} ({} batch-1 runs)...", ev.latency_runs);
                }
                measure_text_speed(
                    &model,
                    test,
                    ev.latency_runs,
                    ev.warmup_runs,
                    ev.throughput_batch,
                    device,
                )
            }
        };
        let file_bytes = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        Ok((
            model_report(
                cfg.describe(),
                seed,
                model.num_params(),
                file_bytes,
                q,
                speed,
                load_history(path)?,
            ),
            logits,
        ))
    };
    let (teacher, teacher_logits) = measure(
        "teacher",
        &exp.teacher.model,
        &t_tok,
        &t_test,
        &teacher_path(&opts.out),
        exp.seed,
        None,
        None,
    )?;
    let mut models = BTreeMap::new();
    models.insert("teacher".to_string(), teacher);
    let seed_summary = measure_students(&exp.student_seeds, &mut models, |kind, seed, speed| {
        Ok(measure(
            "student",
            &exp.student.model,
            &s_tok,
            &s_test,
            &student_path(&opts.out, kind, seed),
            seed,
            Some(&teacher_logits),
            speed,
        )?
        .0)
    })?;
    let store = soft_labels_dir(&opts.out);
    let report = Report {
        distill_version: env!("CARGO_PKG_VERSION").to_string(),
        seed: exp.seed,
        student_seeds: exp.student_seeds.clone(),
        dataset_fingerprint: splits.train.fingerprint(),
        eval_fingerprint: splits.test.fingerprint(),
        preprocessing: format!(
            "text, max {} tokens; teacher tokenizer {} tokens, student tokenizer {} tokens; latency on the test text of median length ({} student tokens)",
            exp.data.max_len,
            t_tok.vocab_size(),
            s_tok.vocab_size(),
            s_test.median_len()
        ),
        eval_set: format!("test set, {} texts", splits.test.len()),
        class_names: names,
        models,
        seed_summary,
        soft_labels: crate::report::store_info(&store, splits.train.len()),
        timings,
        objective: exp.objective.describe(),
        config: serde_json::to_value(exp).map_err(|e| Error::Report(e.to_string()))?,
    };
    write_report(&report, &opts.out)?;
    println!("{}", crate::report::summary_table(&report));
    Ok(report)
}
