//! A BERT encoder (HF `BertModel`, post-LN) in burn: the all-MiniLM-L6-v2 teacher loaded from
//! its `model.safetensors`, or, randomly initialised with small sizes, a transformer teacher
//! trained from scratch.
//!
//! ```text
//! embeddings = LayerNorm(word[ids] + position[0..L] + token_type[0])
//! per layer:   a = LayerNorm(x + Dense(MultiHeadSelfAttention(x, mask)))
//!              x = LayerNorm(a + Dense(GELU_erf(Dense(a))))
//! embedding  = mean of x over the positions where mask = 1      (sentence-transformers' Pooling)
//!              optionally / ||·||₂                               (its Normalize)
//! ```
//!
//! Padded keys are masked out of every attention softmax and padded positions out of the mean,
//! so a sequence's pooled vector does not depend on how far it is padded. Dropout is left out
//! (the reference runs in eval mode); every weight is a burn parameter, trainable, and
//! [`Bert::freeze_below_top`] keeps only the top layers trainable.
//!
//! The numerics follow `python/text/minilm_reference.py` and are checked against
//! `transformers` on a tiny model (`tests/fixtures/text/tiny_bert`, from
//! `python/text/make_tiny_bert.py`) and against the real MiniLM's embeddings
//! (`tests/fixtures/text/minilm_reference.json`) in `tests/it/bert.rs`.
//!
//! HF names and distill's module paths (`N` is the layer index):
//!
//! | HF tensor (prefix such as `bert.` stripped) | burn parameter |
//! |---|---|
//! | `embeddings.word_embeddings.weight` | `embeddings.word.weight` |
//! | `embeddings.position_embeddings.weight` | `embeddings.position.weight` |
//! | `embeddings.token_type_embeddings.weight` | `embeddings.token_type.weight` |
//! | `embeddings.LayerNorm.{weight,bias}` | `embeddings.norm.{gamma,beta}` |
//! | `encoder.layer.N.attention.self.{query,key,value}.*` | `layers.N.attention.{query,key,value}.*` |
//! | `encoder.layer.N.attention.output.dense.*` | `layers.N.attention.output.*` |
//! | `encoder.layer.N.attention.output.LayerNorm.*` | `layers.N.attention.norm.{gamma,beta}` |
//! | `encoder.layer.N.intermediate.dense.*` | `layers.N.intermediate.*` |
//! | `encoder.layer.N.output.dense.*` | `layers.N.output.*` |
//! | `encoder.layer.N.output.LayerNorm.*` | `layers.N.norm.{gamma,beta}` |
//!
//! Linear weights are `[out, in]` in the file and `[in, out]` in burn (burn-store's
//! `PyTorchToBurnAdapter` transposes them). `pooler.*`, `embeddings.position_ids` and anything
//! outside `embeddings.` / `encoder.` (task heads) are ignored.

use crate::error::{Error, Result};
use crate::vocab::BadField;
use burn::module::Module;
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::prelude::*;
use burn::store::{
    BurnToPyTorchAdapter, FloatCastAdapter, KeyRemapper, ModuleAdapter, ModuleSnapshot,
    ModuleStore, PyTorchToBurnAdapter, SafetensorsStore,
};
use burn::tensor::DType;
use burn::tensor::activation::{gelu, softmax};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The score given to padded keys before the softmax. `exp(-1e4 - max)` is exactly 0 in f32
/// (and f16), so this masks as HF's additive `finfo.min` does, while a row whose keys are all
/// padding still gets finite (uniform) weights instead of NaN.
const MASKED_SCORE: f32 = -1.0e4;

/// The standard deviation of HF BERT's initial weights (`initializer_range`).
const INIT_STD: f64 = 0.02;

/// Sizes of a [`Bert`] encoder, as in HF's `config.json` (the BERT fields distill uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BertConfig {
    /// Number of token ids (WordPiece vocabulary size).
    pub vocab_size: usize,
    /// Width of the token vectors.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of token types (segments); only type 0 is used.
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// LayerNorm's epsilon.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
}

