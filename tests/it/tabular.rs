//! Tabular distillation end to end on tiny generated CSV files: the same pipeline as images and
//! text (teacher → recorded soft labels → students → report), prediction on CSV rows with the
//! card's schema and standardisation, a sweep, and errors naming the file, line and column.

use distill::pipeline::{RunOptions, StudentKind, run_all, student_path};
use distill::predict::AnyPredictor;
use distill::tabular::TabularExperiment;
use distill::task::tabular::TabularTask;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `n` rows of 3 classes: two informative numeric features on very different scales (the
/// class shifts their means), one noise feature, and a categorical `shape` that agrees with
/// the class 70% of the time.
fn csv(n: usize, seed: u64) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let shapes = ["round", "square", "long"];
    let mut out = String::from("id,width,weight,noise,shape,kind\n");
    for i in 0..n {
        let c = i % 3;
        let width = 1.0 + c as f64 + 0.9 * (uniform() - 0.5);
        let weight = 1000.0 * (3.0 - c as f64) + 900.0 * (uniform() - 0.5);
        let noise = uniform();
        let shape = if uniform() < 0.7 {
            shapes[c]
        } else {
            shapes[(c + 1) % 3]
        };
        let _ = writeln!(out, "{i},{width:.3},{weight:.1},{noise:.3},{shape},k{c}");
    }
    out
}

const EXPERIMENT: &str = r#"
task = "tabular"
seed = 5
student_seeds = [1, 2]

[data]
train = "train.csv"
test = "test.csv"
label = "kind"
ignore = ["id"]
validation_fraction = 0.2

[teacher.model]
type = "mlp"
hidden = [32, 32]

[teacher.train]
epochs = 8
batch_size = 32
optimizer = { type = "adam", lr = 0.01 }

[student.model]
type = "mlp"
hidden = [8]

[student.train]
epochs = 12
batch_size = 32
optimizer = { type = "adam", lr = 0.02 }

[objective]
alpha = 0.5
temperature = 2.0
terms = [{ type = "kd" }]

[evaluation]
latency_runs = 5
warmup_runs = 1
throughput_batch = 64
"#;

