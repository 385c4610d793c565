//! The seam for the kind of data. A [`Task`] holds an experiment's data-specific parts and
//! nothing else: its splits (loaded, with a fingerprint), how a model of either role is built
//! and described, the preprocessing, the inputs that time inference, and the model card.
//! Everything else (the training loop, recording, the store, evaluation, speed, the
//! comparison, sweeps) is written once in [`crate::pipeline`] and generic over it.
//!
//! Three kinds implement it: [`image::ImageTask`], [`text::TextTask`] and
//! [`tabular::TabularTask`]. [`AnyTask`] is the one place that matches on the kind.

pub mod image;
pub mod tabular;
pub mod text;

use crate::artefact::RunKey;
use crate::classifier::{Classifier, EVAL_BATCH, Rows, feature_shapes};
use crate::config::{EvalConfig, ExperimentOf, TrainConfig};
use crate::data::Splits;
use crate::error::{Error, Result};
use crate::eval::SpeedInputs;
use crate::objective::ObjectiveConfig;
use crate::train::{Trained, save_history};
use crate::vocab::{BadField, Calibration, FeatureShape, Role, TaskKind};
use burn::tensor::Device;
use std::path::{Path, PathBuf};

/// Options shared by the steps of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output folder.
    pub out: PathBuf,
    /// Continue from checkpoints and reuse finished steps.
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

/// The settings every kind of experiment has, whatever its data: seeds, objective, recipes,
/// evaluation. A sweep overrides some of them (the student's epochs).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The experiment file (for error messages).
    pub origin: PathBuf,
    /// Seed of the teacher run, the split and the recording.
    pub seed: u64,
    /// Seeds of the student runs.
    pub student_seeds: Vec<u64>,
    /// The distillation objective of `student_kd`.
    pub objective: ObjectiveConfig,
    /// How models are measured.
    pub evaluation: EvalConfig,
    /// Output folders of other teachers whose stores an ensemble objective mixes in.
    pub extra_teachers: Vec<PathBuf>,
    /// The teacher's recipe (`None` when it is imported).
    pub teacher_train: Option<TrainConfig>,
    /// The students' recipe.
    pub student_train: TrainConfig,
    /// The search that chooses the KD student's objective (`objective = "auto"`), else `None`.
    pub tune: Option<crate::tune::TuneConfig>,
    /// Logits kept per row by a top-k store (`None`: a dense store).
    pub top_k: Option<usize>,
    /// Where the soft-label store is (`[soft_labels] location`; `None`: `OUT/soft_labels`).
    pub store_location: Option<String>,
}

impl Settings {
    /// The shared settings of `experiment`, with the recipes of its two models.
    pub fn of<D, T, S>(
        experiment: &ExperimentOf<D, T, S>,
        teacher_train: Option<TrainConfig>,
        student_train: TrainConfig,
    ) -> Settings {
        Settings {
            origin: experiment.origin.clone(),
            seed: experiment.seed,
            student_seeds: experiment.student_seeds.clone(),
            objective: experiment.objective.clone(),
            evaluation: experiment.evaluation.clone(),
            extra_teachers: experiment.extra_teachers.clone(),
            teacher_train,
            student_train,
            tune: experiment
                .objective
                .auto
                .then(|| experiment.tune.clone().unwrap_or_default()),
            top_k: experiment.soft_labels.top_k,
            store_location: experiment.soft_labels.location.clone(),
        }
    }

    /// An error about `field` of the experiment file.
    pub fn bad_value(&self, field: &str, value: String, reason: &str) -> Error {
        Error::ConfigValue {
            path: self.origin.clone(),
            field: field.to_string(),
            value,
            reason: reason.to_string(),
        }
    }
}

/// One kind of data, loaded for one experiment.
pub trait Task {
    /// A split of its data, as the training loop sees it.
    type Rows: Rows;
    /// Its models.
    type Model: Classifier<Input = <Self::Rows as Rows>::Input>;

    /// Which kind it is.
    fn kind(&self) -> TaskKind;

    /// The settings shared by every kind.
    fn settings(&self) -> &Settings;

    /// The settings, to override (sweeps).
    fn settings_mut(&mut self) -> &mut Settings;

    /// The splits as a model of `role` sees them (text: each role has its own tokenizer).
    fn splits(&self, role: Role) -> &Splits<Self::Rows>;