fn default_type_vocab_size() -> usize {
    2
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

/// The fields of HF's `config.json` read by [`BertConfig::from_hf_json`]; others are ignored.
#[derive(Deserialize)]
struct HfConfig {
    #[serde(default)]
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    hidden_act: Option<serde_json::Value>,
    #[serde(default)]
    position_embedding_type: Option<serde_json::Value>,
}

impl BertConfig {
    /// Reads a HF `config.json` (unknown keys are ignored). Refuses what this encoder does not
    /// compute: `model_type` other than `bert` (RoBERTa's positions, for one, are offset),
    /// `hidden_act` other than `gelu` (erf GELU), `position_embedding_type` other than
    /// `absolute`, and sizes that do not fit together; the error names the file, the field and
    /// the value.
    pub fn from_hf_json(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read(path)?;
        let hf: HfConfig = serde_json::from_slice(&bytes).map_err(|e| Error::ConfigParse {
            path: path.to_path_buf(),
            message: format!("not a BERT config.json: {e}"),
        })?;
        let bad = |field: &str, value: String, reason: &str| Error::ConfigValue {
            path: path.to_path_buf(),
            field: field.to_string(),
            value,
            reason: reason.to_string(),
        };
        if let Some(t) = &hf.model_type
            && t != "bert"
        {
            return Err(bad(
                "model_type",
                format!("{t:?}"),
                "only BERT encoders (`bert`) are supported",
            ));
        }
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        if let Some(act) = &hf.hidden_act
            && text(act).as_deref() != Some("gelu")
        {
            return Err(bad(
                "hidden_act",
                act.to_string(),
                "only \"gelu\" (the erf form) is supported",
            ));
        }
        if let Some(kind) = &hf.position_embedding_type
            && text(kind).as_deref() != Some("absolute")
        {
            return Err(bad(
                "position_embedding_type",
                kind.to_string(),
                "only \"absolute\" position embeddings are supported",
            ));
        }
        let config = BertConfig {
            vocab_size: hf.vocab_size,
            hidden_size: hf.hidden_size,
            num_hidden_layers: hf.num_hidden_layers,
            num_attention_heads: hf.num_attention_heads,
            intermediate_size: hf.intermediate_size,
            max_position_embeddings: hf.max_position_embeddings,
            type_vocab_size: hf.type_vocab_size,
            layer_norm_eps: hf.layer_norm_eps,
        };
        config.validate("", &bad)?;
        Ok(config)
    }

    /// Checks the sizes, naming a refused field as `prefix.field` (just `field` when `prefix`
    /// is empty).
    pub fn validate(&self, prefix: &str, bad: BadField) -> Result<()> {
        let name = |f: &str| {
            if prefix.is_empty() {
                f.to_string()
            } else {
                format!("{prefix}.{f}")
            }
        };
        for (field, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if value == 0 {
                return Err(bad(&name(field), "0".into(), "must be at least 1"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(bad(
                &name("num_attention_heads"),
                self.num_attention_heads.to_string(),
                &format!(
                    "must divide hidden_size = {} (each head gets hidden_size / heads values)",
                    self.hidden_size
                ),
            ));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps.is_finite()) {
            return Err(bad(
                &name("layer_norm_eps"),
                self.layer_norm_eps.to_string(),
                "must be a positive number",
            ));
        }
        Ok(())
    }

    /// Builds the encoder with HF BERT's initialisation: weights `N(0, 0.02²)`, biases 0,
    /// LayerNorm `γ = 1`, `β = 0`.
    ///
    /// # Panics
    ///
    /// If `num_attention_heads` does not divide `hidden_size` (see [`BertConfig::validate`]).
    pub fn init(&self, device: &Device) -> Bert {
        assert!(
            self.num_attention_heads > 0
                && self.hidden_size.is_multiple_of(self.num_attention_heads),
            "BertConfig: num_attention_heads = {} must divide hidden_size = {}",
            self.num_attention_heads,
            self.hidden_size
        );
        let h = self.hidden_size;
        let embedding = |n: usize| {
            EmbeddingConfig::new(n, h)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: INIT_STD,
                })
                .init(device)
        };
        let norm = || {
            LayerNormConfig::new(h)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let layers = (0..self.num_hidden_layers)
            .map(|_| BertLayer {
                attention: BertAttention {
                    query: dense(h, h, device),
                    key: dense(h, h, device),
                    value: dense(h, h, device),
                    output: dense(h, h, device),
                    norm: norm(),
                    heads: self.num_attention_heads,
                },
                intermediate: dense(h, self.intermediate_size, device),
                output: dense(self.intermediate_size, h, device),
                norm: norm(),
            })
            .collect();
        Bert {
            embeddings: BertEmbeddings {
                word: embedding(self.vocab_size),
                position: embedding(self.max_position_embeddings),
                token_type: embedding(self.type_vocab_size),
                norm: norm(),
            },
            layers,
        }
    }

    /// The number of parameters of [`BertConfig::init`]'s model (no pooler): 22,565,376 for
    /// all-MiniLM-L6-v2.
    pub fn num_params(&self) -> usize {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let embeddings =
            (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) * h + 2 * h;
        let layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
        embeddings + self.num_hidden_layers * layer
    }
}

/// A linear layer initialised as HF BERT does: weight `N(0, 0.02²)`, bias 0.
fn dense(inputs: usize, outputs: usize, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(inputs, outputs)
        .with_initializer(Initializer::Normal {
            mean: 0.0,
            std: INIT_STD,
        })
        .init(device);
    linear.bias = Some(Initializer::Zeros.init([outputs], device));
    linear
}

/// Word, position and token-type embeddings, summed and layer-normalised.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl BertEmbeddings {
    /// `LayerNorm(word[ids] + position[0..L] + token_type[0])` for `ids` `[batch, L]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]);
        let token_type = Tensor::<2, Int>::zeros([1, 1], &device);
        let x = self.word.forward(ids)
            + self.position.forward(positions)
            + self.token_type.forward(token_type);
        self.norm.forward(x)
    }
}

/// Multi-head self-attention with its output projection and the post-LN residual:
/// `LayerNorm(x + Dense(softmax(QKᵀ/√d + mask) V))`.
#[derive(Module, Debug)]
pub struct BertAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    norm: LayerNorm,
    heads: usize,
}

