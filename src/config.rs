//! The experiment file: data, teacher, student, objective, training and evaluation settings.
//!
//! Parsed from TOML with unknown keys refused, then checked by [`Experiment::validate`] before a
//! single batch runs (T > 0, 0 ≤ α ≤ 1, positive sizes, files named for the chosen format).

use crate::error::{Error, Result};
use crate::models::ModelConfig;
use crate::objective::ObjectiveConfig;
use crate::vocab::TaskKind;
pub use crate::vocab::{AugmentConfig, BadField, Normalize};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// An experiment file of any kind of data: the data section `D`, the teacher section `T` and
/// the student section `S` are the kind's own; seeds, extra teachers, the objective and the
/// evaluation settings are shared (and checked once, [`ExperimentOf::validate_common`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentOf<D, T, S> {
    /// The file it was read from (for error messages; not part of the file).
    #[serde(skip)]
    pub origin: PathBuf,
    /// The kind of data: `"image"` (the default), `"text"` or `"tabular"`.
    #[serde(default)]
    pub task: TaskKind,
    /// Seed of the teacher run, the split and the recording; recorded in every output.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Seeds of the student runs (KD and baseline each run once per seed).
    #[serde(default = "default_student_seeds")]
    pub student_seeds: Vec<u64>,
    /// Where the data come from.
    pub data: D,
    /// The large model.
    pub teacher: T,
    /// The small model.
    pub student: S,
    /// Output folders of other teachers (each holding `teacher.safetensors` and its recorded
    /// `soft_labels/`), relative to the experiment file; `objective.teacher_weights` mixes them
    /// in after this experiment's own teacher.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_teachers: Vec<PathBuf>,
    /// The distillation objective: `"auto"` (the default: objective, T and α chosen on the
    /// validation split by the search its `[tune]` section configures) or an `[objective]`
    /// table set by hand.
    #[serde(
        default = "ObjectiveConfig::auto",
        deserialize_with = "crate::objective::objective_or_auto",
        serialize_with = "crate::objective::serialize_objective"
    )]
    pub objective: ObjectiveConfig,
    /// The search behind `objective = "auto"` (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<crate::tune::TuneConfig>,
    /// How models are measured.
    #[serde(default)]
    pub evaluation: EvalConfig,
    /// How the teacher's soft labels are stored (`[soft_labels]`; dense when absent).
    #[serde(default, skip_serializing_if = "SoftLabelsConfig::is_default")]
    pub soft_labels: SoftLabelsConfig,
}

/// How the teacher's soft labels are stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftLabelsConfig {
    /// Keep only the `top_k` largest logits of each row, their class ids and the log-sum-exp
    /// of the rest (a store that stays small with many classes). Absent: every logit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Where the store is, when not in `OUT/soft_labels`: a folder, or a prefix on object
    /// storage (`s3://bucket/prefix`, `gs://…`, `az://…`, `file://…`). Absent: `OUT/soft_labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl SoftLabelsConfig {
    /// Whether every setting is the default (a dense store in `OUT/soft_labels`).
    pub fn is_default(&self) -> bool {
        self.top_k.is_none() && self.location.is_none()
    }
}

/// Most logits a top-k store keeps per row.
pub const MAX_TOP_K: usize = 1024;

/// An image experiment: IDX files or the built-in subset, an MLP or CNN teacher (trained here
/// or imported), an MLP or CNN student.
pub type Experiment = ExperimentOf<DataConfig, TeacherSection, ModelSection>;

fn default_seed() -> u64 {
    42
}
fn default_student_seeds() -> Vec<u64> {
    vec![1]
}

