//! The shared vocabulary: small types that every layer names and that depend on nothing of
//! distill's (only on burn's tensors and serde). Configuration, models, objectives, data and the
//! pipeline all speak in these terms, so none of them has to import another for them.

use crate::error::Error;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Builds an error about one field of a file: `(field, value, reason)`.
pub type BadField<'a> = &'a dyn Fn(&str, String, &str) -> Error;

/// Refuses a list of names (classes) in which a name appears twice, or one is empty.
pub fn check_unique_names(
    field: &str,
    names: &[String],
    bad: BadField,
) -> crate::error::Result<()> {
    let mut seen = std::collections::BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(bad(
                &format!("{field}[{i}]"),
                format!("{name:?}"),
                "a class name cannot be empty",
            ));
        }
        if let Some(first) = seen.insert(name.as_str(), i) {
            return Err(bad(
                &format!("{field}[{i}]"),
                format!("{name:?}"),
                &format!("repeats {field}[{first}]: each class is named once"),
            ));
        }
    }
    Ok(())
}

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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Random crop after zero padding by this many pixels (0 = off).
    #[serde(default)]
    pub crop_padding: usize,
    /// Random horizontal flip with probability 1/2.
    #[serde(default)]
    pub hflip: bool,
    /// Offline KD with augmentation (students): the store holds this many augmented views of
    /// every training image, each with the teacher's logits for exactly that view, and the
    /// student draws one per image per epoch (0: a plain store, and a student that augments
    /// only with an online teacher).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub views: usize,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl AugmentConfig {
    /// Whether it changes images at all.
    pub fn is_active(&self) -> bool {
        self.crop_padding > 0 || self.hflip
    }

    /// Draws one view: vertical then horizontal offset in `−p..=p`, then the flip.
    pub fn draw(&self, rng: &mut impl rand::Rng) -> View {
        let pad = self.crop_padding.min(127) as i64;
        let dy = if pad > 0 {
            rng.random_range(-pad..=pad)
        } else {
            0
        };
        let dx = if pad > 0 {
            rng.random_range(-pad..=pad)
        } else {
            0
        };
        let flip = self.hflip && rng.random_bool(0.5);
        View {
            dy: dy as i8,
            dx: dx as i8,
            flip,
        }
    }

    /// View `view` of training image `row` in a store recorded with `seed`: drawn from its own
    /// seeded generator, so that any shard, process or order gives the same view.
    pub fn recorded_view(&self, seed: u64, row: usize, view: usize) -> View {
        use rand::SeedableRng;
        let key = seed
            ^ (row as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (view as u64)
                .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
                .rotate_left(17);
        self.draw(&mut rand::rngs::StdRng::seed_from_u64(key))
    }
}

/// One augmented view of an image: the crop offset (the source pixel of output `(y, x)` is
/// `(y + dy, x + dx)`, zero outside) and a horizontal flip applied after the shift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Vertical offset.
    pub dy: i8,
    /// Horizontal offset.
    pub dx: i8,
    /// Mirrored left to right.
    pub flip: bool,
}
