//! `objective = "auto"`: the search on the validation split (never the test set), its budget,
//! its determinism and resume, and the report it feeds.

use crate::common;

use distill::config::Experiment;
use distill::pipeline::tune;
use distill::pipeline::{RunOptions, ensure_teacher_and_store, run_all};
use distill::report::Timings;
use distill::task::Task;
use distill::task::image::ImageTask;
use distill::tune::{TuneSummary, tune_dir};
use distill::vocab::Role;
use distill::vocab::TaskKind;
use std::path::Path;

const AUTO: &str = r#"[tune]
objectives = ["kd", "kd_std", "dist"]
temperatures = [1.0, 4.0]
alphas = [0.5]
rungs = 2
keep = 2
final_seeds = 2
min_predictions = 0

[evaluation]"#;

fn auto_task(dir: &Path, extra: &[(&str, &str)]) -> ImageTask {
    let mut replace = vec![
        ("seed = 7", "objective = \"auto\"\nseed = 7"),
        (
            "[objective]\nalpha = 0.1\ntemperature = 4.0\n\n[evaluation]",
            AUTO,
        ),
        ("epochs = 2\n", "epochs = 4\n"),
    ];
    replace.extend_from_slice(extra);
    let config = dir.join("experiment.toml");
    std::fs::write(&config, common::experiment_text(&replace)).unwrap();
    ImageTask::new(Experiment::load(&config).unwrap()).unwrap()
}

fn run_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(tune_dir(out).join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn strip_times(s: &TuneSummary) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap();
    v["seconds"] = 0.into();
    v
}

#[test]
fn the_split_holds_out_training_rows_stratified_and_never_test_rows() {
    let dir = tempfile::tempdir().unwrap();
    common::write_dataset(dir.path(), 240, 60);
    let task = auto_task(dir.path(), &[]);
    let splits = task.splits(Role::Student);
    let validation = splits
        .validation
        .as_ref()
        .expect("a validation split by default");
    // 10% of the 240 training images, in proportion to each of the 3 classes.
    assert_eq!(validation.len() + splits.train.len(), 240);
    assert_eq!(validation.len(), 24);
    assert_eq!(splits.test.len(), 60, "the test set is left whole");
    for c in 0..3u16 {
        let n = validation.labels.iter().filter(|&&y| y == c).count();
        assert!((7..=9).contains(&n), "class {c}: {n} of 24");
    }
    // Validation rows are training images: each is found among the training file's images,
    // none among the test images.
    let (train_all, _) = common::images_and_labels(240, 1);
    let (test_all, _) = common::images_and_labels(60, 2);
    let px = common::SIDE * common::SIDE;
    for i in 0..validation.len() {
        let row = validation.image(i);
        let row = row.as_ref();
        assert!(train_all.data.chunks(px).any(|t| t == row), "row {i}");
        assert!(!test_all.data.chunks(px).any(|t| t == row), "row {i}");
    }
    assert_eq!(task.kind(), TaskKind::Image);
}

