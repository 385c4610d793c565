//! ONNX export of any model distill builds (MLP or CNN, with every option of their configs).
//!
//! The file is one graph in the default ONNX domain, **opset 13**, IR version 7, encoded with
//! prost from hand-written `onnx.proto` messages (`proto.rs`); weights are float32
//! initializers named by the model's own parameter paths (`blocks.0.units.0.conv.weight`, ...).
//!
//! - **Input** `input`: float32 `[N, C, H, W]` (NCHW), `N` symbolic so any batch size runs, and
//!   `C, H, W` the card's `input`. The values are **normalised pixels**, exactly what
//!   [`Model::forward`] receives: `(x / 255 − mean) / std` with the card's `normalize`. The
//!   graph does not normalise; `mean` and `std` are in the file's metadata
//!   (`normalize_mean`, `normalize_std`) as well as in the card.
//! - **Output** `logits`: float32 `[N, classes]`, or with
//!   [`OnnxOptions::softmax_temperature`] = `T`, `probabilities` = `Softmax(logits / T)` over
//!   axis 1 (`Div` then `Softmax`; the file then has that single output).
//! - **Ops**: `Flatten` (axis 1: row-major, as burn's `flatten(1, 3)`), `Gemm` (`B` is burn's
//!   `[in, out]` Linear weight as it is, so `transB = 0`), `Relu`, `Conv` (weights
//!   `[out, in, k, k]`, stride 1, symmetric "same" padding `k / 2`), `BatchNormalization`,
//!   `MaxPool` (2×2, stride 2, no padding, floor), `Add` + `Relu` for residual shortcuts (through a
//!   bias-free 1×1 `Conv` where a block changes the width), and `Div` + `Softmax` for the
//!   option above. Dropout is the identity at inference and is left out.
//! - **BatchNorm is not folded** into the convolution: each one is an inference-mode
//!   `BatchNormalization` node with the model's scale, bias, running mean, running variance and
//!   epsilon, so the file holds the model's own numbers (a runtime may fold it when it optimises).
//!   The epsilon is burn's `BatchNormConfig` default, the one distill builds its layers with
//!   (it is a setting, not a saved tensor).
//! - **Metadata** (`metadata_props`): `class_names` (a JSON array, one name per output column),
//!   `distill_version` (the version that trained the model, from its card), `input_shape`
//!   (`[C, H, W]`), `normalize_mean`, `normalize_std`, `architecture` (the card's architecture
//!   as JSON), `output` (`logits` or `probabilities`) and, with softmax, `temperature`.
//!
//! The graph is laid out from the card's architecture, and every weight tensor of the model must
//! be used with the shape that architecture gives it: a mismatch, or a tensor the export would
//! leave out, is an [`Error::Export`] naming the tensor.

use super::proto::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_type, tensor_shape_proto::Dimension, tensor_shape_proto::dimension,
};
use crate::card::TabularModelCard;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::models::{
    CnnConfig, Mlp, MlpConfig, MobileNetV2Config, Model, ModelConfig, ResNetConfig,
};
use crate::predict::ModelCard;
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::BatchNormConfig;
use burn::tensor::Tensor;
use prost::Message;
use std::collections::BTreeMap;
use std::path::Path;

/// The ONNX operator set the file imports (default domain).
pub const OPSET_VERSION: i64 = 13;
/// The ONNX IR version of the file.
pub const IR_VERSION: i64 = 7;
/// Name of the graph's input.
pub const INPUT_NAME: &str = "input";
/// Name of the graph's output without softmax.
pub const LOGITS_NAME: &str = "logits";
/// Name of the graph's output with softmax.
pub const PROBABILITIES_NAME: &str = "probabilities";

/// How to export.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OnnxOptions {
    /// Append `Softmax(logits / T)` with this temperature `T` (finite, > 0): the file then
    /// outputs `probabilities` instead of `logits`.
    pub softmax_temperature: Option<f32>,
}

