//! Architectures, declared in the experiment file as a tagged enum (`type = "mlp"` or
//! `type = "cnn"`), built into a [`Model`], and saved or loaded as safetensors.

mod cnn;
pub mod import;
mod mlp;
pub mod mobilenet;
pub mod resnet;

pub use cnn::{Cnn, CnnConfig};
pub use import::{ImportConfig, ImportPlan, WeightsFormat};
pub use mlp::{Mlp, MlpConfig};
pub use mobilenet::{MobileNetV2, MobileNetV2Config};
pub use resnet::{ResNet, ResNetConfig};

use crate::error::{Error, Result};
use crate::vocab::BadField;
pub use crate::vocab::{Feature, NamedFeature};
pub(crate) use crate::weights::{first_three, load_safetensors, save_safetensors};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// An architecture, picked by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ModelConfig {
    /// A multi-layer perceptron.
    Mlp(MlpConfig),
    /// A convolutional network.
    Cnn(CnnConfig),
    /// A ResNet of BasicBlocks (torchvision's names).
    Resnet(ResNetConfig),
    /// A MobileNetV2 (depthwise-separable inverted residuals).
    Mobilenetv2(MobileNetV2Config),
}

/// A built classifier. (A model is built once and moved rarely, so the variants' sizes do not
/// matter.)
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Model {
    /// A multi-layer perceptron.
    Mlp(Mlp),
    /// A convolutional network.
    Cnn(Cnn),
    /// A ResNet.
    Resnet(ResNet),
    /// A MobileNetV2.
    Mobilenetv2(MobileNetV2),
}