#[test]
fn search_is_deterministic_resumable_and_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    common::write_dataset(dir.path(), 240, 60);
    let task = auto_task(dir.path(), &[]);
    let out = dir.path().join("out");
    let opts = RunOptions::new(&out);
    ensure_teacher_and_store(&task, &opts, &mut Timings::default()).unwrap();
    let first = tune(&task, &opts).unwrap();

    // Plan: 5 candidates (dist ignores nothing: 3 families × 2 T, α 0.5 → 6; kd, kd_std and
    // dist all use T) at 2 epochs with one seed, the best half at 4 epochs with two seeds.
    assert_eq!(first.plan.points.len(), 6);
    let epochs: Vec<usize> = first.rungs.iter().map(|r| r.epochs).collect();
    assert_eq!(epochs, vec![2, 4]);
    assert_eq!(first.rungs[1].entries.len(), 3);
    assert_eq!(first.plan.epochs, (6 + 1) * 2 + (3 + 1) * 4 * 2);
    assert_eq!(first.epochs_trained, first.plan.epochs);
    assert!(
        first
            .selection_set
            .starts_with("validation split, 24 images")
    );
    // The chosen point is the best mean at the last rung, and it is what a KD student uses.
    let best = &first.rungs[1].entries[0];
    assert_eq!(first.chosen, best.point);
    assert!(best.promoted);
    let chosen = distill::tune::kd_objective(&task, &out).unwrap();
    assert_eq!(chosen.temperature, first.chosen.temperature);
    assert_eq!(chosen.alpha, first.chosen.alpha);

    // Resumed: every run is reused as it is, and the summary is the same.
    let files = run_files(&out);
    assert_eq!(files.len(), 7 + 4 * 2);
    let resumed = tune(
        &task,
        &RunOptions {
            resume: true,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(run_files(&out), files);
    assert_eq!(strip_times(&resumed), strip_times(&first));

    // From scratch in another folder, with the same seeds: the same numbers.
    let again_out = dir.path().join("again");
    let again_opts = RunOptions::new(&again_out);
    ensure_teacher_and_store(&task, &again_opts, &mut Timings::default()).unwrap();
    let again = tune(&task, &again_opts).unwrap();
    assert_eq!(strip_times(&again), strip_times(&first));

    // A budget below the plan: fewer candidates, never more epochs than allowed.
    let task = auto_task(
        dir.path(),
        &[("final_seeds = 2", "final_seeds = 2\nmax_epochs = 30")],
    );
    let budget_out = dir.path().join("budget");
    let budget_opts = RunOptions::new(&budget_out);
    ensure_teacher_and_store(&task, &budget_opts, &mut Timings::default()).unwrap();
    let cut = tune(&task, &budget_opts).unwrap();
    assert!(cut.epochs_trained <= 30, "{}", cut.epochs_trained);
    assert!(cut.plan.subsampled_away > 0);
    let trained: usize = run_files(&budget_out)
        .iter()
        .map(|(_, bytes)| {
            let run: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            run["epochs"].as_u64().unwrap() as usize
        })
        .sum();
    assert!(trained <= 30, "{trained}");
}

#[test]
fn run_with_auto_reports_the_choice_and_a_verdict_first() {
    let dir = tempfile::tempdir().unwrap();
    common::write_dataset(dir.path(), 240, 60);
    let task = auto_task(
        dir.path(),
        &[
            ("rungs = 2", "rungs = 1"),
            ("final_seeds = 2", "final_seeds = 1"),
        ],
    );
    let out = dir.path().join("out");
    let report = run_all(&task, &RunOptions::new(&out)).unwrap();
    let summary = distill::tune::read_summary(&out).unwrap();
    assert!(
        report
            .objective
            .contains(&format!("T={}", summary.chosen.temperature))
            || report
                .objective
                .contains(&summary.chosen.temperature.to_string()),
        "{}",
        report.objective
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        json["selection"]["summary"]["chosen"]["method"],
        serde_json::Value::String(summary.chosen.method.clone())
    );
    assert!(
        json["verdict"]["ship"]
            .as_str()
            .unwrap()
            .starts_with("student_")
    );
    // The search's last rung is the verdict's second check: it is recorded as it was, and a
    // search that saw no lead never lets the KD student ship.
    let check = &json["verdict"]["search_check"];
    assert_eq!(
        check["kd"]["mean"].as_f64().unwrap(),
        summary.chosen_validation.mean
    );
    assert_eq!(
        check["no_kd"]["mean"].as_f64().unwrap(),
        summary.no_kd_validation.mean
    );
    if !summary.kd_helps {
        assert_eq!(json["verdict"]["ship"], "student_baseline");
    }
    // The verdict's noise counts the validation rows as well as the seeds: it comes from every
    // student's per-row outcomes on the validation split.
    let parts = &json["verdict"]["noise_parts"];
    let validation = task
        .splits(Role::Student)
        .validation
        .as_ref()
        .unwrap()
        .len();
    assert_eq!(parts["n_rows"].as_u64().unwrap() as usize, validation);
    assert_eq!(
        parts["n_seeds"].as_u64().unwrap() as usize,
        task.settings().student_seeds.len()
    );
    let total = parts["total"].as_f64().unwrap();
    assert_eq!(json["verdict"]["decided_noise"].as_f64().unwrap(), total);
    assert!(
        total >= parts["rows"].as_f64().unwrap() && total >= parts["seeds"].as_f64().unwrap(),
        "{parts}"
    );
    assert!(
        json["teacher_diagnostics"]["temperatures"]
            .as_array()
            .unwrap()
            .len()
            == 2
    );
    assert!(
        !json["models"]["student_kd"]["reliability"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let verdict = md.find("## Verdict").expect("a verdict");
    let comparison = md.find("## Comparison").unwrap();
    assert!(verdict < comparison, "the verdict comes first");
    assert!(md.contains("## How the objective was chosen"));
    assert!(md.contains("Recommendation made on the validation split"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Verdict</h2>") && html.matches("<svg").count() == 3);
    // A student trained by hand afterwards uses the same choice.
    let resolved = std::fs::read_to_string(out.join("experiment.resolved.toml")).unwrap();
    assert!(resolved.contains("objective = \"auto\""), "{resolved}");
}

#[test]
fn auto_needs_a_validation_split_and_tune_needs_auto() {
    let dir = tempfile::tempdir().unwrap();
    common::write_dataset(dir.path(), 240, 60);
    let task = auto_task(
        dir.path(),
        &[(
            "num_classes = 3",
            "num_classes = 3\nvalidation_fraction = 0.0",
        )],
    );
    let out = dir.path().join("out");
    let msg = run_all(&task, &RunOptions::new(&out))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("data.validation_fraction"), "{msg}");
    // A [tune] section beside an [objective] table set by hand is refused, naming both.
    let config = dir.path().join("both.toml");
    std::fs::write(
        &config,
        common::experiment_text(&[("[evaluation]", "[tune]\nrungs = 2\n\n[evaluation]")]),
    )
    .unwrap();
    let msg = Experiment::load(&config).unwrap_err().to_string();
    assert!(msg.contains("tune") && msg.contains("[objective]"), "{msg}");
    // A typo in the word is named.
    let config = dir.path().join("typo.toml");
    std::fs::write(
        &config,
        common::experiment_text(&[
            ("[objective]\nalpha = 0.1\ntemperature = 4.0\n", ""),
            ("seed = 7", "objective = \"atuo\"\nseed = 7"),
        ]),
    )
    .unwrap();
    let msg = Experiment::load(&config).unwrap_err().to_string();
    assert!(msg.contains("atuo"), "{msg}");
}