/// Loads `weights` and the card beside it (`NAME.model.json`), as
/// [`Predictor::load`](crate::predict::Predictor::load) does, and writes the model as ONNX to
/// `out`, atomically.
pub fn export_onnx(weights: &Path, out: &Path, opts: &OnnxOptions) -> Result<()> {
    check_temperature(opts)?;
    if !weights.is_file() {
        return Err(Error::Weights {
            path: weights.to_path_buf(),
            message: "no such file".into(),
        });
    }
    let card_path = ModelCard::path_for(weights);
    if !card_path.is_file() {
        return Err(Error::Weights {
            path: card_path,
            message: format!(
                "no model card beside {}: the export needs the architecture, input shape and \
                 class names that distill writes there with each model",
                weights.display()
            ),
        });
    }
    if crate::card::card_task(weights)? == crate::vocab::TaskKind::Tabular {
        let card = TabularModelCard::load_for(weights)?;
        let model = card.load_model(weights, &crate::default_device())?;
        return fsutil::write_atomic(out, &tabular_to_onnx(&model, &card, opts)?);
    }
    let card = ModelCard::load_for(weights)?;
    if card.class_names.is_empty() {
        return Err(Error::Weights {
            path: card_path,
            message: "the model card lists no class names".into(),
        });
    }
    let model = card.load_model(weights, &crate::default_device())?;
    let bytes = to_onnx(&model, &card, opts)?;
    fsutil::write_atomic(out, &bytes)
}

/// The ONNX file (serialised `ModelProto`) of `model`, laid out by `card`: see the
/// [module documentation](self) for its input, output, ops and metadata.
pub fn to_onnx(model: &Model, card: &ModelCard, opts: &OnnxOptions) -> Result<Vec<u8>> {
    check_temperature(opts)?;
    let classes = card.class_names.len();
    if classes == 0 {
        return Err(export_error("the model card lists no class names".into()));
    }
    let mut g = Graph::new(collect_weights(model)?, card.architecture.describe());
    let logits = match (&card.architecture, model) {
        (ModelConfig::Mlp(cfg), Model::Mlp(_)) => {
            let [c, h, w] = card.input;
            mlp(&mut g, cfg, c * h * w, classes)?
        }
        (ModelConfig::Cnn(cfg), Model::Cnn(_)) => cnn(&mut g, cfg, card.input, classes)?,
        (ModelConfig::Resnet(cfg), Model::Resnet(_)) => resnet(&mut g, cfg, card.input, classes)?,
        (ModelConfig::Mobilenetv2(cfg), Model::Mobilenetv2(_)) => {
            mobilenet(&mut g, cfg, card.input, classes)?
        }
        (arch, _) => {
            return Err(export_error(format!(
                "the card describes `{}`, but the model is {}",
                arch.describe(),
                match model {
                    Model::Mlp(_) => "an MLP",
                    Model::Cnn(_) => "a CNN",
                    Model::Resnet(_) => "a ResNet",
                    Model::Mobilenetv2(_) => "a MobileNetV2",
                }
            )));
        }
    };
    g.check_all_used()?;
    let [c, h, w] = card.input;
    let norm = card.normalize;
    let metadata = vec![
        (
            "class_names",
            serde_json::to_string(&card.class_names).expect("names serialise"),
        ),
        ("distill_version", card.distill_version.clone()),
        (
            "input_shape",
            serde_json::to_string(&card.input).expect("shape serialises"),
        ),
        ("normalize_mean", norm.mean.to_string()),
        ("normalize_std", norm.std.to_string()),
        (
            "architecture",
            serde_json::to_string(&card.architecture).expect("architecture serialises"),
        ),
    ];
    Ok(finish(
        g,
        logits,
        &Io {
            input: vec![c, h, w],
            input_doc: format!(
                "normalised pixels (x / 255 - {}) / {}, NCHW, any batch size",
                norm.mean, norm.std
            ),
            classes,
            describe: card.architecture.describe(),
            metadata,
        },
        opts,
    ))
}

