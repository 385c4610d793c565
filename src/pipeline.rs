//! The steps of an experiment, each usable on its own (the CLI has one subcommand per step)
//! and chained by [`run_all`]: train the teacher → record its soft labels → train the students
//! (KD and no-KD, per seed) → evaluate and compare.
//!
//! Everything lives under one output folder:
//!
//! ```text
//! OUT/teacher.safetensors, OUT/teacher.history.json
//! OUT/soft_labels/shard-00000-of-00001.dsl
//! OUT/student_kd-seed1.safetensors, OUT/student_baseline-seed1.safetensors, (+ .history.json)
//! OUT/checkpoints/<run>/epoch-NNNN/...
//! OUT/report.json, OUT/report.md, OUT/report.html, OUT/*.svg
//! ```

use crate::config::Experiment;
use crate::data::{Splits, load_splits};
use crate::error::{Error, Result};
use crate::eval::predict_logits;
use crate::fsutil;
use crate::models::Model;
use crate::objective::Objective;
use crate::progress::Progress;
use crate::soft_labels::{
    Provenance, ShardHeader, ShardWriter, SoftLabels, record_rows, shard_range,
};
use crate::train::{EpochRecord, TrainJob, Trained, train};
use burn::module::Module;
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which student.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudentKind {
    /// Trained with the experiment's KD objective against the recorded soft labels.
    Kd,
    /// The same student trained on hard labels only.
    Baseline,
}

impl StudentKind {
    /// `student_kd` or `student_baseline`.
    pub fn name(self) -> &'static str {
        match self {
            StudentKind::Kd => "student_kd",
            StudentKind::Baseline => "student_baseline",
        }
    }
}

/// Options shared by the steps.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output folder.
    pub out: PathBuf,
    /// Continue from checkpoints.
    pub resume: bool,
    /// Show progress.
    pub progress: bool,
    /// Compute device.
    pub device: Device,
    /// Train at most this many epochs per model in this invocation (resume later).
    pub stop_after_epochs: Option<usize>,
}

impl RunOptions {
    /// Options for `out` on the default device: no resume, no progress.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        RunOptions {
            out: out.into(),
            resume: false,
            progress: false,
            device: crate::default_device(),
            stop_after_epochs: None,
        }
    }
}

/// Paths of the artefacts under an output folder.
pub fn teacher_path(out: &Path) -> PathBuf {
    out.join("teacher.safetensors")
}
/// The soft-label store folder.
pub fn soft_labels_dir(out: &Path) -> PathBuf {
    out.join("soft_labels")
}
/// A student's weights file.
pub fn student_path(out: &Path, kind: StudentKind, seed: u64) -> PathBuf {
    out.join(format!("{}-seed{seed}.safetensors", kind.name()))
}
/// The training history next to a weights file.
pub fn history_path(weights: &Path) -> PathBuf {
    weights.with_extension("history.json")
}

/// Writes a model's training history next to its weights (atomically).
pub(crate) fn save_history(weights: &Path, history: &[EpochRecord]) -> Result<()> {
    let json = serde_json::to_vec_pretty(history).expect("history serialises");
    fsutil::write_atomic(&history_path(weights), &json)
}

/// Reads the training history saved next to `weights` (empty when there is none).
pub fn load_history(weights: &Path) -> Result<Vec<EpochRecord>> {
    let path = history_path(weights);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| Error::Weights {
        path,
        message: format!("unreadable history: {e}"),
    })
}

/// Loads the data an experiment names and checks both models against its image size.
pub fn prepare(experiment: &Experiment) -> Result<Splits> {
    let splits = match &experiment.teacher.import {
        // An imported teacher was trained on inputs normalised its way; everyone uses that.
        Some(import) => {
            let mut data = experiment.data.clone();
            data.normalize = Some(import.normalize);
            load_splits(&data, experiment.seed)?
        }
        None => load_splits(&experiment.data, experiment.seed)?,
    };
    let (h, w) = (splits.train.height, splits.train.width);
    experiment
        .teacher
        .model
        .check_input("teacher.model", h, w)?;
    experiment
        .student
        .model
        .check_input("student.model", h, w)?;
    // Layers named by feature terms exist and can be bridged, before anything trains.
    experiment.objective.feature_pairs(
        &experiment.student.model,
        &experiment.teacher.model,
        [1, h, w],
        splits.train.num_classes,
        &|f: &str, v: String, r: &str| experiment.bad_value(f, v, r),
    )?;
    Ok(splits)
}

