//! Weights in and out: distill's own format round-trips bit-exactly; the PyTorch-layout
//! safetensors export reads back bit-exactly and (where Python has torch) loads into the
//! PyTorch mirror `python/distill_torch.py` with the same outputs; PyTorch teachers (the
//! fixtures of `tests/fixtures/pytorch/make_fixtures.py`) import with their outputs to 1e-5;
//! bad files give errors naming the file and the key; the near-chance check refuses a teacher
//! that loads but predicts nothing.

use crate::common;

use burn::module::{Module, ModuleMapper, Param};
use burn::store::ModuleSnapshot;
use burn::tensor::Tensor;
use common::models::{card, distill_logits, perturbed, random_images, saved_model};
use distill::config::Normalize;
use distill::models::import::{ImportConfig, expected_tensors, pytorch_safetensors};
use distill::models::{CnnConfig, MlpConfig, Model, ModelConfig};
use distill::predict::ModelCard;
use std::path::{Path, PathBuf};
use std::process::Command;

const NORM: Normalize = Normalize::scalar(0.25, 0.5);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch")
}

fn residual_cnn() -> ModelConfig {
    ModelConfig::Cnn(CnnConfig {
        blocks: vec![vec![4], vec![4, 4]],
        hidden: vec![12],
        kernel_size: 3,
        batch_norm: true,
        residual: true,
        dropout: 0.2,
    })
}

fn mlp() -> ModelConfig {
    ModelConfig::Mlp(MlpConfig {
        hidden: vec![16, 8],
        dropout: 0.1,
    })
}

/// Every tensor of `model` as (name, raw bytes).
fn tensor_bytes(model: &Model) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = model
        .collect(None, None, false)
        .into_iter()
        .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
        .collect();
    v.sort();
    v
}

#[test]
fn own_format_round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    for (name, arch) in [("mlp", mlp()), ("cnn", residual_cnn())] {
        let card = card(arch, [1, 8, 8], 5);
        let (model, weights) = saved_model(dir.path(), name, &card, 3);
        let loaded = card
            .load_model(&weights, &distill::default_device())
            .unwrap();
        let (a, b) = (tensor_bytes(&model), tensor_bytes(&loaded));
        assert!(a.len() >= 6, "{name}: {} tensors", a.len());
        assert!(a == b, "{name}: every tensor bit for bit");
        let x = random_images(3, card.input, 9);
        let (model, loaded) = (model.valid(), loaded.valid());
        assert_eq!(
            distill_logits(&model, &x, 3, card.input),
            distill_logits(&loaded, &x, 3, card.input),
            "{name}: identical logits"
        );
    }
}

#[test]
fn pytorch_safetensors_export_reads_back_exactly_with_pytorch_names() {
    let dir = tempfile::tempdir().unwrap();
    for (name, arch) in [("mlp", mlp()), ("cnn", residual_cnn())] {
        let card = card(arch, [1, 8, 8], 5);
        let (model, weights) = saved_model(dir.path(), name, &card, 4);
        let out = dir.path().join(format!("{name}.pt.safetensors"));
        distill::export::export_pytorch_safetensors(&weights, &out).unwrap();
        assert_eq!(
            ModelCard::load_for(&out).unwrap(),
            card,
            "{name}: card beside it"
        );

        let import = pytorch_safetensors(&out, NORM);
        let fresh = card
            .architecture
            .init(card.input, 5, &distill::default_device());
        let names: Vec<(String, Vec<usize>)> = import
            .source_tensors()
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.shape))
            .collect();
        // PyTorch's names and layouts: no enum variant, BatchNorm weight/bias, Linear [out, in].
        assert!(
            names
                .iter()
                .all(|(n, _)| !n.starts_with("Cnn.") && !n.starts_with("Mlp."))
        );
        assert!(
            names
                .iter()
                .all(|(n, _)| !n.contains("gamma") && !n.contains("beta"))
        );
        assert!(names.contains(&("output.weight".into(), vec![5, names_width(&names)])));
        if name == "cnn" {
            for key in [
                "blocks.0.units.0.norm.weight",
                "blocks.0.units.0.norm.running_var",
                "blocks.0.projection.weight",
                "blocks.1.units.1.conv.weight",
            ] {
                assert!(
                    names.iter().any(|(n, _)| n == key),
                    "{name}: {key} in {names:?}"
                );
            }
            assert!(
                !names.iter().any(|(n, _)| n == "blocks.1.projection.weight"),
                "no projection where the width does not change"
            );
        }
        let plan = import.plan(&fresh).unwrap();
        assert!(plan.fits(), "{name}: {}", plan.listing());
        let loaded = import.load(fresh).unwrap();
        assert!(
            tensor_bytes(&model) == tensor_bytes(&loaded),
            "{name}: bit-exact"
        );
    }
}

