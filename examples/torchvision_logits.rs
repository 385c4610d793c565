//! Loads a torchvision ResNet checkpoint with `[teacher.import] preset` and compares distill's
//! logits with PyTorch's, on the inputs `python/images/make_torchvision_fixture.py` wrote
//! beside it (`inputs.u8`, `expected.json`): the check behind "an imported torchvision
//! ResNet-18 gives PyTorch's logits to 1e-4".
//!
//! ```text
//! python python/images/make_torchvision_fixture.py --full --out /tmp/tv18
//! cargo run --release --example torchvision_logits -- /tmp/tv18/resnet18.pth resnet18
//! cargo run --release --example torchvision_logits -- tests/fixtures/torchvision/tiny_resnet.pth tiny
//! ```

use distill::models::ModelConfig;
use distill::models::import::{ImportConfig, ImportPreset};
use distill::models::resnet::{ResNetConfig, Stem};
use distill::vocab::{Normalize, PerChannel};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() == 2,
        "usage: torchvision_logits WEIGHTS.pth resnet18|resnet34|tiny"
    );
    let weights = PathBuf::from(&args[0]);
    let dir = weights.parent().unwrap_or(std::path::Path::new("."));
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json"))?)?;
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_f64())
                    .map(|x| x as f32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (mean, std) = (floats(&expected["mean"]), floats(&expected["std"]));
    let shape: Vec<usize> = expected["shape"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as usize)
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        shape.len() == 4 && shape[1] == 3,
        "expected.json: shape {shape:?}"
    );
    let classes = expected["num_classes"].as_u64().unwrap_or(0) as usize;
    let (arch, preset) = match args[1].as_str() {
        "tiny" => (
            ResNetConfig {
                preset: None,
                stem: Some(Stem::Imagenet),
                stem_width: Some(8),
                widths: Some(vec![8, 16, 32, 64]),
                blocks: Some(vec![2, 2, 2, 2]),
            },
            ImportPreset::TorchvisionResnet,
        ),
        name => (
            ResNetConfig {
                preset: Some(name.to_string()),
                stem: None,
                stem_width: None,
                widths: None,
                blocks: None,
            },
            match name {
                "resnet18" => ImportPreset::TorchvisionResnet18,
                "resnet34" => ImportPreset::TorchvisionResnet34,
                other => anyhow::bail!("unknown layout {other}"),
            },
        ),
    };
    let normalize = Normalize {
        mean: PerChannel::of(&mean).ok_or_else(|| anyhow::anyhow!("mean"))?,
        std: PerChannel::of(&std).ok_or_else(|| anyhow::anyhow!("std"))?,
    };
    let import = ImportConfig {
        format: None,
        preset: Some(preset),
        ..distill::models::import::pytorch_safetensors(&weights, normalize)
    };
    let device = distill::default_device();
    let (n, h, w) = (shape[0], shape[2], shape[3]);
    let fresh = ModelConfig::Resnet(arch).init([3, h, w], classes, &device);
    let plan = import.plan(&fresh)?;
    println!(
        "{}: {} tensors matched, {} ignored",
        weights.display(),
        plan.matched.len(),
        plan.ignored.len()
    );
    let model = import.load(fresh)?;
    let raw = std::fs::read(dir.join("inputs.u8"))?;
    anyhow::ensure!(raw.len() == n * 3 * h * w, "inputs.u8: {} bytes", raw.len());
    let plane = h * w;
    let x: Vec<f32> = raw
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / plane) % 3;
            (v as f32 / 255.0 - mean[c]) / std[c]
        })
        .collect();
    let images = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(x, [n, 3, h, w]),
        &device,
    );
    let logits: Vec<f32> = burn::module::Module::valid(&model)
        .forward(images)
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let want: Vec<f32> = expected["logits"]
        .as_array()
        .map(|rows| rows.iter().flat_map(floats).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        want.len() == logits.len(),
        "expected.json: {} logits",
        want.len()
    );
    let max = logits
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let scale = want.iter().map(|v| v.abs()).fold(0f32, f32::max);
    println!(
        "{n} images {h}x{w}: max |distill - PyTorch| = {max:e} (largest |logit| {scale:.3}); \
         PyTorch {} / torchvision {}",
        expected["torch_version"], expected["torchvision_version"]
    );
    anyhow::ensure!(max < 1e-4, "logits differ by more than 1e-4");
    Ok(())
}