/// Parses experiment text (any kind), naming `origin` in a parse error, and sets its origin.
pub(crate) fn parse_experiment<D, T, S>(text: &str, origin: &Path) -> Result<ExperimentOf<D, T, S>>
where
    ExperimentOf<D, T, S>: serde::de::DeserializeOwned,
{
    let mut experiment: ExperimentOf<D, T, S> =
        toml::from_str(text).map_err(|e| Error::ConfigParse {
            path: origin.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
    experiment.origin = origin.to_path_buf();
    Ok(experiment)
}

/// Reads an experiment file's text.
pub(crate) fn read_experiment(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

impl<D, T, S> ExperimentOf<D, T, S> {
    /// An error about `field` of this experiment's file.
    pub fn bad_value(&self, field: &str, value: String, reason: &str) -> Error {
        Error::ConfigValue {
            path: self.origin.clone(),
            field: field.to_string(),
            value,
            reason: reason.to_string(),
        }
    }

    /// The checks every kind shares: the `task` key, the seeds, one objective weight per
    /// teacher, the evaluation counts.
    pub fn validate_common(&self, kind: TaskKind, bad: BadField) -> Result<()> {
        if self.task != kind {
            return Err(bad(
                "task",
                format!("{:?}", self.task.name()),
                &format!("this is read as a {} experiment", kind.name()),
            ));
        }
        if self.student_seeds.is_empty() {
            return Err(bad("student_seeds", "[]".into(), "give at least one seed"));
        }
        if let Some(k) = self.soft_labels.top_k {
            crate::limits::within("soft_labels.top_k", k, MAX_TOP_K, bad)?;
        }
        if let Some(location) = &self.soft_labels.location {
            if location.trim().is_empty() {
                return Err(bad(
                    "soft_labels.location",
                    "\"\"".into(),
                    "give a folder or a store URL, or leave the field out",
                ));
            }
            if let Err(e) = crate::soft_labels::StoreLocation::parse(location) {
                let reason = match e {
                    Error::SoftLabels { message, .. } => message,
                    other => other.to_string(),
                };
                return Err(bad(
                    "soft_labels.location",
                    format!("{location:?}"),
                    &reason,
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.student_seeds.iter().enumerate() {
            if !seen.insert(*s) {
                return Err(bad(
                    &format!("student_seeds[{i}]"),
                    s.to_string(),
                    "appears twice: each seed is one run, and a repeated one would count twice in mean ± std",
                ));
            }
        }
        if let Some(tune) = &self.tune {
            if !self.objective.auto {
                return Err(bad(
                    "tune",
                    "[tune]".into(),
                    "the search applies to objective = \"auto\", but this file sets an [objective] table by hand: drop one of them",
                ));
            }
            tune.validate(bad)?;
        }
        let teachers = 1 + self.extra_teachers.len();
        if self.objective.teacher_weights.len() > teachers {
            return Err(bad(
                "objective.teacher_weights",
                format!("{:?}", self.objective.teacher_weights),
                &format!(
                    "one weight per teacher, but there are {teachers} (the teacher and {} extra_teachers)",
                    self.extra_teachers.len()
                ),
            ));
        }
        self.evaluation.validate(bad)
    }

    /// Resolves `extra_teachers` against `base` (the experiment file's folder).
    pub(crate) fn resolve_extra_teachers(&mut self, base: &Path) {
        for dir in &mut self.extra_teachers {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        // A store folder, like every path of the file, is relative to the file.
        if let Some(location) = &mut self.soft_labels.location
            && !location.contains("://")
            && Path::new(location.as_str()).is_relative()
        {
            *location = base.join(location.as_str()).display().to_string();
        }
    }
}

/// Where the data come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `idx` (four IDX files, gzip or raw) or `builtin` (the Fashion-MNIST subset embedded in
    /// the binary).
    pub format: DataFormat,
    /// Folder the four IDX file names are relative to (itself relative to the experiment file).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Training images (IDX3).
    #[serde(default)]
    pub train_images: Option<PathBuf>,
    /// Training labels (IDX1).
    #[serde(default)]
    pub train_labels: Option<PathBuf>,
    /// Held-out images (IDX3).
    #[serde(default)]
    pub test_images: Option<PathBuf>,
    /// Held-out labels (IDX1).
    #[serde(default)]
    pub test_labels: Option<PathBuf>,
    /// Number of classes; labels must lie in `0..num_classes`.
    #[serde(default = "default_num_classes")]
    pub num_classes: usize,
    /// Class names, for reports; defaults to the Fashion-MNIST names when there are 10 classes.
    #[serde(default)]
    pub class_names: Option<Vec<String>>,
    /// Share of the training rows held out (seeded, stratified by class) as the validation
    /// split: the per-epoch curve, the best epoch and the automatic choice of objective, T and
    /// α ([`crate::tune`]) are measured on it, never on the test set. Default 0.1; 0 monitors
    /// the test set (the report then says so, and `[tune]` is refused).
    #[serde(default = "crate::split::default_validation_fraction")]
    pub validation_fraction: f64,
    /// Seed of the validation split (independent of `seed`, so that teachers trained with
    /// other seeds, e.g. for an ensemble, see the same training rows).
    #[serde(default)]
    pub split_seed: u64,
    /// Use only the first N training images (quick experiments).
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// Normalisation; computed from the training images when absent (per channel for colour).
    #[serde(default)]
    pub normalize: Option<Normalize>,
    /// `folder`: the training images, one sub-folder per class (torchvision's `ImageFolder`
    /// layout; `.png`, `.jpg`, `.jpeg`, `.webp`); class names are the sub-folders' names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_dir: Option<PathBuf>,
    /// `folder`: the held-out images, laid out like `train_dir`. Absent: `test_fraction` of
    /// the training images are held out (seeded by `split_seed`, stratified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_dir: Option<PathBuf>,
    /// `folder` without `test_dir`: the share of images held out as the test set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// `folder`: the `[height, width]` every image is brought to (see `resize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<[usize; 2]>,
    /// `folder`: 3 (RGB, the default) or 1 (grey-scale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// `folder`: how an image of another size is brought to `image_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<crate::vocab::Resize>,
    /// `folder`: what an unreadable or corrupt image does: `fail` (the default; the error names
    /// the file) or `skip` (left out, each named in a warning and in the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_bad_image: Option<BadImagePolicy>,
    /// `folder`: keep the decoded images in a cache file (`DISTILL_CACHE_DIR`, else
    /// `~/.cache/distill/images`), so that later runs do not decode again. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// `folder`: where the cache files go instead (relative to the experiment file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// `cifar10` / `cifar100`: the training files (default `data_batch_1.bin` to
    /// `data_batch_5.bin` for CIFAR-10, `train.bin` for CIFAR-100), relative to `dir`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub train_files: Vec<PathBuf>,
    /// `cifar10` / `cifar100`: the test files (default `test_batch.bin` / `test.bin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_files: Vec<PathBuf>,
    /// `cifar100`: `fine` (100 classes, the default) or `coarse` (20 super-classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<CifarLabels>,
    /// Whether the file set `num_classes` (formats that know their classes check it).
    #[serde(skip)]
    pub num_classes_given: bool,
}

/// What a corrupt or unreadable image in an image folder does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadImagePolicy {
    /// Stop with an error naming the file.
    #[default]
    Fail,
    /// Leave it out; it is named in a warning and in the report.
    Skip,
}

/// Which labels of CIFAR-100's files to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CifarLabels {
    /// The 100 fine classes.
    #[default]
    Fine,
    /// The 20 coarse super-classes.
    Coarse,
}

fn default_num_classes() -> usize {
    10
}

/// The data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// IDX files (the MNIST family's format).
    Idx,
    /// The Fashion-MNIST subset embedded in the binary.
    Builtin,
    /// Folders of photos, one sub-folder per class (torchvision's `ImageFolder` layout).
    Folder,
    /// CIFAR-10's binary files (`<1 label byte><3072 pixel bytes>` records).
    Cifar10,
    /// CIFAR-100's binary files (`<coarse byte><fine byte><3072 pixel bytes>` records).
    Cifar100,
}

/// One model: its architecture and how it is trained.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// The architecture.
    pub model: ModelConfig,
    /// The training recipe.
    pub train: TrainConfig,
}

/// The teacher: its architecture, and either a training recipe or weights to import.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherSection {
    /// The architecture.
    pub model: ModelConfig,
    /// The training recipe (when distill trains the teacher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<TrainConfig>,
    /// Weights trained elsewhere (PyTorch or safetensors), instead of training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<crate::models::ImportConfig>,
}

/// A training recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per step.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Decoupled (AdamW) or L2 (SGD, Adam) weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Data augmentation (teacher training; offline KD uses none, since recorded soft labels
    /// belong to unaugmented images).
    #[serde(default)]
    pub augment: AugmentConfig,
}

fn default_batch_size() -> usize {
    128
}

/// The optimiser, picked by `type`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent with momentum.
    Sgd {
        /// Peak learning rate.
        lr: f64,
        /// Momentum factor.
        #[serde(default = "default_momentum")]
        momentum: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
    },
    /// Adam.
    Adam {
        /// Peak learning rate.
        lr: f64,
    },
    /// AdamW (decoupled weight decay).
    Adamw {
        /// Peak learning rate.
        lr: f64,
    },
}

