//! Using a trained model: its card (architecture, input shape, normalisation, class names,
//! saved next to the weights as `NAME.model.json`) and top-k predictions on images, IDX or CSV
//! batches, or raw pixels.
//!
//! ```no_run
//! use distill::predict::Predictor;
//! let student = Predictor::load("runs/demo/student_kd-seed1.safetensors".as_ref())?;
//! for p in student.predict_files(&["shirt.png".into()], 3)? {
//!     println!("{}: {} ({:.1}%)", p.input, p.top[0].name, 100.0 * p.top[0].probability);
//! }
//! # Ok::<(), distill::error::Error>(())
//! ```

use crate::config::{Experiment, Normalize};
use crate::data::ImageDataset;
use crate::data::idx::read_idx;
use crate::error::{Error, Result};
use crate::eval::predict_logits;
use crate::fsutil;
use crate::models::{Model, ModelConfig};
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

/// One class and its probability.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassScore {
    /// Class index.
    pub class: usize,
    /// Class name.
    pub name: String,
    /// Softmax probability.
    pub probability: f64,
}

/// The top-k classes of one input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// The input: a file name, or `FILE[i]` for row `i` of a batch file.
    pub input: String,
    /// The k most probable classes, most probable first.
    pub top: Vec<ClassScore>,
}

/// A loaded model, ready to predict.
#[derive(Debug)]
pub struct Predictor {
    /// Its card.
    pub card: ModelCard,
    model: Model,
    device: Device,
}

impl Predictor {
    /// Loads `weights` and the card beside it, on the default (CPU) device.
    pub fn load(weights: &Path) -> Result<Self> {
        Self::load_on(weights, crate::default_device())
    }

    /// Loads `weights` and its card on `device`.
    pub fn load_on(weights: &Path, device: Device) -> Result<Self> {
        let card = ModelCard::load_for(weights)?;
        let model = card.load_model(weights, &device)?;
        Ok(Predictor {
            card,
            model: burn::module::Module::valid(&model),
            device,
        })
    }

    /// Top-`k` predictions for `n` images of raw 8-bit pixels (`n × h × w`, row-major, the
    /// card's size).
    pub fn predict_pixels(&self, pixels: &[u8], names: &[String], k: usize) -> Vec<Prediction> {
        let [_, h, w] = self.card.input;
        let n = pixels.len() / (h * w);
        let data = ImageDataset {
            images: pixels[..n * h * w].to_vec(),
            labels: vec![0; n],
            height: h,
            width: w,
            num_classes: self.card.class_names.len(),
        };
        let logits = predict_logits(&self.model, &data, self.card.normalize, 256, &self.device);
        let c = self.card.class_names.len();
        logits
            .chunks_exact(c)
            .zip(names)
            .map(|(row, name)| Prediction {
                input: name.clone(),
                top: top_k(row, &self.card.class_names, k),
            })
            .collect()
    }

    /// Top-`k` predictions for files: PNG / JPEG images (converted to grayscale and resized to
    /// the card's size), IDX image files (`.idx`, `-ubyte`, optionally `.gz`; one prediction per
    /// image) or CSV files (one image per line, `h·w` pixel values 0–255).
    pub fn predict_files(&self, files: &[PathBuf], k: usize) -> Result<Vec<Prediction>> {
        let [_, h, w] = self.card.input;
        let mut pixels = Vec::new();
        let mut names = Vec::new();
        for file in files {
            let label = file.display().to_string();
            let lower = label.to_lowercase();
            if lower.ends_with(".png") || lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
                let img = image::open(file).map_err(|e| Error::Data {
                    path: file.clone(),
                    message: format!("cannot read the image: {e}"),
                })?;
                let gray = img
                    .resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
                    .to_luma8();
                pixels.extend_from_slice(gray.as_raw());
                names.push(label);
            } else if lower.ends_with(".csv") {
                let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
                let mut rows = 0usize;
                for (line_no, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let row: Vec<u8> = line
                        .split(',')
                        .map(|v| v.trim().parse::<u8>())
                        .collect::<std::result::Result<_, _>>()
                        .map_err(|e| Error::Data {
                            path: file.clone(),
                            message: format!(
                                "line {}: pixel values must be 0-255 ({e})",
                                line_no + 1
                            ),
                        })?;
                    if row.len() != h * w {
                        return Err(Error::Data {
                            path: file.clone(),
                            message: format!(
                                "line {}: {} values, the model takes {h}x{w} = {}",
                                line_no + 1,
                                row.len(),
                                h * w
                            ),
                        });
                    }
                    pixels.extend_from_slice(&row);
                    names.push(format!("{label}[{rows}]"));
                    rows += 1;
                }
            } else {
                let array = read_idx(file)?;
                if array.dims.len() != 3 || array.dims[1] != h || array.dims[2] != w {
                    return Err(Error::Data {
                        path: file.clone(),
                        message: format!(
                            "IDX dimensions {:?}, the model takes [n, {h}, {w}] (or give a .png, .jpg or .csv)",
                            array.dims
                        ),
                    });
                }
                for i in 0..array.dims[0] {
                    names.push(format!("{label}[{i}]"));
                }
                pixels.extend_from_slice(&array.data);
            }
        }
        Ok(self.predict_pixels(&pixels, &names, k))
    }
}

/// The `k` largest softmax probabilities of `logits`.
pub(crate) fn top_k(logits: &[f32], names: &[String], k: usize) -> Vec<ClassScore> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&z| ((z - max) as f64).exp()).collect();
    let sum: f64 = exp.iter().sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]));
    order
        .into_iter()
        .take(k.max(1))
        .map(|c| ClassScore {
            class: c,
            name: names.get(c).cloned().unwrap_or_else(|| c.to_string()),
            probability: exp[c] / sum,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_sorted_softmax() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let top = top_k(&[1.0, 3.0, 2.0], &names, 2);
        assert_eq!(top[0].name, "b");
        assert_eq!(top[1].name, "c");
        let z: f64 = [1.0f64, 3.0, 2.0].iter().map(|v| v.exp()).sum();
        assert!((top[0].probability - 3f64.exp() / z).abs() < 1e-9);
    }
}
