//! Multi-layer perceptron: flatten, then `Linear → ReLU → Dropout` per hidden width.

use super::{Feature, NamedFeature};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// Configuration of an [`Mlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// Dropout probability after each hidden layer.
    #[serde(default)]
    pub dropout: f64,
}

/// A multi-layer perceptron over flattened images, or over rows of features.
#[derive(Module, Debug)]
pub struct Mlp {
    pub(crate) hidden: Vec<Linear>,
    pub(crate) dropout: Dropout,
    pub(crate) output: Linear,
}

impl crate::classifier::Classifier for Mlp {
    type Input = Tensor<2>;

    fn logits(&self, rows: Tensor<2>) -> Tensor<2> {
        self.forward_rows(rows, false).0
    }

    fn logits_and_features(&self, rows: Tensor<2>) -> (Tensor<2>, Vec<NamedFeature>) {
        self.forward_rows(rows, true)
    }
}

impl MlpConfig {
    /// Builds the network for `inputs` features and `classes` outputs.
    pub fn init(&self, inputs: usize, classes: usize, device: &Device) -> Mlp {
        let mut hidden = Vec::new();
        let mut width = inputs;
        for &h in &self.hidden {
            hidden.push(LinearConfig::new(width, h).init(device));
            width = h;
        }
        Mlp {
            hidden,
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(width, classes).init(device),
        }
    }

    /// Names of the features [`Mlp::forward_features`] exposes.
    pub fn feature_names(&self) -> Vec<String> {
        (1..=self.hidden.len())
            .map(|i| format!("hidden{i}"))
            .collect()
    }
}

impl Mlp {
    /// Logits for `[n, c, h, w]` images.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_features(images, false).0
    }

    /// Logits and, when `collect` is set, each hidden layer's activations (`hidden1`, ...).
    pub fn forward_features(
        &self,
        images: Tensor<4>,
        collect: bool,
    ) -> (Tensor<2>, Vec<NamedFeature>) {
        self.forward_rows(images.flatten(1, 3), collect)
    }

    /// Logits for `[n, features]` rows and, when `collect` is set, each hidden layer's
    /// activations (`hidden1`, ...).
    pub fn forward_rows(&self, rows: Tensor<2>, collect: bool) -> (Tensor<2>, Vec<NamedFeature>) {
        let mut x = rows;
        let mut features = Vec::new();
        for (i, layer) in self.hidden.iter().enumerate() {
            x = relu(crate::kernels::linear::forward(layer, x));
            if collect {
                features.push(NamedFeature {
                    name: format!("hidden{}", i + 1),
                    value: Feature::Vector(x.clone()),
                });
            }
            x = self.dropout.forward(x);
        }
        (crate::kernels::linear::forward(&self.output, x), features)
    }
}