fn default_momentum() -> f64 {
    0.9
}

impl OptimizerConfig {
    /// The peak learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr }
            | OptimizerConfig::Adamw { lr } => *lr,
        }
    }
}

/// The learning-rate schedule, picked by `type`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// The same rate throughout.
    Constant,
    /// Cosine decay from the peak to zero over all steps, after an optional linear warm-up.
    #[default]
    Cosine,
    /// Multiply the rate by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// Multiply the rate by `gamma` at each of these epochs (PyTorch's `MultiStepLR`, as in
    /// RepDistiller's CIFAR-100 recipe: 150, 180, 210 with γ 0.1).
    Multistep {
        /// Epochs (1-based counts of finished epochs) after which the rate decays; increasing.
        milestones: Vec<usize>,
        /// Decay factor.
        gamma: f64,
    },
}

/// How models are measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Timed batch-1 runs for the latency percentiles (after warm-up).
    #[serde(default = "default_latency_runs")]
    pub latency_runs: usize,
    /// Untimed warm-up runs.
    #[serde(default = "default_warmup")]
    pub warmup_runs: usize,
    /// Batch size of the throughput measurement.
    #[serde(default = "default_throughput_batch")]
    pub throughput_batch: usize,
    /// Bins of the expected calibration error.
    #[serde(default = "default_ece_bins")]
    pub ece_bins: usize,
}

