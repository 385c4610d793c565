//! ResNets of BasicBlocks (He et al., "Deep Residual Learning for Image Recognition", CVPR
//! 2016), in the two layouts KD papers use, with torchvision's tensor names so that a
//! torchvision or RepDistiller checkpoint loads without remapping (`[teacher.import] preset`):
//!
//! ```text
//! stem  "imagenet": conv1 7×7/2 (pad 3) → bn1 → ReLU → max pool 3×3/2 (pad 1)   (torchvision)
//!       "cifar":    conv1 3×3/1 (pad 1) → bn1 → ReLU                            (RepDistiller)
//! layerK, K = 1..4: BasicBlocks; the first of layers 2.. has stride 2
//!   BasicBlock: conv1 3×3/s → bn1 → ReLU → conv2 3×3 → bn2 → + shortcut → ReLU
//!               shortcut: downsample (1×1/s conv → BN) when the stride or width changes
//! global average pool → fc
//! ```
//!
//! Presets: `resnet18` / `resnet34` (torchvision), `resnet8x4` / `resnet32x4` (RepDistiller's
//! CIFAR teachers and students: stem 32, widths 64-128-256, 1 or 5 blocks per stage).

use super::{Feature, NamedFeature};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// The first layers of a [`ResNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// 7×7 convolution with stride 2 and a 3×3 max pool with stride 2 (inputs of 224 pixels).
    Imagenet,
    /// One 3×3 convolution with stride 1 (inputs of 32 pixels).
    Cifar,
}

impl Stem {
    /// The stem convolution's `(kernel, stride, padding)`.
    pub fn conv(self) -> (usize, usize, usize) {
        match self {
            Stem::Imagenet => (7, 2, 3),
            Stem::Cifar => (3, 1, 1),
        }
    }
}

/// Configuration of a [`ResNet`]: a `preset`, or the layout given in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetConfig {
    /// `resnet18`, `resnet34`, `resnet8x4` or `resnet32x4`; fields given beside it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// `imagenet` or `cifar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stem: Option<Stem>,
    /// Output channels of the stem's convolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stem_width: Option<usize>,
    /// Channels of each stage (1 to 4 stages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widths: Option<Vec<usize>>,
    /// BasicBlocks in each stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<usize>>,
}

/// A ResNet's layout, presets resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResNetLayout {
    /// The stem.
    pub stem: Stem,
    /// Its convolution's channels.
    pub stem_width: usize,
    /// Channels per stage.
    pub widths: Vec<usize>,
    /// Blocks per stage.
    pub blocks: Vec<usize>,
}

/// A preset: name, stem, stem width, widths, blocks.
pub type Preset = (
    &'static str,
    Stem,
    usize,
    &'static [usize],
    &'static [usize],
);

/// The presets.
pub const PRESETS: [Preset; 4] = [
    (
        "resnet18",
        Stem::Imagenet,
        64,
        &[64, 128, 256, 512],
        &[2, 2, 2, 2],
    ),
    (
        "resnet34",
        Stem::Imagenet,
        64,
        &[64, 128, 256, 512],
        &[3, 4, 6, 3],
    ),
    ("resnet8x4", Stem::Cifar, 32, &[64, 128, 256], &[1, 1, 1]),
    ("resnet32x4", Stem::Cifar, 32, &[64, 128, 256], &[5, 5, 5]),
];

/// Most stages (torchvision's `layer1` to `layer4`).
pub const MAX_STAGES: usize = 4;

