//! MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
//! CVPR 2018), the depthwise-separable student of the KD literature (mdistiller's and
//! RepDistiller's `MobileNetV2` students), laid out as torchvision's:
//!
//! ```text
//! stem: 3×3 conv / stem_stride → BN → ReLU6
//! stage (t, c, n, s), n inverted residual blocks, the first with stride s:
//!   [1×1 expand to t·in → BN → ReLU6]   (absent when t = 1)
//!   3×3 depthwise / stride → BN → ReLU6
//!   1×1 project to c → BN               (linear bottleneck)
//!   + input when stride 1 and in = c
//! last: 1×1 conv to last_width → BN → ReLU6 → global average pool → dropout → fc
//! ```
//!
//! Channel counts are `c · width_mult` rounded to a multiple of 8 (never below 90% of it), as
//! torchvision's `_make_divisible`. For 32-pixel inputs set `stem_stride = 1` (and, as CIFAR
//! variants do, the stride of the second stage to 1).

use super::{Feature, NamedFeature};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::relu6;
use serde::{Deserialize, Serialize};

/// torchvision's inverted-residual settings: expansion t, channels c, blocks n, stride s.
pub const TORCHVISION_STAGES: [[usize; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];

/// Configuration of a [`MobileNetV2`]; every field defaults to torchvision's `mobilenet_v2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MobileNetV2Config {
    /// Multiplies every width (torchvision's `width_mult`).
    #[serde(default = "one")]
    pub width_mult: f64,
    /// `[t, c, n, s]` per stage: expansion, channels, blocks, stride of the first block.
    #[serde(default = "default_stages")]
    pub stages: Vec<[usize; 4]>,
    /// Channels of the stem convolution (before `width_mult`).
    #[serde(default = "default_stem_width")]
    pub stem_width: usize,
    /// Stride of the stem convolution (2 for 224-pixel inputs, 1 for 32).
    #[serde(default = "two")]
    pub stem_stride: usize,
    /// Channels of the last 1×1 convolution (before `width_mult`, which only widens it).
    #[serde(default = "default_last_width")]
    pub last_width: usize,
    /// Dropout before the classifier.
    #[serde(default = "default_dropout")]
    pub dropout: f64,
}

fn one() -> f64 {
    1.0
}
fn two() -> usize {
    2
}
fn default_stages() -> Vec<[usize; 4]> {
    TORCHVISION_STAGES.to_vec()
}
fn default_stem_width() -> usize {
    32
}
fn default_last_width() -> usize {
    1280
}
fn default_dropout() -> f64 {
    0.2
}

/// torchvision's `_make_divisible(v, 8)`: the nearest multiple of 8, at least 8, and never
/// below 90% of `v`.
pub fn make_divisible(v: f64) -> usize {
    let divisor = 8.0;
    let mut new = ((v + divisor / 2.0) / divisor).floor() * divisor;
    new = new.max(divisor);
    if new < 0.9 * v {
        new += divisor;
    }
    new as usize
}

/// One block's widths and stride, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockShape {
    /// Input channels.
    pub inputs: usize,
    /// Expanded channels (`inputs · t`).
    pub hidden: usize,
    /// Output channels.
    pub outputs: usize,
    /// Depthwise stride.
    pub stride: usize,
    /// Whether it expands (t ≠ 1).
    pub expand: bool,
}

