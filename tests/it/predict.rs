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

/// Temperature scaling: fitted on the validation split when a model is saved, kept in its card,
/// applied by `distill predict` (and left out with `--uncalibrated`), checked on the test set in
/// the report, and a bad temperature in a card is refused by name.
#[test]
fn the_shipped_probabilities_are_temperature_scaled_as_fitted_on_validation() {
    use distill::eval::calibration::{fit_temperature, mean_nll, scaled};
    use distill::predict::AnyPredictor;
    // DIST (mostly) matches the teacher's class correlations, not its scale, so the student's
    // confidence is off (0.41 on 20 Newsgroups): a case temperature scaling is for.
    let (dir, config) = common::setup(&[
        ("epochs = 2", "epochs = 4"),
        ("alpha = 0.1", "alpha = 0.1\nterms = [{ type = \"dist\" }]"),
    ]);
    // 1,200 training images (120 held out for validation), a fifth of the labels moved to the
    // next class: no split is separable, so the fit has a finite optimum (a separable split fits
    // nothing, see the unit tests).
    let (images, mut labels) = common::images_and_labels(1200, 1);
    let mut next = common::lcg(99);
    for l in labels.data.iter_mut() {
        if next().is_multiple_of(5) {
            *l = (*l + 1) % 3;
        }
    }
    let gz = distill::data::idx::encode_idx_gz;
    std::fs::write(dir.path().join("train-images.gz"), gz(&images)).unwrap();
    std::fs::write(dir.path().join("train-labels.gz"), gz(&labels)).unwrap();
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    let out = dir.path().join("out");
    let report = run_all(&task, &RunOptions::new(&out)).unwrap();
    let weights = student_path(&out, StudentKind::Kd, 1);
    let fit = distill::card::card_calibration(&weights)
        .unwrap()
        .expect("a temperature in the student's card");
    eprintln!("the KD student's calibration: {fit:?}");
    let validation = task.splits.validation.as_ref().unwrap();
    assert_eq!(
        fit.fitted_on,
        format!("validation split, {} images", validation.len())
    );

    // The card's temperature is the likelihood's minimum on the validation split, to the bit.
    let device = distill::default_device();
    let model = load_model(&task, Role::Student, &weights, &device).unwrap();
    let val_logits = predict_logits(&model, validation, 64, &device);
    let t = fit.temperature;
    assert_eq!(fit_temperature(&val_logits, &validation.labels, 3), Some(t));
    let nll = |t: f64| mean_nll(&val_logits, &validation.labels, 3, t);
    assert!(nll(t) <= nll(t * 1.02) && nll(t) <= nll(t / 1.02) && nll(t) <= nll(1.0));
    assert_eq!(fit.nll_calibrated, nll(t));

    // The report checks it on the test set.
    let kd = &report.models["student_kd"];
    let c = kd.calibration.as_ref().expect("calibration in the report");
    assert_eq!(c.fit, fit);
    assert!(c.in_card);
    let test_logits = predict_logits(&model, &task.splits.test, 64, &device);
    let bins = task.experiment.evaluation.ece_bins;
    let labels = &task.splits.test.labels;
    let expected =
        distill::eval::expected_calibration_error(&scaled(&test_logits, t), labels, 3, bins);
    assert!((c.test_ece_calibrated - expected).abs() < 1e-12);
    assert!(
        (kd.quality.ece - distill::eval::expected_calibration_error(&test_logits, labels, 3, bins))
            .abs()
            < 1e-12
    );

    // Predictions: softmax(z / T) with the card's T, softmax(z) uncalibrated, same classes.
    let files = [dir.path().join("test-images")];
    let scaled_p = AnyPredictor::load_on(&weights, device.clone()).unwrap();
    assert!(
        fit.applied,
        "the noisy student's scaling held on held-out folds: {fit:?}"
    );
    assert_eq!(scaled_p.temperature(), t);
    let raw_p = AnyPredictor::load_on(&weights, device.clone())
        .unwrap()
        .uncalibrated();
    assert_eq!(raw_p.temperature(), 1.0);
    let cal = scaled_p.predict_files(&files, 3).unwrap();
    let raw = raw_p.predict_files(&files, 3).unwrap();
    for ((c, r), z) in cal.iter().zip(&raw).zip(test_logits.chunks(3)) {
        assert_eq!(c.top[0].class, r.top[0].class);
        let e: Vec<f64> = z.iter().map(|&v| (v as f64 / t).exp()).collect();
        let sum: f64 = e.iter().sum();
        for s in &c.top {
            assert!((s.probability - e[s.class] / sum).abs() < 1e-5, "{s:?}");
        }
    }

    // `export --calibrated` puts the card's temperature in the ONNX file.
    let onnx = dir.path().join("student.onnx");
    let cli = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["export", "--calibrated", "--model"])
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
    assert!(String::from_utf8_lossy(&cli.stdout).contains(&format!("softmax at T = {}", t as f32)));

    // A card (unsealed, as one written by hand) with a temperature of 0 is refused by name.
    let card_path = distill::predict::ModelCard::path_for(&weights);
    let mut card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&card_path).unwrap()).unwrap();
    card.as_object_mut().unwrap().remove("stamp");
    card["calibration"]["temperature"] = serde_json::json!(0.0);
    std::fs::write(&card_path, serde_json::to_vec(&card).unwrap()).unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["predict", "--model"])
        .arg(&weights)
        .arg(&files[0])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        stderr.contains("calibration.temperature") && stderr.contains("model.json"),
        "{stderr}"
    );
}
