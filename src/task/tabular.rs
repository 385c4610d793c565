//! Tabular data: CSV/TSV rows of numeric and one-hot categorical features, standardised with
//! the training rows' means and standard deviations, MLP teacher and student. The whole kind is
//! this file, [`crate::tabular`] (the experiment file, the CSV reader, the rows) and its card.

use super::{Settings, Task};
use crate::card::{TabularModelCard, standardized};
use crate::classifier::Rows;
use crate::data::Splits;
use crate::error::{Error, Result};
use crate::eval::SpeedInputs;
use crate::fsutil;
use crate::models::Mlp;
use crate::tabular::data::{read_training, read_with_schema};
use crate::tabular::{
    FeatureRows, ReadOptions, Schema, Standardize, TabularExperiment, TabularModelConfig,
};
use crate::vocab::{Role, TaskKind};
use burn::prelude::*;
use std::path::Path;

/// A tabular experiment with its rows read, encoded and standardised.
#[derive(Debug, Clone)]
pub struct TabularTask {
    /// The experiment file.
    pub experiment: TabularExperiment,
    /// How rows are encoded (columns, category levels, classes).
    pub schema: Schema,
    /// The standardisation of the training rows.
    pub standardize: Standardize,
    /// The standardised rows.
    pub rows: Splits<FeatureRows>,
    fingerprint: String,
    eval_fingerprint: String,
    settings: Settings,
}

impl TabularTask {
    /// Reads the training file (which fixes the schema) and the test file, applies
    /// `train_limit`, holds out the stratified validation split, and standardises every split
    /// with the remaining training rows' statistics.
    pub fn new(experiment: TabularExperiment) -> Result<Self> {
        let d = &experiment.data;
        let opts = ReadOptions {
            label: &d.label,
            categorical: &d.categorical,
            ignore: &d.ignore,
            classes: d.classes.as_deref(),
            delimiter: None,
        };
        let (mut train, schema) = read_training(&d.train, &opts)?;
        let test = read_with_schema(&d.test, &schema, None, true)?;
        experiment
            .objective
            .validate(schema.class_names.len(), &|f, v, r| {
                experiment.bad_value(f, v, r)
            })?;
        if let Some(n) = d.train_limit
            && n < train.len()
        {
            train = train.subset(&(0..n).collect::<Vec<_>>());
        }
        let validation = if d.validation_fraction > 0.0 {
            let (rest, held) = train.split_stratified(d.validation_fraction, d.split_seed);
            train = rest;
            Some(held)
        } else {
            None
        };
        super::check_top_k(
            &Settings::of(
                &experiment,
                Some(experiment.teacher.train.clone()),
                experiment.student.train.clone(),
            ),
            schema.class_names.len(),
        )?;
        for (role, section) in [
            (Role::Teacher, &experiment.teacher),
            (Role::Student, &experiment.student),
        ] {
            let mut estimate = crate::limits::MemoryEstimate::default();
            estimate.dense_stack(
                schema.num_features(),
                &section.model.mlp().hidden,
                schema.class_names.len(),
            );
            let recipes = Settings::of(
                &experiment,
                Some(experiment.teacher.train.clone()),
                experiment.student.train.clone(),
            );
            super::check_memory(&recipes, role, estimate)?;
        }
        let standardize = Standardize::of(&train);
        let rows = Splits {
            train: standardized(&train, &standardize),
            validation: validation.as_ref().map(|v| standardized(v, &standardize)),
            test: standardized(&test, &standardize),
        };
        let settings = Settings::of(
            &experiment,
            Some(experiment.teacher.train.clone()),
            experiment.student.train.clone(),
        );
        let task = TabularTask {
            fingerprint: train.fingerprint(),
            eval_fingerprint: test.fingerprint(),
            experiment,
            schema,
            standardize,
            rows,
            settings,
        };
        super::feature_pairs(&task, &task.settings.objective, &|f, v, r| {
            task.settings.bad_value(f, v, r)
        })?;
        Ok(task)
    }

    fn config(&self, role: Role) -> &TabularModelConfig {
        match role {
            Role::Teacher => &self.experiment.teacher.model,
            Role::Student => &self.experiment.student.model,
        }
    }
}

impl Task for TabularTask {
    type Rows = FeatureRows;
    type Model = Mlp;

    fn kind(&self) -> TaskKind {
        TaskKind::Tabular
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    fn splits(&self, _role: Role) -> &Splits<FeatureRows> {
        &self.rows
    }

    fn class_names(&self) -> &[String] {
        &self.schema.class_names
    }

    fn build(&self, role: Role, device: &Device) -> Result<Mlp> {
        Ok(self.config(role).mlp().init(
            self.schema.num_features(),
            self.schema.class_names.len(),
            device,
        ))
    }

    fn architecture(&self, role: Role) -> String {
        self.config(role).describe()
    }

    fn model_key(&self, role: Role) -> String {
        format!("{:?}", self.config(role))
    }

    fn data_fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn eval_fingerprint(&self) -> String {
        self.eval_fingerprint.clone()
    }

    fn preprocessing(&self) -> String {
        let json = serde_json::to_vec(&(&self.schema, &self.standardize)).expect("serialises");
        format!(
            "tabular: {} columns -> {} features, standardised (schema and statistics sha256 {})",
            self.schema.columns.len(),
            self.schema.num_features(),
            &fsutil::sha256_hex(&json)[..16]
        )
    }

    fn save_card(
        &self,
        role: Role,
        weights: &Path,
        calibration: Option<crate::vocab::Calibration>,
    ) -> Result<()> {
        let card = TabularModelCard {
            task: TaskKind::Tabular,
            architecture: self.config(role).clone(),
            schema: self.schema.clone(),
            standardize: self.standardize.clone(),
            distill_version: env!("CARGO_PKG_VERSION").to_string(),
            calibration,
            stamp: None,
        };
        card.save_for(weights)
    }

    /// The first test row for latency; the first `batch` test rows for throughput.
    fn speed_inputs(&self, _role: Role, batch: usize, device: &Device) -> SpeedInputs<Tensor<2>> {
        let test = &self.rows.test;
        let n = batch.min(test.len()).max(1);
        let rows: Vec<usize> = (0..n).map(|i| i % test.len().max(1)).collect();
        SpeedInputs {
            one: test.inputs(&rows[..1], None, device),
            batches: vec![(test.inputs(&rows, None, device), n)],
            batch: n,
        }
    }

    fn config_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.experiment).map_err(|e| Error::Report(e.to_string()))
    }

    fn resolved_toml(&self) -> Result<String> {
        toml::to_string_pretty(&self.experiment).map_err(|e| Error::Report(e.to_string()))
    }
}
