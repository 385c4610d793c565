//! Teachers trained elsewhere: PyTorch state dicts (`.pt`/`.pth`, read by burn-store's reader,
//! which parses the pickle without executing it) and safetensors files, mapped onto a declared
//! distill architecture by regex key-remapping rules.
//!
//! Names are compared in PyTorch's layout: linear weights `[out, in]`, BatchNorm
//! `weight`/`bias`/`running_mean`/`running_var`. distill's own names are listed by
//! [`expected_tensors`] (`blocks.0.units.0.conv.weight`, `hidden.0.weight`, `output.bias`, ...);
//! the rules rewrite the file's keys into those. [`plan`] compares the two sets without loading
//! anything, which is what `distill import --dry-run` prints.

use crate::error::{Error, Result};
use crate::models::Model;
use crate::vocab::{BadField, Normalize};
use burn::module::Module;
use burn::store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[teacher.import]`: where the weights come from and how to read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportConfig {
    /// The weights file (relative to the experiment file): a PyTorch state dict (`.pt`, `.pth`)
    /// or a safetensors file.
    pub weights: PathBuf,
    /// `pytorch` or `safetensors`; by default taken from the file's extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<WeightsFormat>,
    /// For PyTorch checkpoints that nest the state dict, e.g. `"state_dict"` or
    /// `"model_state_dict"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_level_key: Option<String>,
    /// A known checkpoint layout whose names map onto distill's without rules of your own:
    /// `torchvision-resnet18` / `torchvision-resnet34` (torchvision's `resnet18` / `resnet34`
    /// state dicts, for `teacher.model = { type = "resnet", preset = "resnet18" }` / `"resnet34"`)
    /// or `torchvision-resnet` (any BasicBlock ResNet with torchvision's names, e.g.
    /// RepDistiller's `resnet8x4`). Its rules run before `remap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<ImportPreset>,
    /// Key remapping, applied in order: `[regex, replacement]` pairs (`$1` refers to a group),
    /// e.g. `["^features\\.0\\.", "blocks.0.units.0.conv."]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remap: Vec<(String, String)>,
    /// Regexes of keys in the file that the architecture does not use and that may be left out
    /// (BatchNorm's `num_batches_tracked` always may). Any other unused key is an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// The input normalisation the teacher was trained with, `(x / 255 − mean) / std`; the
    /// students are trained with it too.
    pub normalize: Normalize,
    /// Refuse a teacher whose accuracy on the evaluation set is below this (default: the
    /// majority-class share plus a tenth of the rest, i.e. barely better than chance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_accuracy: Option<f64>,
}

/// Checkpoint layouts [`ImportConfig::preset`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportPreset {
    /// torchvision's `resnet18`.
    #[serde(rename = "torchvision-resnet18")]
    TorchvisionResnet18,
    /// torchvision's `resnet34`.
    #[serde(rename = "torchvision-resnet34")]
    TorchvisionResnet34,
    /// Any BasicBlock ResNet named as torchvision names it.
    #[serde(rename = "torchvision-resnet")]
    TorchvisionResnet,
    /// torchvision's `MobileNetV2` (`mobilenet_v2`, any `width_mult` and stages):
    /// `features.0` the stem, `features.1…` the inverted residuals in order, the last
    /// `features.N` the 1×1 convolution, `classifier.1` the linear layer.
    #[serde(rename = "torchvision-mobilenet_v2")]
    TorchvisionMobilenetV2,
}

