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
    /// How a photo of another size is brought to `input` (absent: stretched, as grey-scale
    /// cards from before colour images were written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<crate::vocab::Resize>,
    /// The distill version that wrote it.
    pub distill_version: String,
    /// Temperature scaling fitted on the validation split when the model was saved; `distill
    /// predict` divides the logits by its temperature when it is `applied` (else, or absent:
    /// probabilities as the model gives them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::vocab::Calibration>,
    /// What made the model and the checksum of its tensors ([`crate::artefact`]); absent until
    /// the save is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<crate::artefact::Stamp>,
}

impl ModelCard {
    /// The card of a model of `architecture` trained in `experiment` on images of `input`
    /// (`[channels, height, width]`).
    pub fn new(
        experiment: &Experiment,
        architecture: &ModelConfig,
        input: [usize; 3],
        normalize: Normalize,
    ) -> Self {
        ModelCard {
            architecture: architecture.clone(),
            input,
            class_names: experiment.class_names(),
            normalize,
            resize: (experiment.data.format == crate::config::DataFormat::Folder)
                .then(|| experiment.data.resize.unwrap_or_default()),
            distill_version: env!("CARGO_PKG_VERSION").to_string(),
            calibration: None,
            stamp: None,
        }
    }

    /// How photos are brought to the input size: as the training images were, stretched for
    /// cards that do not say.
    pub fn resize_or_default(&self) -> crate::vocab::Resize {
        self.resize.unwrap_or(crate::vocab::Resize::Stretch)
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

    /// Reads the card beside `weights`, refusing values that cannot have been trained with
    /// (a zero or non-finite normalisation, an empty input, no classes).
    pub fn load_for(weights: &Path) -> Result<Self> {
        let path = Self::path_for(weights);
        let bytes = fsutil::read(&path)?;
        let card: Self = serde_json::from_slice(&bytes).map_err(|e| Error::Weights {
            path: path.clone(),
            message: format!("unreadable model card: {e}"),
        })?;
        let bad = |field: &str, value: String, reason: &str| Error::ConfigValue {
            path: path.clone(),
            field: field.into(),
            value,
            reason: reason.into(),
        };
        card.architecture.validate("architecture", &bad)?;
        let n = card.normalize;
        if !n.std.is_positive() {
            return Err(bad(
                "normalize.std",
                n.std.to_string(),
                "must be positive numbers",
            ));
        }
        if !n.mean.is_finite() {
            return Err(bad(
                "normalize.mean",
                n.mean.to_string(),
                "must be finite numbers",
            ));
        }
        let [c, h, w] = card.input;
        if let Err(reason) = n.check(c.max(1)) {
            return Err(bad(
                "normalize",
                format!("{{ mean = {}, std = {} }}", n.mean, n.std),
                &reason,
            ));
        }
        if c == 0
            || h == 0
            || w == 0
            || h > crate::data::idx::MAX_IMAGE_SIDE
            || w > crate::data::idx::MAX_IMAGE_SIDE
            || c > 4
        {
            return Err(bad(
                "input",
                format!("{:?}", card.input),
                "must be [channels 1..=4, height, width] with sides 1..=4096",
            ));
        }
        if card.class_names.len() < 2 || card.class_names.len() > crate::limits::MAX_CLASSES {
            return Err(bad(
                "class_names",
                format!("{} names", card.class_names.len()),
                "need 2 or more classes",
            ));
        }
        Ok(card)
    }
}

/// The card beside `weights` as JSON, with its path (any kind of card).
fn card_json(weights: &Path) -> Result<(PathBuf, serde_json::Value)> {
    let path = ModelCard::path_for(weights);
    let value = serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| Error::Weights {
        path: path.clone(),
        message: format!("unreadable model card: {e}"),
    })?;
    Ok((path, value))
}