fn default_latency_runs() -> usize {
    200
}
fn default_warmup() -> usize {
    20
}
fn default_throughput_batch() -> usize {
    256
}
fn default_ece_bins() -> usize {
    15
}

impl EvalConfig {
    /// Checks the counts, naming the first bad field.
    pub fn validate(&self, bad: BadField) -> Result<()> {
        for (field, value) in [
            ("evaluation.latency_runs", self.latency_runs),
            ("evaluation.throughput_batch", self.throughput_batch),
            ("evaluation.ece_bins", self.ece_bins),
        ] {
            if value == 0 {
                return Err(bad(field, "0".into(), "must be at least 1"));
            }
        }
        use crate::limits::*;
        at_most(
            "evaluation.latency_runs",
            self.latency_runs,
            MAX_LATENCY_RUNS,
            bad,
        )?;
        at_most(
            "evaluation.warmup_runs",
            self.warmup_runs,
            MAX_WARMUP_RUNS,
            bad,
        )?;
        at_most(
            "evaluation.throughput_batch",
            self.throughput_batch,
            MAX_BATCH,
            bad,
        )?;
        at_most("evaluation.ece_bins", self.ece_bins, MAX_ECE_BINS, bad)?;
        Ok(())
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            latency_runs: default_latency_runs(),
            warmup_runs: default_warmup(),
            throughput_batch: default_throughput_batch(),
            ece_bins: default_ece_bins(),
        }
    }
}