impl ResNetConfig {
    /// The layout: the preset's, or the fields'. The reason when neither is complete.
    pub fn layout(&self) -> std::result::Result<ResNetLayout, (String, String, String)> {
        let given = self.stem.is_some()
            || self.stem_width.is_some()
            || self.widths.is_some()
            || self.blocks.is_some();
        if let Some(name) = &self.preset {
            if given {
                return Err((
                    "preset".into(),
                    format!("{name:?}"),
                    "give a preset or stem/stem_width/widths/blocks, not both".into(),
                ));
            }
            let Some((_, stem, sw, widths, blocks)) = PRESETS.iter().find(|p| p.0 == name) else {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                return Err((
                    "preset".into(),
                    format!("{name:?}"),
                    format!("unknown preset; known: {}", names.join(", ")),
                ));
            };
            return Ok(ResNetLayout {
                stem: *stem,
                stem_width: *sw,
                widths: widths.to_vec(),
                blocks: blocks.to_vec(),
            });
        }
        let missing = |f: &str| {
            (
                f.to_string(),
                "missing".to_string(),
                "give it, or a preset".to_string(),
            )
        };
        let layout = ResNetLayout {
            stem: self.stem.ok_or_else(|| missing("stem"))?,
            stem_width: self.stem_width.ok_or_else(|| missing("stem_width"))?,
            widths: self.widths.clone().ok_or_else(|| missing("widths"))?,
            blocks: self.blocks.clone().ok_or_else(|| missing("blocks"))?,
        };
        if layout.widths.is_empty() || layout.widths.len() > MAX_STAGES {
            return Err((
                "widths".into(),
                format!("{:?}", layout.widths),
                format!("give 1 to {MAX_STAGES} stages"),
            ));
        }
        if layout.blocks.len() != layout.widths.len() {
            return Err((
                "blocks".into(),
                format!("{:?}", layout.blocks),
                format!("give one count per stage ({} widths)", layout.widths.len()),
            ));
        }
        for (field, list) in [("widths", &layout.widths), ("blocks", &layout.blocks)] {
            if let Some(i) = list.iter().position(|&v| v == 0) {
                return Err((
                    format!("{field}[{i}]"),
                    "0".into(),
                    "must be at least 1".into(),
                ));
            }
        }
        if layout.stem_width == 0 {
            return Err(("stem_width".into(), "0".into(), "must be at least 1".into()));
        }
        Ok(layout)
    }

    /// The layout of a validated configuration.
    fn resolved(&self) -> ResNetLayout {
        self.layout().expect("validated ResNet configuration")
    }

    /// Spatial size after the stem and the strided stages, for an `h × w` input.
    pub fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        let l = self.resolved();
        let conv = |s: usize, k: usize, stride: usize, pad: usize| {
            (s + 2 * pad).checked_sub(k).map_or(0, |v| v / stride + 1)
        };
        let mut size = [h, w];
        if l.stem == Stem::Imagenet {
            size = size.map(|s| conv(conv(s, 7, 2, 3), 3, 2, 1));
        }
        for _ in 1..l.widths.len() {
            size = size.map(|s| conv(s, 3, 2, 1));
        }
        (size[0], size[1])
    }

    /// Names of the features [`ResNet::forward_features`] exposes.
    pub fn feature_names(&self) -> Vec<String> {
        let stages = self.resolved().widths.len();
        (1..=stages)
            .map(|i| format!("layer{i}"))
            .chain(std::iter::once("pool".to_string()))
            .collect()
    }

    /// A short description, e.g. `resnet18` or `resnet cifar 16 [16,32] x[1,1]`.
    pub fn describe(&self) -> String {
        match &self.preset {
            Some(p) => p.clone(),
            None => {
                let l = self.resolved();
                format!(
                    "resnet {} {} {:?} x{:?}",
                    match l.stem {
                        Stem::Imagenet => "imagenet",
                        Stem::Cifar => "cifar",
                    },
                    l.stem_width,
                    l.widths,
                    l.blocks
                )
            }
        }
    }

    /// Parameters and activations per sample, for the memory estimate: `[channels, h, w]`
    /// input, `classes` outputs.
    pub fn memory_estimate(
        &self,
        input: [usize; 3],
        classes: usize,
    ) -> crate::limits::MemoryEstimate {
        let l = self.resolved();
        let mut e = crate::limits::MemoryEstimate::default();
        let [c, h, w] = input.map(|v| v as u128);
        let (mut hh, mut ww) = (h, w);
        let sw = l.stem_width as u128;
        let k = if l.stem == Stem::Imagenet { 49 } else { 9 };
        e.params += k * c * sw + 4 * sw;
        if l.stem == Stem::Imagenet {
            hh = hh.div_ceil(2);
            ww = ww.div_ceil(2);
            e.activations_per_sample += 3 * sw * hh * ww;
            hh = hh.div_ceil(2);
            ww = ww.div_ceil(2);
        }
        e.activations_per_sample += 3 * sw * hh * ww;
        let mut channels = sw;
        for (stage, (&width, &blocks)) in l.widths.iter().zip(&l.blocks).enumerate() {
            let width = width as u128;
            for b in 0..blocks {
                if stage > 0 && b == 0 {
                    hh = hh.div_ceil(2);
                    ww = ww.div_ceil(2);
                }
                e.params += 9 * channels * width + 9 * width * width + 8 * width;
                if b == 0 && (stage > 0 || channels != width) {
                    e.params += channels * width + 4 * width;
                    e.activations_per_sample += 2 * width * hh * ww;
                }
                // two convolutions, each normalised and activated, and the sum
                e.activations_per_sample += 7 * width * hh * ww;
                channels = width;
            }
        }
        e.params += channels * classes as u128 + classes as u128;
        e.activations_per_sample += channels + classes as u128;
        e
    }

    /// FLOPs (2 per multiply-add) of each convolution and of `fc` on one `[channels, h, w]`
    /// input, in order.
    pub fn layer_flops(&self, input: [usize; 3], classes: usize) -> Vec<f64> {
        let l = self.resolved();
        let [c, h, w] = input;
        let out = |s: usize, k: usize, stride: usize, pad: usize| {
            (s + 2 * pad).saturating_sub(k) / stride + 1
        };
        let mut layers = Vec::new();
        let (k, stride, pad) = l.stem.conv();
        let (mut hh, mut ww) = (out(h, k, stride, pad), out(w, k, stride, pad));
        layers.push(2.0 * (hh * ww * c * l.stem_width * k * k) as f64);
        if l.stem == Stem::Imagenet {
            (hh, ww) = (out(hh, 3, 2, 1), out(ww, 3, 2, 1));
        }
        let mut channels = l.stem_width;
        for (i, (&width, &blocks)) in l.widths.iter().zip(&l.blocks).enumerate() {
            for b in 0..blocks {
                let s = if i > 0 && b == 0 { 2 } else { 1 };
                (hh, ww) = (out(hh, 3, s, 1), out(ww, 3, s, 1));
                layers.push(2.0 * (hh * ww * channels * width * 9) as f64);
                layers.push(2.0 * (hh * ww * width * width * 9) as f64);
                if s != 1 || channels != width {
                    layers.push(2.0 * (hh * ww * channels * width) as f64);
                }
                channels = width;
            }
        }
        layers.push(2.0 * (channels * classes) as f64);
        layers
    }

    /// Builds the network for `[channels, h, w]` inputs and `classes` outputs.
    pub fn init(&self, input: [usize; 3], classes: usize, device: &Device) -> ResNet {
        let l = self.resolved();
        let [c, _, _] = input;
        let (k, stride, pad) = l.stem.conv();
        let conv1 = conv(c, l.stem_width, k, stride, pad, device);
        let bn1 = BatchNormConfig::new(l.stem_width).init(device);
        let maxpool = (l.stem == Stem::Imagenet).then(|| {
            MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init()
        });
        let mut stages: Vec<Vec<BasicBlock>> = Vec::new();
        let mut channels = l.stem_width;
        for (i, (&width, &blocks)) in l.widths.iter().zip(&l.blocks).enumerate() {
            let mut stage = Vec::new();
            for b in 0..blocks {
                let s = if i > 0 && b == 0 { 2 } else { 1 };
                stage.push(BasicBlock::new(channels, width, s, device));
                channels = width;
            }
            stages.push(stage);
        }
        let mut stages = stages.into_iter();
        let mut next = || stages.next().unwrap_or_default();
        ResNet {
            conv1,
            bn1,
            maxpool,
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(channels, classes).init(device),
        }
    }
}

