//! The comparison report's data and its renderers: JSON (for programs), Markdown and
//! self-contained HTML with charts (for people). The measuring is a pipeline step
//! ([`crate::pipeline::compare`]).

pub(crate) mod charts;
mod html;
mod markdown;
mod verdict;

pub use verdict::{
    CLEAR_TEACHER_MARGIN, DifferenceNoise, RowOutcomes, SearchCheck, Verdict, row_noise, verdict,
};

pub(crate) use html::{PAGE_CSS, markdown_to_html_body};
pub use markdown::{discriminator_table, summary_table, to_markdown};

use crate::error::Result;
use crate::eval::{QualityMetrics, SpeedMetrics};
use crate::fsutil;
use crate::train::EpochRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One model's numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelReport {
    /// Architecture, e.g. `cnn [32, 32]-[64, 64] fc[256]`.
    pub architecture: String,
    /// Seed the model was trained with.
    pub seed: u64,
    /// Trainable parameters.
    pub params: usize,
    /// Size of the saved safetensors file.
    pub file_bytes: u64,
    /// Quality on the held-out set.
    #[serde(flatten)]
    pub quality: QualityMetrics,
    /// Speed.
    #[serde(flatten)]
    pub speed: SpeedMetrics,
    /// Monitor accuracy after the last epoch.
    pub last_epoch_accuracy: f64,
    /// Best monitor accuracy over the epochs.
    pub best_epoch_accuracy: f64,
    /// Epoch of the best monitor accuracy.
    pub best_epoch: usize,
    /// Mean training seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Per-epoch records.
    pub history: Vec<EpochRecord>,
    /// Temperature scaling fitted on the validation split, and what it does on the test set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationReport>,
}

/// A model's temperature scaling (its card's, fitted on the validation split) checked on the
/// test set. The uncalibrated test ECE is the model's `ece`; accuracy is unchanged by scaling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// The fit and its numbers on the validation split.
    pub fit: crate::vocab::Calibration,
    /// Whether the model's card holds it (what `distill predict` applies); `false` for a model
    /// saved without one, fitted by the report the same way.
    #[serde(default)]
    pub in_card: bool,
    /// Test-set ECE of `softmax(z / T)`.
    pub test_ece_calibrated: f64,
    /// Test-set mean negative log-likelihood of `softmax(z)`.
    pub test_nll: f64,
    /// … and of `softmax(z / T)`.
    pub test_nll_calibrated: f64,
    /// The reliability diagram of `softmax(z / T)` on the test set.
    #[serde(default)]
    pub reliability_calibrated: Vec<crate::eval::ReliabilityBin>,
}

impl CalibrationReport {
    /// The fit (`in_card`: read from the model's card) checked on the test `logits` (`labels.len()` rows of `classes`), with `bins`
    /// ECE bins.
    pub fn check(
        fit: crate::vocab::Calibration,
        in_card: bool,
        logits: &[f32],
        labels: &[crate::classifier::Label],
        classes: usize,
        bins: usize,
    ) -> Self {
        use crate::eval::calibration::{mean_nll, scaled};
        let t = fit.temperature;
        let at_t = scaled(logits, t);
        CalibrationReport {
            test_ece_calibrated: crate::eval::expected_calibration_error(
                &at_t, labels, classes, bins,
            ),
            reliability_calibrated: crate::eval::reliability(&at_t, labels, classes, bins),
            test_nll: mean_nll(logits, labels, classes, 1.0),
            test_nll_calibrated: mean_nll(logits, labels, classes, t),
            fit,
            in_card,
        }
    }
}

/// Mean and sample standard deviation over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one value.
    pub std: f64,
    /// The values, in seed order.
    pub values: Vec<f64>,
}

impl Stat {
    /// Summarises `values`.
    pub fn of(values: Vec<f64>) -> Stat {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Stat { mean, std, values }
    }

    /// `mean ± std` in percent.
    pub fn pct(&self) -> String {
        format!("{:.2} ± {:.2}", 100.0 * self.mean, 100.0 * self.std)
    }
}

/// A student's results over its seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedSummary {
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Test accuracy of the last-epoch model.
    pub accuracy: Stat,
    /// Monitor accuracy at the last epoch.
    pub last_epoch_accuracy: Stat,
    /// Best monitor accuracy over the epochs.
    pub best_epoch_accuracy: Stat,
    /// Macro-F1 on the test set.
    pub macro_f1: Stat,
    /// Top-1 agreement with the teacher.
    pub agreement_with_teacher: Stat,
}

