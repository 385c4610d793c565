//! The search behind `objective = "auto"` ([`crate::tune`] holds its settings, plan and
//! summary): successive halving over objective × T × α on the validation split, one teacher
//! and one store for every run.

use super::{
    RunOptions, StudentInputs, StudentRun, checkpoint_dir, open_teacher_stores, own_store,
    teacher_path, train_student_as,
};
use crate::classifier::Rows;
use crate::config::TrainConfig;
use crate::error::Result;
use crate::fsutil;
use crate::objective::methods::{BASELINE, Point};
use crate::objective::{Objective, ObjectiveConfig};
use crate::report::Stat;
use crate::soft_labels::SoftLabels;
use crate::task::Task;
use crate::tune::{
    Entry, RungResult, TuneRun, TuneSummary, describe_point, no_kd_point, objective_of, plan,
    run_name, summary_path, to_markdown, tune_dir, verdict_line,
};
use crate::vocab::Role;
use std::path::Path;
use std::time::Instant;

fn run_key<T: Task>(
    task: &T,
    objective: &ObjectiveConfig,
    recipe: &TrainConfig,
    seed: u64,
) -> String {
    let text = format!(
        "{}\n{}\n{}\n{}\n{}",
        task.model_key(Role::Student),
        task.data_fingerprint(),
        serde_json::to_string(objective).unwrap_or_default(),
        serde_json::to_string(recipe).unwrap_or_default(),
        seed
    );
    fsutil::sha256_hex(text.as_bytes())
}

