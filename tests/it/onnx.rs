//! ONNX export, checked with an independent runtime (tract): every architecture distill builds,
//! every CNN option, gives tract the outputs of distill's own `Model::forward` to 1e-4, at any
//! batch size; the softmax-with-temperature output; the file's metadata; and clear errors.

use crate::common;

use common::models::{card, distill_logits, random_images, saved_model};
use distill::error::Error;
use distill::export::onnx::{OnnxOptions, export_onnx, to_onnx};
use distill::models::{CnnConfig, MlpConfig, MobileNetV2Config, ModelConfig, ResNetConfig};
use distill::predict::ModelCard;
use std::path::Path;
use std::process::Command;

/// Runs an ONNX file in tract on each batch; returns each batch's single output and its shape.
fn tract_outputs(
    file: &Path,
    batches: &[(Vec<f32>, usize)],
    input: [usize; 3],
) -> Vec<(Vec<f32>, Vec<usize>)> {
    use tract_onnx::prelude::*;
    // No input fact is given: the batch dimension stays the file's symbol `N`, so one plan has
    // to run every batch size.
    let plan = tract_onnx::onnx()
        .model_for_path(file)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let [c, h, w] = input;
    batches
        .iter()
        .map(|(images, n)| {
            let x = Tensor::from_shape(&[*n, c, h, w], images).unwrap();
            let out = plan.run(tvec![x.into()]).unwrap();
            assert_eq!(out.len(), 1, "one output");
            let values = out[0].to_plain_array_view::<f32>().unwrap();
            (values.iter().copied().collect(), out[0].shape().to_vec())
        })
        .collect()
}

/// Asserts `got` ≈ `want` to 1e-4 (absolute plus relative); returns the largest absolute
/// difference.
fn assert_close(got: &[f32], want: &[f32], what: &str) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let mut max = 0f32;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let diff = (g - w).abs();
        assert!(
            diff <= 1e-4 * (1.0 + w.abs()),
            "{what}: element {i}: tract {g}, distill {w} (diff {diff})"
        );
        max = max.max(diff);
    }
    max
}

/// Exports the card's model (through the files, as `distill export` does), runs it in tract on
/// batches of 3 and 1 random inputs, and compares with distill's forward.
fn check_against_tract(name: &str, card: &ModelCard, seed: u64) -> f32 {
    let dir = tempfile::tempdir().unwrap();
    let (model, weights) = saved_model(dir.path(), name, card, seed);
    let onnx = dir.path().join(format!("{name}.onnx"));
    export_onnx(&weights, &onnx, &OnnxOptions::default()).unwrap();

    // The same bytes as exporting the in-memory model: nothing is lost in saving and loading.
    let direct = to_onnx(&model, card, &OnnxOptions::default()).unwrap();
    assert_eq!(std::fs::read(&onnx).unwrap(), direct, "{name}: file export");

    let classes = card.class_names.len();
    let batches: Vec<(Vec<f32>, usize)> = [3usize, 1]
        .iter()
        .enumerate()
        .map(|(i, &n)| (random_images(n, card.input, seed + 100 + i as u64), n))
        .collect();
    let outputs = tract_outputs(&onnx, &batches, card.input);
    let mut max = 0f32;
    for ((images, n), (got, shape)) in batches.iter().zip(&outputs) {
        assert_eq!(shape, &[*n, classes], "{name}: output shape");
        let want = distill_logits(&model, images, *n, card.input);
        assert!(
            want.iter().any(|v| v.abs() > 1e-2),
            "{name}: logits are not trivially zero"
        );
        max = max.max(assert_close(got, &want, name));
    }
    eprintln!("{name}: max |tract - distill| = {max:e}");
    max
}

#[test]
fn resnets_of_both_stems_match_tract() {
    use distill::models::resnet::Stem;
    // torchvision's stem (7x7/2 and a padded 3x3/2 max pool) with a downsampling shortcut in
    // every stage after the first, on colour inputs of an odd size.
    let arch = ModelConfig::Resnet(ResNetConfig {
        preset: None,
        stem: Some(Stem::Imagenet),
        stem_width: Some(4),
        widths: Some(vec![4, 6, 8]),
        blocks: Some(vec![2, 1, 1]),
    });
    check_against_tract("resnet-imagenet", &card(arch, [3, 33, 29], 4), 11);
    // RepDistiller's CIFAR stem; the first stage widens, so it has a shortcut too.
    let arch = ModelConfig::Resnet(ResNetConfig {
        preset: None,
        stem: Some(Stem::Cifar),
        stem_width: Some(4),
        widths: Some(vec![6, 8]),
        blocks: Some(vec![1, 2]),
    });
    check_against_tract("resnet-cifar", &card(arch, [3, 12, 12], 3), 12);
}