/// What a graph takes and gives, for [`finish`].
struct Io {
    /// The input's shape without the batch dimension.
    input: Vec<usize>,
    /// What the input holds.
    input_doc: String,
    /// Output columns.
    classes: usize,
    /// The architecture in words.
    describe: String,
    /// Metadata entries (`output` and `temperature` are added).
    metadata: Vec<(&'static str, String)>,
}

/// Appends the optional softmax, declares the input and output, and encodes the model.
fn finish(mut g: Graph, logits: String, io: &Io, opts: &OnnxOptions) -> Vec<u8> {
    let batch = || Dimension {
        value: Some(dimension::Value::DimParam("N".into())),
    };
    let fixed = |n: usize| Dimension {
        value: Some(dimension::Value::DimValue(n as i64)),
    };
    let (output, output_doc) = match opts.softmax_temperature {
        None => (
            logits,
            "class logits, one column per name in metadata `class_names`".to_string(),
        ),
        Some(t) => {
            let temp = g.initializer("temperature", vec![], vec![t]);
            let scaled = g.node("Div", "scale_by_temperature", vec![logits, temp], vec![]);
            let probs = g.node_to(
                "Softmax",
                "softmax",
                vec![scaled],
                vec![int("axis", 1)],
                PROBABILITIES_NAME,
            );
            (
                probs,
                format!(
                    "class probabilities softmax(logits / {t}), one column per name in \
                     metadata `class_names`"
                ),
            )
        }
    };
    let mut metadata = io.metadata.clone();
    metadata.push(("output", output.clone()));
    if let Some(t) = opts.softmax_temperature {
        metadata.push(("temperature", t.to_string()));
    }
    let mut input_dims = vec![batch()];
    input_dims.extend(io.input.iter().map(|&n| fixed(n)));
    let graph = GraphProto {
        node: g.nodes,
        name: "distill".into(),
        initializer: g.initializers,
        doc_string: format!("distill {}", io.describe),
        input: vec![value_info(INPUT_NAME, input_dims, io.input_doc.clone())],
        output: vec![value_info(
            &output,
            vec![batch(), fixed(io.classes)],
            output_doc,
        )],
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "distill".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: String::new(),
        model_version: 1,
        doc_string: format!(
            "{} classifier over {} classes; input: {}",
            io.describe, io.classes, io.input_doc
        ),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET_VERSION,
        }],
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: key.into(),
                value,
            })
            .collect(),
    };
    model.encode_to_vec()
}

/// The ONNX file of a tabular MLP, laid out by its card: input `input` float32 `[N, features]`
/// holds the **encoded, unstandardised** features (numeric columns as they are, categorical
/// ones one-hot, in the card's `schema` order); the graph standardises them itself
/// (`Sub` the card's means, `Div` its standard deviations), then `(Gemm → Relu)* → Gemm`.
/// Metadata: `class_names`, `feature_names`, `distill_version`, `architecture`, `output`.
pub fn tabular_to_onnx(
    model: &Mlp,
    card: &TabularModelCard,
    opts: &OnnxOptions,
) -> Result<Vec<u8>> {
    check_temperature(opts)?;
    let classes = card.schema.class_names.len();
    let d = card.schema.num_features();
    if card.standardize.mean.len() != d || card.standardize.std.len() != d {
        return Err(export_error(format!(
            "the card's standardisation has {} means and {} deviations for {d} features",
            card.standardize.mean.len(),
            card.standardize.std.len()
        )));
    }
    let cfg = card.architecture.mlp();
    let mut g = Graph::new(collect_weights(model)?, card.architecture.describe());
    let mean = g.initializer("standardize.mean", vec![d], card.standardize.mean.clone());
    let std = g.initializer("standardize.std", vec![d], card.standardize.std.clone());
    let centred = g.node("Sub", "centre", vec![INPUT_NAME.into(), mean], vec![]);
    let x = g.node("Div", "scale", vec![centred, std], vec![]);
    let logits = dense_head(&mut g, x, d, &cfg.hidden, classes)?;
    g.check_all_used()?;
    let metadata = vec![
        (
            "class_names",
            serde_json::to_string(&card.schema.class_names).expect("names serialise"),
        ),
        (
            "feature_names",
            serde_json::to_string(&card.schema.feature_names()).expect("names serialise"),
        ),
        ("distill_version", card.distill_version.clone()),
        (
            "architecture",
            serde_json::to_string(&card.architecture).expect("architecture serialises"),
        ),
    ];
    Ok(finish(
        g,
        logits,
        &Io {
            input: vec![d],
            input_doc: "encoded features (numeric as they are, categorical one-hot, in the \
                        order of metadata `feature_names`), any batch size; the graph \
                        standardises them"
                .into(),
            classes,
            describe: card.architecture.describe(),
            metadata,
        },
        opts,
    ))
}

fn check_temperature(opts: &OnnxOptions) -> Result<()> {
    match opts.softmax_temperature {
        Some(t) if !(t.is_finite() && t > 0.0) => Err(Error::Argument {
            arg: "temperature".into(),
            value: t.to_string(),
            reason: "must be a finite number > 0".into(),
        }),
        _ => Ok(()),
    }
}