impl BertAttention {
    /// `x`: `[batch, L, hidden]`; `padding`: `[batch, L]`, true at padded positions (masked as
    /// keys).
    pub fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let d = hidden / self.heads;
        // [batch, L, hidden] -> [batch, heads, L, d]
        let split = |t: Tensor<3>| t.reshape([batch, seq, self.heads, d]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f64).sqrt());
        let scores = scores.mask_fill(padding.reshape([batch, 1, 1, seq]), MASKED_SCORE);
        let context = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden]);
        self.norm.forward(x + self.output.forward(context))
    }
}

/// One encoder layer: attention, then `LayerNorm(a + Dense(GELU(Dense(a))))`.
#[derive(Module, Debug)]
pub struct BertLayer {
    attention: BertAttention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
}

impl BertLayer {
    /// `x`: `[batch, L, hidden]`; `padding`: `[batch, L]`, true at padded positions.
    pub fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let a = self.attention.forward(x, padding);
        let inner = gelu(self.intermediate.forward(a.clone()));
        self.norm.forward(a + self.output.forward(inner))
    }
}

/// A BERT encoder (no pooler): token ids in, one vector per token out; see the module docs.
#[derive(Module, Debug)]
pub struct Bert {
    embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
}

impl Bert {
    /// The last hidden state `[batch, seq, hidden]` for token `ids` `[batch, seq]` and `mask`
    /// `[batch, seq]` (1 = real token, 0 = padding). Outputs at padded positions are computed
    /// (as in HF) but mean nothing.
    ///
    /// # Panics
    ///
    /// If `ids` and `mask` differ in shape, or `seq` exceeds `max_position_embeddings`.
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<3> {
        assert_eq!(
            ids.dims(),
            mask.dims(),
            "Bert::forward: ids and mask must have the same shape"
        );
        let [_, seq] = ids.dims();
        let max = self.max_positions();
        assert!(
            seq <= max,
            "Bert::forward: sequence length {seq} exceeds max_position_embeddings = {max}; truncate the input"
        );
        let padding = mask.equal_elem(0);
        let mut x = self.embeddings.forward(ids);
        for layer in &self.layers {
            x = layer.forward(x, padding.clone());
        }
        x
    }

