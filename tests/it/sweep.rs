//! Sweeps and teacher ensembles, end to end on tiny generated data.

use crate::common;

use distill::config::Experiment;
use distill::pipeline::{RunOptions, record_soft_labels, run_all, train_teacher};
use distill::sweep::{Sweep, SweepConfig, apply_budget, run_sweep};
use distill::task::Task;
use distill::task::image::ImageTask;
use std::path::Path;
use std::process::Command;

fn write_sweep(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("sweep.toml");
    std::fs::write(&path, format!("experiment = \"experiment.toml\"\n{text}")).unwrap();
    path
}

#[test]
fn sweep_reuses_one_teacher_reports_mean_and_std_and_resumes() {
    let (dir, _) = common::setup(&[]);
    let path = write_sweep(
        dir.path(),
        "seeds = 2\ntemperature = [1.0, 4.0]\nobjective = [\"kd\", \"dist\", \"pkt\", \"adv\"]\n[methods.adv]\nterms = [{ type = \"adversarial\", hidden = 8 }]\n",
    );
    let config = SweepConfig::load(&path).unwrap();
    let mut task = ImageTask::new(Experiment::load(&config.experiment).unwrap()).unwrap();
    let sweep = Sweep::new(config, task.settings(), 3, &path).unwrap();
    apply_budget(&mut task, &sweep);
    let out = dir.path().join("out");
    let report = run_sweep(&task, &sweep, &RunOptions::new(&out)).unwrap();

    // no_kd, kd×2 T, dist×2 T, pkt and adv once (they ignore T): 7 points × 2 seeds.
    let names: Vec<String> = report
        .points
        .iter()
        .map(|p| format!("{}@{}", p.point.method, p.point.temperature))
        .collect();
    assert_eq!(
        names,
        [
            "no_kd@1", "kd@1", "kd@4", "dist@1", "dist@4", "pkt@1", "adv@1"
        ],
        "{names:?}"
    );
    assert_eq!(report.runs.len(), 14);
    for p in &report.points {
        assert_eq!(p.stats.accuracy.values.len(), 2);
        assert_eq!(p.stats.best_epoch_accuracy.values.len(), 2);
        assert!(
            p.stats.accuracy.std >= 0.0 && p.stats.accuracy.mean > 0.5,
            "{p:?}"
        );
    }
    let best = report.best.clone().unwrap();
    assert_ne!(best.method, "no_kd");
    // The best point is chosen on the validation split (the last-epoch models' mean accuracy
    // there), never on the test set.
    assert!(
        report.monitor_set.starts_with("validation split"),
        "{}",
        report.monitor_set
    );
    let chosen = report
        .points
        .iter()
        .filter(|p| p.point.method != "no_kd")
        .max_by(|a, b| {
            a.stats
                .last_epoch_accuracy
                .mean
                .total_cmp(&b.stats.last_epoch_accuracy.mean)
        })
        .unwrap();
    assert_eq!(best, chosen.point);
    for f in [
        "sweep.json",
        "sweep.md",
        "sweep.html",
        "sweep_temperature.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    assert!(md.contains("±") && md.contains("best-epoch"), "{md}");
    assert!(
        md.contains("selection acc")
            && md.contains("highest mean selection accuracy, on the validation split"),
        "{md}"
    );
    // The adversarial runs show their discriminator's accuracy per epoch.
    assert!(md.contains("## Adversarial discriminator"), "{md}");
    assert!(md.contains("adv-T1-a0.1-seed2"), "{md}");

    // Resume: finished runs are read back, not retrained, and the teacher is reused.
    let teacher_time = std::fs::metadata(out.join("teacher.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    let run = out.join("runs").join("kd-T4-a0.1-seed2.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&run).unwrap()).unwrap();
    json["accuracy"] = serde_json::json!(0.25);
    std::fs::write(&run, serde_json::to_vec(&json).unwrap()).unwrap();
    let opts = RunOptions {
        resume: true,
        ..RunOptions::new(&out)
    };
    let again = run_sweep(&task, &sweep, &opts).unwrap();
    let kd4 = again
        .points
        .iter()
        .find(|p| p.point.method == "kd" && p.point.temperature == 4.0)
        .unwrap();
    assert_eq!(
        kd4.stats.accuracy.values[1], 0.25,
        "the finished run was not reused"
    );
    let teacher_again = std::fs::metadata(out.join("teacher.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(teacher_time, teacher_again, "the teacher was retrained");

    // Another budget is another run: resuming into the same folder is refused, naming the file.
    task.settings_mut().student_train.epochs += 1;
    let e = run_sweep(&task, &sweep, &opts).unwrap_err().to_string();
    assert!(e.contains("seed1.json"), "{e}");
    assert!(e.contains("epochs"), "{e}");
}

#[test]
fn students_distil_from_a_two_teacher_ensemble() {
    let (dir, config) = common::setup(&[
        ("seed = 7", "seed = 7\nextra_teachers = [\"teacher-b\"]"),
        ("alpha = 0.1", "alpha = 0.1\nteacher_weights = [0.5, 0.5]"),
    ]);
    // A second teacher of another seed, trained and recorded in its own folder.
    let experiment = Experiment::load(&config).unwrap();
    let mut other = experiment.clone();
    other.seed = 8;
    let other = ImageTask::new(other).unwrap();
    let task = ImageTask::new(experiment).unwrap();
    let b = dir.path().join("teacher-b");
    train_teacher(&other, &RunOptions::new(&b)).unwrap();
    record_soft_labels(
        &other,
        &b.join("teacher.safetensors"),
        b.join("soft_labels"),
        (0, 1),
        &RunOptions::new(&b),
    )
    .unwrap();
    let out = dir.path().join("out");
    let report = run_all(&task, &RunOptions::new(&out)).unwrap();
    assert!(report.models["student_kd"].quality.accuracy > 0.8);

    // A missing extra teacher is named before anything trains.
    std::fs::remove_dir_all(&b).unwrap();
    let fresh = dir.path().join("fresh");
    let e = run_all(&task, &RunOptions::new(&fresh))
        .unwrap_err()
        .to_string();
    assert!(e.contains("teacher-b"), "{e}");
    assert!(!fresh.join("teacher.safetensors").exists());
}

#[test]
fn cli_refuses_a_bad_sweep_in_one_line() {
    let (dir, _) = common::setup(&[]);
    let path = write_sweep(dir.path(), "objective = [\"kd\", \"fitnest\"]\n");
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["sweep", path.to_str().unwrap(), "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("objective[1]") && stderr.contains("fitnest"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "output written despite the error"
    );
}