impl ImportPreset {
    /// Its name in the experiment file.
    pub fn name(self) -> &'static str {
        match self {
            ImportPreset::TorchvisionResnet18 => "torchvision-resnet18",
            ImportPreset::TorchvisionResnet34 => "torchvision-resnet34",
            ImportPreset::TorchvisionResnet => "torchvision-resnet",
            ImportPreset::TorchvisionMobilenetV2 => "torchvision-mobilenet_v2",
        }
    }

    /// The `teacher.model` ResNet preset it needs, if one.
    pub fn model_preset(self) -> Option<&'static str> {
        match self {
            ImportPreset::TorchvisionResnet18 => Some("resnet18"),
            ImportPreset::TorchvisionResnet34 => Some("resnet34"),
            ImportPreset::TorchvisionResnet | ImportPreset::TorchvisionMobilenetV2 => None,
        }
    }

    /// Its key rules for `model` (the MobileNetV2 rules depend on its stages; without a model
    /// there are none).
    ///
    /// - ResNet: torchvision's `downsample` is an `nn.Sequential` (`downsample.0` the 1×1
    ///   convolution, `downsample.1` its BatchNorm); distill names the two.
    /// - MobileNetV2: torchvision numbers every block of `features` in one sequence, and a
    ///   block's `conv` is a sequence whose positions depend on whether it expands
    ///   (`conv.0.0` is the expansion, or the depthwise convolution when there is none);
    ///   distill nests stages and names each part.
    pub fn remap(self, model: Option<&Model>) -> Vec<(String, String)> {
        match self {
            ImportPreset::TorchvisionMobilenetV2 => match model {
                Some(Model::Mobilenetv2(m)) => mobilenet_rules(&m.block_expands()),
                _ => Vec::new(),
            },
            _ => vec![
                (r"\.downsample\.0\.".into(), ".downsample.conv.".into()),
                (r"\.downsample\.1\.".into(), ".downsample.bn.".into()),
            ],
        }
    }

    /// Checks that `model` is the architecture this layout loads into; the reason when not.
    pub fn check_model(
        self,
        model: &crate::models::ModelConfig,
    ) -> std::result::Result<(), String> {
        if self == ImportPreset::TorchvisionMobilenetV2 {
            return match model {
                crate::models::ModelConfig::Mobilenetv2(_) => Ok(()),
                _ => Err(format!(
                    "teacher.import.preset = \"{}\" loads a MobileNetV2: set teacher.model to {{ type = \"mobilenetv2\", width_mult = ..., stages = ... }} as the checkpoint was built",
                    self.name()
                )),
            };
        }
        let crate::models::ModelConfig::Resnet(r) = model else {
            return Err(format!(
                "teacher.import.preset = \"{}\" loads a ResNet: set teacher.model to {{ type = \"resnet\", {} }}",
                self.name(),
                self.model_preset().map_or(
                    "stem = ..., widths = ..., blocks = ...".to_string(),
                    |p| format!("preset = \"{p}\"")
                )
            ));
        };
        if let Some(want) = self.model_preset() {
            let layout = r
                .layout()
                .map_err(|(f, v, why)| format!("{f} = {v}: {why}"))?;
            let preset = crate::models::ResNetConfig {
                preset: Some(want.into()),
                stem: None,
                stem_width: None,
                widths: None,
                blocks: None,
            };
            if preset.layout().ok().as_ref() != Some(&layout) {
                return Err(format!(
                    "teacher.import.preset = \"{}\" is torchvision's {want}, but teacher.model is `{}`: set preset = \"{want}\" there, or use teacher.import.preset = \"torchvision-resnet\" for other layouts",
                    self.name(),
                    r.describe()
                ));
            }
        }
        Ok(())
    }
}

/// torchvision's MobileNetV2 keys to distill's, for a network whose stages' blocks expand (or
/// not) as `expands` says: `features.0.{0,1}` the stem, `features.k` the k-th block overall,
/// `features.{N+1}.{0,1}` the last convolution, `classifier.1` the linear layer. Every rule is
/// anchored at the start of a key, so no rule sees another's output.
fn mobilenet_rules(expands: &[Vec<bool>]) -> Vec<(String, String)> {
    let mut rules = vec![
        (r"^features\.0\.0\.".to_string(), "stem.conv.".to_string()),
        (r"^features\.0\.1\.".to_string(), "stem.bn.".to_string()),
        (r"^classifier\.1\.".to_string(), "fc.".to_string()),
    ];
    let mut k = 0;
    for (s, stage) in expands.iter().enumerate() {
        for (b, &expand) in stage.iter().enumerate() {
            k += 1;
            let to = |part: &str| format!("stages.{s}.{b}.{part}.");
            let parts: &[(&str, &str)] = if expand {
                &[
                    ("conv.0.0", "expand.conv"),
                    ("conv.0.1", "expand.bn"),
                    ("conv.1.0", "depthwise.conv"),
                    ("conv.1.1", "depthwise.bn"),
                    ("conv.2", "project.conv"),
                    ("conv.3", "project.bn"),
                ]
            } else {
                &[
                    ("conv.0.0", "depthwise.conv"),
                    ("conv.0.1", "depthwise.bn"),
                    ("conv.1", "project.conv"),
                    ("conv.2", "project.bn"),
                ]
            };
            for (from, part) in parts {
                rules.push((
                    format!(r"^features\.{k}\.{}\.", from.replace('.', r"\.")),
                    to(part),
                ));
            }
        }
    }
    let last = k + 1;
    rules.push((format!(r"^features\.{last}\.0\."), "last.conv.".into()));
    rules.push((format!(r"^features\.{last}\.1\."), "last.bn.".into()));
    rules
}