#[test]
fn mobilenetv2_matches_tract() {
    // Expanding and non-expanding blocks, strides 1 and 2, shortcuts, ReLU6 as Clip.
    let arch = ModelConfig::Mobilenetv2(MobileNetV2Config {
        width_mult: 0.25,
        stages: vec![[1, 16, 1, 1], [6, 24, 2, 2], [4, 32, 2, 1]],
        stem_width: 32,
        stem_stride: 1,
        last_width: 48,
        dropout: 0.2,
    });
    check_against_tract("mobilenetv2", &card(arch, [3, 14, 13], 4), 13);
}

#[test]
fn mlp_matches_tract() {
    let arch = ModelConfig::Mlp(MlpConfig {
        hidden: vec![16, 8],
        dropout: 0.3,
    });
    check_against_tract("mlp", &card(arch, [1, 6, 5], 4), 1);
}

#[test]
fn mlp_without_hidden_layers_matches_tract() {
    let arch = ModelConfig::Mlp(MlpConfig {
        hidden: vec![],
        dropout: 0.0,
    });
    check_against_tract("linear", &card(arch, [1, 4, 4], 3), 2);
}

#[test]
fn cnn_with_batch_norm_and_pooling_matches_tract() {
    // Two input channels, and a width that pooling floors (10 -> 5 -> 2).
    let arch = ModelConfig::Cnn(CnnConfig {
        blocks: vec![vec![4], vec![6, 5]],
        hidden: vec![12],
        kernel_size: 3,
        batch_norm: true,
        residual: false,
        dropout: 0.25,
    });
    check_against_tract("cnn", &card(arch, [2, 12, 10], 5), 3);
}

#[test]
fn residual_cnn_matches_tract() {
    // Shortcuts with a 1x1 projection (1 -> 4, 4 -> 6) and without (4 -> 4), a 5x5 kernel,
    // two hidden layers.
    let arch = ModelConfig::Cnn(CnnConfig {
        blocks: vec![vec![4, 4], vec![4], vec![6]],
        hidden: vec![10, 7],
        kernel_size: 5,
        batch_norm: true,
        residual: true,
        dropout: 0.1,
    });
    check_against_tract("residual", &card(arch, [1, 16, 16], 3), 4);
}

#[test]
fn residual_cnn_without_batch_norm_matches_tract() {
    // Convolutions with biases, 1x1 kernels, odd sizes (9x7 -> 4x3 -> 2x1), no hidden layer.
    let arch = ModelConfig::Cnn(CnnConfig {
        blocks: vec![vec![3], vec![3, 5]],
        hidden: vec![],
        kernel_size: 1,
        batch_norm: false,
        residual: true,
        dropout: 0.0,
    });
    check_against_tract("residual_nobn", &card(arch, [1, 9, 7], 6), 5);
}

#[test]
fn cli_softmax_with_temperature_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let arch = ModelConfig::Cnn(CnnConfig {
        blocks: vec![vec![3], vec![4]],
        hidden: vec![6],
        kernel_size: 3,
        batch_norm: true,
        residual: true,
        dropout: 0.0,
    });
    let card = card(arch, [1, 8, 8], 4);
    let (model, weights) = saved_model(dir.path(), "student", &card, 6);
    let onnx = dir.path().join("out").join("student.onnx");
    let t = 2.5f32;
    let cli = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["export", "--temperature", "2.5", "--model"])
        .arg(&weights)
        .arg("--onnx")
        .arg(&onnx)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let said = String::from_utf8_lossy(&cli.stdout);
    assert!(said.contains("probabilities"), "{said}");

    // Probabilities: softmax(distill's logits / T), each row summing to 1.
    let n = 4;
    let images = random_images(n, card.input, 60);
    let (got, shape) = tract_outputs(&onnx, &[(images.clone(), n)], card.input).remove(0);
    assert_eq!(shape, [n, 4]);
    let logits = distill_logits(&model, &images, n, card.input);
    let want: Vec<f32> = logits
        .chunks(4)
        .flat_map(|row| {
            let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = row
                .iter()
                .map(|&z| (((z - max) / t) as f64).exp())
                .collect();
            let sum: f64 = e.iter().sum();
            e.into_iter().map(move |v| (v / sum) as f32)
        })
        .collect();
    let max = assert_close(&got, &want, "softmax");
    eprintln!("softmax T={t}: max |tract - distill| = {max:e}");
    for row in got.chunks(4) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    // The file as tract reads it: versions, names, symbolic batch, metadata.
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx().proto_model_for_path(&onnx).unwrap();
    assert_eq!(proto.ir_version, 7);
    assert_eq!(proto.opset_import.len(), 1);
    assert_eq!(proto.opset_import[0].version, 13);
    let graph = proto.graph.as_ref().unwrap();
    assert_eq!(graph.input.len(), 1);
    assert_eq!(graph.input[0].name, "input");
    assert_eq!(graph.output.len(), 1);
    assert_eq!(graph.output[0].name, "probabilities");
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    for op in [
        "Conv",
        "BatchNormalization",
        "Relu",
        "Add",
        "MaxPool",
        "Flatten",
        "Gemm",
        "Div",
        "Softmax",
    ] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
    assert!(!ops.contains(&"Dropout"));
    let meta = |key: &str| {
        proto
            .metadata_props
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.clone())
            .unwrap_or_else(|| panic!("metadata {key}"))
    };
    let names: Vec<String> = serde_json::from_str(&meta("class_names")).unwrap();
    assert_eq!(names, card.class_names);
    assert_eq!(meta("distill_version"), "0.1.0-test");
    assert_eq!(meta("normalize_mean"), "0.25");
    assert_eq!(meta("normalize_std"), "0.5");
    assert_eq!(meta("input_shape"), "[1,8,8]");
    assert_eq!(meta("temperature"), "2.5");
    let arch: ModelConfig = serde_json::from_str(&meta("architecture")).unwrap();
    assert_eq!(arch, card.architecture);
}