/// Builds a model of the experiment's `role`, loads its weights and puts it in evaluation mode
/// (BatchNorm uses its running statistics, dropout is off).
pub fn load_model(
    experiment: &Experiment,
    role: &str,
    splits: &Splits,
    weights: &Path,
    device: &Device,
) -> Result<Model> {
    let cfg = if role == "teacher" {
        &experiment.teacher.model
    } else {
        &experiment.student.model
    };
    let input = [1, splits.train.height, splits.train.width];
    let model = cfg.init(input, splits.train.num_classes, device);
    Ok(model.load(weights)?.valid())
}

/// Saves `model` to `weights` with its training history and its card (architecture,
/// normalisation, class names), so that it can be used on its own (`distill predict`).
fn save_trained(
    experiment: &Experiment,
    splits: &Splits,
    architecture: &crate::models::ModelConfig,
    trained: &Trained,
    weights: &Path,
) -> Result<()> {
    trained.model.save(weights)?;
    save_history(weights, &trained.history)?;
    crate::predict::ModelCard::new(
        experiment,
        architecture,
        splits.train.height,
        splits.train.width,
        splits.normalize,
    )
    .save_for(weights)
}

/// Step 1: trains the teacher and saves `OUT/teacher.safetensors`.
pub fn train_teacher(
    experiment: &Experiment,
    splits: &Splits,
    opts: &RunOptions,
) -> Result<Trained> {
    let Some(recipe) = &experiment.teacher.train else {
        return Err(experiment.bad_value(
            "teacher.train",
            "missing".into(),
            "this experiment imports its teacher ([teacher.import]): run `distill import`",
        ));
    };
    let objective = Objective::hard_labels_only();
    let job = TrainJob {
        name: "teacher",
        model: &experiment.teacher.model,
        recipe,
        splits,
        objective: &objective,
        soft_labels: &[],
        teacher: None,
        teacher_config: None,
        seed: experiment.seed,
        augment: true,
        checkpoint_dir: &opts.out.join("checkpoints").join("teacher"),
        resume: opts.resume,
        progress: opts.progress,
        stop_after_epochs: opts.stop_after_epochs,
    };
    let trained = train(&job, &opts.device)?;
    let path = teacher_path(&opts.out);
    save_trained(
        experiment,
        splits,
        &experiment.teacher.model,
        &trained,
        &path,
    )?;
    Ok(trained)
}

/// What [`import_teacher`] did, saved as `OUT/teacher.import.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImportSummary {
    /// The weights file read.
    pub source: PathBuf,
    /// Its SHA-256.
    pub source_sha256: String,
    /// Tensors loaded.
    pub tensors: usize,
    /// Keys of the file left out (`num_batches_tracked`, `ignore` patterns).
    pub ignored: Vec<String>,
    /// Top-1 accuracy on the test set.
    pub test_accuracy: f64,
    /// Test images it was measured on.
    pub test_images: usize,
    /// The accuracy below which it would have been refused.
    pub min_accuracy: f64,
    /// The normalisation it declares.
    pub normalize: crate::config::Normalize,
}

/// Where [`import_teacher`] writes its summary.
pub fn import_summary_path(out: &Path) -> PathBuf {
    out.join("teacher.import.json")
}