/// The names of the ten Fashion-MNIST classes.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

impl Experiment {
    /// Reads, parses and validates an experiment file. Relative data paths are resolved against
    /// the file's folder.
    pub fn load(path: &Path) -> Result<Self> {
        let mut experiment = Self::parse(&read_experiment(path)?, path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        experiment.data.resolve_paths(base);
        if let Some(import) = &mut experiment.teacher.import
            && import.weights.is_relative()
        {
            import.weights = base.join(&import.weights);
        }
        experiment.resolve_extra_teachers(base);
        Ok(experiment)
    }

    /// Parses and validates experiment text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let mut experiment: Experiment = parse_experiment(text, origin)?;
        experiment.data.num_classes_given = text
            .parse::<toml::Table>()
            .ok()
            .and_then(|t| t.get("data")?.get("num_classes").cloned())
            .is_some();
        if !experiment.data.num_classes_given {
            // The class count follows from the format, else from the names given.
            if let Some(k) = experiment.data.known_classes() {
                experiment.data.num_classes = k;
            } else if let Some(names) = &experiment.data.class_names {
                experiment.data.num_classes = names.len();
            }
        }
        experiment.validate()?;
        Ok(experiment)
    }

    /// Checks every value, naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, v: String, r: &str| self.bad_value(f, v, r);
        let bad: BadField = &bad;
        self.validate_common(TaskKind::Image, bad)?;
        self.data.validate(bad)?;
        self.teacher.model.validate("teacher.model", bad)?;
        match (&self.teacher.train, &self.teacher.import) {
            (Some(train), None) => train.validate("teacher.train", bad)?,
            (None, Some(import)) => {
                import.validate("teacher.import", bad)?;
                if let Some(preset) = import.preset
                    && let Err(reason) = preset.check_model(&self.teacher.model)
                {
                    return Err(bad(
                        "teacher.import.preset",
                        format!("\"{}\"", preset.name()),
                        &reason,
                    ));
                }
                if let Some(n) = self.data.normalize
                    && n != import.normalize
                {
                    return Err(bad(
                        "data.normalize",
                        format!("{{ mean = {}, std = {} }}", n.mean, n.std),
                        "differs from teacher.import.normalize: an imported teacher fixes the normalisation (leave data.normalize out)",
                    ));
                }
            }
            (None, None) => {
                return Err(bad(
                    "teacher",
                    "no train, no import".into(),
                    "give [teacher.train] to train the teacher here, or [teacher.import] to load its weights",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(bad(
                    "teacher",
                    "both train and import".into(),
                    "give [teacher.train] or [teacher.import], not both",
                ));
            }
        }
        // A normalisation must give one value, or one per channel of the images.
        let channels = self.data.channels_of_format();
        for (field, n) in [
            ("data.normalize", self.data.normalize),
            (
                "teacher.import.normalize",
                self.teacher.import.as_ref().map(|i| i.normalize),
            ),
        ] {
            if let Some(n) = n
                && let Err(reason) = n.check(channels)
            {
                return Err(bad(
                    field,
                    format!("{{ mean = {}, std = {} }}", n.mean, n.std),
                    &format!(
                        "{reason} (data.format = \"{}\" gives {channels}-channel images)",
                        self.data.format_name()
                    ),
                ));
            }
        }
        self.student.model.validate("student.model", bad)?;
        self.student.train.validate("student.train", bad)?;
        self.objective.validate(self.data.num_classes, bad)
    }

    /// The class names to show in reports.
    pub fn class_names(&self) -> Vec<String> {
        match &self.data.class_names {
            Some(names) => names.clone(),
            None if self.data.num_classes == 10 => FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            None => (0..self.data.num_classes).map(|i| i.to_string()).collect(),
        }
    }
}

impl DataConfig {
    fn validate(&self, bad: BadField) -> Result<()> {
        if self.num_classes < 2 {
            return Err(bad(
                "data.num_classes",
                self.num_classes.to_string(),
                "need at least 2 classes",
            ));
        }
        crate::limits::at_most(
            "data.num_classes",
            self.num_classes,
            crate::limits::MAX_CLASSES,
            bad,
        )?;
        if let Some(names) = &self.class_names {
            crate::vocab::check_unique_names("data.class_names", names, bad)?;
        }
        if let Some(names) = &self.class_names
            && names.len() != self.num_classes
        {
            return Err(bad(
                "data.class_names",
                format!("{} names", names.len()),
                &format!("must give exactly num_classes = {} names", self.num_classes),
            ));
        }
        if !(0.0..0.9).contains(&self.validation_fraction) {
            return Err(bad(
                "data.validation_fraction",
                self.validation_fraction.to_string(),
                "must be in [0, 0.9)",
            ));
        }
        if self.train_limit == Some(0) {
            return Err(bad("data.train_limit", "0".into(), "must be at least 1"));
        }
        if let Some(n) = self.normalize
            && let Err(reason) = n.check(n.mean.as_slice().len().max(n.std.as_slice().len()))
        {
            return Err(bad(
                "data.normalize",
                format!("{{ mean = {}, std = {} }}", n.mean, n.std),
                &reason,
            ));
        }
        self.validate_format(bad)
    }