fn names_width(names: &[(String, Vec<usize>)]) -> usize {
    names
        .iter()
        .find(|(n, _)| n == "output.weight")
        .map(|(_, s)| s[1])
        .unwrap_or(0)
}

/// The fixture's expected inputs, logits and remap rules.
struct Expected {
    inputs: Vec<f32>,
    n: usize,
    logits: Vec<f32>,
    remap: Vec<(String, String)>,
}

fn expected(name: &str) -> Expected {
    let path = fixtures().join(format!("{name}_expected.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let flat = |v: &serde_json::Value, out: &mut Vec<f32>| {
        fn go(v: &serde_json::Value, out: &mut Vec<f32>) {
            match v {
                serde_json::Value::Array(a) => a.iter().for_each(|x| go(x, out)),
                x => out.push(x.as_f64().unwrap() as f32),
            }
        }
        go(v, out)
    };
    let (mut inputs, mut logits) = (Vec::new(), Vec::new());
    flat(&v["inputs"], &mut inputs);
    flat(&v["logits"], &mut logits);
    let remap = v["remap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    Expected {
        n: v["inputs"].as_array().unwrap().len(),
        inputs,
        logits,
        remap,
    }
}

fn fixture_arch(name: &str) -> ModelConfig {
    match name {
        "mlp" => ModelConfig::Mlp(MlpConfig {
            hidden: vec![16, 12],
            dropout: 0.0,
        }),
        _ => ModelConfig::Cnn(CnnConfig {
            blocks: vec![vec![4], vec![8]],
            hidden: vec![16],
            kernel_size: 3,
            batch_norm: true,
            residual: false,
            dropout: 0.0,
        }),
    }
}

fn import_config(file: &str, remap: &[(String, String)]) -> ImportConfig {
    ImportConfig {
        weights: fixtures().join(file),
        format: None,
        top_level_key: None,
        preset: None,
        remap: remap.to_vec(),
        ignore: Vec::new(),
        normalize: NORM,
        min_accuracy: None,
    }
}

fn fresh(name: &str) -> Model {
    fixture_arch(name).init([1, 12, 12], 3, &distill::default_device())
}

#[test]
fn pytorch_fixtures_import_with_their_outputs() {
    for (name, file, key) in [
        ("mlp", "mlp.pth", None),
        ("mlp", "mlp.safetensors", None),
        ("cnn", "cnn.pth", None),
        ("cnn", "cnn.safetensors", None),
        ("cnn", "cnn_checkpoint.pth", Some("state_dict")),
    ] {
        let want = expected(name);
        let mut import = import_config(file, &want.remap);
        import.top_level_key = key.map(String::from);
        let plan = import.plan(&fresh(name)).unwrap();
        assert!(plan.fits(), "{file}: {}", plan.listing());
        if name == "cnn" {
            assert!(
                plan.ignored
                    .iter()
                    .any(|t| t.name.ends_with("norm.num_batches_tracked")),
                "{file}: num_batches_tracked left out: {}",
                plan.listing()
            );
        }
        let model = import.load(fresh(name)).unwrap().valid();
        let got = distill_logits(&model, &want.inputs, want.n, [1, 12, 12]);
        assert_eq!(got.len(), want.logits.len());
        let max = got
            .iter()
            .zip(&want.logits)
            .map(|(g, w)| (g - w).abs())
            .fold(0f32, f32::max);
        assert!(max <= 1e-5, "{file}: max |distill - pytorch| = {max:e}");
        assert!(
            want.logits.iter().any(|v| v.abs() > 0.05),
            "non-trivial logits"
        );
        eprintln!("{file}: max |distill - pytorch| = {max:e}");
    }
}

fn load_error(import: &ImportConfig, name: &str) -> String {
    import.load(fresh(name)).unwrap_err().to_string()
}

#[test]
fn bad_weight_files_are_refused_naming_the_file_and_key() {
    let cnn = expected("cnn").remap;

    let e = load_error(&import_config("cnn_truncated.pth", &cnn), "cnn");
    assert!(
        e.contains("cnn_truncated.pth") && e.contains("cannot read it"),
        "{e}"
    );
    let e = load_error(&import_config("not_a_checkpoint.pth", &cnn), "cnn");
    assert!(
        e.contains("not_a_checkpoint.pth") && e.contains("cannot read it"),
        "{e}"
    );
    let e = load_error(&import_config("no_such_file.pth", &cnn), "cnn");
    assert!(
        e.contains("no_such_file.pth") && e.contains("no such file"),
        "{e}"
    );

    let e = load_error(&import_config("cnn_wrong_shape.safetensors", &cnn), "cnn");
    assert!(
        e.contains("cnn_wrong_shape.safetensors")
            && e.contains("shape mismatch")
            && e.contains("output.weight expects [3, 16], file has [4, 16]"),
        "{e}"
    );

    // A rule left out: its tensors are missing under their distill names and unused under
    // the file's.
    let partial: Vec<(String, String)> = cnn
        .iter()
        .filter(|(from, _)| !from.contains("classifier\\.1"))
        .cloned()
        .collect();
    let import = import_config("cnn.pth", &partial);
    let plan = import.plan(&fresh("cnn")).unwrap();
    assert!(!plan.fits());
    let missing: Vec<&str> = plan.missing.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(missing, ["hidden.0.bias", "hidden.0.weight"]);
    let unused: Vec<&str> = plan.unused.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(unused, ["classifier.1.bias", "classifier.1.weight"]);
    assert!(
        plan.listing().contains("hidden.0.weight [16, 72]"),
        "{}",
        plan.listing()
    );
    let e = load_error(&import, "cnn");
    assert!(
        e.contains("cnn.pth")
            && e.contains("missing hidden.0.bias [16]")
            && e.contains("unused classifier.1.bias [16]"),
        "{e}"
    );
    // ... unless the file's leftovers are declared ignorable (the missing ones still are not).
    let mut import = import;
    import.ignore = vec!["^classifier\\.1\\.".into()];
    let plan = import.plan(&fresh("cnn")).unwrap();
    assert!(plan.unused.is_empty() && plan.missing.len() == 2);

    // The wrong architecture for the file.
    let e = import_config("mlp.pth", &expected("mlp").remap)
        .load(fresh("cnn"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("mlp.pth") && e.contains("does not fit"), "{e}");
}

/// Sets every float parameter to zero: all logits are equal, the model predicts one class.
struct Zero;
impl ModuleMapper for Zero {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.zeros_like())
    }
}