/// The weights file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsFormat {
    /// A PyTorch `torch.save` file (zip or legacy pickle).
    Pytorch,
    /// A safetensors file with PyTorch names and layouts.
    Safetensors,
}

/// A tensor's name and shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    /// Its key (after remapping, for a file's tensors).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its element type as stored (`F32`, `F64`, `F16`, ...).
    pub dtype: String,
}

/// How a weights file's tensors line up with an architecture.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportPlan {
    /// Present with the right shape.
    pub matched: Vec<TensorInfo>,
    /// Needed by the architecture, not in the file (shape expected).
    pub missing: Vec<TensorInfo>,
    /// In both, with another shape: `(expected, found)`.
    pub mismatched: Vec<(TensorInfo, TensorInfo)>,
    /// In the file, not used by the architecture, and not covered by `ignore`.
    pub unused: Vec<TensorInfo>,
    /// In the file, not used, and allowed to be left out.
    pub ignored: Vec<TensorInfo>,
    /// Matched tensors stored in another float type, converted to f32 on load.
    pub converted: Vec<TensorInfo>,
}

impl ImportPlan {
    /// Whether the file fits: nothing missing, mismatched or unexpectedly left over.
    pub fn fits(&self) -> bool {
        self.missing.is_empty() && self.mismatched.is_empty() && self.unused.is_empty()
    }

    /// A multi-line listing, as `distill import --dry-run` prints it.
    pub fn listing(&self) -> String {
        let shape = |s: &[usize]| format!("{s:?}");
        let mut out = String::new();
        let mut section = |title: &str, rows: Vec<String>| {
            out.push_str(&format!("{title}: {}\n", rows.len()));
            for r in rows {
                out.push_str(&format!("  {r}\n"));
            }
        };
        section(
            "matched",
            self.matched
                .iter()
                .map(|t| format!("{} {}", t.name, shape(&t.shape)))
                .collect(),
        );
        section(
            "missing from the file (expected shape)",
            self.missing
                .iter()
                .map(|t| format!("{} {}", t.name, shape(&t.shape)))
                .collect(),
        );
        section(
            "shape mismatch (expected, found)",
            self.mismatched
                .iter()
                .map(|(e, f)| format!("{} {} != {}", e.name, shape(&e.shape), shape(&f.shape)))
                .collect(),
        );
        section(
            "unused keys in the file",
            self.unused
                .iter()
                .map(|t| format!("{} {}", t.name, shape(&t.shape)))
                .collect(),
        );
        section(
            "converted to f32 on load",
            self.converted
                .iter()
                .map(|t| format!("{} {}", t.name, t.dtype))
                .collect(),
        );
        section(
            "ignored",
            self.ignored
                .iter()
                .map(|t| format!("{} {}", t.name, shape(&t.shape)))
                .collect(),
        );
        out
    }

    /// One line naming the first problems, for an error message.
    pub fn summary(&self) -> String {
        let list = super::first_three;
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "missing {}",
                list(
                    self.missing
                        .iter()
                        .map(|t| format!("{} {:?}", t.name, t.shape))
                        .collect()
                )
            ));
        }
        if !self.mismatched.is_empty() {
            parts.push(format!(
                "shape mismatch {}",
                list(
                    self.mismatched
                        .iter()
                        .map(|(e, f)| format!(
                            "{} expects {:?}, file has {:?}",
                            e.name, e.shape, f.shape
                        ))
                        .collect()
                )
            ));
        }
        if !self.unused.is_empty() {
            parts.push(format!(
                "unused {}",
                list(
                    self.unused
                        .iter()
                        .map(|t| format!("{} {:?}", t.name, t.shape))
                        .collect()
                )
            ));
        }
        parts.join("; ")
    }
}

