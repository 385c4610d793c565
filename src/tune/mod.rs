//! The automatic choice of the KD student's objective, temperature and α (`objective = "auto"`,
//! `distill tune`), made on the validation split and never on the test set.
//!
//! A search over objective family × T × α by successive halving (Jamieson & Talwalkar 2016;
//! the inner loop of Hyperband, Li et al. 2018): every candidate trains on a short budget, the
//! best third (by validation accuracy) goes on to a budget three times longer, and so on; the
//! last rung trains at the student's full budget over several seeds, and the best mean there is
//! chosen. The no-KD student trains at every rung beside the candidates, as the reference the
//! choice must beat: when no candidate beats it on validation, the report says so and
//! recommends the no-KD student. All runs reuse one teacher and one soft-label store.
//!
//! The search itself runs in [`crate::pipeline::tune`]; this module holds its settings, its plan
//! and its summary. Each finished run is written to `OUT/tune/runs/<run>.json` with its run key (architecture,
//! data, objective, recipe, seed); a resumed search reuses a run only when its key matches.
//! The summary goes to `OUT/tune/tune.json` (read back by `distill run` and `distill student`)
//! and `OUT/tune/tune.md`.

use crate::error::{Error, Result};
use crate::objective::methods::{BASELINE, BUILTIN_METHODS, Point, builtin_method, objective_for};
use crate::objective::{Objective, ObjectiveConfig};
use crate::report::Stat;
use crate::task::Task;
use crate::vocab::BadField;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The `[tune]` section: what `objective = "auto"` searches, and on what budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneConfig {
    /// Objective families, by built-in name (`kd`, `kd_std`, `dist`, `dkd`, `dkd_std`, `rkd`,
    /// `pkt`, `sp`). Families a task cannot use (DKD with two classes) are left out and the
    /// report says so.
    #[serde(default = "default_objectives")]
    pub objectives: Vec<String>,
    /// Temperatures.
    #[serde(default = "default_temperatures")]
    pub temperatures: Vec<f64>,
    /// Weights of the hard-label cross-entropy.
    #[serde(default = "default_alphas")]
    pub alphas: Vec<f64>,
    /// Rungs of successive halving; the last trains at the student's full budget.
    #[serde(default = "default_rungs")]
    pub rungs: usize,
    /// The reduction factor: the best `1/keep` of a rung go on, with `keep` times its epochs.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// Seeds of the last rung (earlier rungs use the first alone); they are 1001, 1002, …, apart
    /// from the students' seeds.
    #[serde(default = "default_final_seeds")]
    pub final_seeds: usize,
    /// Most student epochs the whole search may train (no-KD reference included); the
    /// candidates are subsampled (seeded) until the plan fits. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_epochs: Option<usize>,
    /// Validation predictions each score of a rung should count (seeds × validation rows). On
    /// a small validation split one seed's accuracy moves in steps of one row, and which
    /// candidate goes on is seed luck, so every rung then trains `⌈min_predictions / rows⌉`
    /// seeds (at most 8); a split of `min_predictions` rows or more keeps one seed per early
    /// rung. 0 turns it off.
    #[serde(default = "default_min_predictions")]
    pub min_predictions: usize,
}

/// The most seeds a rung trains because the validation split is small.
pub const MAX_SMALL_SPLIT_SEEDS: usize = 8;

fn default_objectives() -> Vec<String> {
    ["kd", "kd_std", "dist", "dkd"].map(String::from).to_vec()
}
fn default_temperatures() -> Vec<f64> {
    vec![1.0, 2.0, 4.0, 8.0]
}
fn default_alphas() -> Vec<f64> {
    vec![0.1, 0.5, 0.9]
}
fn default_rungs() -> usize {
    3
}
fn default_keep() -> usize {
    3
}
fn default_final_seeds() -> usize {
    2
}
fn default_min_predictions() -> usize {
    1000
}

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            objectives: default_objectives(),
            temperatures: default_temperatures(),
            alphas: default_alphas(),
            rungs: default_rungs(),
            keep: default_keep(),
            final_seeds: default_final_seeds(),
            max_epochs: None,
            min_predictions: default_min_predictions(),
        }
    }
}