    /// The format's name in the experiment file.
    pub fn format_name(&self) -> &'static str {
        match self.format {
            DataFormat::Idx => "idx",
            DataFormat::Builtin => "builtin",
            DataFormat::Folder => "folder",
            DataFormat::Cifar10 => "cifar10",
            DataFormat::Cifar100 => "cifar100",
        }
    }

    /// The channels of the images this data gives (IDX and the built-in set are grey).
    pub fn channels_of_format(&self) -> usize {
        match self.format {
            DataFormat::Idx | DataFormat::Builtin => 1,
            DataFormat::Cifar10 | DataFormat::Cifar100 => 3,
            DataFormat::Folder => self.channels.unwrap_or(3),
        }
    }

    /// The fields each format needs, and none it does not use.
    fn validate_format(&self, bad: BadField) -> Result<()> {
        let format = self.format_name();
        let needs = |field: &str, present: bool| -> Result<()> {
            if present {
                Ok(())
            } else {
                Err(bad(
                    field,
                    "missing".into(),
                    &format!("required when data.format = \"{format}\""),
                ))
            }
        };
        let unused = |field: &str, present: bool, value: String| -> Result<()> {
            if present {
                Err(bad(
                    field,
                    value,
                    &format!("not used with data.format = \"{format}\": leave it out"),
                ))
            } else {
                Ok(())
            }
        };
        let idx = matches!(self.format, DataFormat::Idx);
        let folder = matches!(self.format, DataFormat::Folder);
        let cifar = matches!(self.format, DataFormat::Cifar10 | DataFormat::Cifar100);
        for (field, value) in [
            ("data.train_images", &self.train_images),
            ("data.train_labels", &self.train_labels),
            ("data.test_images", &self.test_images),
            ("data.test_labels", &self.test_labels),
        ] {
            if idx {
                needs(field, value.is_some())?;
            } else {
                unused(field, value.is_some(), format!("{value:?}"))?;
            }
        }
        if folder {
            needs("data.train_dir", self.train_dir.is_some())?;
            needs("data.image_size", self.image_size.is_some())?;
        } else {
            for (field, present) in [
                ("data.train_dir", self.train_dir.is_some()),
                ("data.test_dir", self.test_dir.is_some()),
                ("data.test_fraction", self.test_fraction.is_some()),
                ("data.image_size", self.image_size.is_some()),
                ("data.channels", self.channels.is_some()),
                ("data.resize", self.resize.is_some()),
                ("data.on_bad_image", self.on_bad_image.is_some()),
                ("data.cache", self.cache.is_some()),
                ("data.cache_dir", self.cache_dir.is_some()),
            ] {
                unused(field, present, "given".into())?;
            }
        }
        if !cifar {
            unused(
                "data.train_files",
                !self.train_files.is_empty(),
                format!("{:?}", self.train_files),
            )?;
            unused(
                "data.test_files",
                !self.test_files.is_empty(),
                format!("{:?}", self.test_files),
            )?;
        }
        if self.format != DataFormat::Cifar100 {
            unused(
                "data.labels",
                self.labels.is_some(),
                format!("{:?}", self.labels.unwrap_or_default()).to_lowercase(),
            )?;
        }
        if let Some([h, w]) = self.image_size
            && (h == 0 || w == 0 || h.max(w) > crate::limits::MAX_IMAGE_SIDE)
        {
            return Err(bad(
                "data.image_size",
                format!("[{h}, {w}]"),
                &format!("each side must be 1..={}", crate::limits::MAX_IMAGE_SIDE),
            ));
        }
        if let Some(c) = self.channels
            && c != 1
            && c != 3
        {
            return Err(bad(
                "data.channels",
                c.to_string(),
                "must be 3 (RGB) or 1 (grey-scale)",
            ));
        }
        if let Some(f) = self.test_fraction {
            if self.test_dir.is_some() {
                return Err(bad(
                    "data.test_fraction",
                    f.to_string(),
                    "give data.test_dir or data.test_fraction, not both",
                ));
            }
            if !(f > 0.0 && f < 0.9) {
                return Err(bad(
                    "data.test_fraction",
                    f.to_string(),
                    "must be in (0, 0.9)",
                ));
            }
        }
        // Formats that know their classes: a class count in the file must agree.
        if let Some(k) = self.known_classes()
            && self.num_classes != k
            && (self.num_classes_given || self.num_classes != 10)
        {
            return Err(bad(
                "data.num_classes",
                self.num_classes.to_string(),
                &format!("data.format = \"{format}\" has {k} classes"),
            ));
        }
        Ok(())
    }

