//! Sweeps: one teacher and one soft-label store, many students.
//!
//! A sweep file names an experiment and a grid: temperatures × α × objectives (methods), each
//! point trained with several seeds. T only rescales the recorded logits, so every run reuses
//! the same store. Each finished run writes `OUT/runs/<run>.json`; a resumed sweep skips those
//! and continues a half-trained run from its last checkpoint. The summary (mean ± std per grid
//! point, the best point, accuracy against T) goes to `OUT/sweep.{json,md,html}` and
//! `OUT/sweep_temperature.svg`.

mod report;

pub use report::{PointSummary, SweepReport, write_sweep_report};

use crate::classifier::{EVAL_BATCH, Rows, predict_logits};
use crate::error::{Error, Result};
use crate::eval::quality;
use crate::fsutil;
pub use crate::objective::methods::{
    BASELINE, BUILTIN_METHODS, MethodConfig, Point, builtin_method, objective_for,
};
use crate::objective::{Objective, ObjectiveConfig, TermConfig};
use crate::pipeline::{
    RunOptions, StudentInputs, StudentRun, check_extra_teachers, checkpoint_dir,
    ensure_teacher_and_store, load_model, open_teacher_stores, soft_labels_dir, teacher_path,
    train_student_as,
};
use crate::task::{Settings, Task, feature_pairs};
use crate::train::EpochRecord;
use crate::vocab::{BadField, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Most seeds per grid point of a sweep.
pub const MAX_SWEEP_SEEDS: usize = 100;
/// Most values along one axis of a sweep's grid.
pub const MAX_GRID_AXIS: usize = 100;
/// Most grid points of a sweep.
pub const MAX_GRID_POINTS: usize = 10_000;

/// Seeds as a count (`seeds = 3` means 1, 2, 3) or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Seeds {
    /// Seeds 1..=n.
    Count(u64),
    /// These seeds.
    List(Vec<u64>),
}

impl Seeds {
    /// The seeds.
    pub fn list(&self) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (1..=*n).collect(),
            Seeds::List(v) => v.clone(),
        }
    }
}

/// The sweep file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// The experiment file (relative to the sweep file): data, teacher, student and recipe.
    pub experiment: PathBuf,
    /// An output folder holding a trained `teacher.safetensors` and its `soft_labels/` to reuse
    /// (relative to the sweep file). Without it the sweep trains and records its own.
    #[serde(default)]
    pub teacher: Option<PathBuf>,
    /// Seeds per grid point: a count or a list.
    #[serde(default = "three_seeds")]
    pub seeds: Seeds,
    /// Temperatures (default: the experiment's).
    #[serde(default)]
    pub temperature: Vec<f64>,
    /// Weights of the hard-label cross-entropy (default: the experiment's).
    #[serde(default)]
    pub alpha: Vec<f64>,
    /// Objectives, by name: a `[methods.NAME]` table or a built-in (see [`builtin_method`]).
    #[serde(default = "kd_only")]
    pub objective: Vec<String>,
    /// Also train the student without KD (once per seed).
    #[serde(default = "yes")]
    pub baseline: bool,
    /// Epochs of every student run (default: the experiment's `student.train.epochs`): the
    /// sweep's training budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_epochs: Option<usize>,
    /// Named objectives.
    #[serde(default)]
    pub methods: BTreeMap<String, MethodConfig>,
}

fn three_seeds() -> Seeds {
    Seeds::Count(3)
}
fn kd_only() -> Vec<String> {
    vec!["kd".into()]
}
fn yes() -> bool {
    true
}

/// One finished run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Grid point (`no_kd` runs have the method `no_kd`).
    pub point: Point,
    /// Seed.
    pub seed: u64,
    /// The objective it trained with.
    pub objective: ObjectiveConfig,
    /// Test accuracy of the last-epoch model.
    pub accuracy: f64,
    /// Monitor accuracy at the last epoch.
    pub last_epoch_accuracy: f64,
    /// Best monitor accuracy over the epochs.
    pub best_epoch_accuracy: f64,
    /// The epoch that reached it.
    pub best_epoch: usize,
    /// Macro-F1 on the test set.
    pub macro_f1: f64,
    /// Top-1 agreement with the (first) teacher on the test set.
    pub agreement_with_teacher: f64,
    /// Expected calibration error.
    pub ece: f64,
    /// Mean training seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Per-epoch records.
    pub history: Vec<EpochRecord>,
}