impl ModelConfig {
    /// Checks sizes and probabilities, naming the field under `prefix`.
    pub fn validate(&self, prefix: &str, bad: BadField) -> Result<()> {
        use crate::limits::{MAX_KERNEL, MAX_LAYERS, MAX_WIDTH, at_most};
        let widths = |field: &str, list: &[usize]| -> Result<()> {
            at_most(
                &format!("{prefix}.{field} (layers)"),
                list.len(),
                MAX_LAYERS,
                bad,
            )?;
            for (i, &w) in list.iter().enumerate() {
                at_most(&format!("{prefix}.{field}[{i}]"), w, MAX_WIDTH, bad)?;
            }
            Ok(())
        };
        match self {
            ModelConfig::Resnet(r) => {
                let layout = r
                    .layout()
                    .map_err(|(f, v, why)| bad(&format!("{prefix}.{f}"), v, &why))?;
                at_most(
                    &format!("{prefix}.stem_width"),
                    layout.stem_width,
                    MAX_WIDTH,
                    bad,
                )?;
                widths("widths", &layout.widths)?;
                for (i, &b) in layout.blocks.iter().enumerate() {
                    at_most(&format!("{prefix}.blocks[{i}]"), b, MAX_LAYERS, bad)?;
                }
                return Ok(());
            }
            ModelConfig::Mobilenetv2(m) => {
                m.check()
                    .map_err(|(f, v, why)| bad(&format!("{prefix}.{f}"), v, &why))?;
                at_most(
                    &format!("{prefix}.stages (count)"),
                    m.stages.len(),
                    MAX_LAYERS,
                    bad,
                )?;
                for (i, [t, c, n, _]) in m.stages.iter().enumerate() {
                    at_most(&format!("{prefix}.stages[{i}] (t)"), *t, 64, bad)?;
                    at_most(&format!("{prefix}.stages[{i}] (c)"), *c, MAX_WIDTH, bad)?;
                    at_most(&format!("{prefix}.stages[{i}] (n)"), *n, MAX_LAYERS, bad)?;
                }
                at_most(
                    &format!("{prefix}.last_width"),
                    m.last_width,
                    MAX_WIDTH,
                    bad,
                )?;
                at_most(
                    &format!("{prefix}.stem_width"),
                    m.stem_width,
                    MAX_WIDTH,
                    bad,
                )?;
                return Ok(());
            }
            ModelConfig::Mlp(m) => widths("hidden", &m.hidden)?,
            ModelConfig::Cnn(c) => {
                at_most(
                    &format!("{prefix}.blocks (count)"),
                    c.blocks.len(),
                    MAX_LAYERS,
                    bad,
                )?;
                for (b, block) in c.blocks.iter().enumerate() {
                    widths(&format!("blocks[{b}]"), block)?;
                }
                widths("hidden", &c.hidden)?;
                at_most(
                    &format!("{prefix}.kernel_size"),
                    c.kernel_size,
                    MAX_KERNEL,
                    bad,
                )?;
            }
        }
        let dropout = match self {
            ModelConfig::Resnet(_) | ModelConfig::Mobilenetv2(_) => 0.0,
            ModelConfig::Mlp(m) => {
                if let Some(i) = m.hidden.iter().position(|&h| h == 0) {
                    return Err(bad(
                        &format!("{prefix}.hidden[{i}]"),
                        "0".into(),
                        "widths must be at least 1",
                    ));
                }
                m.dropout
            }
            ModelConfig::Cnn(c) => {
                if c.blocks.is_empty() {
                    return Err(bad(
                        &format!("{prefix}.blocks"),
                        "[]".into(),
                        "give at least one block",
                    ));
                }
                for (b, block) in c.blocks.iter().enumerate() {
                    if block.is_empty() || block.contains(&0) {
                        return Err(bad(
                            &format!("{prefix}.blocks[{b}]"),
                            format!("{block:?}"),
                            "each block needs at least one convolution, each at least 1 channel wide",
                        ));
                    }
                }
                if c.kernel_size % 2 == 0 {
                    return Err(bad(
                        &format!("{prefix}.kernel_size"),
                        c.kernel_size.to_string(),
                        "must be odd",
                    ));
                }
                if let Some(i) = c.hidden.iter().position(|&h| h == 0) {
                    return Err(bad(
                        &format!("{prefix}.hidden[{i}]"),
                        "0".into(),
                        "widths must be at least 1",
                    ));
                }
                c.dropout
            }
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

    /// The memory of this model for `[channels, h, w]` images and `classes` outputs, from its
    /// configuration alone.
    pub fn memory_estimate(
        &self,
        input: [usize; 3],
        classes: usize,
    ) -> crate::limits::MemoryEstimate {
        let mut e = crate::limits::MemoryEstimate::default();
        match self {
            ModelConfig::Resnet(r) => return r.memory_estimate(input, classes),
            ModelConfig::Mobilenetv2(m) => return m.memory_estimate(input, classes),
            ModelConfig::Mlp(m) => e.dense_stack(input.iter().product(), &m.hidden, classes),
            ModelConfig::Cnn(c) => {
                let [mut channels, mut h, mut w] = input.map(|v| v as u128);
                let k2 = (c.kernel_size * c.kernel_size) as u128;
                for block in &c.blocks {
                    let block_in = channels;
                    for &out in block {
                        let out = out as u128;
                        e.params += k2 * channels * out + 3 * out;
                        // convolution output, normalised and activated
                        e.activations_per_sample += 3 * out * h * w;
                        channels = out;
                    }
                    if c.residual {
                        e.params += block_in * channels;
                        e.activations_per_sample += channels * h * w;
                    }
                    h /= 2;
                    w /= 2;
                    e.activations_per_sample += channels * h * w;
                }
                let flat = usize::try_from(channels * h * w).unwrap_or(usize::MAX);
                e.dense_stack(flat, &c.hidden, classes);
            }
        }
        e
    }

    /// Checks that images of `h × w` pixels survive the architecture's pooling.
    pub fn check_input(&self, prefix: &str, h: usize, w: usize) -> Result<()> {
        let strided = match self {
            ModelConfig::Resnet(r) => Some((r.output_size(h, w), r.describe())),
            ModelConfig::Mobilenetv2(m) => Some((m.output_size(h, w), m.describe())),
            _ => None,
        };
        if let Some(((oh, ow), describe)) = strided
            && (oh == 0 || ow == 0)
        {
            return Err(Error::ConfigValue {
                path: "<experiment>".into(),
                field: prefix.to_string(),
                value: describe,
                reason: format!("{h}x{w} images shrink to nothing in its strided layers"),
            });
        }
        if let ModelConfig::Cnn(c) = self {
            let (oh, ow) = c.output_size(h, w);
            if oh == 0 || ow == 0 {
                return Err(Error::ConfigValue {
                    path: "<experiment>".into(),
                    field: format!("{prefix}.blocks"),
                    value: format!("{} blocks", c.blocks.len()),
                    reason: format!(
                        "{h}x{w} images shrink to nothing after {} 2x2 poolings",
                        c.blocks.len()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Builds the model for `[channels, h, w]` images and `classes` outputs.
    pub fn init(&self, input: [usize; 3], classes: usize, device: &Device) -> Model {
        match self {
            ModelConfig::Mlp(m) => Model::Mlp(m.init(input.iter().product(), classes, device)),
            ModelConfig::Cnn(c) => Model::Cnn(c.init(input, classes, device)),
            ModelConfig::Resnet(r) => Model::Resnet(r.init(input, classes, device)),
            ModelConfig::Mobilenetv2(m) => Model::Mobilenetv2(m.init(input, classes, device)),
        }
    }

    /// Names of the intermediate features the model exposes.
    pub fn feature_names(&self) -> Vec<String> {
        match self {
            ModelConfig::Mlp(m) => m.feature_names(),
            ModelConfig::Cnn(c) => c.feature_names(),
            ModelConfig::Resnet(r) => r.feature_names(),
            ModelConfig::Mobilenetv2(m) => m.feature_names(),
        }
    }

    /// A short human description, e.g. `cnn [32,32]-[64,64] fc[256]`.
    pub fn describe(&self) -> String {
        match self {
            ModelConfig::Resnet(r) => r.describe(),
            ModelConfig::Mobilenetv2(m) => m.describe(),
            ModelConfig::Mlp(m) => format!("mlp {:?}", m.hidden),
            ModelConfig::Cnn(c) => {
                let blocks: Vec<String> = c.blocks.iter().map(|b| format!("{b:?}")).collect();
                format!(
                    "cnn {}{} fc{:?}",
                    blocks.join("-"),
                    if c.residual { " residual" } else { "" },
                    c.hidden
                )
            }
        }
    }
}

impl Model {
    /// Logits for `[n, c, h, w]` images.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Model::Mlp(m) => m.forward(images),
            Model::Cnn(c) => c.forward(images),
            Model::Resnet(r) => r.forward(images),
            Model::Mobilenetv2(m) => m.forward(images),
        }
    }

    /// Logits and the named intermediate features.
    pub fn forward_features(&self, images: Tensor<4>) -> (Tensor<2>, Vec<NamedFeature>) {
        match self {
            Model::Mlp(m) => m.forward_features(images, true),
            Model::Cnn(c) => c.forward_features(images, true),
            Model::Resnet(r) => r.forward_features(images, true),
            Model::Mobilenetv2(m) => m.forward_features(images, true),
        }
    }

    /// Saves the weights as safetensors, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_safetensors(self, path)
    }

    /// Loads weights saved by [`Model::save`] into this (freshly built) model; every tensor must
    /// be present with its shape.
    pub fn load(self, path: &Path) -> Result<Self> {
        load_safetensors(self, path)
    }
}

impl crate::classifier::Classifier for Model {
    type Input = Tensor<4>;

    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward(images)
    }

    fn logits_and_features(&self, images: Tensor<4>) -> (Tensor<2>, Vec<NamedFeature>) {
        self.forward_features(images)
    }
}