    /// Class names, label `i` is `class_names()[i]`.
    fn class_names(&self) -> &[String];

    /// A freshly initialised model of `role` on `device` (a pre-trained encoder comes with its
    /// weights).
    fn build(&self, role: Role, device: &Device) -> Result<Self::Model>;

    /// A short description of the architecture of `role`, e.g. `mlp [64]`.
    fn architecture(&self, role: Role) -> String;

    /// The exact architecture of `role` (part of the checkpoints' run keys).
    fn model_key(&self, role: Role) -> String;

    /// The fingerprint of the training data a soft-label store is tied to.
    fn data_fingerprint(&self) -> String;

    /// The fingerprint of the test data the report is measured on.
    fn eval_fingerprint(&self) -> String;

    /// The teacher's input preprocessing, as recorded in a store's provenance and the report.
    fn preprocessing(&self) -> String;

    /// Writes the card of a model of `role` beside `weights`, so that it can be used on its
    /// own (`distill predict`, `distill export`), with its temperature scaling when one was
    /// fitted ([`calibrate`]).
    fn save_card(&self, role: Role, weights: &Path, calibration: Option<Calibration>)
    -> Result<()>;

    /// The inputs that time a model of `role`: one sample, and batches of about `batch`.
    fn speed_inputs(
        &self,
        role: Role,
        batch: usize,
        device: &Device,
    ) -> SpeedInputs<<Self::Rows as Rows>::Input>;

    /// Rows per forward pass while recording soft labels.
    fn record_batch(&self) -> usize {
        512
    }

    /// The resolved experiment as JSON (report) and TOML (`experiment.resolved.toml`).
    fn config_json(&self) -> Result<serde_json::Value>;

    /// The resolved experiment as TOML.
    fn resolved_toml(&self) -> Result<String>;

    /// Trains the teacher its own way when the kind of data has one (a pre-trained text
    /// encoder: a linear probe on frozen embeddings, then fine-tuning), saving it with its card
    /// and history. `None`: the pipeline trains it with the one loop. `Some(logits)`: done, and
    /// the teacher's logits on the training rows when they were computed on the way.
    fn train_teacher_own_way(&self, _opts: &RunOptions) -> Result<Option<Option<Vec<f32>>>> {
        Ok(None)
    }

    /// Imports the teacher (`[teacher.import]`) when the experiment declares one; `false` when
    /// it trains its teacher.
    fn import_teacher(&self, _opts: &RunOptions) -> Result<bool> {
        Ok(false)
    }

    /// What reading the data left out or changed, one line each, for the report (e.g. the
    /// unreadable images an image folder skipped).
    fn data_notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// A line describing the data, printed before a run.
    fn describe_data(&self) -> String {
        let s = self.splits(Role::Student);
        format!(
            "{} data: {} train, {} validation, {} test {}, {} classes",
            self.kind().name(),
            s.train.len(),
            s.validation.as_ref().map_or(0, |v| v.len()),
            s.test.len(),
            self.kind().unit(),
            self.class_names().len()
        )
    }
}

/// Saves a trained model of `role` to `weights` with its history and card (with the temperature
/// scaling fitted on the validation split, [`calibrate`]), and seals the card with `key` ([`crate::artefact::seal`]): the last write, which makes the model complete.
pub fn save_trained<T: Task + ?Sized>(
    task: &T,
    role: Role,
    trained: &Trained<T::Model>,
    weights: &Path,
    key: &RunKey,
    device: &Device,
) -> Result<()> {
    trained.model.save(weights)?;
    save_history(weights, &trained.history)?;
    // The loop's last evaluation was on the validation split (the monitor, when there is one).
    let logits = trained.monitor_logits.as_deref();
    task.save_card(
        role,
        weights,
        calibrate(task, role, &trained.model, logits, device),
    )?;
    crate::artefact::seal(weights, key)?;
    Ok(())
}