impl MobileNetV2Config {
    /// Checks the fields; `(field, value, reason)` of the first bad one.
    pub fn check(&self) -> std::result::Result<(), (String, String, String)> {
        if !(self.width_mult > 0.0 && self.width_mult <= 4.0) {
            return Err((
                "width_mult".into(),
                self.width_mult.to_string(),
                "must be in (0, 4]".into(),
            ));
        }
        if self.stages.is_empty() {
            return Err((
                "stages".into(),
                "[]".into(),
                "give at least one stage".into(),
            ));
        }
        for (i, [t, c, n, s]) in self.stages.iter().enumerate() {
            if *t == 0 || *c == 0 || *n == 0 || !(1..=2).contains(s) {
                return Err((
                    format!("stages[{i}]"),
                    format!("[{t}, {c}, {n}, {s}]"),
                    "[t, c, n, s]: t, c and n at least 1, stride s 1 or 2".into(),
                ));
            }
        }
        if !(1..=2).contains(&self.stem_stride) {
            return Err((
                "stem_stride".into(),
                self.stem_stride.to_string(),
                "must be 1 or 2".into(),
            ));
        }
        if self.stem_width == 0 || self.last_width == 0 {
            return Err((
                "stem_width".into(),
                format!("{} / last_width {}", self.stem_width, self.last_width),
                "widths must be at least 1".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err((
                "dropout".into(),
                self.dropout.to_string(),
                "must be in [0, 1)".into(),
            ));
        }
        Ok(())
    }

    /// The stem's channels.
    pub fn stem_channels(&self) -> usize {
        make_divisible(self.stem_width as f64 * self.width_mult)
    }

    /// The last convolution's channels.
    pub fn last_channels(&self) -> usize {
        make_divisible(self.last_width as f64 * self.width_mult.max(1.0))
    }

    /// Every block, stage by stage.
    pub fn blocks(&self) -> Vec<Vec<BlockShape>> {
        let mut inputs = self.stem_channels();
        self.stages
            .iter()
            .map(|&[t, c, n, s]| {
                let outputs = make_divisible(c as f64 * self.width_mult);
                (0..n)
                    .map(|i| {
                        let b = BlockShape {
                            inputs,
                            hidden: inputs * t,
                            outputs,
                            stride: if i == 0 { s } else { 1 },
                            expand: t != 1,
                        };
                        inputs = outputs;
                        b
                    })
                    .collect()
            })
            .collect()
    }

    /// Spatial size after all strided layers, for an `h × w` input.
    pub fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        let down = |s: usize, stride: usize| (s + 2 - 3) / stride + 1;
        let mut size = [h, w].map(|s| if s < 1 { 0 } else { down(s, self.stem_stride) });
        for stage in self.blocks() {
            for b in stage {
                size = size.map(|s| if s == 0 { 0 } else { down(s, b.stride) });
            }
        }
        (size[0], size[1])
    }

    /// Names of the features [`MobileNetV2::forward_features`] exposes.
    pub fn feature_names(&self) -> Vec<String> {
        (1..=self.stages.len())
            .map(|i| format!("stage{i}"))
            .chain(["last".to_string(), "pool".to_string()])
            .collect()
    }

    /// A short description, e.g. `mobilenetv2 x0.5 stem/1`.
    pub fn describe(&self) -> String {
        format!(
            "mobilenetv2 x{} stem/{}{}",
            self.width_mult,
            self.stem_stride,
            if self.stages == TORCHVISION_STAGES {
                String::new()
            } else {
                format!(" stages {:?}", self.stages)
            }
        )
    }

    /// FLOPs (2 per multiply-add) of each convolution and of `fc` on one `[c, h, w]` input.
    pub fn layer_flops(&self, input: [usize; 3], classes: usize) -> Vec<f64> {
        let [c, h, w] = input;
        let down = |s: usize, stride: usize| (s + 2 - 3) / stride + 1;
        let (mut hh, mut ww) = (down(h, self.stem_stride), down(w, self.stem_stride));
        let mut layers = vec![2.0 * (hh * ww * c * self.stem_channels() * 9) as f64];
        for stage in self.blocks() {
            for b in stage {
                if b.expand {
                    layers.push(2.0 * (hh * ww * b.inputs * b.hidden) as f64);
                }
                (hh, ww) = (down(hh, b.stride), down(ww, b.stride));
                layers.push(2.0 * (hh * ww * b.hidden * 9) as f64);
                layers.push(2.0 * (hh * ww * b.hidden * b.outputs) as f64);
            }
        }
        let last_in = self
            .blocks()
            .last()
            .and_then(|s| s.last())
            .map_or(0, |b| b.outputs);
        layers.push(2.0 * (hh * ww * last_in * self.last_channels()) as f64);
        layers.push(2.0 * (self.last_channels() * classes) as f64);
        layers
    }

    /// Parameters and activations per sample, for the memory estimate.
    pub fn memory_estimate(
        &self,
        input: [usize; 3],
        classes: usize,
    ) -> crate::limits::MemoryEstimate {
        let mut e = crate::limits::MemoryEstimate::default();
        let [c, h, w] = input.map(|v| v as u128);
        let down = |s: u128, stride: u128| (s + 2 - 3) / stride + 1;
        let stride = self.stem_stride as u128;
        let (mut hh, mut ww) = (down(h.max(1), stride), down(w.max(1), stride));
        let stem = self.stem_channels() as u128;
        e.params += 9 * c * stem + 4 * stem;
        e.activations_per_sample += 3 * stem * hh * ww;
        for stage in self.blocks() {
            for b in stage {
                let (i, hd, o) = (b.inputs as u128, b.hidden as u128, b.outputs as u128);
                if b.expand {
                    e.params += i * hd + 4 * hd;
                    e.activations_per_sample += 3 * hd * hh * ww;
                }
                hh = down(hh, b.stride as u128);
                ww = down(ww, b.stride as u128);
                e.params += 9 * hd + 4 * hd + hd * o + 4 * o;
                e.activations_per_sample += 3 * hd * hh * ww + 3 * o * hh * ww;
            }
        }
        let last = self.last_channels() as u128;
        let last_in = self
            .blocks()
            .last()
            .and_then(|s| s.last())
            .map_or(0, |b| b.outputs) as u128;
        e.params += last_in * last + 4 * last + last * classes as u128 + classes as u128;
        e.activations_per_sample += 3 * last * hh * ww + last + classes as u128;
        e
    }

    /// Builds the network for `[channels, h, w]` inputs and `classes` outputs.
    pub fn init(&self, input: [usize; 3], classes: usize, device: &Device) -> MobileNetV2 {
        let stem = ConvBn::new(
            input[0],
            self.stem_channels(),
            3,
            self.stem_stride,
            1,
            device,
        );
        let stages = self
            .blocks()
            .into_iter()
            .map(|stage| {
                stage
                    .into_iter()
                    .map(|b| InvertedResidual::new(b, device))
                    .collect()
            })
            .collect();
        let last_in = self
            .blocks()
            .last()
            .and_then(|s| s.last())
            .map_or(0, |b| b.outputs);
        let last = ConvBn::new(last_in, self.last_channels(), 1, 1, 1, device);
        MobileNetV2 {
            stem,
            stages,
            last,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc: LinearConfig::new(self.last_channels(), classes).init(device),
        }
    }
}

/// A bias-free convolution and its BatchNorm.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    /// `k × k` with `stride`, `groups` (1, or the channel count for a depthwise convolution),
    /// padding `k / 2`.
    fn new(
        inputs: usize,
        outputs: usize,
        k: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        let pad = k / 2;
        ConvBn {
            conv: Conv2dConfig::new([inputs, outputs], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_groups(groups)
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(outputs).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(crate::kernels::conv2d(&self.conv, x))
    }
}

/// Expand (optional), depthwise, project; a shortcut when the shape is kept.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl InvertedResidual {
    fn new(b: BlockShape, device: &Device) -> Self {
        InvertedResidual {
            expand: b
                .expand
                .then(|| ConvBn::new(b.inputs, b.hidden, 1, 1, 1, device)),
            depthwise: ConvBn::new(b.hidden, b.hidden, 3, b.stride, b.hidden, device),
            project: ConvBn::new(b.hidden, b.outputs, 1, 1, 1, device),
            residual: b.stride == 1 && b.inputs == b.outputs,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let Some(e) = &self.expand {
            y = relu6(e.forward(y));
        }
        y = relu6(self.depthwise.forward(y));
        y = self.project.forward(y);
        if self.residual { y + x } else { y }
    }
}

/// A MobileNetV2.
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    stem: ConvBn,
    stages: Vec<Vec<InvertedResidual>>,
    last: ConvBn,
    pool: AdaptiveAvgPool2d,
    dropout: Dropout,
    fc: Linear,
}

impl MobileNetV2 {
    /// Whether each block of each stage has an expansion convolution (t ≠ 1).
    pub fn block_expands(&self) -> Vec<Vec<bool>> {
        self.stages
            .iter()
            .map(|s| s.iter().map(|b| b.expand.is_some()).collect())
            .collect()
    }