fn export_error(message: String) -> Error {
    Error::Export { message }
}

/// `Flatten → (Gemm → Relu)* → Gemm`, as [`crate::models::Mlp`]'s forward.
fn mlp(g: &mut Graph, cfg: &MlpConfig, inputs: usize, classes: usize) -> Result<String> {
    let x = g.node(
        "Flatten",
        "flatten",
        vec![INPUT_NAME.into()],
        vec![int("axis", 1)],
    );
    dense_head(g, x, inputs, &cfg.hidden, classes)
}

/// The fully connected layers after the flatten: hidden `Gemm → Relu`, then the output `Gemm`
/// into `logits`.
fn dense_head(
    g: &mut Graph,
    mut x: String,
    inputs: usize,
    hidden: &[usize],
    classes: usize,
) -> Result<String> {
    let mut width = inputs;
    for (i, &h) in hidden.iter().enumerate() {
        let path = format!("hidden.{i}");
        x = g.linear(&path, x, width, h, &path)?;
        x = g.node("Relu", &format!("{path}.relu"), vec![x], vec![]);
        width = h;
    }
    g.linear("output", x, width, classes, LOGITS_NAME)
}

/// Blocks of `Conv → [BatchNormalization] → Relu` (the last `Relu` after the shortcut `Add` in
/// a residual block), each followed by a 2×2 `MaxPool`, then the dense head, as
/// [`crate::models::Cnn`]'s forward.
fn cnn(g: &mut Graph, cfg: &CnnConfig, input: [usize; 3], classes: usize) -> Result<String> {
    let [mut channels, h, w] = input;
    let k = cfg.kernel_size;
    let mut x = INPUT_NAME.to_string();
    for (b, widths) in cfg.blocks.iter().enumerate() {
        let (block_in, block_channels) = (x.clone(), channels);
        for (u, &c) in widths.iter().enumerate() {
            let unit = format!("blocks.{b}.units.{u}");
            x = g.conv(&format!("{unit}.conv"), x, channels, c, k)?;
            if cfg.batch_norm {
                x = g.batch_norm(&format!("{unit}.norm"), x, c)?;
            }
            if u + 1 < widths.len() || !cfg.residual {
                x = g.node("Relu", &format!("{unit}.relu"), vec![x], vec![]);
            }
            channels = c;
        }
        if cfg.residual {
            let shortcut = if block_channels != channels {
                g.conv(
                    &format!("blocks.{b}.projection"),
                    block_in,
                    block_channels,
                    channels,
                    1,
                )?
            } else {
                block_in
            };
            x = g.node("Add", &format!("blocks.{b}.add"), vec![x, shortcut], vec![]);
            x = g.node("Relu", &format!("blocks.{b}.relu"), vec![x], vec![]);
        }
        x = g.node(
            "MaxPool",
            &format!("blocks.{b}.pool"),
            vec![x],
            vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
        );
    }
    let (oh, ow) = cfg.output_size(h, w);
    if oh == 0 || ow == 0 {
        return Err(export_error(format!(
            "{h}x{w} inputs shrink to nothing after {} 2x2 poolings",
            cfg.blocks.len()
        )));
    }
    let x = g.node("Flatten", "flatten", vec![x], vec![int("axis", 1)]);
    dense_head(g, x, channels * oh * ow, &cfg.hidden, classes)
}