fn distill_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_distill"))
}

#[test]
fn imported_teacher_runs_the_pipeline_and_a_useless_one_is_refused() {
    // Train a teacher here, export it in PyTorch's layout, and import that as the teacher of
    // a second experiment: it scores what it scored, and the pipeline runs on.
    let (dir, config) = common::setup(&[]);
    let out = dir.path().join("trained");
    let status = distill_bin()
        .args(["-q", "train"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let teacher = out.join("teacher.safetensors");
    let card = ModelCard::load_for(&teacher).unwrap();
    let exported = dir.path().join("teacher.pt.safetensors");
    distill::export::export_pytorch_safetensors(&teacher, &exported).unwrap();

    let import_text = |weights: &str| {
        common::experiment_text(&[(
            "[teacher.train]\nepochs = 3\nbatch_size = 32\noptimizer = { type = \"adam\", lr = 0.01 }",
            &format!(
                "[teacher.import]\nweights = \"{weights}\"\nnormalize = {{ mean = {}, std = {} }}",
                card.normalize.mean, card.normalize.std
            ),
        )])
    };
    let imported = dir.path().join("import.toml");
    std::fs::write(&imported, import_text("teacher.pt.safetensors")).unwrap();

    let dry = distill_bin()
        .args(["-q", "import", "--dry-run"])
        .arg(&imported)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{text}");
    assert!(
        text.contains("matched: 4") && text.contains("hidden.0.weight [64, 64]"),
        "{text}"
    );

    let out2 = dir.path().join("imported");
    let run = distill_bin()
        .args(["-q", "run"])
        .arg(&imported)
        .arg("--out")
        .arg(&out2)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(distill::pipeline::import_summary_path(&out2)).unwrap(),
    )
    .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out2.join("report.json")).unwrap()).unwrap();
    let trained: Vec<f32> = {
        let m = card
            .load_model(&teacher, &distill::default_device())
            .unwrap()
            .valid();
        let task = distill::task::image::ImageTask::new(
            distill::config::Experiment::load(&config).unwrap(),
        )
        .unwrap();
        distill::eval::predict_logits(&m, &task.splits.test, 64, &distill::default_device())
    };
    let labels =
        distill::task::image::ImageTask::new(distill::config::Experiment::load(&config).unwrap())
            .unwrap()
            .splits
            .test
            .labels;
    let acc = distill::eval::accuracy_of(&trained, &labels, 3);
    assert!(acc > 0.8, "the teacher learned: {acc}");
    assert_eq!(
        summary["test_accuracy"].as_f64().unwrap(),
        acc,
        "same accuracy after import"
    );
    assert!(
        report["models"]["student_kd"].is_object(),
        "the students trained"
    );

    // A teacher whose weights are all zero loads fine and predicts one class: refused, and
    // nothing is written.
    let zero = card
        .load_model(&teacher, &distill::default_device())
        .unwrap()
        .map(&mut Zero);
    distill::models::import::save_pytorch_safetensors(&zero, &dir.path().join("zero.safetensors"))
        .unwrap();
    let useless = dir.path().join("useless.toml");
    std::fs::write(&useless, import_text("zero.safetensors")).unwrap();
    let out3 = dir.path().join("useless");
    let run = distill_bin()
        .args(["-q", "import"])
        .arg(&useless)
        .arg("--out")
        .arg(&out3)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        err.contains("zero.safetensors")
            && err.contains("near chance")
            && err.contains("--dry-run"),
        "{err}"
    );
    assert!(
        !distill::pipeline::teacher_path(&out3).exists(),
        "nothing written"
    );

    // `distill train` on an import experiment says what to do instead.
    let run = distill_bin()
        .args(["-q", "train"])
        .arg(&imported)
        .arg("--out")
        .arg(&out3)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && err.contains("distill import"),
        "{err}"
    );
}

