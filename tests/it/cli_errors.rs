//! Bad input: one clear line naming the file or field and the value, a non-zero exit, no panic,
//! and no half-written output.

use crate::common;

use std::path::Path;
use std::process::Command;

/// Runs `distill run CONFIG --out DIR/out -q`; returns (success, stderr).
fn run(dir: &Path, config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args([
            "run",
            config.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    (out.status.success(), stderr)
}

/// Asserts the run fails, its error mentions every needle, and no report was written.
fn fails_with(replace: &[(&str, &str)], needles: &[&str]) {
    let (dir, config) = common::setup(replace);
    check_failure(dir.path(), &config, needles);
}

fn check_failure(dir: &Path, config: &Path, needles: &[&str]) {
    let (ok, stderr) = run(dir, config);
    assert!(!ok, "expected failure, stderr: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "error lacks {n:?}: {stderr}");
    }
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(
        !dir.join("out").join("report.json").exists(),
        "report written despite the error"
    );
    // No temporary files are left behind.
    if let Ok(entries) = std::fs::read_dir(dir.join("out")) {
        for e in entries.flatten() {
            assert!(
                !e.file_name().to_string_lossy().ends_with(".tmp"),
                "left {:?}",
                e.path()
            );
        }
    }
}

#[test]
fn unknown_key_names_it() {
    fails_with(
        &[("temperature = 4.0", "temperature = 4.0\ntemprature = 3")],
        &["experiment.toml", "temprature"],
    );
}

#[test]
fn unknown_model_name() {
    fails_with(
        &[("type = \"mlp\"", "type = \"transformerz\"")],
        &["experiment.toml", "transformerz", "mlp", "cnn"],
    );
}

#[test]
fn unknown_loss_name() {
    fails_with(
        &[(
            "temperature = 4.0",
            "temperature = 4.0\nterms = [{ type = \"kdd\" }]",
        )],
        &["experiment.toml", "kdd"],
    );
}

#[test]
fn non_positive_temperature() {
    fails_with(
        &[("temperature = 4.0", "temperature = 0.0")],
        &["objective.temperature", "= 0", "> 0"],
    );
    fails_with(
        &[("temperature = 4.0", "temperature = -2.0")],
        &["objective.temperature", "-2"],
    );
}

#[test]
fn alpha_outside_unit_interval() {
    fails_with(
        &[("alpha = 0.1", "alpha = 1.5")],
        &["objective.alpha", "1.5", "[0, 1]"],
    );
    fails_with(
        &[("alpha = 0.1", "alpha = -0.1")],
        &["objective.alpha", "-0.1"],
    );
}

#[test]
fn negative_term_weight() {
    fails_with(
        &[(
            "temperature = 4.0",
            "temperature = 4.0\nterms = [{ type = \"kd\", weight = -1.0 }]",
        )],
        &["objective.terms[0].weight", "-1"],
    );
}

#[test]
fn missing_idx_file() {
    fails_with(
        &[("\"test-labels\"", "\"nope-labels\"")],
        &["nope-labels", "No such file"],
    );
}

#[test]
fn truncated_idx_file() {
    let (dir, config) = common::setup(&[]);
    let p = dir.path().join("test-images");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
    check_failure(dir.path(), &config, &["test-images", "truncated"]);
    let p = dir.path().join("train-images.gz");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    check_failure(dir.path(), &config, &["train-images.gz", "truncated"]);
}

#[test]
fn wrong_magic_number() {
    let (dir, config) = common::setup(&[]);
    let p = dir.path().join("test-labels");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[2] = 0x0c;
    std::fs::write(&p, &bytes).unwrap();
    check_failure(
        dir.path(),
        &config,
        &["test-labels", "wrong magic number 0x00000c01"],
    );
}

#[test]
fn image_and_label_counts_differ() {
    let (dir, config) = common::setup(&[]);
    let (_, labels) = common::images_and_labels(59, 3);
    std::fs::write(
        dir.path().join("test-labels"),
        distill::data::idx::encode_idx(&labels),
    )
    .unwrap();
    check_failure(
        dir.path(),
        &config,
        &["test-images", "60 images", "test-labels", "59 labels"],
    );
}

#[test]
fn label_not_below_num_classes() {
    fails_with(
        &[
            ("num_classes = 3", "num_classes = 2"),
            ("class_names = [\"top\", \"middle\", \"bottom\"]", ""),
        ],
        &["train-labels.gz", "label 2", "num_classes = 2"],
    );
}

#[test]
fn non_finite_loss_stops_and_names_the_step() {
    fails_with(
        &[(
            "optimizer = { type = \"adam\", lr = 0.01 }",
            "optimizer = { type = \"sgd\", lr = 1e30 }",
        )],
        &["training teacher", "loss became", "epoch 1, step"],
    );
}

#[test]
fn bad_shard_argument() {
    let (dir, config) = common::setup(&[]);
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args([
            "record",
            config.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
            "--shard",
            "3/2",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shard = 3/2"));
}

/// A text experiment with bad texts fails the same way: one line naming the file, line and
/// field, and nothing written to the output folder.
#[test]
fn text_experiment_with_bad_texts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = include_str!("../../examples/text-demo.toml").replace(
        "builtin = \"spam\"",
        "train = \"train.jsonl\"\ntest = \"test.jsonl\"",
    );
    let config = dir.path().join("text.toml");
    std::fs::write(&config, demo).unwrap();
    std::fs::write(
        dir.path().join("test.jsonl"),
        "{\"text\": \"hi\", \"label\": \"ham\"}\n",
    )
    .unwrap();
    for (train, needles) in [
        (
            "{\"text\": \"free money\", \"label\": \"spam\"}\n{\"text\": \" \", \"label\": \"ham\"}\n",
            &["train.jsonl", "line 2", "`text` is empty"][..],
        ),
        (
            "{\"text\": \"free money\", \"label\": \"spam\"}\n{\"txt\": \"x\", \"label\": \"ham\"}\n",
            &["train.jsonl", "line 2", "no key `text`"][..],
        ),
        ("\u{0}not json\n", &["train.jsonl", "line 1"][..]),
    ] {
        std::fs::write(dir.path().join("train.jsonl"), train).unwrap();
        check_failure(dir.path(), &config, needles);
        assert!(
            !dir.path().join("out").exists(),
            "output written for {train:?}"
        );
    }
}