impl TuneConfig {
    /// Checks names, ranges and counts, naming the `tune.*` field.
    pub fn validate(&self, bad: BadField) -> Result<()> {
        if self.objectives.is_empty() {
            return Err(bad("tune.objectives", "[]".into(), "name at least one"));
        }
        for (i, name) in self.objectives.iter().enumerate() {
            let known = builtin_method(name).is_some_and(|m| m.teacher_weights.len() == 1);
            if !known {
                return Err(bad(
                    &format!("tune.objectives[{i}]"),
                    format!("{name:?}"),
                    &format!(
                        "not a single-teacher built-in objective ({})",
                        BUILTIN_METHODS
                            .iter()
                            .filter(|m| **m != "ensemble")
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if self.objectives[..i].contains(name) {
                return Err(bad(
                    &format!("tune.objectives[{i}]"),
                    format!("{name:?}"),
                    "appears twice",
                ));
            }
        }
        if self.temperatures.is_empty() {
            return Err(bad("tune.temperatures", "[]".into(), "give at least one"));
        }
        for (i, t) in self.temperatures.iter().enumerate() {
            if !(*t > 0.0 && *t <= 100.0) {
                return Err(bad(
                    &format!("tune.temperatures[{i}]"),
                    t.to_string(),
                    "must be in (0, 100]",
                ));
            }
        }
        if self.alphas.is_empty() {
            return Err(bad("tune.alphas", "[]".into(), "give at least one"));
        }
        for (i, a) in self.alphas.iter().enumerate() {
            if !(0.0..1.0).contains(a) {
                return Err(bad(
                    &format!("tune.alphas[{i}]"),
                    a.to_string(),
                    "must be in [0, 1) (α = 1 is the no-KD student, which the search always trains)",
                ));
            }
        }
        let ranges = [
            ("tune.rungs", self.rungs, 1, 8),
            ("tune.keep", self.keep, 2, 16),
            ("tune.final_seeds", self.final_seeds, 1, 16),
        ];
        for (field, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(bad(
                    field,
                    v.to_string(),
                    &format!("must be in {lo}..={hi}"),
                ));
            }
        }
        if self.min_predictions > 10_000_000 {
            return Err(bad(
                "tune.min_predictions",
                self.min_predictions.to_string(),
                "must be at most 10000000 (0 turns it off)",
            ));
        }
        if self.max_epochs == Some(0) {
            return Err(bad("tune.max_epochs", "0".into(), "must be at least 1"));
        }
        Ok(())
    }
}

/// One rung of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    /// Epochs of every run in the rung.
    pub epochs: usize,
    /// Seeds of every point in the rung.
    pub seeds: Vec<u64>,
    /// Candidates that enter the rung.
    pub candidates: usize,
}

/// The whole search, fixed before any training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The candidates of the first rung, in grid order.
    pub points: Vec<Point>,
    /// The rungs.
    pub rungs: Vec<Rung>,
    /// Student epochs the plan trains, the no-KD reference included.
    pub epochs: usize,
    /// Grid points left out to fit `max_epochs`.
    pub subsampled_away: usize,
    /// Families left out, with why.
    pub skipped: Vec<String>,
    /// The best `1/keep` of each rung go on.
    pub keep: usize,
}

/// The search's seeds are `SEARCH_SEED_BASE + 1, + 2, …`: never the students' own seeds, so
/// that the students the report compares are not the very runs the choice was made on.
pub const SEARCH_SEED_BASE: u64 = 1000;

/// Epochs each run of a rung trains: the full budget at the last rung, `keep` times fewer at
/// each rung before (at least one).
fn rung_epochs(full: usize, rungs: usize, keep: usize) -> Vec<usize> {
    (0..rungs)
        .map(|k| {
            let div = (keep as f64).powi((rungs - 1 - k) as i32);
            ((full as f64 / div).round() as usize).clamp(1, full.max(1))
        })
        .collect()
}

fn plan_for(
    points: usize,
    epochs: &[usize],
    seeds: &[Vec<u64>],
    keep: usize,
) -> (usize, Vec<usize>) {
    let mut n = points;
    let mut cost = 0;
    let mut counts = Vec::new();
    for (e, s) in epochs.iter().zip(seeds) {
        counts.push(n);
        cost += (n + 1) * e * s.len();
        n = n.div_ceil(keep);
    }
    (cost, counts)
}

/// Seeds every rung trains at least, for a validation split of `rows` rows: enough that a
/// candidate's score counts `min_predictions` predictions, at most [`MAX_SMALL_SPLIT_SEEDS`].
pub fn small_split_seeds(min_predictions: usize, rows: usize) -> usize {
    if min_predictions == 0 || rows == 0 {
        1
    } else {
        min_predictions
            .div_ceil(rows)
            .clamp(1, MAX_SMALL_SPLIT_SEEDS)
    }
}

/// The plan for `config` on a student budget of `full_epochs`, for a task of `classes`
/// classes and a validation split of `validation_rows`; `seed` orders the subsample when
/// `max_epochs` cuts the grid.
pub fn plan(
    config: &TuneConfig,
    full_epochs: usize,
    classes: usize,
    validation_rows: usize,
    seed: u64,
) -> Result<Plan> {
    let mut skipped = Vec::new();
    let mut points = Vec::new();
    for name in &config.objectives {
        let method = builtin_method(name).expect("validated");
        let probe = objective_for(&method, 1.0, 0.5);
        let bad: BadField = &|f, v, r| Error::Report(format!("{f} = {v}: {r}"));
        if let Err(e) = probe.validate(classes, bad) {
            skipped.push(format!("{name}: {e}"));
            continue;
        }
        let uses_t = method.terms.iter().any(|t| t.uses_temperature());
        let temps = if uses_t {
            &config.temperatures[..]
        } else {
            &config.temperatures[..1]
        };
        for &alpha in &config.alphas {
            for &temperature in temps {
                points.push(Point {
                    method: name.clone(),
                    temperature,
                    alpha,
                });
            }
        }
    }
    if points.is_empty() {
        return Err(Error::Report(format!(
            "no objective of [tune] fits this task: {}",
            skipped.join("; ")
        )));
    }
    let epochs = rung_epochs(full_epochs, config.rungs, config.keep);
    let at_least = small_split_seeds(config.min_predictions, validation_rows);
    let seeds: Vec<Vec<u64>> = (0..config.rungs)
        .map(|k| {
            let n = if k + 1 == config.rungs {
                config.final_seeds
            } else {
                1
            }
            .max(at_least);
            (1..=n as u64).map(|s| SEARCH_SEED_BASE + s).collect()
        })
        .collect();
    let mut n = points.len();
    let (mut cost, _) = plan_for(n, &epochs, &seeds, config.keep);
    if let Some(max) = config.max_epochs {
        while cost > max && n > 1 {
            n -= 1;
            cost = plan_for(n, &epochs, &seeds, config.keep).0;
        }
        if cost > max {
            return Err(Error::ConfigValue {
                path: PathBuf::from("[tune]"),
                field: "tune.max_epochs".into(),
                value: max.to_string(),
                reason: format!(
                    "the smallest search (one candidate and the no-KD reference, rungs of {epochs:?} epochs) trains {cost} epochs"
                ),
            });
        }
    }
    let subsampled_away = points.len() - n;
    if subsampled_away > 0 {
        let mut order: Vec<usize> = (0..points.len()).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(
            seed ^ 0x7u64.rotate_left(60),
        ));
        let mut keep: Vec<usize> = order[..n].to_vec();
        keep.sort_unstable();
        points = keep.into_iter().map(|i| points[i].clone()).collect();
    }
    let (cost, counts) = plan_for(points.len(), &epochs, &seeds, config.keep);
    let rungs = epochs
        .iter()
        .zip(seeds)
        .zip(counts)
        .map(|((&epochs, seeds), candidates)| Rung {
            epochs,
            seeds,
            candidates,
        })
        .collect();
    Ok(Plan {
        points,
        rungs,
        epochs: cost,
        subsampled_away,
        skipped,
        keep: config.keep,
    })
}

