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

/// Most colour channels an image may have (grey, grey + alpha, RGB, RGBA).
pub const MAX_CHANNELS: usize = 4;

/// One value for every colour channel, or one per channel. Written as a number when it is
/// one value (as every grey-scale card and experiment file always was), else as a list of
/// 2 to [`MAX_CHANNELS`] numbers.
#[derive(Clone, Copy, PartialEq)]
pub struct PerChannel {
    values: [f32; MAX_CHANNELS],
    len: u8,
}

impl PerChannel {
    /// The same value for every channel.
    pub const fn all(v: f32) -> Self {
        PerChannel {
            values: [v; MAX_CHANNELS],
            len: 1,
        }
    }

    /// One value per channel; `None` for an empty list or more than [`MAX_CHANNELS`].
    pub fn of(values: &[f32]) -> Option<Self> {
        if values.is_empty() || values.len() > MAX_CHANNELS {
            return None;
        }
        let mut v = [values[0]; MAX_CHANNELS];
        v[..values.len()].copy_from_slice(values);
        Some(PerChannel {
            values: v,
            len: values.len() as u8,
        })
    }

    /// The values given (1 when one value serves every channel).
    pub fn as_slice(&self) -> &[f32] {
        &self.values[..self.len as usize]
    }

    /// The value of channel `c` (the single value for every channel when there is one).
    pub fn get(&self, c: usize) -> f32 {
        if self.len == 1 {
            self.values[0]
        } else {
            self.values[c]
        }
    }

    /// True when it fits images of `channels` channels (one value, or exactly one each).
    pub fn fits(&self, channels: usize) -> bool {
        self.len == 1 || self.len as usize == channels
    }

    /// Every value finite.
    pub fn is_finite(&self) -> bool {
        self.as_slice().iter().all(|v| v.is_finite())
    }

    /// Every value finite and above zero.
    pub fn is_positive(&self) -> bool {
        self.as_slice().iter().all(|v| v.is_finite() && *v > 0.0)
    }

    /// The values with six decimals (`0.286000`, or `[0.485000,0.456000,0.406000]`), for
    /// preprocessing descriptions.
    pub fn fixed6(&self) -> String {
        match self.as_slice() {
            [v] => format!("{v:.6}"),
            vs => {
                let parts: Vec<String> = vs.iter().map(|v| format!("{v:.6}")).collect();
                format!("[{}]", parts.join(","))
            }
        }
    }
}

impl std::fmt::Debug for PerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_slice() {
            [v] => write!(f, "{v:?}"),
            vs => write!(f, "{vs:?}"),
        }
    }
}