    /// Logits for `[n, c, h, w]` images.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_features(images, false).0
    }

    /// Logits and, when `collect` is set, each stage's output (`stage1`, ...), the last
    /// convolution's map (`last`) and the pooled vector (`pool`).
    pub fn forward_features(
        &self,
        images: Tensor<4>,
        collect: bool,
    ) -> (Tensor<2>, Vec<NamedFeature>) {
        let mut features = Vec::new();
        let mut x = relu6(self.stem.forward(images));
        for (i, stage) in self.stages.iter().enumerate() {
            for block in stage {
                x = block.forward(x);
            }
            if collect {
                features.push(NamedFeature {
                    name: format!("stage{}", i + 1),
                    value: Feature::Map(x.clone()),
                });
            }
        }
        x = relu6(self.last.forward(x));
        if collect {
            features.push(NamedFeature {
                name: "last".into(),
                value: Feature::Map(x.clone()),
            });
        }
        let v: Tensor<2> = self.pool.forward(x).flatten(1, 3);
        if collect {
            features.push(NamedFeature {
                name: "pool".into(),
                value: Feature::Vector(v.clone()),
            });
        }
        (self.fc.forward(self.dropout.forward(v)), features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn torchvision() -> MobileNetV2Config {
        toml::from_str("").unwrap()
    }

    #[test]
    fn torchvision_layout_has_its_published_parameter_count() {
        // torchvision mobilenet_v2 (1000 classes): 3,504,872 parameters; burn also counts
        // BatchNorm's running mean and variance (2 × 17,056 normalised channels).
        let device = crate::default_device();
        let m = torchvision().init([3, 64, 64], 1000, &device);
        let bn: usize = {
            let c = torchvision();
            let mut n = c.stem_channels() + c.last_channels();
            for b in c.blocks().into_iter().flatten() {
                n += if b.expand { b.hidden } else { 0 } + b.hidden + b.outputs;
            }
            n
        };
        assert_eq!(bn, 17_056);
        assert_eq!(m.num_params(), 3_504_872 + 2 * bn);
        assert_eq!(torchvision().output_size(224, 224), (7, 7));
    }

    #[test]
    fn widths_round_as_torchvision_does() {
        assert_eq!(make_divisible(32.0 * 0.5), 16);
        assert_eq!(make_divisible(24.0 * 0.35), 8);
        assert_eq!(make_divisible(96.0 * 0.75), 72);
        assert_eq!(make_divisible(160.0 * 1.4), 224);
        let c = MobileNetV2Config {
            width_mult: 0.5,
            ..torchvision()
        };
        assert_eq!(c.stem_channels(), 16);
        assert_eq!(c.last_channels(), 1280);
    }

    #[test]
    fn a_cifar_student_keeps_its_features_named() {
        let device = crate::default_device();
        let c = MobileNetV2Config {
            width_mult: 0.25,
            stages: vec![[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 2, 2]],
            stem_stride: 1,
            last_width: 64,
            ..torchvision()
        };
        let m = c.init([3, 16, 16], 5, &device);
        let (logits, features) = m.forward_features(Tensor::zeros([2, 3, 16, 16], &device), true);
        assert_eq!(logits.dims(), [2, 5]);
        let names: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, c.feature_names());
        assert_eq!(c.output_size(16, 16), (8, 8));
    }
}