/// A loaded sweep, checked against its experiment's settings.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The sweep file as read (paths resolved).
    pub config: SweepConfig,
    /// Every method the grid uses, by name.
    pub methods: BTreeMap<String, MethodConfig>,
    /// The grid points, in run order (methods whose terms ignore T appear at the first
    /// temperature only).
    pub points: Vec<Point>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// The sweep file (for error messages).
    pub origin: PathBuf,
}

impl SweepConfig {
    /// Reads a sweep file and resolves its paths against its folder.
    pub fn load(path: &Path) -> Result<SweepConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut config: SweepConfig = toml::from_str(&text).map_err(|e| Error::ConfigParse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        config.experiment = base.join(&config.experiment);
        if let Some(t) = &mut config.teacher {
            *t = base.join(&*t);
        }
        Ok(config)
    }
}

impl Sweep {
    /// Checks `config` against the experiment's `settings` (its default T and α, its extra
    /// teachers) and its number of classes; `origin` names the sweep file in errors.
    pub fn new(
        config: SweepConfig,
        settings: &Settings,
        num_classes: usize,
        origin: &Path,
    ) -> Result<Sweep> {
        let bad = |field: &str, value: String, reason: &str| Error::ConfigValue {
            path: origin.to_path_buf(),
            field: field.to_string(),
            value,
            reason: reason.to_string(),
        };
        let seed_count = match &config.seeds {
            Seeds::Count(n) => *n as usize,
            Seeds::List(v) => v.len(),
        };
        crate::limits::at_most("seeds", seed_count, MAX_SWEEP_SEEDS, &bad)?;
        if let Some(e) = config.student_epochs {
            crate::limits::at_most("student_epochs", e, crate::limits::MAX_EPOCHS, &bad)?;
        }
        crate::limits::at_most("temperature", config.temperature.len(), MAX_GRID_AXIS, &bad)?;
        crate::limits::at_most("alpha", config.alpha.len(), MAX_GRID_AXIS, &bad)?;
        crate::limits::at_most("objective", config.objective.len(), MAX_GRID_AXIS, &bad)?;
        crate::limits::at_most(
            "temperature × alpha × objective (grid points)",
            config.temperature.len().max(1) * config.alpha.len().max(1) * config.objective.len(),
            MAX_GRID_POINTS,
            &bad,
        )?;
        let seeds = config.seeds.list();
        if seeds.is_empty() {
            return Err(bad(
                "seeds",
                format!("{:?}", config.seeds),
                "give at least one seed",
            ));
        }
        if config.student_epochs == Some(0) {
            return Err(bad("student_epochs", "0".into(), "must be at least 1"));
        }
        let temperatures = if config.temperature.is_empty() {
            vec![settings.objective.temperature]
        } else {
            config.temperature.clone()
        };
        let alphas = if config.alpha.is_empty() {
            vec![settings.objective.alpha]
        } else {
            config.alpha.clone()
        };
        if config.objective.is_empty() {
            return Err(bad("objective", "[]".into(), "name at least one objective"));
        }
        for (i, t) in temperatures.iter().enumerate() {
            if !(*t > 0.0 && t.is_finite()) {
                return Err(bad(
                    &format!("temperature[{i}]"),
                    t.to_string(),
                    "must be a number > 0",
                ));
            }
        }
        for (i, a) in alphas.iter().enumerate() {
            if !(0.0..1.0).contains(a) {
                return Err(bad(
                    &format!("alpha[{i}]"),
                    a.to_string(),
                    "must be in [0, 1) (alpha = 1 is the no-KD baseline)",
                ));
            }
        }
        let mut methods = BTreeMap::new();
        for (i, name) in config.objective.iter().enumerate() {
            let method = match config.methods.get(name) {
                Some(m) => m.clone(),
                None => builtin_method(name).ok_or_else(|| {
                    bad(
                        &format!("objective[{i}]"),
                        format!("\"{name}\""),
                        &format!(
                            "not a [methods.{name}] table of this file nor a built-in method ({})",
                            BUILTIN_METHODS.join(", ")
                        ),
                    )
                })?,
            };
            if name == BASELINE {
                return Err(bad(
                    &format!("objective[{i}]"),
                    format!("\"{name}\""),
                    "is reserved for the no-KD runs (set baseline = true)",
                ));
            }
            // Check each method as a whole objective, naming its table in errors.
            let field_of = |f: &str| {
                let rest = f
                    .trim_start_matches("objective.")
                    .trim_start_matches("objective");
                if config.methods.contains_key(name) {
                    format!("methods.{name}.{rest}")
                        .trim_end_matches('.')
                        .to_string()
                } else {
                    format!("objective[{i}] (built-in \"{name}\"): {rest}")
                }
            };
            let renamed: BadField =
                &|f: &str, value: String, reason: &str| bad(&field_of(f), value, reason);
            let objective = objective_for(&method, temperatures[0], alphas[0]);
            objective.validate(num_classes, renamed)?;
            let teachers = 1 + settings.extra_teachers.len();
            if method.teacher_weights.len() > teachers {
                return Err(renamed(
                    "objective.teacher_weights",
                    format!("{:?}", method.teacher_weights),
                    &format!(
                        "needs {} teachers, but the experiment has {teachers} (add extra_teachers to {})",
                        method.teacher_weights.len(),
                        config.experiment.display()
                    ),
                ));
            }
            methods.insert(name.clone(), method);
        }
        let mut points = Vec::new();
        for name in &config.objective {
            // Terms that ignore T (the relational ones) run at the first temperature only.
            let uses_t = methods[name].terms.iter().any(TermConfig::uses_temperature);
            let temps = if uses_t {
                &temperatures[..]
            } else {
                &temperatures[..1]
            };
            for &alpha in &alphas {
                for &temperature in temps {
                    points.push(Point {
                        method: name.clone(),
                        temperature,
                        alpha,
                    });
                }
            }
        }
        Ok(Sweep {
            config,
            methods,
            points,
            seeds,
            origin: origin.to_path_buf(),
        })
    }

