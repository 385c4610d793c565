//! Online distillation: feature terms (FitNets hints, attention transfer) with the teacher run
//! every step, and the adversarial term with its discriminator, on tiny generated data.

use crate::common;

use distill::config::Experiment;
use distill::eval::predict_logits;
use distill::pipeline::{
    RunOptions, StudentKind, load_model, student_path, teacher_path, train_student, train_teacher,
};
use distill::task::image::ImageTask;
use distill::vocab::Role;
use std::process::Command;

const CNN_TEACHER: (&str, &str) = (
    "type = \"mlp\"\nhidden = [64]\ndropout = 0.5",
    "type = \"cnn\"\nblocks = [[8]]\nhidden = [32]",
);

fn terms(text: &'static str) -> (&'static str, &'static str) {
    ("temperature = 4.0", text)
}

#[test]
fn hint_attention_and_adversarial_terms_train_and_resume() {
    let (dir, config) = common::setup(&[
        CNN_TEACHER,
        terms(
            "temperature = 4.0\nterms = [\n  { type = \"kd\" },\n  { type = \"hint\", student_layer = \"block1\", teacher_layer = \"block1\" },\n  { type = \"attention\", weight = 50.0, student_layer = \"block1\", teacher_layer = \"block1\" },\n  { type = \"adversarial\", weight = 0.1, hidden = 16, d_steps = 2 },\n]",
        ),
        ("[student.train]\nepochs = 2", "[student.train]\nepochs = 3"),
    ]);
    let experiment = Experiment::load(&config).unwrap();
    assert!(experiment.objective.needs_online_teacher());
    let task = ImageTask::new(experiment).unwrap();
    let out = dir.path().join("out");
    let opts = RunOptions::new(&out);
    train_teacher(&task, &opts).unwrap();
    let teacher = teacher_path(&out);

    // No soft-label store: the teacher runs online.
    let straight = train_student(&task, StudentKind::Kd, &[], &teacher, 1, &opts).unwrap();
    let h = &straight.history;
    assert_eq!(h.len(), 3);
    assert!(
        h[2].train_loss < h[0].train_loss,
        "loss did not decrease: {h:?}"
    );
    assert!(straight.last_accuracy() > 0.8, "{h:?}");
    for r in h {
        let d = r
            .discriminator_accuracy
            .expect("discriminator accuracy logged");
        assert!((0.0..=1.0).contains(&d), "{d}");
    }

    // Interrupted after one epoch and resumed (connectors and discriminator restored too):
    // the same weights.
    let other = dir.path().join("other");
    let first = RunOptions {
        stop_after_epochs: Some(1),
        ..RunOptions::new(&other)
    };
    train_student(&task, StudentKind::Kd, &[], &teacher, 1, &first).unwrap();
    let rest = RunOptions {
        resume: true,
        ..RunOptions::new(&other)
    };
    let resumed = train_student(&task, StudentKind::Kd, &[], &teacher, 1, &rest).unwrap();
    assert_eq!(resumed.history.len(), 3);
    for (a, b) in straight.history.iter().zip(&resumed.history) {
        assert_eq!(a.train_loss, b.train_loss);
        assert_eq!(a.discriminator_accuracy, b.discriminator_accuracy);
    }
    let device = distill::default_device();
    let logits = |dir: &std::path::Path| {
        let path = student_path(dir, StudentKind::Kd, 1);
        let model = load_model(&task, Role::Student, &path, &device).unwrap();
        predict_logits(&model, &task.splits.test, 64, &device)
    };
    assert!(logits(&out) == logits(&other), "resumed weights differ");
}

#[test]
fn online_kd_distils_on_augmented_batches() {
    let (dir, config) = common::setup(&[
        ("temperature = 4.0", "temperature = 4.0\nonline = true"),
        (
            "[student.train]\nepochs = 2",
            "[student.train]\naugment = { crop_padding = 1, hflip = true }\nepochs = 2",
        ),
    ]);
    let experiment = Experiment::load(&config).unwrap();
    assert!(experiment.objective.needs_online_teacher());
    let task = ImageTask::new(experiment).unwrap();
    let out = dir.path().join("out");
    let opts = RunOptions::new(&out);
    train_teacher(&task, &opts).unwrap();
    // No store was recorded: the teacher runs on each augmented batch.
    let trained =
        train_student(&task, StudentKind::Kd, &[], &teacher_path(&out), 1, &opts).unwrap();
    assert!(trained.last_accuracy() > 0.8, "{:?}", trained.history);
    // Without a teacher, an online objective is refused with a clear error.
    let e = train_student(
        &task,
        StudentKind::Kd,
        &[],
        &dir.path().join("nope.safetensors"),
        2,
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nope.safetensors"), "{e}");
}

fn run_fails(replace: &[(&str, &str)], needles: &[&str]) {
    let (dir, config) = common::setup(replace);
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["run", config.to_str().unwrap(), "-q", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "error lacks {n:?}: {stderr}");
    }
    // Refused before anything trained.
    assert!(!dir.path().join("out").join("teacher.safetensors").exists());
}

#[test]
fn missing_layer_is_refused_before_training() {
    run_fails(
        &[
            CNN_TEACHER,
            terms(
                "temperature = 4.0\nterms = [{ type = \"hint\", student_layer = \"block9\", teacher_layer = \"block1\" }]",
            ),
        ],
        &[
            "experiment.toml",
            "objective.terms[0].student_layer",
            "block9",
            "block1",
        ],
    );
}

#[test]
fn unbridgeable_shapes_are_refused_before_training() {
    // The student's block1 is a 4x8x8 map, the teacher's hidden1 a 32-vector.
    run_fails(
        &[
            CNN_TEACHER,
            terms(
                "temperature = 4.0\nterms = [{ type = \"hint\", student_layer = \"block1\", teacher_layer = \"hidden1\" }]",
            ),
        ],
        &["objective.terms[0].student_layer", "4x8x8 map", "32-vector"],
    );
    // Attention transfer needs two maps.
    run_fails(
        &[terms(
            "temperature = 4.0\nterms = [{ type = \"attention\", student_layer = \"block1\", teacher_layer = \"hidden1\" }]",
        )],
        &["attention transfer needs two feature maps"],
    );
}