/// The stem, the stages of BasicBlocks (`Conv → BatchNormalization → Relu → Conv →
/// BatchNormalization`, `Add` with the shortcut, `Relu`), `GlobalAveragePool` and the
/// classifier, as [`crate::models::ResNet`]'s forward.
fn resnet(g: &mut Graph, cfg: &ResNetConfig, input: [usize; 3], classes: usize) -> Result<String> {
    use crate::models::resnet::Stem;
    let layout = cfg
        .layout()
        .map_err(|(f, v, why)| export_error(format!("architecture.{f} = {v}: {why}")))?;
    let [c, h, w] = input;
    survives(h, w, cfg.output_size(h, w), &cfg.describe())?;
    let (k, stride, pad) = layout.stem.conv();
    let mut x = g.conv_with(
        "conv1",
        INPUT_NAME.to_string(),
        ConvShape(c, layout.stem_width, k, stride, pad),
    )?;
    x = g.batch_norm("bn1", x, layout.stem_width)?;
    x = g.node("Relu", "relu", vec![x], vec![]);
    if layout.stem == Stem::Imagenet {
        x = g.node(
            "MaxPool",
            "maxpool",
            vec![x],
            vec![
                ints("kernel_shape", &[3, 3]),
                ints("strides", &[2, 2]),
                ints("pads", &[1, 1, 1, 1]),
            ],
        );
    }
    let mut channels = layout.stem_width;
    for (i, (&width, &blocks)) in layout.widths.iter().zip(&layout.blocks).enumerate() {
        for b in 0..blocks {
            let s = if i > 0 && b == 0 { 2 } else { 1 };
            let p = format!("layer{}.{b}", i + 1);
            let input = x.clone();
            let mut y = g.conv_with(
                &format!("{p}.conv1"),
                x,
                ConvShape(channels, width, 3, s, 1),
            )?;
            y = g.batch_norm(&format!("{p}.bn1"), y, width)?;
            y = g.node("Relu", &format!("{p}.relu1"), vec![y], vec![]);
            y = g.conv_with(&format!("{p}.conv2"), y, ConvShape(width, width, 3, 1, 1))?;
            y = g.batch_norm(&format!("{p}.bn2"), y, width)?;
            let shortcut = if s != 1 || channels != width {
                let d = g.conv_with(
                    &format!("{p}.downsample.conv"),
                    input,
                    ConvShape(channels, width, 1, s, 0),
                )?;
                g.batch_norm(&format!("{p}.downsample.bn"), d, width)?
            } else {
                input
            };
            y = g.node("Add", &format!("{p}.add"), vec![y, shortcut], vec![]);
            x = g.node("Relu", &format!("{p}.relu"), vec![y], vec![]);
            channels = width;
        }
    }
    let x = g.node("GlobalAveragePool", "avgpool", vec![x], vec![]);
    let x = g.node("Flatten", "flatten", vec![x], vec![int("axis", 1)]);
    g.linear("fc", x, channels, classes, LOGITS_NAME)
}

/// The stem, the inverted residual blocks (`Clip(0, 6)` for ReLU6, `group` = channels for the
/// depthwise convolutions), the last 1×1 convolution, `GlobalAveragePool` and the classifier,
/// as [`crate::models::MobileNetV2`]'s forward.
fn mobilenet(
    g: &mut Graph,
    cfg: &MobileNetV2Config,
    input: [usize; 3],
    classes: usize,
) -> Result<String> {
    cfg.check()
        .map_err(|(f, v, why)| export_error(format!("architecture.{f} = {v}: {why}")))?;
    let [c, h, w] = input;
    survives(h, w, cfg.output_size(h, w), &cfg.describe())?;
    let zero = g.initializer("relu6.min", vec![], vec![0.0]);
    let six = g.initializer("relu6.max", vec![], vec![6.0]);
    let relu6 = |g: &mut Graph, name: &str, x: String| {
        g.node("Clip", name, vec![x, zero.clone(), six.clone()], vec![])
    };
    let stem = cfg.stem_channels();
    let mut x = g.conv_with(
        "stem.conv",
        INPUT_NAME.to_string(),
        ConvShape(c, stem, 3, cfg.stem_stride, 1),
    )?;
    x = g.batch_norm("stem.bn", x, stem)?;
    x = relu6(g, "stem.relu6", x);
    let mut channels = stem;
    for (s, stage) in cfg.blocks().into_iter().enumerate() {
        for (b, shape) in stage.into_iter().enumerate() {
            let p = format!("stages.{s}.{b}");
            let input = x.clone();
            let mut y = x;
            if shape.expand {
                y = g.conv_with(
                    &format!("{p}.expand.conv"),
                    y,
                    ConvShape(shape.inputs, shape.hidden, 1, 1, 0),
                )?;
                y = g.batch_norm(&format!("{p}.expand.bn"), y, shape.hidden)?;
                y = relu6(g, &format!("{p}.expand.relu6"), y);
            }
            y = g.depthwise(
                &format!("{p}.depthwise.conv"),
                y,
                shape.hidden,
                shape.stride,
            )?;
            y = g.batch_norm(&format!("{p}.depthwise.bn"), y, shape.hidden)?;
            y = relu6(g, &format!("{p}.depthwise.relu6"), y);
            y = g.conv_with(
                &format!("{p}.project.conv"),
                y,
                ConvShape(shape.hidden, shape.outputs, 1, 1, 0),
            )?;
            y = g.batch_norm(&format!("{p}.project.bn"), y, shape.outputs)?;
            if shape.stride == 1 && shape.inputs == shape.outputs {
                y = g.node("Add", &format!("{p}.add"), vec![y, input], vec![]);
            }
            x = y;
            channels = shape.outputs;
        }
    }
    let last = cfg.last_channels();
    x = g.conv_with("last.conv", x, ConvShape(channels, last, 1, 1, 0))?;
    x = g.batch_norm("last.bn", x, last)?;
    x = relu6(g, "last.relu6", x);
    let x = g.node("GlobalAveragePool", "pool", vec![x], vec![]);
    let x = g.node("Flatten", "flatten", vec![x], vec![int("axis", 1)]);
    g.linear("fc", x, last, classes, LOGITS_NAME)
}

