//! Using a trained model: its card (architecture, input shape, normalisation, class names,
//! saved next to the weights as `NAME.model.json`) and top-k predictions on images, IDX or CSV
//! batches, or raw pixels. When the card holds a temperature scaling (fitted on the validation
//! split when the model was trained), the probabilities are `softmax(logits / T)`;
//! `uncalibrated()` gives the model's own.
//!
//! ```no_run
//! use distill::predict::Predictor;
//! let student = Predictor::load("runs/demo/student_kd-seed1.safetensors".as_ref())?;
//! for p in student.predict_files(&["shirt.png".into()], 3)? {
//!     println!("{}: {} ({:.1}%)", p.input, p.top[0].name, 100.0 * p.top[0].probability);
//! }
//! # Ok::<(), distill::error::Error>(())
//! ```

pub use crate::card::ModelCard;
use crate::card::{TabularModelCard, card_task};
use crate::classifier::{EVAL_BATCH, predict_logits};
use crate::data::ImageDataset;
use crate::data::idx::read_idx;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::models::{Mlp, Model};
use crate::text::TextTokenizer;
use crate::text::card::TextModelCard;
use crate::text::models::TextModel;
use crate::text::train::TokenSet;
use crate::vocab::TaskKind;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    temperature: f64,
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
            temperature: crate::card::applied_temperature(weights, &card.calibration)?,
            card,
            model: burn::module::Module::valid(&model),
            device,
        })
    }

    /// Top-`k` predictions for `n` images of raw 8-bit pixels (`n × channels × h × w`, one
    /// plane per channel, the card's size).
    pub fn predict_pixels(&self, pixels: &[u8], names: &[String], k: usize) -> Vec<Prediction> {
        let [c, h, w] = self.card.input;
        let n = pixels.len() / (c * h * w);
        let data = ImageDataset {
            images: pixels[..n * c * h * w].to_vec().into(),
            labels: vec![0; n],
            channels: c,
            height: h,
            width: w,
            num_classes: self.card.class_names.len(),
            normalize: self.card.normalize,
        };
        let logits = predict_logits(&self.model, &data, EVAL_BATCH, &self.device);
        predictions(&logits, names, &self.card.class_names, k, self.temperature)
    }

    /// Top-`k` predictions for files: PNG / JPEG / WebP images (converted to the card's
    /// channels and brought to its size the way its training images were), IDX image files
    /// (`.idx`, `-ubyte`, optionally `.gz`; one prediction per image; `[n, h, w]`, or
    /// `[n, c, h, w]` for colour) or CSV files (one image per line, `c·h·w` pixel values 0–255,
    /// channel planes one after the other).
    pub fn predict_files(&self, files: &[PathBuf], k: usize) -> Result<Vec<Prediction>> {
        let [c, h, w] = self.card.input;
        let mut pixels = Vec::new();
        let mut names = Vec::new();
        for file in files {
            let label = file.display().to_string();
            if crate::data::is_image_file(file) {
                let img = image::open(file).map_err(|e| Error::Data {
                    path: file.clone(),
                    message: format!("cannot read the image: {e}"),
                })?;
                let planes = crate::data::to_planes(&img, c, h, w, self.card.resize_or_default());
                pixels.extend_from_slice(&planes);
                names.push(label);
            } else if label.to_lowercase().ends_with(".csv") {
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
                    if row.len() != c * h * w {
                        return Err(Error::Data {
                            path: file.clone(),
                            message: format!(
                                "line {}: {} values, the model takes {c}x{h}x{w} = {}",
                                line_no + 1,
                                row.len(),
                                c * h * w
                            ),
                        });
                    }
                    pixels.extend_from_slice(&row);
                    names.push(format!("{label}[{rows}]"));
                    rows += 1;
                }
            } else {
                let array = read_idx(file)?;
                let fits = match array.dims.as_slice() {
                    [_, ah, aw] => c == 1 && (*ah, *aw) == (h, w),
                    [_, ac, ah, aw] => (*ac, *ah, *aw) == (c, h, w),
                    _ => false,
                };
                if !fits {
                    return Err(Error::Data {
                        path: file.clone(),
                        message: format!(
                            "IDX dimensions {:?}, the model takes [n, {}{h}, {w}] (or give a .png, .jpg, .webp or .csv)",
                            array.dims,
                            if c == 1 {
                                String::new()
                            } else {
                                format!("{c}, ")
                            }
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

/// A loaded text model and its tokenizer, ready to predict.
#[derive(Debug)]
pub struct TextPredictor {
    /// Its card.
    pub card: TextModelCard,
    tokenizer: TextTokenizer,
    model: TextModel,
    device: Device,
    temperature: f64,
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
            temperature: crate::card::applied_temperature(weights, &card.calibration)?,
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
        let logits = predict_logits(&self.model, &set, EVAL_BATCH, &self.device);
        Ok(predictions(
            &logits,
            texts,
            &self.card.class_names,
            k,
            self.temperature,
        ))
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

/// The top-`k` classes of each row of `logits` (`names.len() × classes`), named by `names`,
/// with the probabilities of `softmax(logits / temperature)`.
pub(crate) fn predictions(
    logits: &[f32],
    names: &[String],
    class_names: &[String],
    k: usize,
    temperature: f64,
) -> Vec<Prediction> {
    logits
        .chunks_exact(class_names.len().max(1))
        .zip(names)
        .map(|(row, name)| Prediction {
            input: name.clone(),
            top: top_k(row, class_names, k, temperature),
        })
        .collect()
}

/// A loaded tabular model, ready to predict on CSV rows.
#[derive(Debug)]
pub struct TabularPredictor {
    /// Its card (schema, standardisation, classes).
    pub card: TabularModelCard,
    model: Mlp,
    device: Device,
    temperature: f64,
}

impl TabularPredictor {
    /// Loads `weights` and its card on `device`.
    pub fn load_on(weights: &Path, device: Device) -> Result<Self> {
        let card = TabularModelCard::load_for(weights)?;
        let model = card.load_model(weights, &device)?;
        Ok(TabularPredictor {
            temperature: crate::card::applied_temperature(weights, &card.calibration)?,
            card,
            model,
            device,
        })
    }

    /// Top-`k` predictions for the rows of CSV files with the training file's feature columns
    /// (the label column may be absent); each input is named `FILE[i]`.
    pub fn predict_files(&self, files: &[PathBuf], k: usize) -> Result<Vec<Prediction>> {
        let mut out = Vec::new();
        for file in files {
            let rows = self.card.read_rows(file, false)?;
            let logits = predict_logits(&self.model, &rows, EVAL_BATCH, &self.device);
            let names: Vec<String> = (0..rows.labels.len())
                .map(|i| format!("{}[{i}]", file.display()))
                .collect();
            out.extend(predictions(
                &logits,
                &names,
                &self.card.schema.class_names,
                k,
                self.temperature,
            ));
        }
        Ok(out)
    }
}

/// A saved model of any kind, loaded by what its card says: the one entry point of
/// `distill predict`.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built once per command
pub enum AnyPredictor {
    /// An image model.
    Image(Predictor),
    /// A text model (with its tokenizer).
    Text(Box<TextPredictor>),
    /// A tabular model (with its schema and standardisation).
    Tabular(TabularPredictor),
}

impl AnyPredictor {
    /// Loads `weights` and the card beside it on `device`.
    pub fn load_on(weights: &Path, device: Device) -> Result<Self> {
        Ok(match card_task(weights)? {
            TaskKind::Image => AnyPredictor::Image(Predictor::load_on(weights, device)?),
            TaskKind::Text => {
                AnyPredictor::Text(Box::new(TextPredictor::load_on(weights, device)?))
            }
            TaskKind::Tabular => AnyPredictor::Tabular(TabularPredictor::load_on(weights, device)?),
        })
    }

    /// The model's own probabilities: without the temperature scaling its card holds.
    pub fn uncalibrated(mut self) -> Self {
        match &mut self {
            AnyPredictor::Image(p) => p.temperature = 1.0,
            AnyPredictor::Text(p) => p.temperature = 1.0,
            AnyPredictor::Tabular(p) => p.temperature = 1.0,
        }
        self
    }

    /// The temperature its probabilities are computed at (1: the model's own).
    pub fn temperature(&self) -> f64 {
        match self {
            AnyPredictor::Image(p) => p.temperature,
            AnyPredictor::Text(p) => p.temperature,
            AnyPredictor::Tabular(p) => p.temperature,
        }
    }

    /// Which kind of model it is.
    pub fn kind(&self) -> TaskKind {
        match self {
            AnyPredictor::Image(_) => TaskKind::Image,
            AnyPredictor::Text(_) => TaskKind::Text,
            AnyPredictor::Tabular(_) => TaskKind::Tabular,
        }
    }

    /// Top-`k` predictions for input files: images, IDX or pixel CSV files (image models),
    /// text files with one text per line (text models), CSV rows (tabular models).
    pub fn predict_files(&self, files: &[PathBuf], k: usize) -> Result<Vec<Prediction>> {
        match self {
            AnyPredictor::Image(p) => p.predict_files(files, k),
            AnyPredictor::Text(p) => p.predict_files(files, k),
            AnyPredictor::Tabular(p) => p.predict_files(files, k),
        }
    }
}

/// The `k` largest probabilities of `softmax(logits / temperature)`.
pub(crate) fn top_k(
    logits: &[f32],
    names: &[String],
    k: usize,
    temperature: f64,
) -> Vec<ClassScore> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits
        .iter()
        .map(|&z| ((z - max) as f64 / temperature).exp())
        .collect();
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
        let top = top_k(&[1.0, 3.0, 2.0], &names, 2, 1.0);
        assert_eq!(top[0].name, "b");
        assert_eq!(top[1].name, "c");
        let z: f64 = [1.0f64, 3.0, 2.0].iter().map(|v| v.exp()).sum();
        assert!((top[0].probability - 3f64.exp() / z).abs() < 1e-9);
        // At T = 2: softmax(z / 2), same order.
        let top = top_k(&[1.0, 3.0, 2.0], &names, 3, 2.0);
        let z: f64 = [0.5f64, 1.5, 1.0].iter().map(|v| v.exp()).sum();
        assert_eq!(top[0].name, "b");
        assert!((top[0].probability - 1.5f64.exp() / z).abs() < 1e-9);
    }
}