/// A bias-free `k × k` convolution with `stride` and `pad` (as torchvision's).
fn conv(
    inputs: usize,
    outputs: usize,
    k: usize,
    stride: usize,
    pad: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([inputs, outputs], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// The shortcut of a block that changes stride or width: 1×1 convolution and BatchNorm
/// (torchvision's `downsample.0` and `downsample.1`).
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// Two 3×3 convolutions with a shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Downsample>,
}

impl BasicBlock {
    fn new(inputs: usize, width: usize, stride: usize, device: &Device) -> Self {
        BasicBlock {
            conv1: conv(inputs, width, 3, stride, 1, device),
            bn1: BatchNormConfig::new(width).init(device),
            conv2: conv(width, width, 3, 1, 1, device),
            bn2: BatchNormConfig::new(width).init(device),
            downsample: (stride != 1 || inputs != width).then(|| Downsample {
                conv: conv(inputs, width, 1, stride, 0, device),
                bn: BatchNormConfig::new(width).init(device),
            }),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(
            self.bn1
                .forward(crate::kernels::conv2d(&self.conv1, x.clone())),
        );
        let out = self.bn2.forward(crate::kernels::conv2d(&self.conv2, out));
        let shortcut = match &self.downsample {
            Some(d) => d.bn.forward(crate::kernels::conv2d(&d.conv, x)),
            None => x,
        };
        relu(out + shortcut)
    }
}

/// A ResNet of BasicBlocks (fields named as torchvision's, so its checkpoints load as they
/// are; stages after the last are empty).
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    maxpool: Option<MaxPool2d>,
    layer1: Vec<BasicBlock>,
    layer2: Vec<BasicBlock>,
    layer3: Vec<BasicBlock>,
    layer4: Vec<BasicBlock>,
    avgpool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl ResNet {
    /// Logits for `[n, c, h, w]` images.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_features(images, false).0
    }

    /// Logits and, when `collect` is set, each stage's output (`layer1`, ...) and the pooled
    /// vector before `fc` (`pool`).
    pub fn forward_features(
        &self,
        images: Tensor<4>,
        collect: bool,
    ) -> (Tensor<2>, Vec<NamedFeature>) {
        let mut features = Vec::new();
        let mut x = relu(
            self.bn1
                .forward(crate::kernels::conv2d(&self.conv1, images)),
        );
        if let Some(pool) = &self.maxpool {
            x = pool.forward(x);
        }
        for (i, stage) in [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
            .into_iter()
            .enumerate()
        {
            if stage.is_empty() {
                break;
            }
            for block in stage {
                x = block.forward(x);
            }
            if collect {
                features.push(NamedFeature {
                    name: format!("layer{}", i + 1),
                    value: Feature::Map(x.clone()),
                });
            }
        }
        let v: Tensor<2> = self.avgpool.forward(x).flatten(1, 3);
        if collect {
            features.push(NamedFeature {
                name: "pool".into(),
                value: Feature::Vector(v.clone()),
            });
        }
        (self.fc.forward(v), features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(preset: &str) -> ResNetConfig {
        ResNetConfig {
            preset: Some(preset.into()),
            stem: None,
            stem_width: None,
            widths: None,
            blocks: None,
        }
    }

    #[test]
    fn presets_have_the_published_parameter_counts() {
        // torchvision resnet18 with 1000 classes: 11,689,512 parameters; resnet34: 21,797,672.
        // RepDistiller resnet8x4 (100 classes): 1.23 M; resnet32x4: 7.43 M (1,233,540 and
        // 7,433,860 counted by hand). burn also counts BatchNorm's running mean and variance:
        // two per normalised channel (4,800, 8,512, 1,376 and 4,960 channels).
        let device = crate::default_device();
        for (name, input, classes, want, bn_channels) in [
            ("resnet18", [3, 64, 64], 1000, 11_689_512usize, 4_800usize),
            ("resnet34", [3, 64, 64], 1000, 21_797_672, 8_512),
            ("resnet8x4", [3, 32, 32], 100, 1_233_540, 1_376),
            ("resnet32x4", [3, 32, 32], 100, 7_433_860, 4_960),
        ] {
            let m = cfg(name).init(input, classes, &device);
            assert_eq!(m.num_params(), want + 2 * bn_channels, "{name}");
        }
    }

    #[test]
    fn torchvision_names_and_output_sizes() {
        let device = crate::default_device();
        let m = cfg("resnet18").init([3, 64, 64], 5, &device);
        let names: Vec<String> = burn::store::ModuleSnapshot::collect(&m, None, None, false)
            .into_iter()
            .map(|t| t.name.clone())
            .collect();
        for want in [
            "conv1.weight",
            "bn1.gamma",
            "layer1.0.conv1.weight",
            "layer2.0.downsample.conv.weight",
            "layer4.1.bn2.running_var",
            "fc.weight",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("layer1.0.downsample")));
        assert_eq!(cfg("resnet18").output_size(224, 224), (7, 7));
        assert_eq!(cfg("resnet8x4").output_size(32, 32), (8, 8));
        let x = Tensor::<4>::zeros([2, 3, 64, 64], &device);
        let (logits, features) = m.forward_features(x, true);
        assert_eq!(logits.dims(), [2, 5]);
        use crate::vocab::FeatureShape;
        let shapes: Vec<(String, FeatureShape)> = features
            .iter()
            .map(|f| (f.name.clone(), FeatureShape::of(&f.value)))
            .collect();
        assert_eq!(
            shapes[0],
            ("layer1".to_string(), FeatureShape::Map([64, 16, 16]))
        );
        assert_eq!(
            shapes[3],
            ("layer4".to_string(), FeatureShape::Map([512, 2, 2]))
        );
        assert_eq!(shapes[4], ("pool".to_string(), FeatureShape::Vector(512)));
    }

    #[test]
    fn layouts_are_checked_field_by_field() {
        let mut c = cfg("resnet18");
        c.widths = Some(vec![8]);
        assert_eq!(c.layout().unwrap_err().0, "preset");
        assert_eq!(cfg("resnet50").layout().unwrap_err().0, "preset");
        let c = ResNetConfig {
            preset: None,
            stem: Some(Stem::Cifar),
            stem_width: Some(8),
            widths: Some(vec![8, 16]),
            blocks: Some(vec![1]),
        };
        assert_eq!(c.layout().unwrap_err().0, "blocks");
    }
}