#[test]
fn clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let arch = ModelConfig::Mlp(MlpConfig {
        hidden: vec![5],
        dropout: 0.0,
    });
    let good = card(arch, [1, 4, 4], 3);
    let (model, weights) = saved_model(dir.path(), "m", &good, 7);
    let onnx = dir.path().join("m.onnx");

    // A temperature that is not > 0, in the library and on the command line.
    let bad_t = OnnxOptions {
        softmax_temperature: Some(0.0),
    };
    assert!(matches!(
        export_onnx(&weights, &onnx, &bad_t),
        Err(Error::Argument { .. })
    ));
    let cli = |args: &[&str], model: &Path| {
        Command::new(env!("CARGO_BIN_EXE_distill"))
            .arg("export")
            .args(args)
            .arg("--model")
            .arg(model)
            .arg("--onnx")
            .arg(&onnx)
            .output()
            .unwrap()
    };
    let out = cli(&["--temperature", "-1"], &weights);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--temperature"), "{stderr}");

    // A card that does not describe the model: the tensor at fault is named.
    let mut wrong = good.clone();
    wrong.architecture = ModelConfig::Mlp(MlpConfig {
        hidden: vec![6],
        dropout: 0.0,
    });
    let err = to_onnx(&model, &wrong, &OnnxOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("hidden.0.weight"),
        "{err}: names the tensor"
    );

    // Missing weights, and weights without their card.
    let missing = dir.path().join("nothing.safetensors");
    let err = export_onnx(&missing, &onnx, &OnnxOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nothing.safetensors"), "{err}");
    std::fs::remove_file(ModelCard::path_for(&weights)).unwrap();
    let err = export_onnx(&weights, &onnx, &OnnxOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("m.model.json") && msg.contains("no model card"),
        "{msg}"
    );
    let out = cli(&[], &weights);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("m.model.json"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    // Nothing was written by any of the failures.
    assert!(!onnx.exists());
}

/// The residual BatchNorm CNN and an MLP, in onnxruntime (from PyPI), where Python has it.
#[test]
fn onnxruntime_gives_the_same_outputs_where_installed() {
    let has_ort = Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_ort {
        eprintln!("skipped: no python3 with onnxruntime here (pip install onnxruntime)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archs = [
        (
            "cnn",
            ModelConfig::Cnn(CnnConfig {
                blocks: vec![vec![4], vec![6, 6]],
                hidden: vec![10],
                kernel_size: 3,
                batch_norm: true,
                residual: true,
                dropout: 0.1,
            }),
        ),
        (
            "mlp",
            ModelConfig::Mlp(MlpConfig {
                hidden: vec![16, 8],
                dropout: 0.0,
            }),
        ),
    ];
    for (i, (name, arch)) in archs.into_iter().enumerate() {
        let card = card(arch, [1, 8, 8], 4);
        let (model, weights) = saved_model(dir.path(), name, &card, 20 + i as u64);
        let onnx = dir.path().join(format!("{name}.onnx"));
        export_onnx(&weights, &onnx, &OnnxOptions::default()).unwrap();
        let n = 3;
        let x = random_images(n, card.input, 30 + i as u64);
        let want = distill_logits(&model, &x, n, card.input);
        let inputs: Vec<Vec<Vec<Vec<f32>>>> = x
            .chunks(64)
            .map(|img| vec![img.chunks(8).map(|r| r.to_vec()).collect()])
            .collect();
        let outputs: Vec<Vec<f32>> = want.chunks(4).map(|r| r.to_vec()).collect();
        let check = dir.path().join(format!("{name}.json"));
        std::fs::write(
            &check,
            serde_json::to_vec(&serde_json::json!({ "inputs": inputs, "outputs": outputs }))
                .unwrap(),
        )
        .unwrap();
        let run = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_onnx.py"))
            .arg(&onnx)
            .arg(&check)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{name}: {text}{}",
            String::from_utf8_lossy(&run.stderr)
        );
        eprintln!("{name}: {}", text.trim());
    }
}