    /// The number of classes the format fixes before any file is read (CIFAR-100: by
    /// `labels`); folders find theirs on loading.
    pub fn known_classes(&self) -> Option<usize> {
        match self.format {
            DataFormat::Builtin | DataFormat::Cifar10 => Some(10),
            DataFormat::Cifar100 => Some(match self.labels.unwrap_or_default() {
                CifarLabels::Fine => 100,
                CifarLabels::Coarse => 20,
            }),
            DataFormat::Idx | DataFormat::Folder => None,
        }
    }

    /// Resolves `dir` and the four file names against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let dir = match &self.dir {
            Some(d) if d.is_relative() => base.join(d),
            Some(d) => d.clone(),
            None => base.to_path_buf(),
        };
        if matches!(self.format, DataFormat::Cifar10 | DataFormat::Cifar100) {
            let (train, test): (&[&str], &str) = if self.format == DataFormat::Cifar10 {
                (
                    &[
                        "data_batch_1.bin",
                        "data_batch_2.bin",
                        "data_batch_3.bin",
                        "data_batch_4.bin",
                        "data_batch_5.bin",
                    ],
                    "test_batch.bin",
                )
            } else {
                (&["train.bin"], "test.bin")
            };
            if self.train_files.is_empty() {
                self.train_files = train.iter().map(PathBuf::from).collect();
            }
            if self.test_files.is_empty() {
                self.test_files = vec![PathBuf::from(test)];
            }
        }
        for p in [
            &mut self.train_images,
            &mut self.train_labels,
            &mut self.test_images,
            &mut self.test_labels,
            &mut self.train_dir,
            &mut self.test_dir,
            &mut self.cache_dir,
        ]
        .into_iter()
        .flatten()
        .chain(self.train_files.iter_mut())
        .chain(self.test_files.iter_mut())
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        self.dir = None;
    }
}

