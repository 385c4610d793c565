//! End-to-end properties of the pipeline on tiny generated data.

use crate::common;

use distill::config::Experiment;
use distill::eval::predict_logits;
use distill::pipeline::{
    RunOptions, StudentKind, load_model, open_soft_labels, run_all, student_path, teacher_path,
    train_student,
};
use distill::task::image::ImageTask;
use distill::vocab::Role;
use std::path::Path;

fn options(out: &std::path::Path) -> RunOptions {
    RunOptions::new(out)
}

#[test]
fn full_run_writes_reports_with_required_keys_and_kd_follows_teacher() {
    let (dir, config) = common::setup(&[("student_seeds = [1]", "student_seeds = [1, 2]")]);
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    let out = dir.path().join("out");
    let report = run_all(&task, &options(&out)).unwrap();

    // The teacher learns the separable problem; losses went down.
    let teacher = &report.models["teacher"];
    assert!(
        teacher.quality.accuracy > 0.9,
        "teacher accuracy {}",
        teacher.quality.accuracy
    );
    let h = &teacher.history;
    assert!(
        h.last().unwrap().train_loss < h[0].train_loss,
        "teacher loss did not decrease: {h:?}"
    );

    // The JSON report carries what the issue promises.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for model in ["teacher", "student_kd", "student_baseline"] {
        let m = &json["models"][model];
        for key in [
            "accuracy",
            "macro_precision",
            "macro_recall",
            "macro_f1",
            "per_class",
            "agreement_with_teacher",
            "ece",
            "params",
            "file_bytes",
            "latency_ms_b1_p50",
            "latency_ms_b1_p99",
            "throughput_per_s",
        ] {
            assert!(!m[key].is_null(), "models.{model}.{key} missing");
        }
    }
    // The KD student's history logs each weighted loss term; they add up to its loss.
    for e in json["models"]["student_kd"]["history"].as_array().unwrap() {
        let terms = e["loss_terms"].as_object().unwrap();
        assert!(
            terms.contains_key("ce") && terms.contains_key("kd"),
            "{terms:?}"
        );
        let sum: f64 = terms.values().map(|v| v.as_f64().unwrap()).sum();
        let loss = e["train_loss"].as_f64().unwrap();
        assert!(
            (sum - loss).abs() < 1e-4 * loss.abs().max(1.0),
            "{sum} vs {loss}"
        );
    }
    assert!(json["models"]["student_baseline"]["history"][0]["loss_terms"].is_null());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("What drives the KD student's loss"), "{md}");
    assert_eq!(json["seed"], 7);
    assert!(json["distill_version"].is_string());
    assert!(json["dataset_fingerprint"].as_str().unwrap().len() == 64);
    assert_eq!(json["config"]["objective"]["temperature"], 4.0);
    assert_eq!(
        json["seed_summary"]["student_kd"]["accuracy"]["values"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for f in [
        "report.md",
        "report.html",
        "training_curves.svg",
        "accuracy_vs_latency.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("student_kd"));

    // The store holds the teacher's evaluation-mode logits (no dropout, BatchNorm running
    // statistics), to fp16 precision.
    let device = distill::default_device();
    let teacher_model = load_model(&task, Role::Teacher, &teacher_path(&out), &device).unwrap();
    let expected = predict_logits(&teacher_model, &task.splits.train, 64, &device);
    let store = open_soft_labels(&task, &teacher_path(&out), out.join("soft_labels")).unwrap();
    for (a, b) in store.logits.iter().zip(&expected) {
        assert!(
            (a - b).abs() <= 2e-3 * b.abs().max(1.0),
            "stored {a} vs teacher {b}"
        );
    }

    // Soft labels: fp16, 2 bytes per logit plus one header.
    let store = report.soft_labels.as_ref().unwrap();
    assert!(store.bytes_per_sample >= 6.0 && store.bytes_per_sample < 6.0 + 2000.0 / 240.0);
}

#[test]
fn kd_student_agrees_with_teacher_more_than_baseline() {
    // A student with α = 0 learns only from the teacher's soft labels; it must agree with the
    // teacher at least as well as the hard-label baseline, and well above chance.
    let (dir, config) =
        common::setup(&[("alpha = 0.1", "alpha = 0.0"), ("epochs = 2", "epochs = 4")]);
    let task = ImageTask::new(Experiment::load(&config).unwrap()).unwrap();
    let out = dir.path().join("out");
    let report = run_all(&task, &options(&out)).unwrap();
    let kd = report.models["student_kd"]
        .quality
        .agreement_with_teacher
        .unwrap();
    let base = report.models["student_baseline"]
        .quality
        .agreement_with_teacher
        .unwrap();
    assert!(kd > 0.8, "KD agreement {kd}");
    assert!(
        kd + 1e-9 >= base - 0.02,
        "KD agreement {kd} vs baseline {base}"
    );
}

/// Trains `task`'s no-KD student for 2 epochs straight under `dir/a`, and interrupted after
/// epoch 1 then resumed under `dir/b`, and asserts the same losses and weights; returns the
/// resumed run's options.
fn assert_resume_is_exact(task: &ImageTask, dir: &Path) -> RunOptions {
    // Uninterrupted: 2 epochs.
    let a = dir.join("a");
    let straight = train_student(
        task,
        StudentKind::Baseline,
        &[],
        Path::new("none"),
        1,
        &options(&a),
    )
    .unwrap();
    assert_eq!(straight.history.len(), 2);

    // Interrupted after epoch 1, then resumed.
    let b = dir.join("b");
    let mut opts = options(&b);
    opts.stop_after_epochs = Some(1);
    let partial = train_student(
        task,
        StudentKind::Baseline,
        &[],
        Path::new("none"),
        1,
        &opts,
    )
    .unwrap();
    assert_eq!(partial.history.len(), 1);
    opts.stop_after_epochs = None;
    opts.resume = true;
    let resumed = train_student(
        task,
        StudentKind::Baseline,
        &[],
        Path::new("none"),
        1,
        &opts,
    )
    .unwrap();
    assert_eq!(resumed.history.len(), 2);
    assert_eq!(
        resumed.history[0].train_loss,
        straight.history[0].train_loss
    );
    assert_eq!(
        resumed.history[1].train_loss,
        straight.history[1].train_loss
    );
    let device = distill::default_device();
    let logits = |dir: &std::path::Path| {
        let model = load_model(
            task,
            Role::Student,
            &student_path(dir, StudentKind::Baseline, 1),
            &device,
        )
        .unwrap();
        predict_logits(&model, &task.splits.test, 64, &device)
    };
    assert!(
        logits(&a) == logits(&b),
        "resumed weights differ from the uninterrupted run's"
    );
    opts
}

/// The fused SGD step (momentum, Nesterov, an L2 penalty) resumes bit for bit too: its velocity
/// goes through the checkpoint under burn's names.
#[test]
fn an_interrupted_sgd_run_with_nesterov_momentum_resumes_to_identical_weights() {
    let (dir, config) = common::setup(&[(
        "epochs = 2\nbatch_size = 32\noptimizer = { type = \"adam\", lr = 0.01 }",
        "epochs = 2\nbatch_size = 32\noptimizer = { type = \"sgd\", lr = 0.05, momentum = 0.9, nesterov = true }\nweight_decay = 5e-4",
    )]);
    let experiment = Experiment::load(&config).unwrap();
    assert!(matches!(
        experiment.student.train.optimizer,
        distill::config::OptimizerConfig::Sgd { nesterov: true, .. }
    ));
    assert_resume_is_exact(&ImageTask::new(experiment).unwrap(), dir.path());
}

#[test]
fn interrupted_run_resumes_to_identical_weights_and_never_from_another_run() {
    let (dir, config) = common::setup(&[]);
    let experiment = Experiment::load(&config).unwrap();
    let task = ImageTask::new(experiment.clone()).unwrap();
    let opts = assert_resume_is_exact(&task, dir.path());

    // Checkpoints of another run of the same name (another recipe) are never resumed from:
    // the run starts from scratch and gives what a fresh run gives.
    let mut other = experiment.clone();
    other.student.train.optimizer = toml::from_str("type = \"sgd\"\nlr = 0.1").unwrap();
    let other = ImageTask::new(other).unwrap();
    let resumed = train_student(
        &other,
        StudentKind::Baseline,
        &[],
        Path::new("none"),
        1,
        &opts,
    )
    .unwrap();
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = train_student(
        &other,
        StudentKind::Baseline,
        &[],
        Path::new("none"),
        1,
        &options(fresh_dir.path()),
    )
    .unwrap();
    let device = distill::default_device();
    assert!(
        predict_logits(&resumed.model, &other.splits.test, 64, &device)
            == predict_logits(&fresh.model, &other.splits.test, 64, &device),
        "a stale checkpoint was resumed from"
    );
}

#[test]
fn store_of_other_data_is_refused_naming_the_fingerprint() {
    let (dir, config) = common::setup(&[]);
    let experiment = Experiment::load(&config).unwrap();
    let task = ImageTask::new(experiment.clone()).unwrap();
    let out = dir.path().join("out");
    run_all(&task, &options(&out)).unwrap();
    let mut other = experiment.clone();
    other.data.train_limit = Some(120);
    let other = ImageTask::new(other).unwrap();
    let e = open_soft_labels(&other, &teacher_path(&out), out.join("soft_labels"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("dataset (fingerprint)"), "{e}");

    // Weights of another architecture are refused in one line naming what is missing.
    let e = load_model(
        &task,
        Role::Student,
        &teacher_path(&out),
        &distill::default_device(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("does not fit this architecture") && e.contains("missing Cnn."),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn a_top_k_store_trains_the_student_a_dense_store_trains() {
    // Three classes, top 2: the one class left out is rebuilt exactly from the tail's
    // log-sum-exp, so the two stores give the same soft labels to f16 precision.
    let (dir, config) =
        common::setup(&[("[evaluation]", "[soft_labels]\ntop_k = 2\n\n[evaluation]")]);
    let experiment = Experiment::load(&config).unwrap();
    let task = ImageTask::new(experiment.clone()).unwrap();
    let out = dir.path().join("out");
    run_all(&task, &options(&out)).unwrap();
    let mut dense = experiment.clone();
    dense.soft_labels.top_k = None;
    let dense = ImageTask::new(dense).unwrap();
    let dense_store = dir.path().join("dense");
    distill::pipeline::record_soft_labels(
        &dense,
        &teacher_path(&out),
        &dense_store,
        (0, 1),
        &options(&out),
    )
    .unwrap();
    let top = open_soft_labels(&task, &teacher_path(&out), out.join("soft_labels")).unwrap();
    let all = open_soft_labels(&dense, &teacher_path(&out), &dense_store).unwrap();
    assert_eq!((top.top_k, all.top_k), (Some(2), None));
    for (a, b) in top.logits.iter().zip(&all.logits) {
        assert!((a - b).abs() <= b.abs() * 2e-3 + 2e-3, "{a} vs {b}");
    }
    let size = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    // 2 × 6 + 4 = 16 bytes per row against 3 × 2 = 6: more with 3 classes, as expected; the
    // header says which kind it is and both read the same.
    assert!(size(&out.join("soft_labels")) > 0 && size(&dense_store) > 0);
    // The report carries the store it was trained from.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(report["models"]["student_kd"]["accuracy"].as_f64().unwrap() > 0.5);
}
