//! Tabular classification: CSV/TSV files of numeric and categorical features with a label
//! column ([`data`]), standardised with the training rows' statistics ([`Standardize`], kept in
//! the model card), MLP teacher and student, configured by a `task = "tabular"` experiment
//! ([`TabularExperiment`]). The pipeline is the one every kind of data uses
//! ([`crate::task::tabular::TabularTask`]).

pub mod data;
mod rows;

pub use data::{Column, ReadOptions, Schema, Standardize, TabularDataset};
pub use rows::FeatureRows;

use crate::config::{ExperimentOf, TrainConfig, parse_experiment, read_experiment};
use crate::error::Result;
use crate::models::{MlpConfig, ModelConfig};
use crate::vocab::{BadField, TaskKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A tabular experiment, as read from a TOML file (`task = "tabular"`): the shared sections
/// ([`ExperimentOf`]) with CSV data and MLP models.
pub type TabularExperiment =
    ExperimentOf<TabularDataConfig, TabularModelSection, TabularModelSection>;

/// Which files, which columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabularDataConfig {
    /// Training file (CSV, or TSV for `.tsv`/`.tab`; relative to the experiment file).
    pub train: PathBuf,
    /// Test file, with the same columns.
    pub test: PathBuf,
    /// The label column.
    pub label: String,
    /// Columns to one-hot encode even if they hold numbers (codes); text columns always are.
    #[serde(default)]
    pub categorical: Vec<String>,
    /// Columns to leave out (identifiers).
    #[serde(default)]
    pub ignore: Vec<String>,
    /// The classes in label order (default: the training file's labels, sorted).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
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
    /// Use only the first N training rows.
    #[serde(default)]
    pub train_limit: Option<usize>,
}

/// A tabular architecture, picked by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TabularModelConfig {
    /// A multi-layer perceptron over the standardised features.
    Mlp(MlpConfig),
}

impl TabularModelConfig {
    /// The MLP configuration.
    pub fn mlp(&self) -> &MlpConfig {
        match self {
            TabularModelConfig::Mlp(m) => m,
        }
    }

    /// A short description, e.g. `mlp [64]`.
    pub fn describe(&self) -> String {
        ModelConfig::Mlp(self.mlp().clone()).describe()
    }
}

/// One model: its architecture and recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabularModelSection {
    /// The architecture.
    pub model: TabularModelConfig,
    /// The training recipe.
    pub train: TrainConfig,
}

impl TabularExperiment {
    /// Reads, resolves the data paths against the file's folder, and validates.
    pub fn load(path: &Path) -> Result<Self> {
        let mut experiment = Self::parse(&read_experiment(path)?, path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [&mut experiment.data.train, &mut experiment.data.test] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        experiment.resolve_extra_teachers(base);
        Ok(experiment)
    }

    /// Parses and validates experiment text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let experiment: TabularExperiment = parse_experiment(text, origin)?;
        experiment.validate()?;
        Ok(experiment)
    }

    /// Checks every field that can be checked without reading the data.
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, v: String, r: &str| self.bad_value(f, v, r);
        let bad: BadField = &bad;
        self.validate_common(TaskKind::Tabular, bad)?;
        let d = &self.data;
        if !(0.0..0.9).contains(&d.validation_fraction) {
            return Err(bad(
                "data.validation_fraction",
                d.validation_fraction.to_string(),
                "must be in [0, 0.9)",
            ));
        }
        if let Some(classes) = &d.classes {
            crate::vocab::check_unique_names("data.classes", classes, bad)?;
        }
        if d.train_limit == Some(0) {
            return Err(bad("data.train_limit", "0".into(), "must be at least 1"));
        }
        for (name, section) in [("teacher", &self.teacher), ("student", &self.student)] {
            ModelConfig::Mlp(section.model.mlp().clone())
                .validate(&format!("{name}.model"), bad)?;
            section.train.validate(&format!("{name}.train"), bad)?;
            if section.train.augment.is_active() || section.train.augment.views > 0 {
                return Err(bad(
                    &format!("{name}.train.augment"),
                    format!("{:?}", section.train.augment),
                    "tabular rows are not augmented: remove it",
                ));
            }
        }
        let classes = d.classes.as_ref().map_or(usize::MAX, |c| c.len());
        self.objective.validate(classes, bad)
    }
}