/// The no-KD reference's point in the search.
pub fn no_kd_point() -> Point {
    Point {
        method: BASELINE.into(),
        temperature: 1.0,
        alpha: 1.0,
    }
}

/// One finished run of the search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuneRun {
    /// The candidate (or the no-KD reference).
    pub point: Point,
    /// Epochs trained.
    pub epochs: usize,
    /// Seed.
    pub seed: u64,
    /// What the run was made from: architecture, data, objective, recipe, seed (hashed).
    pub key: String,
    /// Accuracy of the last-epoch model on the validation split.
    pub validation_accuracy: f64,
    /// Training seconds.
    pub seconds: f64,
}

/// One point's result in a rung.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The candidate.
    pub point: Point,
    /// Validation accuracy over the rung's seeds.
    pub validation_accuracy: Stat,
    /// Went on to the next rung (or, at the last, was chosen).
    pub promoted: bool,
}

/// One rung's results, best first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RungResult {
    /// Epochs of every run.
    pub epochs: usize,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// The candidates, best first.
    pub entries: Vec<Entry>,
    /// The no-KD student at the same budget.
    pub no_kd: Stat,
}

/// The search's outcome: the choice, the evidence and the cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuneSummary {
    /// The plan it followed.
    pub plan: Plan,
    /// The rungs, in order.
    pub rungs: Vec<RungResult>,
    /// The chosen point (best mean validation accuracy at the last rung).
    pub chosen: Point,
    /// Its objective, in full.
    pub objective: ObjectiveConfig,
    /// Its validation accuracy at the last rung.
    pub chosen_validation: Stat,
    /// The no-KD student's validation accuracy at the last rung.
    pub no_kd_validation: Stat,
    /// Whether the chosen point beats the no-KD student on validation.
    pub kd_helps: bool,
    /// The set the choice was made on.
    pub selection_set: String,
    /// Student epochs trained by the search (resumed runs included).
    pub epochs_trained: usize,
    /// Seconds the search took in this invocation.
    pub seconds: f64,
}

