//! Predicting with a saved model: the card beside the weights, images, IDX and CSV inputs,
//! the CLI, and clear errors.

use crate::common;

use distill::config::Experiment;
use distill::eval::predict_logits;
use distill::pipeline::{RunOptions, StudentKind, load_model, run_all, student_path};
use distill::predict::Predictor;
use distill::task::image::ImageTask;
use distill::vocab::Role;
use std::process::Command;

#[test]
fn predictions_match_evaluation_on_every_input_kind() {
    let (dir, config) = common::setup(&[]);
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    let out = dir.path().join("out");
    run_all(&task, &RunOptions::new(&out)).unwrap();
    let weights = student_path(&out, StudentKind::Kd, 1);
    let predictor = Predictor::load(&weights).unwrap();
    assert_eq!(predictor.card.class_names, ["top", "middle", "bottom"]);

    // The IDX test file: the same classes as the evaluation's logits.
    let splits = &task.splits;
    let device = distill::default_device();
    let model = load_model(&task, Role::Student, &weights, &device).unwrap();
    let logits = predict_logits(&model, &splits.test, 64, &device);
    let expected: Vec<usize> = logits
        .chunks(3)
        .map(|r| (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
        .collect();
    let idx = predictor
        .predict_files(&[dir.path().join("test-images")], 3)
        .unwrap();
    assert_eq!(idx.len(), splits.test.len());
    for (p, e) in idx.iter().zip(&expected) {
        assert_eq!(p.top[0].class, *e);
        assert_eq!(p.top.len(), 3);
        let total: f64 = p.top.iter().map(|c| c.probability).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }

    // The first test image as a PNG, and the first two as CSV rows.
    let first = splits.test.image(0).to_vec();
    let png = dir.path().join("first.png");
    image::GrayImage::from_raw(8, 8, first.clone())
        .unwrap()
        .save(&png)
        .unwrap();
    let csv = dir.path().join("rows.csv");
    let row = |i: usize| {
        splits
            .test
            .image(i)
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    std::fs::write(&csv, format!("{}\n{}\n", row(0), row(1))).unwrap();
    let p = predictor.predict_files(&[png, csv.clone()], 1).unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p[0].top[0].class, expected[0]);
    assert!((p[0].top[0].probability - idx[0].top[0].probability).abs() < 1e-6);
    assert_eq!(p[1].top[0].class, expected[0]);
    assert_eq!(p[2].top[0].class, expected[1]);
    assert!(p[2].input.ends_with("rows.csv[1]"), "{}", p[2].input);

    // The CLI prints JSON; a malformed CSV is one clear line.
    let cli = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["predict", "--json", "--top-k", "2", "--model"])
        .arg(&weights)
        .arg(&csv)
        .output()
        .unwrap();
    assert!(cli.status.success());
    let json: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["top"].as_array().unwrap().len(), 2);
    std::fs::write(&csv, "1,2,3\n").unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["predict", "--model"])
        .arg(&weights)
        .arg(&csv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("rows.csv") && stderr.contains("line 1") && stderr.contains("3 values"),
        "{stderr}"
    );
}