/// Python with torch and safetensors, if this machine has them.
fn python_with_torch() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import torch, safetensors"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some("python3")
}

#[test]
fn pytorch_loads_the_export_with_the_same_outputs() {
    let Some(python) = python_with_torch() else {
        eprintln!("skipped: no python3 with torch and safetensors here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, arch) in [("mlp", mlp()), ("cnn", residual_cnn())] {
        let card = card(arch, [1, 8, 8], 5);
        let (model, weights) = saved_model(dir.path(), name, &card, 5);
        let out = dir.path().join(format!("{name}.pt.safetensors"));
        distill::export::export_pytorch_safetensors(&weights, &out).unwrap();
        let x = random_images(4, card.input, 11);
        let logits = distill_logits(&model.valid(), &x, 4, card.input);
        let nested = |v: &[f32], row: usize| -> Vec<Vec<f32>> {
            v.chunks(row).map(|c| c.to_vec()).collect()
        };
        let inputs: Vec<Vec<Vec<Vec<f32>>>> =
            x.chunks(64).map(|img| vec![nested(img, 8)]).collect();
        let json = serde_json::json!({ "inputs": inputs, "logits": nested(&logits, 5) });
        let check = dir.path().join(format!("{name}-check.json"));
        std::fs::write(&check, serde_json::to_vec(&json).unwrap()).unwrap();
        let run = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_export.py"))
            .arg(&out)
            .arg(&check)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

#[test]
fn expected_tensors_name_pytorch_layouts() {
    let model = perturbed(
        residual_cnn().init([1, 8, 8], 5, &distill::default_device()),
        1,
    );
    let names: Vec<String> = expected_tensors(&model)
        .into_iter()
        .map(|t| format!("{} {:?}", t.name, t.shape))
        .collect();
    assert!(
        names.contains(&"hidden.0.weight [12, 16]".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"blocks.1.units.0.conv.weight [4, 4, 3, 3]".to_string()),
        "{names:?}"
    );
}

/// Casts every float parameter to `dtype`.
struct CastTo(burn::tensor::DType);
impl ModuleMapper for CastTo {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

#[test]
fn weights_stored_as_f64_are_converted_to_f32() {
    let dir = tempfile::tempdir().unwrap();
    let card = card(residual_cnn(), [1, 8, 8], 5);
    let (model, weights) = saved_model(dir.path(), "cnn", &card, 6);
    // A separate copy: clones share BatchNorm's running statistics.
    let wide = card
        .load_model(&weights, &distill::default_device())
        .unwrap()
        .map(&mut CastTo(burn::tensor::DType::F64));
    let file = dir.path().join("cnn64.safetensors");
    distill::models::import::save_pytorch_safetensors(&wide, &file).unwrap();
    let import = pytorch_safetensors(&file, NORM);
    let fresh = || {
        card.architecture
            .init(card.input, 5, &distill::default_device())
    };
    let plan = import.plan(&fresh()).unwrap();
    assert!(plan.fits(), "{}", plan.listing());
    assert_eq!(
        plan.converted.len(),
        plan.matched.len(),
        "{}",
        plan.listing()
    );
    assert!(plan.converted.iter().all(|t| t.dtype == "F64"));
    let loaded = import.load(fresh()).unwrap();
    // f32 → f64 → f32 is exact, and the model computes in f32 again.
    let (a, b) = (tensor_bytes(&model), tensor_bytes(&loaded));
    let differ: Vec<String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("{} ({} vs {} bytes)", x.0, x.1.len(), y.1.len()))
        .collect();
    assert!(differ.is_empty(), "bit-exact after conversion: {differ:?}");
    let x = random_images(2, card.input, 12);
    assert_eq!(
        distill_logits(&model.valid(), &x, 2, card.input),
        distill_logits(&loaded.valid(), &x, 2, card.input)
    );
}

/// The narrow torchvision ResNet of `tests/fixtures/torchvision` (made by
/// `python/images/make_torchvision_fixture.py` with torchvision's own `ResNet` and
/// `BasicBlock`, so its state dict has torchvision's keys) loads with
/// `preset = "torchvision-resnet"` and no rules of its own, and gives PyTorch's logits on real
/// colour photos to 1e-4.
#[test]
fn a_torchvision_resnet_loads_by_preset_and_gives_pytorchs_logits() {
    use distill::models::ResNetConfig;
    use distill::models::import::ImportPreset;
    use distill::models::resnet::Stem;
    use distill::vocab::PerChannel;
    let dir = fixtures().parent().unwrap().join("torchvision");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let (mean, std) = (floats(&expected["mean"]), floats(&expected["std"]));
    let arch = ModelConfig::Resnet(ResNetConfig {
        preset: None,
        stem: Some(Stem::Imagenet),
        stem_width: Some(8),
        widths: Some(vec![8, 16, 32, 64]),
        blocks: Some(vec![2, 2, 2, 2]),
    });
    let normalize = Normalize {
        mean: PerChannel::of(&mean).unwrap(),
        std: PerChannel::of(&std).unwrap(),
    };
    let import = ImportConfig {
        preset: Some(ImportPreset::TorchvisionResnet),
        ..distill::models::import::pytorch_safetensors(dir.join("tiny_resnet.pth"), normalize)
    };
    let import = ImportConfig {
        format: None,
        ..import
    };
    let device = distill::default_device();
    let fresh = arch.init([3, 64, 64], 5, &device);
    let plan = import.plan(&fresh).unwrap();
    assert!(plan.fits(), "{}", plan.listing());
    assert_eq!(
        plan.matched.len(),
        102,
        "every parameter and running statistic"
    );
    assert_eq!(
        plan.ignored.len(),
        20,
        "num_batches_tracked of 20 BatchNorms"
    );
    let model = import.load(fresh).unwrap();

    // The photos, normalised per channel as torchvision's transforms do.
    let raw = std::fs::read(dir.join("inputs.u8")).unwrap();
    let (n, plane) = (6, 64 * 64);
    let mut x = vec![0f32; raw.len()];
    for (i, v) in raw.iter().enumerate() {
        let c = (i / plane) % 3;
        x[i] = (*v as f32 / 255.0 - mean[c]) / std[c];
    }
    let images = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(x, [n, 3, 64, 64]),
        &device,
    );
    let logits: Vec<f32> = burn::module::Module::valid(&model)
        .forward(images)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let want: Vec<f32> = expected["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    let mut max = 0f32;
    for (g, w) in logits.iter().zip(&want) {
        max = max.max((g - w).abs());
    }
    eprintln!("torchvision ResNet fixture: max |distill - PyTorch| = {max:e}");
    assert!(max < 1e-4, "logits differ by {max}: {logits:?} vs {want:?}");

    // Without the preset, torchvision's `downsample.0/1` keys do not fit: the plan says which.
    let bare = ImportConfig {
        preset: None,
        ..import.clone()
    };
    let plan = bare.plan(&arch.init([3, 64, 64], 5, &device)).unwrap();
    assert!(!plan.fits());
    assert!(
        plan.unused.iter().any(|t| t.name.contains("downsample.0")),
        "{}",
        plan.listing()
    );
}

/// `preset = "torchvision-resnet18"` asks for `teacher.model = { type = "resnet", preset =
/// "resnet18" }` and refuses another architecture, naming the field.
#[test]
fn a_torchvision_preset_refuses_another_architecture() {
    let text = |model: &str| {
        format!(
            r#"[data]
format = "cifar10"
dir = "nowhere"

[teacher.model]
{model}

[teacher.import]
weights = "resnet18.pth"
preset = "torchvision-resnet18"
normalize = {{ mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225] }}

[student.model]
type = "mobilenetv2"
width_mult = 0.5
stem_stride = 1

[student.train]
epochs = 1
batch_size = 8
optimizer = {{ type = "adam", lr = 0.01 }}
"#
        )
    };
    let ok = distill::config::Experiment::parse(
        &text("type = \"resnet\"\npreset = \"resnet18\""),
        Path::new("e.toml"),
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    for (model, why) in [
        ("type = \"resnet\"\npreset = \"resnet34\"", "resnet18"),
        ("type = \"mlp\"\nhidden = [8]", "type = \"resnet\""),
    ] {
        let e = distill::config::Experiment::parse(&text(model), Path::new("e.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("teacher.import.preset") && e.contains(why),
            "{e}"
        );
    }
}

/// The tiny torchvision MobileNetV2 of `tests/fixtures/torchvision` (made by
/// `python/images/make_torchvision_fixture.py --mobilenet` with torchvision's own
/// `MobileNetV2` class, width 0.25, three stages) loads with `preset =
/// "torchvision-mobilenet_v2"` and no rules of its own, and gives PyTorch's logits on the same
/// photos to 1e-4.
#[test]
fn a_torchvision_mobilenet_v2_loads_by_preset_and_gives_pytorchs_logits() {
    use distill::models::MobileNetV2Config;
    use distill::models::import::ImportPreset;
    use distill::vocab::PerChannel;
    let dir = fixtures().parent().unwrap().join("torchvision");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected_mobilenet_v2.json")).unwrap())
            .unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let (mean, std) = (floats(&expected["mean"]), floats(&expected["std"]));
    let arch = ModelConfig::Mobilenetv2(MobileNetV2Config {
        width_mult: 0.25,
        stages: vec![[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2]],
        ..serde_json::from_str("{}").unwrap()
    });
    let normalize = Normalize {
        mean: PerChannel::of(&mean).unwrap(),
        std: PerChannel::of(&std).unwrap(),
    };
    let import = ImportConfig {
        preset: Some(ImportPreset::TorchvisionMobilenetV2),
        format: None,
        ..distill::models::import::pytorch_safetensors(dir.join("tiny_mobilenet_v2.pth"), normalize)
    };
    let device = distill::default_device();
    let fresh = arch.init([3, 64, 64], 5, &device);
    let plan = import.plan(&fresh).unwrap();
    assert!(plan.fits(), "{}", plan.listing());
    // 16 convolutions (stem, 5 blocks of 2 or 3, last), each with a BatchNorm of 4 tensors, and
    // the classifier's weight and bias.
    assert_eq!(plan.matched.len(), 16 + 16 * 4 + 2, "{}", plan.listing());
    assert_eq!(
        plan.ignored.len(),
        16,
        "num_batches_tracked of 16 BatchNorms"
    );
    assert!(plan.unused.is_empty(), "{}", plan.listing());
    let model = import.load(fresh).unwrap();

    let raw = std::fs::read(dir.join("inputs.u8")).unwrap();
    let (n, plane) = (6, 64 * 64);
    let mut x = vec![0f32; raw.len()];
    for (i, v) in raw.iter().enumerate() {
        let c = (i / plane) % 3;
        x[i] = (*v as f32 / 255.0 - mean[c]) / std[c];
    }
    let images = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(x, [n, 3, 64, 64]),
        &device,
    );
    let logits: Vec<f32> = burn::module::Module::valid(&model)
        .forward(images)
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap();
    let want: Vec<f32> = expected["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    assert_eq!(logits.len(), want.len());
    let mut max = 0f32;
    for (g, w) in logits.iter().zip(&want) {
        max = max.max((g - w).abs());
    }
    eprintln!("torchvision MobileNetV2 fixture: max |distill - PyTorch| = {max:e}");
    assert!(max < 1e-4, "logits differ by {max}: {logits:?} vs {want:?}");

    // Without the preset nothing of torchvision's `features.*` fits, and the plan says so.
    let bare = ImportConfig {
        preset: None,
        ..import.clone()
    };
    let plan = bare.plan(&arch.init([3, 64, 64], 5, &device)).unwrap();
    assert!(!plan.fits());
    assert!(
        plan.unused
            .iter()
            .any(|t| t.name == "features.1.conv.0.0.weight"),
        "{}",
        plan.listing()
    );
    // The preset refuses a model that is not a MobileNetV2, naming what to set.
    let e = ImportPreset::TorchvisionMobilenetV2
        .check_model(&ModelConfig::Resnet(distill::models::ResNetConfig {
            preset: Some("resnet18".into()),
            stem: None,
            stem_width: None,
            widths: None,
            blocks: None,
        }))
        .unwrap_err();
    assert!(e.contains("mobilenetv2"), "{e}");
}