/// Where the search's files go.
pub fn tune_dir(out: &Path) -> PathBuf {
    out.join("tune")
}

/// The search's summary file.
pub fn summary_path(out: &Path) -> PathBuf {
    tune_dir(out).join("tune.json")
}

/// The objective of point `p` (the no-KD point: hard labels alone).
pub fn objective_of(p: &Point) -> ObjectiveConfig {
    match builtin_method(&p.method) {
        Some(m) => objective_for(&m, p.temperature, p.alpha),
        None => Objective::hard_labels_only().config().clone(),
    }
}

/// The file stem of point `p`'s run of `epochs` with `seed`.
pub fn run_name(p: &Point, epochs: usize, seed: u64) -> String {
    format!(
        "{}-T{}-a{}-e{epochs}-seed{seed}",
        p.method, p.temperature, p.alpha
    )
}

/// The search's summary written by an earlier `distill tune` or `distill run` into `out`,
/// checked against the task's search settings.
pub fn read_summary(out: &Path) -> Result<TuneSummary> {
    let path = summary_path(out);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::io(
            &path,
            std::io::Error::new(
                e.kind(),
                "objective = \"auto\": no search result here; run `distill tune` (or `distill run`) first",
            ),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Weights {
        path,
        message: format!("unreadable search summary: {e}"),
    })
}

/// The objective the KD student trains with: the experiment's when set by hand; with
/// `objective = "auto"`, the search's choice in `out` (run it first).
pub fn kd_objective<T: Task>(task: &T, out: &Path) -> Result<ObjectiveConfig> {
    match &task.settings().tune {
        None => Ok(task.settings().objective.clone()),
        Some(_) => Ok(read_summary(out)?.objective),
    }
}

/// A point for people: `kd_std, T 2, α 0.5` or `no KD`.
pub fn describe_point(p: &Point) -> String {
    if p.method == BASELINE {
        "no KD".into()
    } else {
        format!("{}, T {}, α {}", p.method, p.temperature, p.alpha)
    }
}