/// The temperature scaling of `model` (of `role`), fitted on the role's validation split
/// ([`crate::eval::calibration`]) from its `logits` there when the caller has them, else from a
/// prediction pass; `None` without a validation split, or when the fit lies at a bound (the
/// split is separated perfectly).
pub fn calibrate<T: Task + ?Sized>(
    task: &T,
    role: Role,
    model: &T::Model,
    logits: Option<&[f32]>,
    device: &Device,
) -> Option<Calibration> {
    let validation = task.splits(role).validation.as_ref()?;
    let predicted;
    let logits = match logits {
        Some(l) if l.len() == validation.len() * validation.num_classes() => l,
        _ => {
            predicted = crate::classifier::predict_logits(model, validation, EVAL_BATCH, device);
            &predicted
        }
    };
    crate::eval::calibration::calibrate(
        logits,
        validation.labels(),
        validation.num_classes(),
        task.settings().evaluation.ece_bins,
        format!(
            "validation split, {} {}",
            validation.len(),
            task.kind().unit()
        ),
    )
}

/// Refuses `[soft_labels] top_k` of `classes` or more (known once the data are read), before
/// anything is trained.
pub fn check_top_k(settings: &Settings, classes: usize) -> Result<()> {
    match settings.top_k {
        Some(k) if k >= classes => Err(settings.bad_value(
            "soft_labels.top_k",
            k.to_string(),
            &format!(
                "the data have {classes} classes: a top-k store keeps fewer logits than that (leave it out for a dense store)"
            ),
        )),
        Some(k) => {
            // 6K + 4 bytes a row against 2 a class: with few classes a top-k store is no smaller.
            if 6 * k + 4 >= 2 * classes {
                eprintln!(
                    "warning: soft_labels.top_k = {k} of {classes} classes stores {} bytes a row, \
                     a dense store {}: top-k pays with many classes; leave it out here",
                    6 * k + 4,
                    2 * classes
                );
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// Refuses a model of `role` whose estimated memory (training with its recipe's batch, or
/// running on the largest evaluation or recording batch) exceeds what is available.
pub fn check_memory(
    settings: &Settings,
    role: Role,
    estimate: crate::limits::MemoryEstimate,
) -> Result<()> {
    let recipe = match role {
        Role::Teacher => settings.teacher_train.as_ref(),
        Role::Student => Some(&settings.student_train),
    };
    let batch = recipe.map_or(1, |r| r.batch_size);
    let eval_batch = settings
        .evaluation
        .throughput_batch
        .max(crate::classifier::EVAL_BATCH)
        .max(512);
    crate::limits::check_memory(
        role.name(),
        &format!("{}.model", role.name()),
        estimate,
        (batch, eval_batch),
        &|f, v, r| settings.bad_value(f, v, r),
    )
}

/// The parts of a run key every model of `role` has: the kind, the architecture, the training
/// rows, the preprocessing and the distill version.
fn base_key<T: Task + ?Sized>(task: &T, role: Role) -> RunKey {
    RunKey::new()
        .part("kind", task.kind().name())
        .part("model", task.model_key(role))
        .part("training data", task.splits(role).train.fingerprint())
        .part("preprocessing", task.preprocessing())
        .part("distill version", env!("CARGO_PKG_VERSION"))
}

/// The run key of the teacher this experiment trains or imports: its section of the
/// experiment (recipe or import) and the seed, besides the common parts.
pub fn teacher_key<T: Task + ?Sized>(task: &T) -> Result<RunKey> {
    let teacher = task
        .config_json()?
        .get("teacher")
        .cloned()
        .unwrap_or_default();
    Ok(base_key(task, Role::Teacher)
        .part("teacher section", teacher.to_string())
        .part("seed", task.settings().seed.to_string()))
}

/// The run key of a student trained with `objective` and `recipe` from `seed`; `teachers` names
/// what its teacher signal came from (the stores' provenance, an online teacher's tensors),
/// empty for a student trained without a teacher.
pub fn student_key<T: Task + ?Sized>(
    task: &T,
    objective: &crate::objective::Objective,
    recipe: &TrainConfig,
    seed: u64,
    teachers: &[String],
) -> RunKey {
    base_key(task, Role::Student)
        .part("objective", format!("{:?}", objective.config()))
        .part("recipe", format!("{recipe:?}"))
        .part("seed", seed.to_string())
        .part("soft labels", teachers.join("|"))
}

/// Checks the layers the objective's feature terms name against the two models of `task`
/// (built on the CPU and run on two training rows) and returns, for each hint term, the
/// (student, teacher) feature shapes its connector bridges. Nothing is built when the
/// objective has no feature term.
pub fn feature_pairs<T: Task + ?Sized>(
    task: &T,
    objective: &ObjectiveConfig,
    bad: BadField,
) -> Result<Vec<(FeatureShape, FeatureShape)>> {
    if !objective.terms.iter().any(|t| t.layers().is_some()) {
        return Ok(Vec::new());
    }
    let device = Device::flex();
    let shapes = |role: Role| -> Result<Vec<(String, FeatureShape)>> {
        let model = task.build(role, &device)?;
        let train = &task.splits(role).train;
        let rows = [0, 1.min(train.len().saturating_sub(1))];
        Ok(feature_shapes(&model, train.inputs(&rows, None, &device)))
    };
    objective.feature_pairs(&shapes(Role::Student)?, &shapes(Role::Teacher)?, bad)
}

/// A loaded task of any kind: the one place that matches on the kind of data
/// ([`with_task!`](crate::with_task) runs generic code on whichever it is).
#[allow(clippy::large_enum_variant)] // one task per process
pub enum AnyTask {
    /// Images.
    Image(image::ImageTask),
    /// Texts.
    Text(text::TextTask),
    /// Feature rows.
    Tabular(tabular::TabularTask),
}

impl AnyTask {
    /// Reads the experiment file at `path`, and loads its data. A text task keeps its
    /// tokenizers in `out`: built anew when `fresh`, else read from there when present.
    pub fn load(path: &Path, out: &Path, fresh: bool) -> Result<AnyTask> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok(match task_kind_of(&text, path)? {
            TaskKind::Image => AnyTask::Image(image::ImageTask::new(
                crate::config::Experiment::load(path)?,
            )?),
            TaskKind::Text => AnyTask::Text(text::TextTask::new(
                crate::text::config::TextExperiment::load(path)?,
                out,
                fresh,
            )?),
            TaskKind::Tabular => AnyTask::Tabular(tabular::TabularTask::new(
                crate::tabular::TabularExperiment::load(path)?,
            )?),
        })
    }

    /// The same from experiment text already in memory (built-in demos); `origin` names it.
    pub fn parse(text: &str, origin: &Path, out: &Path, fresh: bool) -> Result<AnyTask> {
        Ok(match task_kind_of(text, origin)? {
            TaskKind::Image => AnyTask::Image(image::ImageTask::new(
                crate::config::Experiment::parse(text, origin)?,
            )?),
            TaskKind::Text => AnyTask::Text(text::TextTask::new(
                crate::text::config::TextExperiment::parse(text, origin)?,
                out,
                fresh,
            )?),
            TaskKind::Tabular => AnyTask::Tabular(tabular::TabularTask::new(
                crate::tabular::TabularExperiment::parse(text, origin)?,
            )?),
        })
    }

    /// Which kind it is.
    pub fn kind(&self) -> TaskKind {
        crate::with_task!(self, t => t.kind())
    }
}

/// Reads the `task` key of an experiment file's text (`image` when absent).
pub fn task_kind_of(text: &str, origin: &Path) -> Result<TaskKind> {
    let table: toml::Table = toml::from_str(text).map_err(|e| Error::ConfigParse {
        path: origin.to_path_buf(),
        message: e.to_string().trim_end().replace('\n', " "),
    })?;
    match table.get("task") {
        None => Ok(TaskKind::Image),
        Some(v) => match v.as_str() {
            Some("image") => Ok(TaskKind::Image),
            Some("text") => Ok(TaskKind::Text),
            Some("tabular") => Ok(TaskKind::Tabular),
            _ => Err(Error::ConfigValue {
                path: origin.to_path_buf(),
                field: "task".into(),
                value: v.to_string(),
                reason: "expected \"image\", \"text\" or \"tabular\"".into(),
            }),
        },
    }
}

/// Runs `$body` with `$t` bound to the concrete task inside an [`AnyTask`] (by reference when
/// given a reference): generic pipeline code, written once, instantiated for each kind.
#[macro_export]
macro_rules! with_task {
    ($any:expr, $t:ident => $body:expr) => {
        match $any {
            $crate::task::AnyTask::Image($t) => $body,
            $crate::task::AnyTask::Text($t) => $body,
            $crate::task::AnyTask::Tabular($t) => $body,
        }
    };
}
