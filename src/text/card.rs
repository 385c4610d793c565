//! The card of a text model (`NAME.model.json` beside the weights: architecture, tokenizer
//! file, maximum length, class names). [`crate::predict::TextPredictor`] loads it.

use super::models::TextModelConfig;
use crate::card::ModelCard;
use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a text model's weights file needs to be used on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextModelCard {
    /// Always `"text"`.
    pub task: String,
    /// The architecture.
    pub architecture: TextModelConfig,
    /// The tokenizer file, relative to the weights' folder.
    pub tokenizer: PathBuf,
    /// Tokens per text (longer texts are cut).
    pub max_len: usize,
    /// Entries of the tokenizer's vocabulary (checked on load).
    pub vocab_size: usize,
    /// Class names, one per output.
    pub class_names: Vec<String>,
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

impl TextModelCard {
    /// Writes the card beside `weights` (atomically).
    pub fn save_for(&self, weights: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("card serialises");
        fsutil::write_atomic(&ModelCard::path_for(weights), &json)
    }

    /// Reads the card beside `weights`, refusing an architecture, length or class list the
    /// experiment file would have refused.
    pub fn load_for(weights: &Path) -> Result<Self> {
        let path = ModelCard::path_for(weights);
        let bytes = fsutil::read(&path)?;
        let card: Self = serde_json::from_slice(&bytes).map_err(|e| Error::Weights {
            path: path.clone(),
            message: format!("unreadable text model card: {e}"),
        })?;
        let bad = |field: &str, value: String, reason: &str| Error::ConfigValue {
            path: path.clone(),
            field: field.into(),
            value,
            reason: reason.into(),
        };
        card.architecture.validate("architecture", &bad)?;
        crate::limits::within("max_len", card.max_len, crate::limits::MAX_TOKENS, &bad)?;
        crate::vocab::check_unique_names("class_names", &card.class_names, &bad)?;
        if card.class_names.len() < 2 {
            return Err(bad(
                "class_names",
                format!("{} names", card.class_names.len()),
                "need 2 or more classes",
            ));
        }
        Ok(card)
    }
}
