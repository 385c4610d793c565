//! Text classifiers: three small students and the transformer teacher, declared as a tagged
//! enum (`type = "boe" | "cnn" | "lstm" | "transformer" | "pretrained"`) and built into a
//! [`TextModel`]. Every model maps token ids `[n, len]` and their mask (1 = token, 0 = pad) to
//! logits `[n, classes]`; padding never reaches a pooled vector.

use super::bert::{Bert, BertConfig};
use crate::error::{Error, Result};
use crate::vocab::BadField;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig, Lstm, LstmConfig,
    PaddingConfig1d,
};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// An architecture for text, picked by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TextModelConfig {
    /// Bag of embeddings (fastText-style): mean of the word vectors, then an MLP.
    Boe(BoeConfig),
    /// 1-D convolutions of several widths over the word vectors, max-pooled over time (Kim 2014).
    Cnn(TextCnnConfig),
    /// A (bi-directional) LSTM over the word vectors, max-pooled over time (Tang et al. 2019).
    Lstm(TextLstmConfig),
    /// A BERT-style encoder trained here from random initialisation, mean-pooled, linear head.
    Transformer(TransformerConfig),
    /// A pre-trained BERT-style encoder (HF layout: `config.json`, `model.safetensors`,
    /// `tokenizer.json` in `dir`), mean-pooled, with a linear head trained here.
    Pretrained(PretrainedConfig),
}

/// Configuration of a [`Boe`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoeConfig {
    /// Width of the word vectors.
    pub embed_dim: usize,
    /// Hidden layers after pooling (may be empty: a linear classifier on the mean vector).
    #[serde(default)]
    pub hidden: Vec<usize>,
    /// Dropout on the pooled vector and after each hidden layer.
    #[serde(default)]
    pub dropout: f64,
}

/// Configuration of a [`TextCnn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextCnnConfig {
    /// Width of the word vectors.
    pub embed_dim: usize,
    /// Filters per kernel width.
    pub channels: usize,
    /// Kernel widths (odd), one convolution each.
    #[serde(default = "default_kernels")]
    pub kernel_sizes: Vec<usize>,
    /// Dropout before the classifier.
    #[serde(default)]
    pub dropout: f64,
}

fn default_kernels() -> Vec<usize> {
    vec![3, 5]
}

/// Configuration of a [`TextLstm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextLstmConfig {
    /// Width of the word vectors.
    pub embed_dim: usize,
    /// Hidden size of each direction.
    pub hidden: usize,
    /// Run a second LSTM right to left and concatenate.
    #[serde(default = "yes")]
    pub bidirectional: bool,
    /// Dropout before the classifier.
    #[serde(default)]
    pub dropout: f64,
}

fn yes() -> bool {
    true
}

/// Configuration of a transformer encoder trained here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformerConfig {
    /// Encoder layers.
    pub layers: usize,
    /// Hidden size (divisible by `heads`).
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width (default 4 × hidden).
    #[serde(default)]
    pub intermediate: Option<usize>,
}

/// Configuration of a pre-trained encoder with a classification head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainedConfig {
    /// Folder with `config.json`, `model.safetensors` and `tokenizer.json` (relative to the
    /// experiment file).
    pub dir: PathBuf,
    /// Encoder layers fine-tuned with the head, counted from the top; 0 trains the head alone
    /// on frozen sentence embeddings (computed once).
    #[serde(default)]
    pub finetune_layers: usize,
}

impl PretrainedConfig {
    /// `dir/config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// `dir/model.safetensors`.
    pub fn weights_path(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }
    /// `dir/tokenizer.json`.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }
}