impl TrainConfig {
    pub(crate) fn validate(&self, prefix: &str, bad: BadField) -> Result<()> {
        use crate::limits::{MAX_BATCH, MAX_EPOCHS, at_most};
        at_most(&format!("{prefix}.epochs"), self.epochs, MAX_EPOCHS, bad)?;
        at_most(
            &format!("{prefix}.batch_size"),
            self.batch_size,
            MAX_BATCH,
            bad,
        )?;
        if self.epochs == 0 {
            return Err(bad(
                &format!("{prefix}.epochs"),
                "0".into(),
                "must be at least 1",
            ));
        }
        if self.batch_size == 0 {
            return Err(bad(
                &format!("{prefix}.batch_size"),
                "0".into(),
                "must be at least 1",
            ));
        }
        let lr = self.optimizer.lr();
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(bad(
                &format!("{prefix}.optimizer.lr"),
                lr.to_string(),
                "must be a positive number",
            ));
        }
        if let OptimizerConfig::Sgd { momentum, .. } = self.optimizer
            && !(0.0..1.0).contains(&momentum)
        {
            return Err(bad(
                &format!("{prefix}.optimizer.momentum"),
                momentum.to_string(),
                "must be in [0, 1)",
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(bad(
                &format!("{prefix}.weight_decay"),
                self.weight_decay.to_string(),
                "must be a non-negative number",
            ));
        }
        if let ScheduleConfig::Multistep { milestones, gamma } = &self.schedule {
            if milestones.is_empty() || milestones.windows(2).any(|w| w[0] >= w[1]) {
                return Err(bad(
                    &format!("{prefix}.schedule.milestones"),
                    format!("{milestones:?}"),
                    "give increasing epochs, at least one",
                ));
            }
            if !(*gamma > 0.0 && *gamma <= 1.0) {
                return Err(bad(
                    &format!("{prefix}.schedule.gamma"),
                    gamma.to_string(),
                    "must be in (0, 1]",
                ));
            }
        }
        if let ScheduleConfig::Step { every, gamma } = self.schedule {
            if every == 0 {
                return Err(bad(
                    &format!("{prefix}.schedule.every"),
                    "0".into(),
                    "must be at least 1",
                ));
            }
            if !(gamma > 0.0 && gamma <= 1.0) {
                return Err(bad(
                    &format!("{prefix}.schedule.gamma"),
                    gamma.to_string(),
                    "must be in (0, 1]",
                ));
            }
        }
        if self.augment.crop_padding > 8 {
            return Err(bad(
                &format!("{prefix}.augment.crop_padding"),
                self.augment.crop_padding.to_string(),
                "must be at most 8 pixels",
            ));
        }
        if let Some(rrc) = &self.augment.random_resized_crop
            && let Err(reason) = rrc.check()
        {
            return Err(bad(
                &format!("{prefix}.augment.random_resized_crop"),
                format!("{rrc:?}"),
                &reason,
            ));
        }
        let views = self.augment.views;
        if views > crate::soft_labels::MAX_VIEWS {
            return Err(bad(
                &format!("{prefix}.augment.views"),
                views.to_string(),
                &format!("at most {} views per image", crate::soft_labels::MAX_VIEWS),
            ));
        }
        if views > 0 && !self.augment.is_active() {
            return Err(bad(
                &format!("{prefix}.augment.views"),
                views.to_string(),
                "views are augmentations: set crop_padding > 0, hflip = true or \
                 random_resized_crop, or views = 0",
            ));
        }
        if views > 0 && prefix.starts_with("teacher") {
            return Err(bad(
                &format!("{prefix}.augment.views"),
                views.to_string(),
                "recorded views are the student's: set them in student.train.augment",
            ));
        }
        Ok(())
    }
}