    /// sentence-transformers' mean pooling: the average of `hidden` `[batch, seq, h]` over the
    /// positions where `mask` `[batch, seq]` is 1, `[batch, h]` (a row without any real token
    /// gives zeros).
    pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2, Int>) -> Tensor<2> {
        let [batch, seq, h] = hidden.dims();
        let m = mask.float().reshape([batch, seq, 1]);
        let sum: Tensor<2> = (hidden * m.clone()).sum_dim(1).reshape([batch, h]);
        let count: Tensor<2> = m.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
        sum / count
    }

    /// sentence-transformers' `Normalize`: each row divided by its L2 norm (at least 1e-12).
    pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
        let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
        x / norm
    }

    /// [`Bert::forward`] then [`Bert::mean_pool`]: one vector per sequence, `[batch, hidden]`.
    pub fn embed(&self, ids: Tensor<2, Int>, mask: Tensor<2, Int>) -> Tensor<2> {
        Self::mean_pool(self.forward(ids, mask.clone()), mask)
    }

    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Width of the token vectors.
    pub fn hidden_size(&self) -> usize {
        self.embeddings.norm.gamma.shape().dims::<1>()[0]
    }

    /// The longest sequence [`Bert::forward`] accepts (`max_position_embeddings`).
    pub fn max_positions(&self) -> usize {
        self.embeddings.position.weight.shape().dims::<2>()[0]
    }

    /// Stops gradients for the embeddings and all but the top `n` layers (`n = 0` freezes
    /// everything; `n ≥ num_layers` leaves every layer trainable, the embeddings frozen). Uses
    /// burn's [`Module::no_grad`]: frozen parameters get no gradient, so the optimiser leaves
    /// them as they are.
    pub fn freeze_below_top(self, n: usize) -> Self {
        let total = self.layers.len();
        let keep_from = total.saturating_sub(n);
        Bert {
            embeddings: self.embeddings.no_grad(),
            layers: self
                .layers
                .into_iter()
                .enumerate()
                .map(|(i, layer)| {
                    if i < keep_from {
                        layer.no_grad()
                    } else {
                        layer
                    }
                })
                .collect(),
        }
    }

    /// Loads HF-layout BERT weights (`model.safetensors` of a `BertModel`, any name prefix
    /// such as `bert.` detected from `embeddings.word_embeddings.weight` and stripped) into this
    /// freshly built model. Every embedding and encoder tensor must be there with its shape
    /// and a float type (f16/bf16/f64 are converted to f32), and the file may hold no other
    /// `embeddings.*` / `encoder.*` tensor; `pooler.*`, `embeddings.position_ids` and task
    /// heads are ignored. Errors name the file and the first offending keys.
    pub fn load_hf_safetensors(mut self, path: &Path) -> Result<Self> {
        let fail = |message: String| Error::Weights {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(fail("no such file".into()));
        }
        let first_line =
            |e: &dyn std::fmt::Display| e.to_string().lines().next().unwrap_or("").to_string();
        let file = SafetensorsStore::from_file(path)
            .get_all_tensors()
            .map_err(|e| fail(format!("cannot read it as safetensors: {}", first_line(&e))))?
            .values()
            .map(|t| (t.name.clone(), (t.shape.to_vec(), t.dtype)))
            .collect::<BTreeMap<_, _>>();
        let prefix = name_prefix(&file).map_err(fail)?;

        // What the model needs, in HF names and PyTorch layout.
        let expected: BTreeMap<String, Vec<usize>> = self
            .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
            .into_iter()
            .map(|t| {
                let hf = hf_name(&t.name)
                    .unwrap_or_else(|| unreachable!("no HF name for parameter {}", t.name));
                (format!("{prefix}{hf}"), t.shape.to_vec())
            })
            .collect();
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        for (name, shape) in &expected {
            match file.get(name) {
                None => missing.push(format!("{name} {shape:?}")),
                Some((found, _)) if found != shape => {
                    mismatched.push(format!("{name} expects {shape:?}, file has {found:?}"))
                }
                Some((_, dtype)) if !dtype.is_float() => {
                    mismatched.push(format!("{name} is {dtype:?}, not a float tensor"))
                }
                Some(_) => {}
            }
        }
        let unexpected: Vec<String> = file
            .iter()
            .filter(|(name, _)| {
                let Some(rest) = name.strip_prefix(&prefix) else {
                    return false;
                };
                let encoder = rest.starts_with("embeddings.") || rest.starts_with("encoder.");
                encoder && rest != "embeddings.position_ids" && !expected.contains_key(*name)
            })
            .map(|(name, (shape, _))| format!("{name} {shape:?}"))
            .collect();
        if !missing.is_empty() || !mismatched.is_empty() || !unexpected.is_empty() {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing {}", crate::weights::first_three(missing)));
            }
            if !mismatched.is_empty() {
                parts.push(format!(
                    "shape mismatch {}",
                    crate::weights::first_three(mismatched)
                ));
            }
            if !unexpected.is_empty() {
                parts.push(format!(
                    "unexpected {} (a config.json with other sizes?)",
                    crate::weights::first_three(unexpected)
                ));
            }
            return Err(fail(format!(
                "does not fit this BERT configuration: {}",
                parts.join("; ")
            )));
        }

        let remapper = KeyRemapper::from_patterns(remap_rules(&prefix))
            .map_err(|e| fail(format!("bad key remapping rule: {e}")))?;
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32)))
            .remap(remapper)
            .map_indices_contiguous(false)
            .validate(true)
            .allow_partial(true);
        let result = self
            .load_from(&mut store)
            .map_err(|e| fail(format!("cannot load: {}", first_line(&e))))?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
            problems.extend(result.missing.iter().map(|(p, _)| format!("missing {p}")));
            return Err(fail(format!(
                "cannot load into the BERT encoder: {}",
                crate::weights::first_three(problems)
            )));
        }
        Ok(self)
    }
}