/// Step 1 for a teacher trained elsewhere (`[teacher.import]`): loads its weights into the
/// declared architecture, measures it on the test set and refuses it when it scores near chance
/// (a wrong remapping, normalisation or layout loads without complaint and predicts rubbish).
/// Only then writes `OUT/teacher.safetensors` (distill's format) with its card, and
/// `OUT/teacher.import.json`.
pub fn import_teacher(
    experiment: &Experiment,
    splits: &Splits,
    opts: &RunOptions,
) -> Result<ImportSummary> {
    let Some(import) = &experiment.teacher.import else {
        return Err(experiment.bad_value(
            "teacher.import",
            "missing".into(),
            "this experiment trains its teacher: run `distill train`",
        ));
    };
    let classes = splits.train.num_classes;
    let input = [1, splits.train.height, splits.train.width];
    let fresh = experiment.teacher.model.init(input, classes, &opts.device);
    let plan = import.plan(&fresh)?;
    let model = import.load(fresh)?.valid();
    let test = &splits.test;
    let logits = predict_logits(&model, test, splits.normalize, 512, &opts.device);
    let accuracy = crate::eval::accuracy_of(&logits, &test.labels, classes);
    let mut counts = vec![0usize; classes];
    for &l in &test.labels {
        counts[l as usize] += 1;
    }
    let majority = *counts.iter().max().unwrap_or(&0) as f64 / test.len().max(1) as f64;
    let threshold = import.threshold(majority);
    if opts.progress {
        eprintln!(
            "imported teacher {}: {:.2}% top-1 on {} test images",
            import.weights.display(),
            100.0 * accuracy,
            test.len()
        );
    }
    if accuracy < threshold {
        return Err(Error::Weights {
            path: import.weights.clone(),
            message: format!(
                "the imported teacher scores {:.2}% on the {} test images, near chance \
                 (most frequent class {:.2}%; teacher.import.min_accuracy {:.2}%), so nothing \
                 was recorded. The weights loaded but do not compute what they did where they \
                 were trained: check that the remap rules pair each layer with its tensor \
                 (`distill import --dry-run`), that teacher.import.normalize is the mean and \
                 std it was trained with (currently {} / {}), and that teacher.model matches \
                 its layout (layer order, kernel size and padding, pooling, C×H×W flatten order)",
                100.0 * accuracy,
                test.len(),
                100.0 * majority,
                100.0 * threshold,
                import.normalize.mean,
                import.normalize.std
            ),
        });
    }
    fsutil::create_dir_all(&opts.out)?;
    let path = teacher_path(&opts.out);
    model.save(&path)?;
    save_history(&path, &[])?;
    crate::predict::ModelCard::new(
        experiment,
        &experiment.teacher.model,
        splits.train.height,
        splits.train.width,
        splits.normalize,
    )
    .save_for(&path)?;
    let summary = ImportSummary {
        source: import.weights.clone(),
        source_sha256: fsutil::sha256_hex(&fsutil::read(&import.weights)?),
        tensors: plan.matched.len(),
        ignored: plan.ignored.iter().map(|t| t.name.clone()).collect(),
        test_accuracy: accuracy,
        test_images: test.len(),
        min_accuracy: threshold,
        normalize: import.normalize,
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    fsutil::write_atomic(&import_summary_path(&opts.out), &json)?;
    Ok(summary)
}

/// The provenance a store recorded from `teacher` (weights file) on these splits carries.
pub fn provenance(splits: &Splits, teacher: &Path) -> Result<Provenance> {
    Ok(Provenance {
        teacher_hash: fsutil::sha256_hex(&fsutil::read(teacher)?),
        dataset_fingerprint: splits.train.fingerprint(),
        preprocessing: splits.preprocessing(),
    })
}

/// Step 2: runs the teacher over shard `index` of `count` of the training set and writes that
/// shard of the soft-label store into `store`. Returns the shard file.
pub fn record_soft_labels(
    experiment: &Experiment,
    splits: &Splits,
    teacher: &Path,
    store: &Path,
    (index, count): (usize, usize),
    opts: &RunOptions,
) -> Result<PathBuf> {
    if count == 0 || index >= count {
        return Err(Error::Argument {
            arg: "--shard".into(),
            value: format!("{index}/{count}"),
            reason: "must be i/N with 0 <= i < N".into(),
        });
    }
    let model = load_model(experiment, "teacher", splits, teacher, &opts.device)?;
    let total = splits.train.len();
    let (start, end) = shard_range(total, index, count);
    let header = ShardHeader {
        num_samples: total,
        num_classes: splits.train.num_classes,
        shard_index: index,
        num_shards: count,
        start,
        end,
        dtype: "f16".into(),
        provenance: provenance(splits, teacher)?,
        payload_sha256: String::new(),
    };
    let started = Instant::now();
    let mut writer = ShardWriter::create(store, &header)?;
    let bar = Progress::new(
        (end - start).div_ceil(RECORD_BATCH) as u64,
        "record",
        opts.progress,
    );
    record_rows(
        &model,
        &splits.train,
        splits.normalize,
        start..end,
        RECORD_BATCH,
        &opts.device,
        &mut writer,
        &bar,
    )?;
    let path = writer.finish()?;
    let secs = started.elapsed().as_secs_f64();
    bar.finish(&format!(
        "recorded soft labels for rows {start}..{end} of {total} in {secs:.1}s ({:.0} img/s)",
        (end - start) as f64 / secs.max(1e-9)
    ));
    Ok(path)
}

/// Images per forward pass while recording soft labels.
pub const RECORD_BATCH: usize = 512;

/// Opens the store in `store`, checking it belongs to these splits and this teacher.
pub fn open_soft_labels(splits: &Splits, teacher: &Path, store: &Path) -> Result<SoftLabels> {
    SoftLabels::open(store, &provenance(splits, teacher)?)
}

/// Opens the soft-label stores the experiment's objective combines: this run's own (`teacher`,
/// `store`) first, then those of `extra_teachers`, as many as `objective.teacher_weights` has
/// weights. Each is checked against these splits and its teacher.
pub fn open_teacher_stores(
    experiment: &Experiment,
    splits: &Splits,
    teacher: &Path,
    store: &Path,
) -> Result<Vec<SoftLabels>> {
    let mut stores = vec![open_soft_labels(splits, teacher, store)?];
    let wanted = experiment.objective.teacher_weights.len();
    for dir in experiment
        .extra_teachers
        .iter()
        .take(wanted.saturating_sub(1))
    {
        stores.push(open_soft_labels(
            splits,
            &teacher_path(dir),
            &soft_labels_dir(dir),
        )?);
    }
    Ok(stores)
}

/// Checks, before any training, that the first `count − 1` of `extra_teachers` hold a teacher
/// and a soft-label store.
pub fn check_extra_teachers(experiment: &Experiment, count: usize) -> Result<()> {
    for dir in experiment
        .extra_teachers
        .iter()
        .take(count.saturating_sub(1))
    {
        for path in [teacher_path(dir), soft_labels_dir(dir)] {
            if !path.exists() {
                return Err(Error::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "extra_teachers names this teacher, but it is not there (train and record it first)",
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Step 3: trains one student (KD against the stores, or the baseline) with `seed`, into
/// `OUT/student_kd-seedN.safetensors` or `OUT/student_baseline-seedN.safetensors`. `teacher`
/// (weights) is loaded only when the objective runs it online.
pub fn train_student(
    experiment: &Experiment,
    splits: &Splits,
    kind: StudentKind,
    soft_labels: &[SoftLabels],
    teacher: &Path,
    seed: u64,
    opts: &RunOptions,
) -> Result<Trained> {
    let objective = match kind {
        StudentKind::Kd => Objective::new(experiment.objective.clone()),
        StudentKind::Baseline => Objective::hard_labels_only(),
    };
    let stores = if kind == StudentKind::Kd {
        soft_labels
    } else {
        &[]
    };
    let name = format!("{}-seed{seed}", kind.name());
    let weights = student_path(&opts.out, kind, seed);
    train_student_as(
        experiment,
        splits,
        &name,
        &objective,
        StudentInputs {
            soft_labels: stores,
            teacher,
        },
        seed,
        &weights,
        opts,
    )
}

/// Where a student's teacher signal comes from.
#[derive(Clone, Copy)]
pub struct StudentInputs<'a> {
    /// The recorded stores (offline objectives).
    pub soft_labels: &'a [SoftLabels],
    /// The teacher's weights (loaded when the objective runs the teacher online).
    pub teacher: &'a Path,
}

/// Trains the experiment's student with any `objective` under the run name `name`
/// (checkpoints in `OUT/checkpoints/<name>`), and saves it to `weights` with its history.
#[allow(clippy::too_many_arguments)]
pub fn train_student_as(
    experiment: &Experiment,
    splits: &Splits,
    name: &str,
    objective: &Objective,
    inputs: StudentInputs,
    seed: u64,
    weights: &Path,
    opts: &RunOptions,
) -> Result<Trained> {
    let stores: Vec<&SoftLabels> = inputs.soft_labels.iter().collect();
    let teacher = if objective.needs_online_teacher() {
        Some(load_model(
            experiment,
            "teacher",
            splits,
            inputs.teacher,
            &opts.device,
        )?)
    } else {
        None
    };
    let job = TrainJob {
        name,
        model: &experiment.student.model,
        recipe: &experiment.student.train,
        splits,
        objective,
        soft_labels: &stores,
        teacher: teacher.as_ref(),
        teacher_config: Some(&experiment.teacher.model),
        seed,
        // Recorded soft labels belong to unaugmented images; an online teacher sees the same
        // augmented batch as the student.
        augment: objective.config().online,
        checkpoint_dir: &opts.out.join("checkpoints").join(name),
        resume: opts.resume,
        progress: opts.progress,
        stop_after_epochs: opts.stop_after_epochs,
    };
    let trained = train(&job, &opts.device)?;
    save_trained(
        experiment,
        splits,
        &experiment.student.model,
        &trained,
        weights,
    )?;
    Ok(trained)
}

/// Steps 1 and 2 under `opts.out`: trains the teacher and records its soft labels, unless
/// (with `resume`) a teacher and a store that matches it are there already. Adds the seconds
/// spent to `timings`.
pub fn ensure_teacher_and_store(
    experiment: &Experiment,
    splits: &Splits,
    opts: &RunOptions,
    timings: &mut crate::report::Timings,
) -> Result<()> {
    let teacher = teacher_path(&opts.out);
    let t = Instant::now();
    if !(opts.resume && teacher.is_file()) {
        if experiment.teacher.import.is_some() {
            import_teacher(experiment, splits, opts)?;
        } else {
            train_teacher(experiment, splits, opts)?;
        }
    }
    timings.teacher_train_s = t.elapsed().as_secs_f64();
    let store = soft_labels_dir(&opts.out);
    let t = Instant::now();
    if !(opts.resume && open_soft_labels(splits, &teacher, &store).is_ok()) {
        let _ = std::fs::remove_dir_all(&store);
        record_soft_labels(experiment, splits, &teacher, &store, (0, 1), opts)?;
    }
    timings.record_s = t.elapsed().as_secs_f64();
    Ok(())
}

/// Runs every step and writes the report; with `resume`, finished steps are reused.
pub fn run_all(experiment: &Experiment, opts: &RunOptions) -> Result<crate::report::Report> {
    fsutil::create_dir_all(&opts.out)?;
    let resolved = toml::to_string_pretty(experiment).map_err(|e| Error::Report(e.to_string()))?;
    fsutil::write_atomic(
        &opts.out.join("experiment.resolved.toml"),
        resolved.as_bytes(),
    )?;
    let splits = prepare(experiment)?;
    check_extra_teachers(experiment, experiment.objective.teacher_weights.len())?;
    let mut timings = crate::report::Timings::default();
    ensure_teacher_and_store(experiment, &splits, opts, &mut timings)?;
    let stores = open_teacher_stores(
        experiment,
        &splits,
        &teacher_path(&opts.out),
        &soft_labels_dir(&opts.out),
    )?;
    let t = Instant::now();
    for &seed in &experiment.student_seeds {
        for kind in [StudentKind::Kd, StudentKind::Baseline] {
            if !(opts.resume && student_path(&opts.out, kind, seed).is_file()) {
                train_student(
                    experiment,
                    &splits,
                    kind,
                    &stores,
                    &teacher_path(&opts.out),
                    seed,
                    opts,
                )?;
            }
        }
    }
    timings.students_train_s = t.elapsed().as_secs_f64();
    crate::report::compare(experiment, &splits, opts, Some(timings))
}