impl std::fmt::Display for PerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_slice() {
            [v] => write!(f, "{v}"),
            vs => {
                let parts: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl Serialize for PerChannel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_slice() {
            [v] => s.serialize_f32(*v),
            vs => vs.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for PerChannel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = PerChannel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a number, or a list of 1 to {MAX_CHANNELS} numbers (one per channel)"
                )
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<PerChannel, E> {
                Ok(PerChannel::all(v as f32))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PerChannel, E> {
                Ok(PerChannel::all(v as f32))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PerChannel, E> {
                Ok(PerChannel::all(v as f32))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<PerChannel, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<f64>()? {
                    if values.len() == MAX_CHANNELS {
                        return Err(serde::de::Error::invalid_length(MAX_CHANNELS + 1, &self));
                    }
                    values.push(v as f32);
                }
                PerChannel::of(&values)
                    .ok_or_else(|| serde::de::Error::invalid_length(values.len(), &self))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// How a photo of another size is brought to a model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Scaled (keeping its aspect) until it covers the size, then the centre cut out: what
    /// torchvision's `Resize` + `CenterCrop` evaluation transform does.
    #[default]
    CenterCrop,
    /// Scaled to the size, aspect ignored.
    Stretch,
}

/// Per-pixel normalisation of images: `(x / 255 - mean[c]) / std[c]` for channel `c`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    /// Mean of the pixel values in [0, 1] (one, or one per channel).
    pub mean: PerChannel,
    /// Standard deviation of the pixel values in [0, 1] (one, or one per channel).
    pub std: PerChannel,
}

impl Normalize {
    /// The same mean and standard deviation for every channel.
    pub const fn scalar(mean: f32, std: f32) -> Self {
        Normalize {
            mean: PerChannel::all(mean),
            std: PerChannel::all(std),
        }
    }

    /// Checks that it can be used on images of `channels` channels: finite means, positive
    /// standard deviations, and one value or one per channel. The reason when not.
    pub fn check(&self, channels: usize) -> std::result::Result<(), String> {
        if !self.std.is_positive() {
            return Err("std must be positive numbers".into());
        }
        if !self.mean.is_finite() {
            return Err("mean must be finite numbers".into());
        }
        for (name, v) in [("mean", self.mean), ("std", self.std)] {
            if !v.fits(channels) {
                return Err(format!(
                    "{name} gives {} values for images of {channels} channel(s): give one, or \
                     one per channel",
                    v.as_slice().len()
                ));
            }
        }
        Ok(())
    }
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
    /// torchvision's `RandomResizedCrop`, before the padded crop and the flip: a random part
    /// of the image (its area a share in `scale` of the image's, its aspect ratio log-uniform
    /// in `ratio`) resized back to the image's size, bilinearly. Not recordable as views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_resized_crop: Option<ResizedCrop>,
}

/// The ranges of [`AugmentConfig::random_resized_crop`] (torchvision's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizedCrop {
    /// Share of the image's area, `[low, high]`.
    #[serde(default = "default_rrc_scale")]
    pub scale: [f64; 2],
    /// Width / height, `[low, high]` (drawn log-uniformly).
    #[serde(default = "default_rrc_ratio")]
    pub ratio: [f64; 2],
}

fn default_rrc_scale() -> [f64; 2] {
    [0.08, 1.0]
}

fn default_rrc_ratio() -> [f64; 2] {
    [3.0 / 4.0, 4.0 / 3.0]
}

/// A crop box in an image: top, left, height, width (pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ResizedCrop {
    /// The reason when the ranges are not usable.
    pub fn check(&self) -> std::result::Result<(), String> {
        let [s0, s1] = self.scale;
        let [r0, r1] = self.ratio;
        if !(s0 > 0.0 && s0 <= s1 && s1 <= 1.0) {
            return Err(format!("scale = [{s0}, {s1}]: need 0 < low <= high <= 1"));
        }
        if !(r0 > 0.0 && r0 <= r1 && r1.is_finite()) {
            return Err(format!("ratio = [{r0}, {r1}]: need 0 < low <= high"));
        }
        Ok(())
    }

    /// Draws a crop box of an `h × w` image as torchvision does: up to 10 tries of area and
    /// ratio, then the centre crop that the ratio range allows.
    pub fn draw(&self, h: usize, w: usize, rng: &mut impl rand::Rng) -> CropBox {
        let area = (h * w) as f64;
        let (l0, l1) = (self.ratio[0].ln(), self.ratio[1].ln());
        for _ in 0..10 {
            let target = area * rng.random_range(self.scale[0]..=self.scale[1]);
            let aspect = rng.random_range(l0..=l1).exp();
            let cw = (target * aspect).sqrt().round() as usize;
            let ch = (target / aspect).sqrt().round() as usize;
            if cw > 0 && cw <= w && ch > 0 && ch <= h {
                let top = rng.random_range(0..=h - ch);
                let left = rng.random_range(0..=w - cw);
                return CropBox {
                    top,
                    left,
                    height: ch,
                    width: cw,
                };
            }
        }
        let in_ratio = w as f64 / h as f64;
        let (ch, cw) = if in_ratio < self.ratio[0] {
            (((w as f64) / self.ratio[0]).round() as usize, w)
        } else if in_ratio > self.ratio[1] {
            (h, ((h as f64) * self.ratio[1]).round() as usize)
        } else {
            (h, w)
        };
        let (ch, cw) = (ch.clamp(1, h), cw.clamp(1, w));
        CropBox {
            top: (h - ch) / 2,
            left: (w - cw) / 2,
            height: ch,
            width: cw,
        }
    }
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl AugmentConfig {
    /// Whether it changes images at all.
    pub fn is_active(&self) -> bool {
        self.crop_padding > 0 || self.hflip || self.random_resized_crop.is_some()
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
            crop: None,
        }
    }

    /// View `view` of training image `row` (`h × w`) in a store recorded with `seed`: drawn
    /// from its own seeded generator, so that any shard, process or order gives the same view.
    /// With a random resized crop the crop box is drawn first, then the offset and flip.
    pub fn recorded_view(
        &self,
        seed: u64,
        row: usize,
        view: usize,
        (h, w): (usize, usize),
    ) -> View {
        use rand::SeedableRng;
        let key = seed
            ^ (row as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (view as u64)
                .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
                .rotate_left(17);
        let mut rng = rand::rngs::StdRng::seed_from_u64(key);
        let crop = self
            .random_resized_crop
            .as_ref()
            .map(|rrc| rrc.draw(h, w, &mut rng));
        View {
            crop,
            ..self.draw(&mut rng)
        }
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
    /// A random resized crop taken (and resized back to the image's size) before the shift and
    /// flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<CropBox>,
}

/// Temperature scaling of a model's probabilities (Guo, Pleiss, Sun and Weinberger, "On
/// Calibration of Modern Neural Networks", ICML 2017): the model's probabilities are
/// `softmax(z / T)`, with the one number `T` fitted on held-out data by minimising the mean
/// negative log-likelihood. The arg-max of `z / T` is that of `z`, so accuracy is unchanged.
/// A fit that does not carry over is not applied: the temperature is fitted again on all but one
/// of [`CALIBRATION_FOLDS`] folds of the held-out rows and scored on the fold left out, and the
/// scaling is applied only when that cross-validated likelihood beats the model's own. Saved in a
/// model card, `distill predict` applies it when `applied`; the numbers are on the data it was
/// fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// The fitted temperature `T` (> 0): above 1 the model was over-confident.
    pub temperature: f64,
    /// What it was fitted on, e.g. `validation split, 6000 rows`.
    pub fitted_on: String,
    /// Mean negative log-likelihood there, before scaling.
    pub nll: f64,
    /// … and after.
    pub nll_calibrated: f64,
    /// Expected calibration error there, before scaling.
    pub ece: f64,
    /// … and after.
    pub ece_calibrated: f64,
    /// Mean negative log-likelihood of the held-out rows, each scored by the model's own
    /// probabilities (cross-validation's reference); absent with fewer than two rows a fold.
    pub cv_nll: Option<f64>,
    /// … and each scored at the temperature fitted without its fold.
    pub cv_nll_calibrated: Option<f64>,
    /// Whether the scaling is used: `cv_nll_calibrated < cv_nll`.
    pub applied: bool,
}

/// Folds of the cross-validation that decides whether a temperature scaling is applied.
pub const CALIBRATION_FOLDS: usize = 5;
