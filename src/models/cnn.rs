//! Convolutional network: blocks of `3×3 conv → BatchNorm → ReLU` (optionally residual), each
//! followed by 2×2 max pooling, then fully connected layers.

use super::{Feature, NamedFeature};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// Configuration of a [`Cnn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnConfig {
    /// Output channels of each convolution, one list per block; every block ends with a 2×2
    /// max pool, so each block halves the spatial size.
    pub blocks: Vec<Vec<usize>>,
    /// Widths of the fully connected hidden layers after the last block.
    #[serde(default)]
    pub hidden: Vec<usize>,
    /// Convolution kernel size (odd; "same" padding).
    #[serde(default = "default_kernel")]
    pub kernel_size: usize,
    /// BatchNorm after each convolution.
    #[serde(default = "default_true")]
    pub batch_norm: bool,
    /// Add a shortcut around each block (a 1×1 convolution where the widths differ).
    #[serde(default)]
    pub residual: bool,
    /// Dropout probability before each fully connected layer.
    #[serde(default)]
    pub dropout: f64,
}

fn default_kernel() -> usize {
    3
}
fn default_true() -> bool {
    true
}

/// One convolution with its optional BatchNorm.
#[derive(Module, Debug)]
pub struct ConvUnit {
    conv: Conv2d,
    norm: Option<BatchNorm>,
}

impl ConvUnit {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = crate::kernels::conv2d(&self.conv, x);
        match &self.norm {
            Some(n) => n.forward(x),
            None => x,
        }
    }

    /// `relu(self.forward(x))`; without BatchNorm the ReLU is fused into the convolution.
    fn forward_relu(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.norm {
            Some(_) => relu(self.forward(x)),
            None => crate::kernels::conv2d_relu(&self.conv, x),
        }
    }
}

/// A block of convolutions with an optional shortcut.
#[derive(Module, Debug)]
pub struct CnnBlock {
    units: Vec<ConvUnit>,
    /// 1×1 projection for a residual block whose input and output widths differ.
    projection: Option<Conv2d>,
    residual: bool,
}

impl CnnBlock {
    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let last = self.units.len() - 1;
        let mut x = input.clone();
        for (i, unit) in self.units.iter().enumerate() {
            x = if i < last || !self.residual {
                unit.forward_relu(x)
            } else {
                unit.forward(x)
            };
        }
        if self.residual {
            let shortcut = match &self.projection {
                Some(p) => crate::kernels::conv2d(p, input),
                None => input,
            };
            x = relu(x + shortcut);
        }
        x
    }
}

/// A convolutional classifier.
#[derive(Module, Debug)]
pub struct Cnn {
    blocks: Vec<CnnBlock>,
    pool: MaxPool2d,
    hidden: Vec<Linear>,
    dropout: Dropout,
    output: Linear,
}

impl CnnConfig {
    /// Spatial size after all blocks, for an `h × w` input.
    pub fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        let n = self.blocks.len() as u32;
        (h >> n, w >> n)
    }

    /// Builds the network for `[channels, h, w]` inputs and `classes` outputs.
    pub fn init(&self, input: [usize; 3], classes: usize, device: &Device) -> Cnn {
        let [mut channels, h, w] = input;
        let pad = self.kernel_size / 2;
        let mut blocks = Vec::new();
        for widths in &self.blocks {
            let block_in = channels;
            let mut units = Vec::new();
            for &c in widths {
                let conv = Conv2dConfig::new([channels, c], [self.kernel_size, self.kernel_size])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .with_bias(!self.batch_norm)
                    .init(device);
                let norm = self
                    .batch_norm
                    .then(|| BatchNormConfig::new(c).init(device));
                units.push(ConvUnit { conv, norm });
                channels = c;
            }
            let projection = (self.residual && block_in != channels).then(|| {
                Conv2dConfig::new([block_in, channels], [1, 1])
                    .with_bias(false)
                    .init(device)
            });
            blocks.push(CnnBlock {
                units,
                projection,
                residual: self.residual,
            });
        }
        let (oh, ow) = self.output_size(h, w);
        let mut width = channels * oh * ow;
        let mut hidden = Vec::new();
        for &hd in &self.hidden {
            hidden.push(LinearConfig::new(width, hd).init(device));
            width = hd;
        }
        Cnn {
            blocks,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            hidden,
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(width, classes).init(device),
        }
    }

    /// Names of the features [`Cnn::forward_features`] exposes.
    pub fn feature_names(&self) -> Vec<String> {
        let blocks = (1..=self.blocks.len()).map(|i| format!("block{i}"));
        let hidden = (1..=self.hidden.len()).map(|i| format!("hidden{i}"));
        blocks.chain(hidden).collect()
    }
}

impl Cnn {
    /// Logits for `[n, c, h, w]` images.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_features(images, false).0
    }

    /// Logits and, when `collect` is set, each block's output before pooling (`block1`, ...)
    /// and each hidden layer's activations (`hidden1`, ...).
    pub fn forward_features(
        &self,
        images: Tensor<4>,
        collect: bool,
    ) -> (Tensor<2>, Vec<NamedFeature>) {
        let mut features = Vec::new();
        let mut x = images;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if collect {
                features.push(NamedFeature {
                    name: format!("block{}", i + 1),
                    value: Feature::Map(x.clone()),
                });
            }
            x = crate::kernels::max_pool2d(&self.pool, x);
        }
        let mut v: Tensor<2> = x.flatten(1, 3);
        for (i, layer) in self.hidden.iter().enumerate() {
            v = relu(crate::kernels::linear::forward(
                layer,
                self.dropout.forward(v),
            ));
            if collect {
                features.push(NamedFeature {
                    name: format!("hidden{}", i + 1),
                    value: Feature::Vector(v.clone()),
                });
            }
        }
        (
            crate::kernels::linear::forward(&self.output, self.dropout.forward(v)),
            features,
        )
    }
}