fn setup(edits: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.csv"), csv(300, 1)).unwrap();
    std::fs::write(dir.path().join("test.csv"), csv(150, 2)).unwrap();
    let mut text = EXPERIMENT.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the experiment");
        text = text.replace(from, to);
    }
    let path = dir.path().join("tabular.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn distill(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .arg("-q")
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn tabular_pipeline_runs_end_to_end_and_predicts_csv_rows() {
    let (dir, config) = setup(&[]);
    let task = TabularTask::new(TabularExperiment::load(&config).unwrap()).unwrap();
    // One-hot `shape` (3 levels) + 3 numeric columns; `id` ignored; the label is not a feature.
    assert_eq!(task.schema.num_features(), 6);
    assert_eq!(task.schema.class_names, ["k0", "k1", "k2"]);
    // Standardised with the training rows' statistics: each numeric feature has mean 0.
    let rows = &task.rows.train;
    let mean_weight: f32 =
        (0..rows.labels.len()).map(|i| rows.row(i)[1]).sum::<f32>() / rows.labels.len() as f32;
    assert!(mean_weight.abs() < 1e-4, "{mean_weight}");
    // Stratified validation split: 20% of each class.
    assert_eq!(task.rows.validation.as_ref().unwrap().labels.len(), 60);

    let out = dir.path().join("out");
    let report = run_all(&task, &RunOptions::new(&out)).unwrap();
    let teacher = &report.models["teacher"];
    assert!(
        teacher.quality.accuracy > 0.9,
        "{}",
        teacher.quality.accuracy
    );
    for kind in ["student_kd", "student_baseline"] {
        let m = &report.models[kind];
        assert!(m.quality.accuracy > 0.8, "{kind}: {}", m.quality.accuracy);
        assert!(m.params < teacher.params / 10);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["config"]["task"], "tabular");
    assert!(json["eval_set"].as_str().unwrap().contains("150 rows"));
    assert_eq!(
        json["seed_summary"]["student_kd"]["accuracy"]["values"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The saved student predicts CSV rows on its own (card: schema + standardisation), as in
    // the report; the label column may be there or not.
    let weights = student_path(&out, StudentKind::Kd, 1);
    let predictor = AnyPredictor::load_on(&weights, distill::default_device()).unwrap();
    let preds = predictor
        .predict_files(&[dir.path().join("test.csv")], 1)
        .unwrap();
    assert_eq!(preds.len(), 150);
    let right = preds
        .iter()
        .enumerate()
        .filter(|(i, p)| p.top[0].name == format!("k{}", i % 3))
        .count();
    let acc = right as f64 / 150.0;
    assert!(
        (acc - report.models["student_kd"].quality.accuracy).abs() < 1e-9,
        "predictor {acc} vs report {}",
        report.models["student_kd"].quality.accuracy
    );
    let unlabelled = dir.path().join("rows.csv");
    let text = std::fs::read_to_string(dir.path().join("test.csv")).unwrap();
    let without_label: String = text
        .lines()
        .take(3)
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(&unlabelled, without_label).unwrap();
    let cli = distill(
        &[
            "predict",
            "--model",
            weights.to_str().unwrap(),
            unlabelled.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let stdout = String::from_utf8_lossy(&cli.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("rows.csv[1]"), "{stdout}");

    // The ONNX export standardises inside the graph: tract on the encoded (raw) rows gives
    // distill's logits.
    let onnx_file = dir.path().join("student.onnx");
    let cli = distill(
        &[
            "export",
            "--model",
            weights.to_str().unwrap(),
            "--onnx",
            onnx_file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let card = distill::card::TabularModelCard::load_for(&weights).unwrap();
    let raw = distill::tabular::data::read_with_schema(
        &dir.path().join("test.csv"),
        &card.schema,
        None,
        true,
    )
    .unwrap();
    let device = distill::default_device();
    let model = card.load_model(&weights, &device).unwrap();
    let rows = card.read_rows(&dir.path().join("test.csv"), true).unwrap();
    let want = distill::eval::predict_logits(&model, &rows, 64, &device);
    let got = {
        use tract_onnx::prelude::*;
        let plan = tract_onnx::onnx()
            .model_for_path(&onnx_file)
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let x = Tensor::from_shape(&[raw.len(), raw.num_features], &raw.features).unwrap();
        let out = plan.run(tvec![x.into()]).unwrap();
        out[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<f32>>()
    };
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "tract {g} vs distill {w}"
        );
    }

    // `compare` rebuilds the same report from the saved models.
    let again = distill(
        &[
            "compare",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn tabular_errors_name_the_file_line_and_column() {
    // A cell that is not a number in a numeric column.
    let (dir, config) = setup(&[]);
    let mut text = std::fs::read_to_string(dir.path().join("test.csv")).unwrap();
    text = text.replacen("\n7,", "\n7,wide", 1);
    std::fs::write(dir.path().join("test.csv"), text).unwrap();
    let out = distill(
        &["run", config.to_str().unwrap(), "--out", "out"],
        dir.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("test.csv") && stderr.contains("line 9") && stderr.contains("width"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "output written despite the error"
    );

    // A label column that is not there, and a bad field of the experiment file.
    for (from, to, needles) in [
        (
            "label = \"kind\"",
            "label = \"class\"",
            &["class", "train.csv"][..],
        ),
        (
            "validation_fraction = 0.2",
            "validation_fraction = 1.5",
            &["data.validation_fraction", "1.5"][..],
        ),
        (
            "hidden = [8]",
            "hidden = [0]",
            &["student.model.hidden[0]"][..],
        ),
    ] {
        let (dir, config) = setup(&[(from, to)]);
        let out = distill(
            &["run", config.to_str().unwrap(), "--out", "out"],
            dir.path(),
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        for n in needles {
            assert!(stderr.contains(n), "{to}: {stderr}");
        }
    }
}

#[test]
fn tabular_sweep_runs_on_the_shared_code() {
    let (dir, _) = setup(&[("student_seeds = [1, 2]", "student_seeds = [1]")]);
    std::fs::write(
        dir.path().join("sweep.toml"),
        "experiment = \"tabular.toml\"\nseeds = 1\ntemperature = [1.0, 4.0]\nobjective = [\"kd\", \"dist\"]\nstudent_epochs = 3\n",
    )
    .unwrap();
    let out = distill(&["sweep", "sweep.toml", "--out", "sw"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sw/sweep.json")).unwrap()).unwrap();
    assert_eq!(json["points"].as_array().unwrap().len(), 5);
    assert_eq!(json["student_epochs"], 3);
    assert_eq!(json["experiment"]["task"], "tabular");
}
