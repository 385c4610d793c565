//! Using a trained text model on its own: its card (`NAME.model.json` beside the weights:
//! architecture, tokenizer file, maximum length, class names) and top-k predictions for texts.
//!
//! ```no_run
//! use distill::text::predict::TextPredictor;
//! let student = TextPredictor::load("runs/demo-text/student_kd-seed1.safetensors".as_ref())?;
//! for p in student.predict_texts(&["Claim your FREE prize now".to_string()], 1)? {
//!     println!("{}: {} ({:.1}%)", p.input, p.top[0].name, 100.0 * p.top[0].probability);
//! }
//! # Ok::<(), distill::error::Error>(())
//! ```

use super::models::{TextModel, TextModelConfig};
use super::tokenize::TextTokenizer;
use super::train::{TokenSet, predict_text_logits};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::predict::{Prediction, top_k};
use burn::tensor::Device;
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
}

impl TextModelCard {
    /// Writes the card beside `weights` (atomically).
    pub fn save_for(&self, weights: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("card serialises");
        fsutil::write_atomic(&crate::predict::ModelCard::path_for(weights), &json)
    }

    /// Reads the card beside `weights`.
    pub fn load_for(weights: &Path) -> Result<Self> {
        let path = crate::predict::ModelCard::path_for(weights);
        let bytes = fsutil::read(&path)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Weights {
            path,
            message: format!("unreadable text model card: {e}"),
        })
    }
}

/// True when the card beside `weights` belongs to a text model.
pub fn is_text_model(weights: &Path) -> bool {
    let path = crate::predict::ModelCard::path_for(weights);
    std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("task").and_then(|t| t.as_str()) == Some("text"))
}

/// A loaded text model and its tokenizer, ready to predict.
#[derive(Debug)]
pub struct TextPredictor {
    /// Its card.
    pub card: TextModelCard,
    tokenizer: TextTokenizer,
    model: TextModel,
    device: Device,
}

impl TextPredictor {
    /// Loads `weights`, its card and its tokenizer on the default (CPU) device.
    pub fn load(weights: &Path) -> Result<Self> {
        Self::load_on(weights, crate::default_device())
    }

    /// Loads `weights`, its card and its tokenizer on `device`.
    pub fn load_on(weights: &Path, device: Device) -> Result<Self> {
        let card = TextModelCard::load_for(weights)?;
        let dir = weights.parent().unwrap_or(Path::new(""));
        let tok_path = dir.join(&card.tokenizer);
        let tokenizer = TextTokenizer::from_file(&tok_path, card.max_len)?;
        if tokenizer.vocab_size() != card.vocab_size {
            return Err(Error::Data {
                path: tok_path,
                message: format!(
                    "{} tokens, but the model card says {}: not the tokenizer this model was trained with",
                    tokenizer.vocab_size(),
                    card.vocab_size
                ),
            });
        }
        let model = card
            .architecture
            .init(
                card.vocab_size,
                card.max_len,
                card.class_names.len(),
                &device,
            )?
            .load(weights)?;
        Ok(TextPredictor {
            card,
            tokenizer,
            model: burn::module::Module::valid(&model),
            device,
        })
    }

    /// Top-`k` predictions for `texts`, in order.
    pub fn predict_texts(&self, texts: &[String], k: usize) -> Result<Vec<Prediction>> {
        let set = TokenSet {
            seqs: self.tokenizer.encode_all(texts)?,
            labels: vec![0; texts.len()],
            num_classes: self.card.class_names.len(),
            pad_id: self.tokenizer.pad_id(),
        };
        let logits = predict_text_logits(&self.model, &set, 128, &self.device);
        let c = self.card.class_names.len();
        Ok(logits
            .chunks_exact(c)
            .zip(texts)
            .map(|(row, text)| Prediction {
                input: text.clone(),
                top: top_k(row, &self.card.class_names, k),
            })
            .collect())
    }

    /// Top-`k` predictions for files of texts, one text per non-empty line; each prediction's
    /// input is `FILE[i]` for line `i` (0-based among the texts).
    pub fn predict_files(&self, files: &[PathBuf], k: usize) -> Result<Vec<Prediction>> {
        let mut texts = Vec::new();
        let mut names = Vec::new();
        for file in files {
            let bytes = fsutil::read(file)?;
            let text = String::from_utf8(bytes).map_err(|e| Error::Data {
                path: file.clone(),
                message: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            })?;
            for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
                names.push(format!("{}[{i}]", file.display()));
                texts.push(line.to_string());
            }
        }
        let mut out = self.predict_texts(&texts, k)?;
        for (p, name) in out.iter_mut().zip(names) {
            p.input = name;
        }
        Ok(out)
    }
}