impl ImportConfig {
    /// Checks the rules and values, naming the field under `prefix`.
    pub fn validate(&self, prefix: &str, bad: BadField) -> Result<()> {
        if let Err(e) = self.resolved_format() {
            return Err(bad(
                &format!("{prefix}.format"),
                self.weights.display().to_string(),
                &e,
            ));
        }
        for (i, (from, _)) in self.remap.iter().enumerate() {
            if let Err(e) = regex::Regex::new(from) {
                return Err(bad(
                    &format!("{prefix}.remap[{i}]"),
                    format!("{from:?}"),
                    &format!("not a valid regex: {}", first_line(&e.to_string())),
                ));
            }
        }
        for (i, pattern) in self.ignore.iter().enumerate() {
            if let Err(e) = regex::Regex::new(pattern) {
                return Err(bad(
                    &format!("{prefix}.ignore[{i}]"),
                    format!("{pattern:?}"),
                    &format!("not a valid regex: {}", first_line(&e.to_string())),
                ));
            }
        }
        let n = self.normalize;
        if let Err(reason) = n.check(n.mean.as_slice().len().max(n.std.as_slice().len())) {
            return Err(bad(
                &format!("{prefix}.normalize"),
                format!("{{ mean = {}, std = {} }}", n.mean, n.std),
                &reason,
            ));
        }
        if let Some(a) = self.min_accuracy
            && !(0.0..=1.0).contains(&a)
        {
            return Err(bad(
                &format!("{prefix}.min_accuracy"),
                a.to_string(),
                "must be a fraction in [0, 1]",
            ));
        }
        Ok(())
    }

    /// The format: declared, or from the extension.
    pub fn resolved_format(&self) -> std::result::Result<WeightsFormat, String> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        match self
            .weights
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("pt" | "pth" | "bin" | "ckpt") => Ok(WeightsFormat::Pytorch),
            Some("safetensors") => Ok(WeightsFormat::Safetensors),
            _ => Err(
                "cannot tell the format from the extension: name a .pt/.pth or .safetensors file, or set format = \"pytorch\" or \"safetensors\"".into(),
            ),
        }
    }

    fn remapper(&self, model: Option<&Model>) -> Result<KeyRemapper> {
        let preset = self.preset.map(|p| p.remap(model)).unwrap_or_default();
        KeyRemapper::from_patterns(
            preset
                .iter()
                .chain(&self.remap)
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect(),
        )
        .map_err(|e| self.error(format!("bad remap rule: {e}")))
    }

    fn error(&self, message: String) -> Error {
        Error::Weights {
            path: self.weights.clone(),
            message,
        }
    }

    fn open(&self, model: Option<&Model>) -> Result<Source> {
        if !self.weights.is_file() {
            return Err(self.error("no such file (teacher.import.weights)".into()));
        }
        let format = self.resolved_format().map_err(|e| self.error(e))?;
        let remapper = self.remapper(model)?;
        Ok(match format {
            WeightsFormat::Pytorch => {
                let mut store = PytorchStore::from_file(&self.weights)
                    .map_indices_contiguous(false)
                    .remap(remapper)
                    .validate(false)
                    .allow_partial(true);
                if let Some(key) = &self.top_level_key {
                    store = store.with_top_level_key(key.clone());
                }
                Source::Pytorch(Box::new(store))
            }
            WeightsFormat::Safetensors => Source::Safetensors(Box::new(
                SafetensorsStore::from_file(&self.weights)
                    .with_from_adapter(PyTorchToBurnAdapter)
                    .skip_enum_variants(true)
                    .remap(remapper)
                    .validate(false)
                    .allow_partial(true),
            )),
        })
    }

    /// The file's tensors after remapping, sorted by name (without the rules a preset derives
    /// from the model: see [`ImportConfig::plan`]).
    pub fn source_tensors(&self) -> Result<Vec<TensorInfo>> {
        self.source_tensors_for(None)
    }

    fn source_tensors_for(&self, model: Option<&Model>) -> Result<Vec<TensorInfo>> {
        let mut source = self.open(model)?;
        let tensors = match &mut source {
            Source::Pytorch(s) => s.get_all_tensors().map(infos).map_err(|e| e.to_string()),
            Source::Safetensors(s) => s.get_all_tensors().map(infos).map_err(|e| e.to_string()),
        };
        tensors.map_err(|e| self.unreadable(&e))
    }

    fn unreadable(&self, e: &str) -> Error {
        let what = match self.resolved_format() {
            Ok(WeightsFormat::Safetensors) => "a safetensors file",
            _ => "a PyTorch state dict (torch.save of a state_dict)",
        };
        self.error(format!("cannot read it as {what}: {}", first_line(e)))
    }

    /// Compares the file's (remapped) tensors with what `model` needs.
    pub fn plan(&self, model: &Model) -> Result<ImportPlan> {
        let source = self.source_tensors_for(Some(model))?;
        let expected = expected_tensors(model);
        let ignore: Vec<regex::Regex> = self
            .ignore
            .iter()
            .filter_map(|p| regex::Regex::new(p).ok())
            .collect();
        let mut plan = ImportPlan::default();
        for e in &expected {
            match source.iter().find(|s| s.name == e.name) {
                Some(s) if s.shape == e.shape => {
                    if s.dtype != e.dtype {
                        plan.converted.push(s.clone());
                    }
                    plan.matched.push(e.clone())
                }
                Some(s) => plan.mismatched.push((e.clone(), s.clone())),
                None => plan.missing.push(e.clone()),
            }
        }
        for s in source {
            if expected.iter().any(|e| e.name == s.name) {
                continue;
            }
            if s.name.ends_with("num_batches_tracked") || ignore.iter().any(|r| r.is_match(&s.name))
            {
                plan.ignored.push(s);
            } else {
                plan.unused.push(s);
            }
        }
        Ok(plan)
    }

    /// Loads the weights into `model` (freshly built with the declared architecture), refusing
    /// a file that does not fit it exactly.
    pub fn load(&self, mut model: Model) -> Result<Model> {
        let plan = self.plan(&model)?;
        if !plan.fits() {
            return Err(self.error(format!(
                "does not fit teacher.model: {} (`distill import --dry-run` lists every key)",
                plan.summary()
            )));
        }
        let mut source = self.open(Some(&model))?;
        let result = match &mut source {
            Source::Pytorch(s) => s.apply_to(&mut model).map_err(|e| e.to_string()),
            Source::Safetensors(s) => s.apply_to(&mut model).map_err(|e| e.to_string()),
        }
        .map_err(|e| self.unreadable(&e))?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
            problems.extend(result.missing.iter().map(|(p, _)| format!("missing {p}")));
            return Err(self.error(format!(
                "cannot load into teacher.model: {}",
                problems.into_iter().take(3).collect::<Vec<_>>().join("; ")
            )));
        }
        // Weights stored as f64 / f16 / bf16 load as such; distill computes in f32.
        Ok(model.map(&mut ToF32))
    }

    /// The accuracy below which an imported teacher is refused, given the share of the
    /// evaluation set's most frequent class.
    pub fn threshold(&self, majority_share: f64) -> f64 {
        self.min_accuracy
            .unwrap_or(majority_share + 0.1 * (1.0 - majority_share))
    }
}

