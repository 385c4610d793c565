//! The shared vocabulary: small types that every layer names and that depend on nothing of
//! distill's (only on burn's tensors and serde). Configuration, models, objectives, data and the
//! pipeline all speak in these terms, so none of them has to import another for them.

use crate::error::Error;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Builds an error about one field of a file: `(field, value, reason)`.
pub type BadField<'a> = &'a dyn Fn(&str, String, &str) -> Error;

/// Per-pixel normalisation of images: `(x / 255 - mean) / std`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Mean of the pixel values in [0, 1].
    pub mean: f32,
    /// Standard deviation of the pixel values in [0, 1].
    pub std: f32,
}

/// The kind of data an experiment works on (`task = "..."` in the experiment file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Images (IDX files or the built-in Fashion-MNIST subset).
    #[default]
    Image,
    /// Labelled texts (CSV, TSV, JSONL).
    Text,
    /// Rows of numeric and categorical features (CSV).
    Tabular,
}

impl TaskKind {
    /// `image`, `text` or `tabular`.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Image => "image",
            TaskKind::Text => "text",
            TaskKind::Tabular => "tabular",
        }
    }

    /// What one sample is called in reports: `images`, `texts`, `rows`.
    pub fn unit(self) -> &'static str {
        match self {
            TaskKind::Image => "images",
            TaskKind::Text => "texts",
            TaskKind::Tabular => "rows",
        }
    }
}

/// The two models of an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The large model whose outputs are distilled.
    Teacher,
    /// The small model being trained.
    Student,
}

impl Role {
    /// `teacher` or `student`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Student => "student",
        }
    }
}

/// Which student.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudentKind {
    /// Trained with the experiment's KD objective against the recorded soft labels.
    Kd,
    /// The same student trained on hard labels only.
    Baseline,
}

impl StudentKind {
    /// `student_kd` or `student_baseline`.
    pub fn name(self) -> &'static str {
        match self {
            StudentKind::Kd => "student_kd",
            StudentKind::Baseline => "student_baseline",
        }
    }
}

/// An intermediate activation.
#[derive(Debug, Clone)]
pub enum Feature {
    /// A `[n, c, h, w]` feature map.
    Map(Tensor<4>),
    /// A `[n, d]` vector.
    Vector(Tensor<2>),
}

/// An intermediate activation with its layer name.
#[derive(Debug, Clone)]
pub struct NamedFeature {
    /// The layer's name, as the config refers to it (`block2`, `hidden1`, ...).
    pub name: String,
    /// Its value.
    pub value: Feature,
}

/// The shape of a feature without the batch dimension: `[c, h, w]` or `[d]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureShape {
    /// A feature map.
    Map([usize; 3]),
    /// A vector.
    Vector(usize),
}

impl FeatureShape {
    /// The shape of `feature`.
    pub fn of(feature: &Feature) -> FeatureShape {
        match feature {
            Feature::Map(t) => {
                let [_, c, h, w] = t.dims();
                FeatureShape::Map([c, h, w])
            }
            Feature::Vector(t) => FeatureShape::Vector(t.dims()[1]),
        }
    }
}

impl std::fmt::Display for FeatureShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeatureShape::Map([c, h, w]) => write!(f, "{c}x{h}x{w} map"),
            FeatureShape::Vector(d) => write!(f, "{d}-vector"),
        }
    }
}

/// Data augmentation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Random crop after zero padding by this many pixels (0 = off).
    #[serde(default)]
    pub crop_padding: usize,
    /// Random horizontal flip with probability 1/2.
    #[serde(default)]
    pub hflip: bool,
}