impl TextModelConfig {
    /// Checks sizes and probabilities, naming the field under `prefix`.
    pub fn validate(&self, prefix: &str, bad: BadField) -> Result<()> {
        let positive = |field: &str, v: usize| -> Result<()> {
            if v == 0 {
                Err(bad(
                    &format!("{prefix}.{field}"),
                    "0".into(),
                    "must be at least 1",
                ))
            } else {
                Ok(())
            }
        };
        use crate::limits::{MAX_KERNEL, MAX_LAYERS, MAX_WIDTH, at_most};
        let width =
            |field: &str, v: usize| at_most(&format!("{prefix}.{field}"), v, MAX_WIDTH, bad);
        match self {
            TextModelConfig::Boe(c) => {
                width("embed_dim", c.embed_dim)?;
                at_most(
                    &format!("{prefix}.hidden (layers)"),
                    c.hidden.len(),
                    MAX_LAYERS,
                    bad,
                )?;
                for (i, &h) in c.hidden.iter().enumerate() {
                    width(&format!("hidden[{i}]"), h)?;
                }
            }
            TextModelConfig::Cnn(c) => {
                width("embed_dim", c.embed_dim)?;
                width("channels", c.channels)?;
                at_most(
                    &format!("{prefix}.kernel_sizes (count)"),
                    c.kernel_sizes.len(),
                    16,
                    bad,
                )?;
                for (i, &k) in c.kernel_sizes.iter().enumerate() {
                    at_most(&format!("{prefix}.kernel_sizes[{i}]"), k, MAX_KERNEL, bad)?;
                }
            }
            TextModelConfig::Lstm(c) => {
                width("embed_dim", c.embed_dim)?;
                width("hidden", c.hidden)?;
            }
            TextModelConfig::Transformer(c) => {
                at_most(&format!("{prefix}.layers"), c.layers, MAX_LAYERS, bad)?;
                width("hidden", c.hidden)?;
                width("heads", c.heads)?;
                if let Some(i) = c.intermediate {
                    width("intermediate", i)?;
                }
            }
            TextModelConfig::Pretrained(_) => {}
        }
        let dropout = match self {
            TextModelConfig::Boe(c) => {
                positive("embed_dim", c.embed_dim)?;
                for (i, &h) in c.hidden.iter().enumerate() {
                    positive(&format!("hidden[{i}]"), h)?;
                }
                c.dropout
            }
            TextModelConfig::Cnn(c) => {
                positive("embed_dim", c.embed_dim)?;
                positive("channels", c.channels)?;
                if c.kernel_sizes.is_empty() {
                    return Err(bad(
                        &format!("{prefix}.kernel_sizes"),
                        "[]".into(),
                        "give at least one kernel width",
                    ));
                }
                for (i, &k) in c.kernel_sizes.iter().enumerate() {
                    if k == 0 || k % 2 == 0 {
                        return Err(bad(
                            &format!("{prefix}.kernel_sizes[{i}]"),
                            k.to_string(),
                            "kernel widths must be odd",
                        ));
                    }
                }
                c.dropout
            }
            TextModelConfig::Lstm(c) => {
                positive("embed_dim", c.embed_dim)?;
                positive("hidden", c.hidden)?;
                c.dropout
            }
            TextModelConfig::Transformer(c) => {
                positive("layers", c.layers)?;
                positive("hidden", c.hidden)?;
                positive("heads", c.heads)?;
                if c.hidden % c.heads != 0 {
                    return Err(bad(
                        &format!("{prefix}.hidden"),
                        c.hidden.to_string(),
                        &format!("must be divisible by heads = {}", c.heads),
                    ));
                }
                if let Some(i) = c.intermediate {
                    positive("intermediate", i)?;
                }
                0.0
            }
            TextModelConfig::Pretrained(_) => 0.0,
        };
        if !(0.0..1.0).contains(&dropout) {
            return Err(bad(
                &format!("{prefix}.dropout"),
                dropout.to_string(),
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }

    /// A short human description, e.g. `bilstm 300x[150]`.
    pub fn describe(&self) -> String {
        match self {
            TextModelConfig::Boe(c) => format!("boe {}d hidden{:?}", c.embed_dim, c.hidden),
            TextModelConfig::Cnn(c) => {
                format!("cnn1d {}d {}x{:?}", c.embed_dim, c.channels, c.kernel_sizes)
            }
            TextModelConfig::Lstm(c) => format!(
                "{} {}d h{}",
                if c.bidirectional { "bilstm" } else { "lstm" },
                c.embed_dim,
                c.hidden
            ),
            TextModelConfig::Transformer(c) => {
                format!("transformer {}L {}h {}heads", c.layers, c.hidden, c.heads)
            }
            TextModelConfig::Pretrained(c) => format!(
                "pretrained {} (+head{})",
                c.dir.file_name().map_or_else(
                    || c.dir.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                ),
                if c.finetune_layers > 0 {
                    format!(", top {} layers fine-tuned", c.finetune_layers)
                } else {
                    String::new()
                }
            ),
        }
    }

    /// The BERT configuration of the transformer variants (read from `config.json` for a
    /// pre-trained one).
    pub fn bert_config(&self, vocab_size: usize, max_len: usize) -> Result<Option<BertConfig>> {
        Ok(match self {
            TextModelConfig::Transformer(c) => Some(BertConfig {
                vocab_size,
                hidden_size: c.hidden,
                num_hidden_layers: c.layers,
                num_attention_heads: c.heads,
                intermediate_size: c.intermediate.unwrap_or(4 * c.hidden),
                max_position_embeddings: max_len,
                type_vocab_size: 1,
                layer_norm_eps: 1e-12,
            }),
            TextModelConfig::Pretrained(p) => Some(BertConfig::from_hf_json(&p.config_path())?),
            _ => None,
        })
    }

    /// The memory of this model for a vocabulary of `vocab_size`, texts of `max_len` tokens and
    /// `classes` outputs, from its configuration alone (`None` for a pre-trained encoder, whose
    /// size is that of its files).
    pub fn memory_estimate(
        &self,
        vocab_size: usize,
        max_len: usize,
        classes: usize,
    ) -> Option<crate::limits::MemoryEstimate> {
        let mut e = crate::limits::MemoryEstimate::default();
        let (v, t) = (vocab_size as u128, max_len as u128);
        match self {
            TextModelConfig::Boe(c) => {
                e.params += v * c.embed_dim as u128;
                e.activations_per_sample += t * c.embed_dim as u128;
                e.dense_stack(c.embed_dim, &c.hidden, classes);
            }
            TextModelConfig::Cnn(c) => {
                let (d, ch) = (c.embed_dim as u128, c.channels as u128);
                e.params += v * d;
                e.activations_per_sample += t * d;
                for &k in &c.kernel_sizes {
                    e.params += k as u128 * d * ch + ch;
                    e.activations_per_sample += 2 * t * ch;
                }
                e.dense(c.channels * c.kernel_sizes.len(), classes);
            }
            TextModelConfig::Lstm(c) => {
                let (d, h) = (c.embed_dim as u128, c.hidden as u128);
                let dirs = if c.bidirectional { 2 } else { 1 };
                e.params += v * d + dirs * 4 * (d + h + 2) * h;
                e.activations_per_sample += t * d + dirs * t * 6 * h;
                e.dense(dirs as usize * c.hidden, classes);
            }
            TextModelConfig::Transformer(c) => {
                let h = c.hidden as u128;
                let i = c.intermediate.map_or(4 * h, |i| i as u128);
                let layers = c.layers as u128;
                e.params += (v + t + 2) * h + layers * (4 * h * h + 2 * h * i + i + 9 * h);
                e.activations_per_sample +=
                    t * h + layers * t * (6 * h + 2 * i + 2 * c.heads as u128 * t);
                e.dense(c.hidden, classes);
            }
            TextModelConfig::Pretrained(_) => return None,
        }
        Some(e)
    }

    /// Builds the model (random weights; a pre-trained encoder is loaded separately with
    /// [`TextModel::load_pretrained_encoder`]).
    pub fn init(
        &self,
        vocab_size: usize,
        max_len: usize,
        classes: usize,
        device: &Device,
    ) -> Result<TextModel> {
        let embed = |dim: usize| EmbeddingConfig::new(vocab_size, dim).init(device);
        Ok(match self {
            TextModelConfig::Boe(c) => {
                let mut hidden = Vec::new();
                let mut width = c.embed_dim;
                for &h in &c.hidden {
                    hidden.push(LinearConfig::new(width, h).init(device));
                    width = h;
                }
                TextModel::Boe(Boe {
                    embedding: embed(c.embed_dim),
                    hidden,
                    dropout: DropoutConfig::new(c.dropout).init(),
                    output: LinearConfig::new(width, classes).init(device),
                })
            }
            TextModelConfig::Cnn(c) => TextModel::Cnn(TextCnn {
                embedding: embed(c.embed_dim),
                convs: c
                    .kernel_sizes
                    .iter()
                    .map(|&k| {
                        Conv1dConfig::new(c.embed_dim, c.channels, k)
                            .with_padding(PaddingConfig1d::Explicit(k / 2, k / 2))
                            .init(device)
                    })
                    .collect(),
                dropout: DropoutConfig::new(c.dropout).init(),
                output: LinearConfig::new(c.channels * c.kernel_sizes.len(), classes).init(device),
            }),
            TextModelConfig::Lstm(c) => {
                let lstm = || LstmConfig::new(c.embed_dim, c.hidden, true).init(device);
                let width = if c.bidirectional {
                    2 * c.hidden
                } else {
                    c.hidden
                };
                TextModel::Lstm(TextLstm {
                    embedding: embed(c.embed_dim),
                    forward: lstm(),
                    backward: c.bidirectional.then(lstm),
                    dropout: DropoutConfig::new(c.dropout).init(),
                    output: LinearConfig::new(width, classes).init(device),
                })
            }
            TextModelConfig::Transformer(_) | TextModelConfig::Pretrained(_) => {
                let cfg = self
                    .bert_config(vocab_size, max_len)?
                    .expect("transformer variants have a BERT configuration");
                if max_len > cfg.max_position_embeddings {
                    return Err(Error::ConfigValue {
                        path: "<experiment>".into(),
                        field: "data.max_len".into(),
                        value: max_len.to_string(),
                        reason: format!(
                            "the encoder has {} positions: use at most that many tokens",
                            cfg.max_position_embeddings
                        ),
                    });
                }
                if vocab_size > cfg.vocab_size {
                    return Err(Error::ConfigValue {
                        path: "<experiment>".into(),
                        field: "tokenizer".into(),
                        value: format!("{vocab_size} tokens"),
                        reason: format!(
                            "the encoder embeds {} token ids: use its own tokenizer.json",
                            cfg.vocab_size
                        ),
                    });
                }
                let hidden = cfg.hidden_size;
                TextModel::Bert(BertClassifier {
                    encoder: cfg.init(device),
                    head: LinearConfig::new(hidden, classes).init(device),
                })
            }
        })
    }
}

/// A built text classifier.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one model per run; boxing would only add indirection
pub enum TextModel {
    /// Bag of embeddings.
    Boe(Boe),
    /// 1-D CNN.
    Cnn(TextCnn),
    /// (Bi)LSTM.
    Lstm(TextLstm),
    /// BERT-style encoder with a linear head.
    Bert(BertClassifier),
}

/// Bag of embeddings: masked mean of word vectors → MLP.
#[derive(Module, Debug)]
pub struct Boe {
    embedding: Embedding,
    hidden: Vec<Linear>,
    dropout: Dropout,
    output: Linear,
}

/// Kim-style CNN: convolutions of several widths, ReLU, masked max over time, linear.
#[derive(Module, Debug)]
pub struct TextCnn {
    embedding: Embedding,
    convs: Vec<Conv1d>,
    dropout: Dropout,
    output: Linear,
}

/// LSTM, optionally a second one reading each text right to left, masked max over time,
/// linear.
///
/// The backward LSTM reads each sequence reversed *within its own length*, so that it starts at
/// the last real token, not at the padding: a text gets the same logits alone or padded in a
/// batch.
#[derive(Module, Debug)]
pub struct TextLstm {
    embedding: Embedding,
    forward: Lstm,
    backward: Option<Lstm>,
    dropout: Dropout,
    output: Linear,
}

/// A BERT-style encoder, mean pooling and a linear head.
#[derive(Module, Debug)]
pub struct BertClassifier {
    /// The encoder.
    pub encoder: Bert,
    /// The classification head on the mean-pooled hidden states.
    pub head: Linear,
}

/// Float mask `[n, len, 1]` (1 = token).
fn mask3(mask: &Tensor<2, Int>) -> Tensor<3> {
    mask.clone().float().unsqueeze_dim(2)
}

/// Max over the real tokens: `[n, len, d]` → `[n, d]` (padding is pushed to −1e4 first).
fn masked_max(x: Tensor<3>, mask: &Tensor<2, Int>) -> Tensor<2> {
    let m = mask3(mask);
    let [n, _, d] = x.dims();
    let shifted = x + (m - 1.0) * 1e4;
    shifted.max_dim(1).reshape([n, d])
}

/// Reverses the real tokens of each row of `[n, len, d]`, leaving the padding where it is
/// (its own inverse).
fn reverse_within_length(x: Tensor<3>, mask: &Tensor<2, Int>) -> Tensor<3> {
    let [n, len, d] = x.dims();
    let device = x.device();
    let lengths = mask.clone().sum_dim(1); // [n, 1]
    let j = Tensor::<1, Int>::arange(0..len as i64, &device)
        .reshape([1, len])
        .expand([n, len]);
    let reversed = lengths.clone().expand([n, len]) - j.clone() - 1;
    let inside = j.clone().lower(lengths.expand([n, len]));
    let index = j.mask_where(inside, reversed);
    x.gather(1, index.unsqueeze_dim::<3>(2).expand([n, len, d]))
}

impl TextModel {
    /// Logits `[n, classes]` for ids and mask `[n, len]`.
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<2> {
        match self {
            TextModel::Boe(m) => {
                let mut x = Bert::mean_pool(m.embedding.forward(ids), mask);
                x = m.dropout.forward(x);
                for layer in &m.hidden {
                    x = m.dropout.forward(relu(layer.forward(x)));
                }
                m.output.forward(x)
            }
            TextModel::Cnn(m) => {
                // Embeddings of padding are zeroed so that they do not leak into the windows
                // of the last real tokens.
                let e = m.embedding.forward(ids) * mask3(&mask);
                let e = e.swap_dims(1, 2); // [n, d, len]
                let pooled: Vec<Tensor<2>> = m
                    .convs
                    .iter()
                    .map(|c| masked_max(relu(c.forward(e.clone())).swap_dims(1, 2), &mask))
                    .collect();
                let x = m.dropout.forward(Tensor::cat(pooled, 1));
                m.output.forward(x)
            }
            TextModel::Lstm(m) => {
                let e = m.embedding.forward(ids) * mask3(&mask);
                let h = m.forward.forward(e.clone(), None).0;
                let h = match &m.backward {
                    None => h,
                    Some(b) => {
                        let reversed = reverse_within_length(e, &mask);
                        let hb = reverse_within_length(b.forward(reversed, None).0, &mask);
                        Tensor::cat(vec![h, hb], 2)
                    }
                };
                let x = m.dropout.forward(masked_max(h, &mask));
                m.output.forward(x)
            }
            TextModel::Bert(m) => {
                let h = m.encoder.forward(ids, mask.clone());
                m.head.forward(Bert::mean_pool(h, mask))
            }
        }
    }

    /// Loads a pre-trained encoder's weights (HF-layout safetensors) into a BERT model.
    pub fn load_pretrained_encoder(self, path: &Path) -> Result<Self> {
        match self {
            TextModel::Bert(mut m) => {
                m.encoder = m.encoder.load_hf_safetensors(path)?;
                Ok(TextModel::Bert(m))
            }
            _ => Err(Error::Weights {
                path: path.to_path_buf(),
                message: "only transformer models load encoder weights".into(),
            }),
        }
    }

    /// Saves the weights as safetensors, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::weights::save_safetensors(self, path)
    }

    /// Loads weights saved by [`TextModel::save`] into this freshly built model; every tensor
    /// must be present with its shape.
    pub fn load(self, path: &Path) -> Result<Self> {
        crate::weights::load_safetensors(self, path)
    }
}

impl crate::classifier::Classifier for TextModel {
    type Input = super::train::TokenBatch;

    fn logits(&self, input: super::train::TokenBatch) -> Tensor<2> {
        self.forward(input.ids, input.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::default()
    }

    fn configs() -> Vec<TextModelConfig> {
        vec![
            TextModelConfig::Boe(BoeConfig {
                embed_dim: 8,
                hidden: vec![6],
                dropout: 0.0,
            }),
            TextModelConfig::Cnn(TextCnnConfig {
                embed_dim: 8,
                channels: 4,
                kernel_sizes: vec![1, 3],
                dropout: 0.0,
            }),
            TextModelConfig::Lstm(TextLstmConfig {
                embed_dim: 8,
                hidden: 5,
                bidirectional: false,
                dropout: 0.0,
            }),
            TextModelConfig::Lstm(TextLstmConfig {
                embed_dim: 8,
                hidden: 5,
                bidirectional: true,
                dropout: 0.0,
            }),
            TextModelConfig::Transformer(TransformerConfig {
                layers: 1,
                hidden: 8,
                heads: 2,
                intermediate: Some(16),
            }),
        ]
    }

    /// Padding a sequence with extra pad tokens does not change its logits: the pooled vectors
    /// ignore padding (the backward LSTM starts at each
    /// text's last token).
    #[test]
    fn padding_does_not_change_the_logits() {
        let d = device();
        for cfg in configs() {
            let model = cfg.init(20, 16, 3, &d).unwrap();
            let alone = model.forward(
                Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 7, 9], [1, 3]), &d),
                Tensor::<2, Int>::ones([1, 3], &d),
            );
            let padded = model.forward(
                Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 7, 9, 0, 0], [1, 5]), &d),
                Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 1, 1, 0, 0], [1, 5]), &d),
            );
            let a = alone.into_data().try_to_vec::<f32>().unwrap();
            let b = padded.into_data().try_to_vec::<f32>().unwrap();
            let diff = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-5, "{}: {a:?} vs {b:?}", cfg.describe());
        }
    }

    #[test]
    fn save_and_load_round_trip_exactly() {
        let d = device();
        let dir = tempfile::tempdir().unwrap();
        for (i, cfg) in configs().into_iter().enumerate() {
            let model = cfg.init(20, 16, 3, &d).unwrap();
            let path = dir.path().join(format!("m{i}.safetensors"));
            model.save(&path).unwrap();
            let fresh = cfg.init(20, 16, 3, &d).unwrap().load(&path).unwrap();
            let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 4], [2, 2]), &d);
            let mask = Tensor::<2, Int>::ones([2, 2], &d);
            let a = model.forward(ids.clone(), mask.clone()).into_data();
            let b = fresh.forward(ids, mask).into_data();
            assert_eq!(a, b, "{}", cfg.describe());
            let other = configs()[(i + 1) % 5].init(20, 16, 3, &d).unwrap();
            assert!(other.load(&path).is_err());
        }
    }
}