    /// Number of student runs (KD points × seeds, plus the baselines).
    pub fn run_count(&self) -> usize {
        (self.points.len() + self.config.baseline as usize) * self.seeds.len()
    }
}

/// The baseline's grid point.
fn baseline_point() -> Point {
    Point {
        method: BASELINE.into(),
        temperature: 1.0,
        alpha: 1.0,
    }
}

/// Where the runs' results go.
fn runs_dir(out: &Path) -> PathBuf {
    out.join("runs")
}

/// Runs the sweep on `task` into `opts.out` (with `opts.resume`, finished runs are kept) and
/// writes its report. The student budget is the task's (`student_epochs` overrides it first,
/// see [`apply_budget`]).
pub fn run_sweep<T: Task>(task: &T, sweep: &Sweep, opts: &RunOptions) -> Result<SweepReport> {
    let settings = task.settings();
    let most = sweep
        .methods
        .values()
        .map(|m| m.teacher_weights.len())
        .max()
        .unwrap_or(1);
    check_extra_teachers(settings, most)?;
    for (name, method) in &sweep.methods {
        feature_pairs(
            task,
            &objective_for(method, 1.0, 0.5),
            &|f: &str, v: String, r: &str| Error::ConfigValue {
                path: sweep.origin.clone(),
                field: format!("methods.{name}.{}", f.trim_start_matches("objective.")),
                value: v,
                reason: r.to_string(),
            },
        )?;
    }
    if let Some(dir) = &sweep.config.teacher {
        for path in [teacher_path(dir), soft_labels_dir(dir)] {
            if !path.exists() {
                return Err(Error::io(
                    &path,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "the sweep's teacher folder lacks it (train and record the teacher there first)",
                    ),
                ));
            }
        }
    }
    // Written only once the sweep's inputs are checked.
    fsutil::create_dir_all(&runs_dir(&opts.out))?;
    let resolved =
        toml::to_string_pretty(&sweep.config).map_err(|e| Error::Report(e.to_string()))?;
    fsutil::write_atomic(&opts.out.join("sweep.resolved.toml"), resolved.as_bytes())?;
    let (teacher, store) = match &sweep.config.teacher {
        Some(dir) => (
            teacher_path(dir),
            crate::soft_labels::StoreLocation::Local(soft_labels_dir(dir)),
        ),
        None => {
            let mut timings = crate::report::Timings::default();
            ensure_teacher_and_store(task, opts, &mut timings)?;
            (
                teacher_path(&opts.out),
                crate::pipeline::own_store(task, &opts.out)?,
            )
        }
    };
    let teacher_model = load_model(task, Role::Teacher, &teacher, &opts.device)?;
    let teacher_test = &task.splits(Role::Teacher).test;
    let teacher_logits = predict_logits(&teacher_model, teacher_test, EVAL_BATCH, &opts.device);
    let teacher_accuracy = crate::eval::accuracy_of(
        &teacher_logits,
        teacher_test.labels(),
        teacher_test.num_classes(),
    );
    // One store per teacher: the most any method mixes.
    let stores = open_teacher_stores(task, &teacher, &store, most)?;
    let test = &task.splits(Role::Student).test;
    let epochs = settings.student_train.epochs;

    let mut jobs: Vec<(Point, u64)> = Vec::new();
    for &seed in &sweep.seeds {
        if sweep.config.baseline {
            jobs.push((baseline_point(), seed));
        }
        for p in &sweep.points {
            jobs.push((p.clone(), seed));
        }
    }
    let started = Instant::now();
    let mut results = Vec::new();
    for (k, (point, seed)) in jobs.iter().enumerate() {
        let name = point.run_name(*seed);
        let result_path = runs_dir(&opts.out).join(format!("{name}.json"));
        if opts.resume && result_path.is_file() {
            let r: RunResult =
                serde_json::from_slice(&fsutil::read(&result_path)?).map_err(|e| {
                    Error::Weights {
                        path: result_path.clone(),
                        message: format!("unreadable run result: {e}"),
                    }
                })?;
            if r.history.len() != epochs {
                return Err(Error::Weights {
                    path: result_path.clone(),
                    message: format!(
                        "a finished run of {} epochs, but the sweep now trains {epochs}; use another --out or remove it",
                        r.history.len()
                    ),
                });
            }
            results.push(r);
            continue;
        }
        if opts.progress {
            eprintln!("sweep run {}/{}: {name}", k + 1, jobs.len());
        }
        let (objective, used) = if point.method == BASELINE {
            (Objective::hard_labels_only(), &stores[..0])
        } else {
            let method = &sweep.methods[&point.method];
            let o = objective_for(method, point.temperature, point.alpha);
            let n = o.teacher_weights.len();
            (Objective::new(o), &stores[..n])
        };
        let weights = runs_dir(&opts.out).join(format!("{name}.safetensors"));
        let run = StudentRun {
            name: &name,
            objective: &objective,
            inputs: StudentInputs {
                soft_labels: used,
                teacher: &teacher,
            },
            seed: *seed,
            weights: &weights,
            recipe: None,
        };
        let trained = train_student_as(task, &run, opts)?;
        let logits = predict_logits(&trained.model, test, EVAL_BATCH, &opts.device);
        let q = quality(
            &logits,
            test.labels(),
            task.class_names(),
            Some(&teacher_logits),
            settings.evaluation.ece_bins,
        );
        let (best_epoch, best) = trained.best();
        let result = RunResult {
            point: point.clone(),
            seed: *seed,
            objective: objective.config().clone(),
            accuracy: q.accuracy,
            last_epoch_accuracy: trained.last_accuracy(),
            best_epoch_accuracy: best,
            best_epoch,
            macro_f1: q.macro_f1,
            agreement_with_teacher: q.agreement_with_teacher.unwrap_or(0.0),
            ece: q.ece,
            seconds_per_epoch: trained.seconds_per_epoch(),
            history: trained.history,
        };
        let json = serde_json::to_vec_pretty(&result).expect("run result serialises");
        fsutil::write_atomic(&result_path, &json)?;
        let _ = std::fs::remove_dir_all(checkpoint_dir(&opts.out, &name));
        results.push(result);
    }
    let splits = task.splits(Role::Student);
    let unit = task.kind().unit();
    let data = report::SweepData {
        seed: settings.seed,
        dataset_fingerprint: task.data_fingerprint(),
        eval_set: format!("test set, {} {unit}", splits.test.len()),
        monitor_set: match &splits.validation {
            Some(v) => format!("validation split, {} {unit}", v.len()),
            None => format!("test set, {} {unit}", splits.test.len()),
        },
        student_epochs: epochs,
        experiment: task.config_json()?,
    };
    let report = report::summarise(
        sweep,
        data,
        teacher_accuracy,
        &teacher,
        results,
        started.elapsed().as_secs_f64(),
    );
    write_sweep_report(&report, &opts.out)?;
    println!("{}", report::markdown_table(&report));
    Ok(report)
}