/// Runs the search for `task` (whose teacher and store are under `opts.out`) and writes its
/// summary. The task must have a validation split and `objective = "auto"`.
pub fn tune<T: Task>(task: &T, opts: &RunOptions) -> Result<TuneSummary> {
    let settings = task.settings();
    let Some(config) = &settings.tune else {
        return Err(settings.bad_value(
            "objective",
            settings.objective.describe(),
            "set by hand; `distill tune` searches when the experiment says objective = \"auto\"",
        ));
    };
    let splits = task.splits(Role::Student);
    let Some(validation) = &splits.validation else {
        return Err(settings.bad_value(
            "data.validation_fraction",
            "0".into(),
            "objective = \"auto\" chooses on validation data, never on the test set: set a fraction > 0 (0.1 is the default)",
        ));
    };
    let classes = splits.train.num_classes();
    let full = settings.student_train.epochs;
    let plan = plan(config, full, classes, validation.len(), settings.seed)?;
    let dir = tune_dir(&opts.out);
    let runs = dir.join("runs");
    fsutil::create_dir_all(&runs)?;
    let teacher = teacher_path(&opts.out);
    let stores = open_teacher_stores(task, &teacher, &own_store(task, &opts.out)?, 1)?;
    let inner = RunOptions {
        out: dir.clone(),
        progress: false,
        ..opts.clone()
    };
    let search = Search {
        task,
        inner: &inner,
        stores: &stores,
        teacher: &teacher,
    };
    let started = Instant::now();
    let mut epochs_trained = 0;
    let mut alive = plan.points.clone();
    let mut rungs = Vec::new();
    let total: usize = plan
        .rungs
        .iter()
        .map(|r| (r.candidates + 1) * r.seeds.len())
        .sum();
    let mut done = 0;
    let mut trained: std::collections::HashMap<String, TuneRun> = Default::default();
    for (k, rung) in plan.rungs.iter().enumerate() {
        let recipe = TrainConfig {
            epochs: rung.epochs,
            ..settings.student_train.clone()
        };
        let mut scored: Vec<(Point, Stat)> = Vec::new();
        let mut points = vec![no_kd_point()];
        points.extend(alive.iter().cloned());
        for p in &points {
            let mut values = Vec::new();
            for &seed in &rung.seeds {
                done += 1;
                let objective = objective_of(p);
                let key = run_key(task, &objective, &recipe, seed);
                let name = run_name(p, rung.epochs, seed);
                let path = runs.join(format!("{name}.json"));
                // A run this call already trained (rungs of equal epochs, short budgets), or,
                // resuming, one an earlier call finished with the same key.
                let cached = match (trained.get(&name), opts.resume) {
                    (Some(r), _) => Some(r.clone()),
                    (None, true) => read_run(&path).filter(|r| r.key == key),
                    (None, false) => None,
                };
                let run = match cached {
                    Some(r) => r,
                    None => {
                        let r = search.train_one(p, &objective, &recipe, seed, &name, &key)?;
                        let json = serde_json::to_vec_pretty(&r).expect("run serialises");
                        fsutil::write_atomic(&path, &json)?;
                        trained.insert(name.clone(), r.clone());
                        r
                    }
                };
                epochs_trained += run.epochs;
                if opts.progress {
                    eprintln!(
                        "tune rung {}/{} ({} epoch{}, seed {seed}) {done}/{total}: {} → validation {:.2}% ({:.1}s)",
                        k + 1,
                        plan.rungs.len(),
                        rung.epochs,
                        if rung.epochs == 1 { "" } else { "s" },
                        describe_point(p),
                        100.0 * run.validation_accuracy,
                        run.seconds
                    );
                }
                values.push(run.validation_accuracy);
            }
            scored.push((p.clone(), Stat::of(values)));
        }
        let no_kd = scored.remove(0).1;
        // Best first; ties keep grid order (a stable sort).
        scored.sort_by(|a, b| b.1.mean.total_cmp(&a.1.mean));
        let last = k + 1 == plan.rungs.len();
        let going_on = if last {
            1
        } else {
            scored.len().div_ceil(config.keep)
        };
        alive = scored[..going_on].iter().map(|(p, _)| p.clone()).collect();
        rungs.push(RungResult {
            epochs: rung.epochs,
            seeds: rung.seeds.clone(),
            entries: scored
                .into_iter()
                .enumerate()
                .map(|(i, (point, s))| Entry {
                    point,
                    validation_accuracy: s,
                    promoted: i < going_on,
                })
                .collect(),
            no_kd,
        });
    }
    let last = rungs.last().expect("at least one rung");
    let best = &last.entries[0];
    let summary = TuneSummary {
        chosen: best.point.clone(),
        objective: objective_of(&best.point),
        chosen_validation: best.validation_accuracy.clone(),
        no_kd_validation: last.no_kd.clone(),
        kd_helps: best.validation_accuracy.mean > last.no_kd.mean,
        selection_set: format!(
            "validation split, {} {} held out of the training set (seeded, stratified)",
            validation.len(),
            task.kind().unit()
        ),
        plan,
        rungs,
        epochs_trained,
        seconds: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    fsutil::write_atomic(&summary_path(&opts.out), &json)?;
    fsutil::write_atomic(&dir.join("tune.md"), to_markdown(&summary).as_bytes())?;
    let _ = std::fs::remove_dir_all(dir.join("checkpoints"));
    if opts.progress {
        eprintln!("{}", verdict_line(&summary));
    }
    Ok(summary)
}

/// What every run of a search shares.
struct Search<'a, T> {
    task: &'a T,
    inner: &'a RunOptions,
    stores: &'a [SoftLabels],
    teacher: &'a Path,
}

impl<T: Task> Search<'_, T> {
    /// Trains `point` with `seed` on `recipe` (checkpoints and weights removed afterwards).
    fn train_one(
        &self,
        point: &Point,
        objective: &ObjectiveConfig,
        recipe: &TrainConfig,
        seed: u64,
        name: &str,
        key: &str,
    ) -> Result<TuneRun> {
        let (task, inner, stores, teacher) = (self.task, self.inner, self.stores, self.teacher);
        let kd = point.method != BASELINE;
        let weights_dir = inner.out.join("weights");
        fsutil::create_dir_all(&weights_dir)?;
        let weights = weights_dir.join(format!("{name}.safetensors"));
        let started = Instant::now();
        let trained = train_student_as(
            task,
            &StudentRun {
                name,
                objective: &Objective::new(objective.clone()),
                inputs: StudentInputs {
                    soft_labels: if kd { stores } else { &[] },
                    teacher,
                },
                seed,
                weights: &weights,
                recipe: Some(recipe),
            },
            inner,
        )?;
        let _ = std::fs::remove_dir_all(&weights_dir);
        let _ = std::fs::remove_dir_all(checkpoint_dir(&inner.out, name));
        Ok(TuneRun {
            point: point.clone(),
            epochs: trained.history.len(),
            seed,
            key: key.to_string(),
            validation_accuracy: trained.last_accuracy(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

fn read_run(path: &Path) -> Option<TuneRun> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}