/// HF module paths and distill's, `#` standing for the layer index (see the module docs).
const NAMES: &[(&str, &str)] = &[
    ("embeddings.word_embeddings", "embeddings.word"),
    ("embeddings.position_embeddings", "embeddings.position"),
    ("embeddings.token_type_embeddings", "embeddings.token_type"),
    ("embeddings.LayerNorm", "embeddings.norm"),
    (
        "encoder.layer.#.attention.self.query",
        "layers.#.attention.query",
    ),
    (
        "encoder.layer.#.attention.self.key",
        "layers.#.attention.key",
    ),
    (
        "encoder.layer.#.attention.self.value",
        "layers.#.attention.value",
    ),
    (
        "encoder.layer.#.attention.output.dense",
        "layers.#.attention.output",
    ),
    (
        "encoder.layer.#.attention.output.LayerNorm",
        "layers.#.attention.norm",
    ),
    (
        "encoder.layer.#.intermediate.dense",
        "layers.#.intermediate",
    ),
    ("encoder.layer.#.output.dense", "layers.#.output"),
    ("encoder.layer.#.output.LayerNorm", "layers.#.norm"),
];

/// A regex matching `module.(weight|bias)` exactly, with the layer index as group 1 and the
/// parameter name as the last group.
fn module_pattern(prefix: &str, module: &str) -> String {
    let module: Vec<String> = module.split('#').map(regex::escape).collect();
    let module = module.join(r"(\d+)");
    format!(r"^{}{module}\.(weight|bias)$", regex::escape(prefix))
}

/// The replacement for [`module_pattern`]'s match: `to` with its index and parameter name.
fn module_replacement(from: &str, to: &str) -> String {
    if from.contains('#') {
        format!("{}.${{2}}", to.replace('#', "${1}"))
    } else {
        format!("{to}.${{1}}")
    }
}

