//! Model cards: what a weights file needs to be used on its own, saved beside it as
//! `NAME.model.json`. Image and tabular cards live here; the text card
//! ([`crate::text::card::TextModelCard`]) names its tokenizer file too. A card's `task`
//! field says which kind it is (absent: an image card, as written before there were kinds).

use crate::config::Experiment;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::models::{Mlp, Model, ModelConfig};
use crate::tabular::data::read_with_schema;
use crate::tabular::{FeatureRows, Schema, Standardize, TabularDataset, TabularModelConfig};
use crate::vocab::{Normalize, TaskKind};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a weights file needs to be used on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// The architecture.
    pub architecture: ModelConfig,
    /// Input `[channels, height, width]`.
    pub input: [usize; 3],
    /// Class names, one per output.
    pub class_names: Vec<String>,
    /// The pixel normalisation the model was trained with: `(x / 255 − mean) / std`.
    pub normalize: Normalize,
    /// The distill version that wrote it.
    pub distill_version: String,
}

impl ModelCard {
    /// The card of a model of `architecture` trained in `experiment` on images of `h × w`.
    pub fn new(
        experiment: &Experiment,
        architecture: &ModelConfig,
        h: usize,
        w: usize,
        normalize: Normalize,
    ) -> Self {
        ModelCard {
            architecture: architecture.clone(),
            input: [1, h, w],
            class_names: experiment.class_names(),
            normalize,
            distill_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Where the card of `weights` lives: `NAME.model.json` beside `NAME.safetensors`.
    pub fn path_for(weights: &Path) -> PathBuf {
        weights.with_extension("model.json")
    }

    /// Writes the card beside `weights` (atomically).
    pub fn save_for(&self, weights: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("card serialises");
        fsutil::write_atomic(&Self::path_for(weights), &json)
    }

    /// The model of this card's architecture with `weights` loaded, on `device`.
    pub fn load_model(&self, weights: &Path, device: &Device) -> Result<Model> {
        self.architecture
            .init(self.input, self.class_names.len(), device)
            .load(weights)
    }

    /// Reads the card beside `weights`.
    pub fn load_for(weights: &Path) -> Result<Self> {
        let path = Self::path_for(weights);
        let bytes = fsutil::read(&path)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Weights {
            path,
            message: format!("unreadable model card: {e}"),
        })
    }
}

/// The kind of model whose card sits beside `weights` (its `task` field; image when absent).
pub fn card_task(weights: &Path) -> Result<TaskKind> {
    let path = ModelCard::path_for(weights);
    let value: serde_json::Value =
        serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| Error::Weights {
            path: path.clone(),
            message: format!("unreadable model card: {e}"),
        })?;
    match value.get("task") {
        None => Ok(TaskKind::Image),
        Some(t) => serde_json::from_value(t.clone()).map_err(|_| Error::Weights {
            path,
            message: format!("unknown task {t} in the model card"),
        }),
    }
}

/// What a tabular model's weights need to be used on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TabularModelCard {
    /// Always `tabular`.
    pub task: TaskKind,
    /// The architecture.
    pub architecture: TabularModelConfig,
    /// How a CSV row is encoded.
    pub schema: Schema,
    /// The standardisation applied after encoding.
    pub standardize: Standardize,
    /// The distill version that wrote it.
    pub distill_version: String,
}

impl TabularModelCard {
    /// Writes the card beside `weights` (atomically).
    pub fn save_for(&self, weights: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("card serialises");
        fsutil::write_atomic(&ModelCard::path_for(weights), &json)
    }

    /// Reads the card beside `weights`.
    pub fn load_for(weights: &Path) -> Result<Self> {
        let path = ModelCard::path_for(weights);
        serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| Error::Weights {
            path,
            message: format!("unreadable tabular model card: {e}"),
        })
    }

    /// The model of this card with `weights` loaded, in evaluation mode.
    pub fn load_model(&self, weights: &Path, device: &Device) -> Result<Mlp> {
        use crate::classifier::Classifier;
        let model = self.architecture.mlp().init(
            self.schema.num_features(),
            self.schema.class_names.len(),
            device,
        );
        Ok(burn::module::Module::valid(&model.load(weights)?))
    }

    /// The encoded, standardised rows of a CSV file (labels are read when `labelled`).
    pub fn read_rows(&self, path: &Path, labelled: bool) -> Result<FeatureRows> {
        let data = read_with_schema(path, &self.schema, None, labelled)?;
        Ok(standardized(&data, &self.standardize))
    }
}

/// `data` standardised with `s`.
pub fn standardized(data: &TabularDataset, s: &Standardize) -> FeatureRows {
    let d = data.num_features;
    let mut features = vec![0f32; data.len() * d];
    for i in 0..data.len() {
        s.apply_into(data.row(i), &mut features[i * d..(i + 1) * d]);
    }
    FeatureRows {
        features,
        dim: d,
        labels: data.labels.clone(),
        num_classes: data.num_classes,
    }
}