/// Wall-clock seconds of the steps of a run (absent when the report was rebuilt by `compare`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Teacher training.
    pub teacher_train_s: f64,
    /// Soft-label recording.
    pub record_s: f64,
    /// All student runs.
    pub students_train_s: f64,
    /// The search behind `objective = "auto"`.
    #[serde(default)]
    pub tune_s: f64,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// distill's version.
    pub distill_version: String,
    /// The experiment's seed.
    pub seed: u64,
    /// Seeds of the student runs.
    pub student_seeds: Vec<u64>,
    /// Fingerprint of the training set.
    pub dataset_fingerprint: String,
    /// Fingerprint of the evaluation set.
    pub eval_fingerprint: String,
    /// Preprocessing of every model's input.
    pub preprocessing: String,
    /// Which set the numbers are measured on.
    pub eval_set: String,
    /// Class names.
    pub class_names: Vec<String>,
    /// `teacher`, `student_kd` and `student_baseline` (students: the first seed's run).
    pub models: BTreeMap<String, ModelReport>,
    /// Students over all seeds.
    pub seed_summary: BTreeMap<String, SeedSummary>,
    /// Soft-label store size.
    pub soft_labels: Option<StoreInfo>,
    /// Step timings.
    pub timings: Option<Timings>,
    /// The objective of `student_kd`, described.
    pub objective: String,
    /// The resolved experiment (image or text).
    pub config: serde_json::Value,
    /// The set the per-epoch accuracies, the best epoch and any automatic choice were measured
    /// on (the validation split, or the test set when there is none).
    #[serde(default)]
    pub selection_set: String,
    /// The conclusion: which student to ship, and why.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// How `objective = "auto"` chose the KD student's objective: the search's summary
    /// (`tune.json`), absent when the objective was set by hand.
    #[serde(default)]
    pub selection: Option<Selection>,
    /// How much the teacher's recorded soft labels carry.
    #[serde(default)]
    pub teacher_diagnostics: Option<crate::soft_labels::TeacherDiagnostics>,
    /// What reading the data left out or changed (e.g. unreadable images skipped), one line
    /// each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_notes: Vec<String>,
}

/// The automatic choice's evidence, as the search wrote it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selection {
    /// The search's summary (the contents of `tune/tune.json`).
    pub summary: serde_json::Value,
    /// The same, for people.
    pub markdown: String,
}

/// Size of the soft-label store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreInfo {
    /// Bytes of all shard files.
    pub bytes: u64,
    /// Bytes per training sample.
    pub bytes_per_sample: f64,
    /// Shard files.
    pub shards: usize,
}

/// The size of a store of soft labels for `samples` training samples.
pub fn store_info(store: &crate::soft_labels::SoftLabels, samples: usize) -> StoreInfo {
    StoreInfo {
        bytes: store.bytes,
        bytes_per_sample: store.bytes as f64 / samples.max(1) as f64,
        shards: store.shards,
    }
}

/// A model's report from its measurements; the epoch statistics come from its `history`.
pub fn model_report(
    architecture: String,
    seed: u64,
    params: usize,
    file_bytes: u64,
    quality: QualityMetrics,
    speed: SpeedMetrics,
    history: Vec<EpochRecord>,
) -> ModelReport {
    let (best_epoch, best) = crate::train::best_epoch(&history);
    let spe = history.iter().map(|r| r.seconds).sum::<f64>() / history.len().max(1) as f64;
    ModelReport {
        architecture,
        seed,
        params,
        file_bytes,
        quality,
        speed,
        last_epoch_accuracy: history.last().map_or(0.0, |r| r.monitor_accuracy),
        best_epoch_accuracy: best,
        best_epoch,
        seconds_per_epoch: spe,
        history,
        calibration: None,
    }
}

/// Writes `report.json`, `report.md`, `report.html` and the SVG charts into `out`.
pub fn write_report(report: &Report, out: &std::path::Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).expect("report serialises");
    fsutil::write_atomic(&out.join("report.json"), &json)?;
    let mut charts = vec![
        ("training_curves.svg", charts::training_curves(report)?),
        (
            "accuracy_vs_latency.svg",
            charts::accuracy_vs_latency(report)?,
        ),
        (
            "reliability.svg",
            charts::reliability_diagram(report, false)?,
        ),
    ];
    if report.models.values().any(|m| m.calibration.is_some()) {
        charts.push((
            "reliability_calibrated.svg",
            charts::reliability_diagram(report, true)?,
        ));
    }
    for (name, svg) in &charts {
        fsutil::write_atomic(&out.join(name), svg.as_bytes())?;
    }
    fsutil::write_atomic(&out.join("report.md"), to_markdown(report).as_bytes())?;
    let inline: Vec<(&str, &str)> = charts.iter().map(|(n, s)| (*n, s.as_str())).collect();
    fsutil::write_atomic(
        &out.join("report.html"),
        html::to_html(report, &inline).as_bytes(),
    )?;
    Ok(())
}