/// Refuses `h × w` inputs that the architecture's strided layers shrink to `(0, _)`.
fn survives(h: usize, w: usize, output: (usize, usize), describe: &str) -> Result<()> {
    if output.0 == 0 || output.1 == 0 {
        return Err(export_error(format!(
            "{h}x{w} inputs shrink to nothing in `{describe}`"
        )));
    }
    Ok(())
}

/// A convolution's `(inputs, outputs, kernel, stride, padding)`.
#[derive(Clone, Copy)]
struct ConvShape(usize, usize, usize, usize, usize);

/// A model's float tensors by path: shape and row-major values.
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The graph being built, with the model's tensors not yet placed in it.
struct Graph {
    weights: Tensors,
    architecture: String,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    fn new(weights: Tensors, architecture: String) -> Self {
        Graph {
            weights,
            architecture,
            nodes: Vec::new(),
            initializers: Vec::new(),
        }
    }

    /// Adds a node whose single output is named after the node; returns that name.
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        attributes: Vec<AttributeProto>,
    ) -> String {
        self.node_to(op, name, inputs, attributes, name)
    }

    /// Adds a node with its single output named `output`; returns `output`.
    fn node_to(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        attributes: Vec<AttributeProto>,
        output: &str,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.into()],
            name: name.into(),
            op_type: op.into(),
            attribute: attributes,
            domain: String::new(),
        });
        output.into()
    }

    /// Adds a float32 constant; returns its name.
    fn initializer(&mut self, name: &str, dims: Vec<usize>, values: Vec<f32>) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: proto::FLOAT,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.into()
    }

    /// Places the model's tensor `name`, which must have the shape `expected`.
    fn weight(&mut self, name: &str, expected: &[usize]) -> Result<String> {
        match self.optional_weight(name, expected)? {
            Some(n) => Ok(n),
            None => Err(export_error(format!(
                "the model has no tensor `{name}`, which its card's architecture `{}` needs",
                self.architecture
            ))),
        }
    }

    /// Places the model's tensor `name` if it has one; it must have the shape `expected`.
    fn optional_weight(&mut self, name: &str, expected: &[usize]) -> Result<Option<String>> {
        let Some((dims, values)) = self.weights.remove(name) else {
            return Ok(None);
        };
        if dims != expected {
            return Err(export_error(format!(
                "tensor `{name}` is {dims:?}, the card's architecture `{}` needs {expected:?}",
                self.architecture
            )));
        }
        Ok(Some(self.initializer(name, dims, values)))
    }

    /// `Gemm(x, weight [in, out], bias [out])` into `output`.
    fn linear(
        &mut self,
        path: &str,
        x: String,
        inputs: usize,
        outputs: usize,
        output: &str,
    ) -> Result<String> {
        let mut args = vec![
            x,
            self.weight(&format!("{path}.weight"), &[inputs, outputs])?,
        ];
        if let Some(bias) = self.optional_weight(&format!("{path}.bias"), &[outputs])? {
            args.push(bias);
        }
        Ok(self.node_to("Gemm", path, args, vec![int("transB", 0)], output))
    }

    /// A stride-1 `k × k` convolution with "same" padding (and its bias, if it has one).
    fn conv(
        &mut self,
        path: &str,
        x: String,
        inputs: usize,
        outputs: usize,
        k: usize,
    ) -> Result<String> {
        self.conv_with(path, x, ConvShape(inputs, outputs, k, 1, k / 2))
    }

    /// A convolution of `shape` (and its bias, if it has one).
    fn conv_with(&mut self, path: &str, x: String, shape: ConvShape) -> Result<String> {
        let ConvShape(inputs, outputs, k, stride, pad) = shape;
        let mut args = vec![
            x,
            self.weight(&format!("{path}.weight"), &[outputs, inputs, k, k])?,
        ];
        if let Some(bias) = self.optional_weight(&format!("{path}.bias"), &[outputs])? {
            args.push(bias);
        }
        let (pad, k, stride) = (pad as i64, k as i64, stride as i64);
        Ok(self.node(
            "Conv",
            path,
            args,
            vec![
                ints("kernel_shape", &[k, k]),
                ints("pads", &[pad, pad, pad, pad]),
                ints("strides", &[stride, stride]),
                ints("dilations", &[1, 1]),
                int("group", 1),
            ],
        ))
    }

    /// A 3×3 depthwise convolution (one filter per channel, `group` = channels), padding 1,
    /// without bias.
    fn depthwise(
        &mut self,
        path: &str,
        x: String,
        channels: usize,
        stride: usize,
    ) -> Result<String> {
        let weight = self.weight(&format!("{path}.weight"), &[channels, 1, 3, 3])?;
        let s = stride as i64;
        Ok(self.node(
            "Conv",
            path,
            vec![x, weight],
            vec![
                ints("kernel_shape", &[3, 3]),
                ints("pads", &[1, 1, 1, 1]),
                ints("strides", &[s, s]),
                ints("dilations", &[1, 1]),
                int("group", channels as i64),
            ],
        ))
    }

    /// Inference-mode batch normalisation with the model's running statistics.
    fn batch_norm(&mut self, path: &str, x: String, channels: usize) -> Result<String> {
        let mut args = vec![x];
        for tensor in ["gamma", "beta", "running_mean", "running_var"] {
            args.push(self.weight(&format!("{path}.{tensor}"), &[channels])?);
        }
        let epsilon = BatchNormConfig::new(channels).epsilon as f32;
        Ok(self.node(
            "BatchNormalization",
            path,
            args,
            vec![float("epsilon", epsilon)],
        ))
    }

    /// Refuses to drop any tensor of the model silently.
    fn check_all_used(&self) -> Result<()> {
        if self.weights.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.weights.keys().map(String::as_str).collect();
        Err(export_error(format!(
            "the card's architecture `{}` has no place for the model's tensor(s) {}",
            self.architecture,
            names.join(", ")
        )))
    }
}