/// Applies the sweep's training budget (`student_epochs`) to the task's student recipe.
pub fn apply_budget<T: Task>(task: &mut T, sweep: &Sweep) {
    if let Some(epochs) = sweep.config.student_epochs {
        task.settings_mut().student_train.epochs = epochs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment() -> crate::config::Experiment {
        crate::config::Experiment::parse(
            r#"
            [data]
            format = "builtin"
            [teacher.model]
            type = "mlp"
            hidden = [32]
            [teacher.train]
            epochs = 1
            batch_size = 64
            optimizer = { type = "adam", lr = 0.001 }
            [student.model]
            type = "mlp"
            hidden = [8]
            [student.train]
            epochs = 1
            batch_size = 64
            optimizer = { type = "adam", lr = 0.001 }
            "#,
            Path::new("exp.toml"),
        )
        .unwrap()
    }

    fn sweep(text: &str) -> Result<Sweep> {
        let config: SweepConfig = toml::from_str(&format!("experiment = \"exp.toml\"\n{text}"))
            .map_err(|e| Error::Report(e.to_string()))?;
        let e = experiment();
        let settings = Settings::of(&e, e.teacher.train.clone(), e.student.train.clone());
        Sweep::new(config, &settings, 10, Path::new("sweep.toml"))
    }

    #[test]
    fn grid_is_methods_by_alpha_by_temperature() {
        let s = sweep(
            r#"
            seeds = 2
            temperature = [1.0, 4.0]
            alpha = [0.1, 0.5]
            objective = ["kd", "mine"]
            [methods.mine]
            terms = [{ type = "dist", temperature = 1.0 }]
            "#,
        )
        .unwrap();
        // kd: 2 α × 2 T; "mine" has its own temperature, so the T axis does not apply to it.
        assert_eq!(s.points.len(), 6);
        assert_eq!(s.seeds, vec![1, 2]);
        assert_eq!(s.run_count(), 14);
        assert_eq!(s.points[1].run_name(2), "kd-T4-a0.1-seed2");
        let list = sweep("seeds = [7, 9]").unwrap();
        assert_eq!(list.seeds, vec![7, 9]);
        assert_eq!(list.points[0].temperature, 4.0);
        assert_eq!(list.config.student_epochs, None);
        let budget = sweep("student_epochs = 3").unwrap();
        assert_eq!(budget.config.student_epochs, Some(3));
    }

    #[test]
    fn every_builtin_method_is_a_valid_objective() {
        for name in BUILTIN_METHODS {
            let m = builtin_method(name).unwrap();
            let o = objective_for(&m, 4.0, 0.5);
            let bad: BadField = &|f, v, r| Error::Report(format!("{f} {v} {r}"));
            o.validate(10, bad).unwrap();
        }
    }

    #[test]
    fn bad_sweeps_name_the_field() {
        let e = |text: &str| sweep(text).unwrap_err().to_string();
        let msg = e("objective = [\"kd\", \"fitnest\"]");
        assert!(
            msg.contains("objective[1]") && msg.contains("fitnest"),
            "{msg}"
        );
        let msg = e("temperature = [2.0, -1.0]");
        assert!(
            msg.contains("temperature[1]") && msg.contains("-1"),
            "{msg}"
        );
        let msg = e("alpha = [1.5]");
        assert!(msg.contains("alpha[0]") && msg.contains("1.5"), "{msg}");
        let msg = e("student_epochs = 0");
        assert!(msg.contains("student_epochs") && msg.contains('0'), "{msg}");
        let msg = e("seeds = []");
        assert!(msg.contains("seeds"), "{msg}");
        let msg = e("objective = [\"ensemble\"]");
        assert!(msg.contains("extra_teachers"), "{msg}");
        let msg = e("objective = [\"m\"]\n[methods.m]\nterms = [{ type = \"kd\", weight = -2.0 }]");
        assert!(
            msg.contains("methods.m.terms[0].weight") && msg.contains("-2"),
            "{msg}"
        );
    }
}