/// One line: what was chosen, against the no-KD student, on what.
pub fn verdict_line(s: &TuneSummary) -> String {
    let diff = 100.0 * (s.chosen_validation.mean - s.no_kd_validation.mean);
    if s.kd_helps {
        format!(
            "tune: chose {} — validation {} against {} for no KD ({diff:+.2} points), {} epochs searched in {:.0}s",
            describe_point(&s.chosen),
            s.chosen_validation.pct(),
            s.no_kd_validation.pct(),
            s.epochs_trained,
            s.seconds
        )
    } else {
        format!(
            "tune: no objective beat the no-KD student on validation (best: {} at {}, no KD {}); the KD students still train with this best point for the comparison, and the report will recommend the no-KD student (the verdict ships KD only when this search and the final students both see a lead)",
            describe_point(&s.chosen),
            s.chosen_validation.pct(),
            s.no_kd_validation.pct()
        )
    }
}

/// The search as Markdown: the choice, then each rung's table.
pub fn to_markdown(s: &TuneSummary) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## How the objective was chosen\n");
    let _ = writeln!(md, "{}\n", verdict_line(s));
    let _ = writeln!(
        md,
        "Successive halving on the {}: {} candidates (objective × T × α); at each rung the best 1/{} by mean validation accuracy go on with more epochs; the no-KD student trains at every rung as the reference. The test set is not looked at. Cost: {} student epochs planned, {} trained, {:.0}s.",
        s.selection_set,
        s.plan.points.len(),
        s.plan.keep,
        s.plan.epochs,
        s.epochs_trained,
        s.seconds
    );
    if s.plan.subsampled_away > 0 {
        let _ = writeln!(
            md,
            "\n{} grid points were left out (seeded) to fit `tune.max_epochs`.",
            s.plan.subsampled_away
        );
    }
    for note in &s.plan.skipped {
        let _ = writeln!(md, "\nLeft out: {note}");
    }
    if let Some(first) = s.plan.rungs.first().filter(|r| r.seeds.len() > 1) {
        let _ = writeln!(
            md,
            "\nEvery rung trains at least {} seeds: the validation split is small, and one seed's accuracy on it moves in steps of one row (`tune.min_predictions`).",
            first.seeds.len()
        );
    }
    for (k, r) in s.rungs.iter().enumerate().rev() {
        let _ = writeln!(
            md,
            "\n### Rung {} of {}: {} epoch(s), seed(s) {:?}\n\n| objective | T | α | validation accuracy | |\n|---|---:|---:|---:|---|",
            k + 1,
            s.rungs.len(),
            r.epochs,
            r.seeds
        );
        let _ = writeln!(md, "| no KD (reference) | | | {} | |", r.no_kd.pct());
        let last = k + 1 == s.rungs.len();
        for e in &r.entries {
            let mark = match (e.promoted, last) {
                (true, true) => "chosen",
                (true, false) => "goes on",
                _ => "",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {mark} |",
                e.point.method,
                e.point.temperature,
                e.point.alpha,
                e.validation_accuracy.pct()
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_grow_by_keep_to_the_full_budget() {
        assert_eq!(rung_epochs(10, 3, 3), vec![1, 3, 10]);
        assert_eq!(rung_epochs(30, 3, 3), vec![3, 10, 30]);
        assert_eq!(rung_epochs(2, 3, 3), vec![1, 1, 2]);
        assert_eq!(rung_epochs(5, 1, 3), vec![5]);
    }

    #[test]
    fn default_plan_covers_the_grid_and_counts_its_cost() {
        let p = plan(&TuneConfig::default(), 10, 10, 1000, 1).unwrap();
        assert_eq!(p.points.len(), 48);
        let counts: Vec<usize> = p.rungs.iter().map(|r| r.candidates).collect();
        assert_eq!(counts, vec![48, 16, 6]);
        // (48 + 1)·1 + (16 + 1)·3 + (6 + 1)·10·2 seeds.
        assert_eq!(p.epochs, 49 + 51 + 140);
        assert_eq!(p.rungs[2].seeds, vec![1001, 1002]);
        // Two classes: DKD is left out, with the reason.
        let p = plan(&TuneConfig::default(), 10, 2, 1000, 1).unwrap();
        assert_eq!(p.points.len(), 36);
        assert!(p.skipped[0].starts_with("dkd"), "{:?}", p.skipped);
    }

    #[test]
    fn a_small_validation_split_gets_more_seeds_at_every_rung() {
        assert_eq!(small_split_seeds(1000, 1000), 1);
        assert_eq!(small_split_seeds(1000, 6000), 1);
        assert_eq!(small_split_seeds(1000, 999), 2);
        assert_eq!(small_split_seeds(1000, 250), 4);
        assert_eq!(small_split_seeds(1000, 120), MAX_SMALL_SPLIT_SEEDS);
        assert_eq!(small_split_seeds(0, 120), 1, "0 turns it off");
        assert_eq!(small_split_seeds(1000, 0), 1);
        // 250 rows: four seeds at every rung, the last keeps its own count when larger.
        let p = plan(&TuneConfig::default(), 10, 10, 250, 1).unwrap();
        let seeds: Vec<Vec<u64>> = p.rungs.iter().map(|r| r.seeds.clone()).collect();
        assert_eq!(seeds, vec![vec![1001, 1002, 1003, 1004]; 3]);
        assert_eq!(p.epochs, 4 * (49 + 51 + 70), "the cost counts every seed");
        let p = plan(
            &TuneConfig {
                final_seeds: 6,
                ..TuneConfig::default()
            },
            10,
            10,
            250,
            1,
        )
        .unwrap();
        assert_eq!(p.rungs[0].seeds.len(), 4);
        assert_eq!(p.rungs[2].seeds.len(), 6);
        // The budget still binds: the grid is subsampled to fit.
        let p = plan(
            &TuneConfig {
                max_epochs: Some(300),
                ..TuneConfig::default()
            },
            10,
            10,
            120,
            1,
        )
        .unwrap();
        assert!(p.epochs <= 300 && p.subsampled_away > 0, "{}", p.epochs);
        assert!(
            p.rungs
                .iter()
                .all(|r| r.seeds.len() == MAX_SMALL_SPLIT_SEEDS)
        );
    }

    #[test]
    fn max_epochs_is_respected_by_a_seeded_subsample() {
        let config = TuneConfig {
            max_epochs: Some(120),
            ..TuneConfig::default()
        };
        let p = plan(&config, 10, 10, 1000, 1).unwrap();
        assert!(p.epochs <= 120, "{}", p.epochs);
        assert!(p.subsampled_away > 0);
        assert_eq!(p.points.len() + p.subsampled_away, 48);
        assert_eq!(
            plan(&config, 10, 10, 1000, 1).unwrap(),
            p,
            "same seed, same plan"
        );
        assert_ne!(plan(&config, 10, 10, 1000, 2).unwrap().points, p.points);
        let tiny = TuneConfig {
            max_epochs: Some(5),
            ..TuneConfig::default()
        };
        let msg = plan(&tiny, 10, 10, 1000, 1).unwrap_err().to_string();
        assert!(
            msg.contains("tune.max_epochs") && msg.contains('5'),
            "{msg}"
        );
    }

    #[test]
    fn bad_sections_name_the_field() {
        let check = |c: TuneConfig, field: &str| {
            let bad: BadField = &|f, v, r| Error::Report(format!("{f} = {v}: {r}"));
            let msg = c.validate(bad).unwrap_err().to_string();
            assert!(msg.contains(field), "{msg}");
        };
        let d = TuneConfig::default;
        check(
            TuneConfig {
                objectives: vec!["kd".into(), "fitnest".into()],
                ..d()
            },
            "tune.objectives[1]",
        );
        check(
            TuneConfig {
                objectives: vec!["ensemble".into()],
                ..d()
            },
            "tune.objectives[0]",
        );
        check(
            TuneConfig {
                temperatures: vec![0.0],
                ..d()
            },
            "tune.temperatures[0]",
        );
        check(
            TuneConfig {
                alphas: vec![0.5, 1.0],
                ..d()
            },
            "tune.alphas[1]",
        );
        check(TuneConfig { keep: 1, ..d() }, "tune.keep");
        check(
            TuneConfig {
                max_epochs: Some(0),
                ..d()
            },
            "tune.max_epochs",
        );
    }
}