/// Every float tensor of `model` (parameters and running statistics), by its path.
fn collect_weights<M: Module>(model: &M) -> Result<Tensors> {
    let mut collector = Collector::default();
    model.visit(&mut collector);
    match collector.error {
        Some(e) => Err(e),
        None => Ok(collector.tensors),
    }
}

/// Reads tensors out of a module, naming each by its field path; enum variants (`Mlp`, `Cnn`)
/// are left out of the path, as in distill's safetensors files.
#[derive(Default)]
struct Collector {
    path: Vec<Option<String>>,
    tensors: Tensors,
    error: Option<Error>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((!container_type.starts_with("Enum:")).then(|| name.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name: Vec<&str> = self.path.iter().flatten().map(String::as_str).collect();
        let name = name.join(".");
        let tensor = param.val();
        let dims = tensor.dims().to_vec();
        match tensor.into_data().try_into_vec_as::<f32>() {
            Ok(values) => {
                self.tensors.insert(name, (dims, values));
            }
            Err(e) => {
                self.error.get_or_insert(export_error(format!(
                    "cannot read tensor `{name}` as float32: {e:?}"
                )));
            }
        }
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: Some(value),
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: values.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f: Some(value),
        r#type: attribute_type::FLOAT,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: Vec<Dimension>, doc: String) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(proto::type_proto::Value::TensorType(
                proto::type_proto::Tensor {
                    elem_type: proto::FLOAT,
                    shape: Some(TensorShapeProto { dim: dims }),
                },
            )),
        }),
        doc_string: doc,
    }
}