/// Casts every float parameter to f32 (a no-op for those that are).
struct ToF32;

impl burn::module::ModuleMapper for ToF32 {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<D>> {
        param.map(|t| {
            if t.dtype() == burn::tensor::DType::F32 {
                t
            } else {
                t.cast(burn::tensor::DType::F32)
            }
        })
    }
}

enum Source {
    Pytorch(Box<PytorchStore>),
    Safetensors(Box<SafetensorsStore>),
}

fn infos(
    map: &std::collections::BTreeMap<String, burn::store::burn_pack::Tensor>,
) -> Vec<TensorInfo> {
    map.values()
        .map(|t| TensorInfo {
            name: t.name.clone(),
            shape: t.shape.to_vec(),
            dtype: format!("{:?}", t.dtype),
        })
        .collect()
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// The tensors `model` holds, named and shaped as PyTorch would hold them (linear weights
/// `[out, in]`, BatchNorm `weight`/`bias`), sorted by name.
pub fn expected_tensors(model: &Model) -> Vec<TensorInfo> {
    let mut v: Vec<TensorInfo> = model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| TensorInfo {
            name: t.name.clone(),
            shape: t.shape.to_vec(),
            dtype: format!("{:?}", t.dtype),
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Saves `model` as safetensors under PyTorch's names and layouts, which a PyTorch module of
/// the same architecture (`python/distill_torch.py`) loads with `load_state_dict`. Atomic.
pub fn save_pytorch_safetensors(model: &Model, path: &Path) -> Result<()> {
    crate::fsutil::write_atomic_with(path, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp)
            .overwrite(true)
            .with_to_adapter(BurnToPyTorchAdapter)
            .skip_enum_variants(true)
            .metadata("format", "pt")
            .metadata("producer", "distill");
        model.save_into(&mut store).map_err(|e| Error::Weights {
            path: path.to_path_buf(),
            message: format!("cannot save: {e}"),
        })
    })
}

/// The configuration of a PyTorch-layout safetensors file written by
/// [`save_pytorch_safetensors`], for reading it back.
pub fn pytorch_safetensors(path: impl Into<PathBuf>, normalize: Normalize) -> ImportConfig {
    ImportConfig {
        weights: path.into(),
        format: Some(WeightsFormat::Safetensors),
        top_level_key: None,
        preset: None,
        remap: Vec::new(),
        ignore: Vec::new(),
        normalize,
        min_accuracy: None,
    }
}