/// Key remapping rules turning the file's names (with `prefix`) into distill's.
fn remap_rules(prefix: &str) -> Vec<(String, String)> {
    NAMES
        .iter()
        .map(|(hf, ours)| (module_pattern(prefix, hf), module_replacement(hf, ours)))
        .collect()
}

/// The HF name (no prefix) of one of distill's parameter paths in PyTorch naming
/// (`weight`/`bias`, as `BurnToPyTorchAdapter` names LayerNorm's `gamma`/`beta`).
fn hf_name(ours: &str) -> Option<String> {
    NAMES.iter().find_map(|(hf, burn)| {
        let re = regex::Regex::new(&module_pattern("", burn)).expect("valid pattern");
        re.is_match(ours)
            .then(|| re.replace(ours, module_replacement(burn, hf)).into_owned())
    })
}

/// The prefix in front of `embeddings.word_embeddings.weight` (`""`, `bert.`, ...).
fn name_prefix(
    file: &BTreeMap<String, (Vec<usize>, DType)>,
) -> std::result::Result<String, String> {
    const ANCHOR: &str = "embeddings.word_embeddings.weight";
    let found: Vec<&String> = file.keys().filter(|n| n.ends_with(ANCHOR)).collect();
    match found.as_slice() {
        [one] => Ok(one[..one.len() - ANCHOR.len()].to_string()),
        [] => Err(format!(
            "no `{ANCHOR}` tensor: not a BERT state dict ({} tensors, e.g. {})",
            file.len(),
            crate::weights::first_three(file.keys().cloned().collect())
        )),
        many => Err(format!(
            "several `{ANCHOR}` tensors ({}): cannot tell which encoder to load",
            crate::weights::first_three(many.iter().map(|s| s.to_string()).collect())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> BertConfig {
        BertConfig {
            vocab_size: 20,
            hidden_size: 8,
            num_hidden_layers: 3,
            num_attention_heads: 2,
            intermediate_size: 12,
            max_position_embeddings: 10,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
        }
    }

    #[test]
    fn names_map_both_ways() {
        let device = crate::default_device();
        let model = tiny().init(&device);
        let rules = KeyRemapper::from_patterns(remap_rules("bert.")).unwrap();
        for t in model.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true) {
            let hf = hf_name(&t.name).unwrap();
            assert!(hf.starts_with("embeddings.") || hf.starts_with("encoder.layer."));
            let mut back = format!("bert.{hf}");
            for (re, to) in &rules.patterns {
                back = re.replace_all(&back, to.as_str()).into_owned();
            }
            assert_eq!(back, t.name, "{hf}");
        }
        assert_eq!(
            hf_name("layers.2.attention.norm.weight").as_deref(),
            Some("encoder.layer.2.attention.output.LayerNorm.weight")
        );
        assert_eq!(
            hf_name("layers.0.output.bias").as_deref(),
            Some("encoder.layer.0.output.dense.bias")
        );
        assert_eq!(hf_name("pooler.dense.weight"), None);
    }

    #[test]
    fn num_params_counts_the_model() {
        let device = crate::default_device();
        let config = tiny();
        assert_eq!(config.num_params(), config.init(&device).num_params());
        let minilm = BertConfig {
            vocab_size: 30522,
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            intermediate_size: 1536,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
        };
        assert_eq!(minilm.num_params(), 22_565_376);
    }

    #[test]
    fn mean_pool_ignores_padding_and_empty_rows() {
        let device = crate::default_device();
        let hidden = Tensor::<3>::from_data(
            TensorData::new(
                vec![
                    1.0f32, 2.0, 3.0, 4.0, 100.0, 100.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0,
                ],
                [2, 3, 2],
            ),
            &device,
        );
        let mask = Tensor::<2, Int>::from_data(
            TensorData::new(vec![1i64, 1, 0, 0, 0, 0], [2, 3]),
            &device,
        );
        let pooled = Bert::mean_pool(hidden, mask)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(pooled, vec![2.0, 3.0, 0.0, 0.0]);
        let x = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &device);
        let n = Bert::l2_normalize(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(n, vec![0.6, 0.8]);
    }
}