/// The kind of model whose card sits beside `weights` (its `task` field; image when absent).
pub fn card_task(weights: &Path) -> Result<TaskKind> {
    let (path, value) = card_json(weights)?;
    match value.get("task") {
        None => Ok(TaskKind::Image),
        Some(t) => serde_json::from_value(t.clone()).map_err(|_| Error::Weights {
            path,
            message: format!("unknown task {t} in the model card"),
        }),
    }
}

/// The temperature scaling held by the card beside `weights` (any kind of card): `None` when it
/// holds none; an error naming the field when its temperature is not a finite number > 0.
pub fn card_calibration(weights: &Path) -> Result<Option<crate::vocab::Calibration>> {
    let (path, value) = card_json(weights)?;
    let Some(c) = value.get("calibration") else {
        return Ok(None);
    };
    let c: crate::vocab::Calibration =
        serde_json::from_value(c.clone()).map_err(|e| Error::Weights {
            path: path.clone(),
            message: format!("unreadable calibration in the model card: {e}"),
        })?;
    check_calibration(&path, &c)?;
    Ok(Some(c))
}

/// Refuses a calibration whose temperature is not a finite number > 0, naming the field of
/// the card at `path`.
fn check_calibration(path: &Path, c: &crate::vocab::Calibration) -> Result<()> {
    if c.temperature.is_finite() && c.temperature > 0.0 {
        return Ok(());
    }
    Err(Error::ConfigValue {
        path: path.to_path_buf(),
        field: "calibration.temperature".into(),
        value: c.temperature.to_string(),
        reason: "must be a finite number > 0".into(),
    })
}

/// The temperature `distill predict` divides the logits of the model beside `weights` by: its
/// card's `calibration` (checked) when it is applied, else 1.
pub fn applied_temperature(
    weights: &Path,
    calibration: &Option<crate::vocab::Calibration>,
) -> Result<f64> {
    match calibration {
        Some(c) => {
            check_calibration(&ModelCard::path_for(weights), c)?;
            Ok(if c.applied { c.temperature } else { 1.0 })
        }
        None => Ok(1.0),
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
    /// Temperature scaling fitted on the validation split when the model was saved; `distill
    /// predict` divides the logits by its temperature when it is `applied` (else, or absent:
    /// probabilities as the model gives them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::vocab::Calibration>,
    /// What made the model and the checksum of its tensors ([`crate::artefact`]); absent until
    /// the save is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<crate::artefact::Stamp>,
}

impl TabularModelCard {
    /// Writes the card beside `weights` (atomically).
    pub fn save_for(&self, weights: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("card serialises");
        fsutil::write_atomic(&ModelCard::path_for(weights), &json)
    }

    /// Reads the card beside `weights`, refusing a standardisation that cannot have been
    /// trained with (zero or non-finite statistics, or as many as the features).
    pub fn load_for(weights: &Path) -> Result<Self> {
        let path = ModelCard::path_for(weights);
        let card: Self =
            serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| Error::Weights {
                path: path.clone(),
                message: format!("unreadable tabular model card: {e}"),
            })?;
        let bad = |field: String, value: String, reason: &str| Error::ConfigValue {
            path: path.clone(),
            field,
            value,
            reason: reason.into(),
        };
        ModelConfig::Mlp(card.architecture.mlp().clone())
            .validate("architecture", &|f, v, r| bad(f.to_string(), v, r))?;
        let s = &card.standardize;
        let features = card.schema.num_features();
        if s.mean.len() != features || s.std.len() != features {
            return Err(bad(
                "standardize".into(),
                format!("{} means, {} stds", s.mean.len(), s.std.len()),
                &format!("the schema encodes {features} features: one of each per feature"),
            ));
        }
        if let Some(i) = s.std.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(bad(
                format!("standardize.std[{i}]"),
                s.std[i].to_string(),
                "must be a positive number",
            ));
        }
        if let Some(i) = s.mean.iter().position(|v| !v.is_finite()) {
            return Err(bad(
                format!("standardize.mean[{i}]"),
                s.mean[i].to_string(),
                "must be a finite number",
            ));
        }
        Ok(card)
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
