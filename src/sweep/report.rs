//! The sweep report: mean ± std per grid point, the best point, and accuracy against T.

use super::{BASELINE, Point, RunResult, Sweep};
use crate::error::Result;
use crate::fsutil;
use crate::report::{SeedSummary, Stat};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// One grid point over its seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointSummary {
    /// The point.
    pub point: Point,
    /// The objective, in words.
    pub objective: String,
    /// Whether the objective depends on T (the relational terms do not).
    pub uses_temperature: bool,
    /// Seeds, and mean ± std of the accuracies, macro-F1 and agreement over them.
    #[serde(flatten)]
    pub stats: SeedSummary,
    /// Expected calibration error.
    pub ece: Stat,
    /// Training seconds per epoch.
    pub seconds_per_epoch: Stat,
}

/// The whole sweep, for programs (`sweep.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepReport {
    /// distill's version.
    pub distill_version: String,
    /// The experiment's seed (teacher, split).
    pub seed: u64,
    /// Student seeds of every grid point.
    pub seeds: Vec<u64>,
    /// Fingerprint of the training data.
    pub dataset_fingerprint: String,
    /// What the accuracies are measured on.
    pub eval_set: String,
    /// What the per-epoch (best-epoch) numbers are measured on.
    pub monitor_set: String,
    /// The teacher's weights file.
    pub teacher: String,
    /// The teacher's test accuracy.
    pub teacher_accuracy: f64,
    /// Grid points, the no-KD baseline first when there is one.
    pub points: Vec<PointSummary>,
    /// The KD point with the highest mean last-epoch accuracy on `monitor_set` (the validation
    /// split when there is one: the test set does not choose it).
    pub best: Option<Point>,
    /// Wall-clock seconds of this invocation (resumed runs excluded).
    pub seconds: f64,
    /// The sweep file, paths resolved.
    pub sweep: super::SweepConfig,
    /// Epochs of every student run.
    #[serde(default)]
    pub student_epochs: usize,
    /// The experiment file, resolved (any kind of data).
    pub experiment: serde_json::Value,
    /// Every run.
    pub runs: Vec<RunResult>,
}

/// What the sweep report says of the data and the experiment.
pub struct SweepData {
    /// The experiment's seed.
    pub seed: u64,
    /// Fingerprint of the training data.
    pub dataset_fingerprint: String,
    /// What the accuracies are measured on.
    pub eval_set: String,
    /// What the per-epoch numbers are measured on.
    pub monitor_set: String,
    /// Epochs of every student run.
    pub student_epochs: usize,
    /// The resolved experiment.
    pub experiment: serde_json::Value,
}

/// Groups the runs by point.
pub(super) fn summarise(
    sweep: &Sweep,
    data: SweepData,
    teacher_accuracy: f64,
    teacher: &Path,
    runs: Vec<RunResult>,
    seconds: f64,
) -> SweepReport {
    let mut order: Vec<Point> = Vec::new();
    for r in &runs {
        if !order.contains(&r.point) {
            order.push(r.point.clone());
        }
    }
    order.sort_by_key(|p| p.method != BASELINE);
    let points: Vec<PointSummary> = order
        .into_iter()
        .map(|point| {
            let rs: Vec<&RunResult> = runs.iter().filter(|r| r.point == point).collect();
            let stat = |f: &dyn Fn(&RunResult) -> f64| Stat::of(rs.iter().map(|r| f(r)).collect());
            PointSummary {
                objective: if point.method == BASELINE {
                    "CE on hard labels only".into()
                } else {
                    rs[0].objective.describe()
                },
                uses_temperature: rs[0]
                    .objective
                    .terms
                    .iter()
                    .any(crate::objective::TermConfig::uses_temperature),
                stats: SeedSummary {
                    seeds: rs.iter().map(|r| r.seed).collect(),
                    accuracy: stat(&|r| r.accuracy),
                    last_epoch_accuracy: stat(&|r| r.last_epoch_accuracy),
                    best_epoch_accuracy: stat(&|r| r.best_epoch_accuracy),
                    macro_f1: stat(&|r| r.macro_f1),
                    agreement_with_teacher: stat(&|r| r.agreement_with_teacher),
                },
                ece: stat(&|r| r.ece),
                seconds_per_epoch: stat(&|r| r.seconds_per_epoch),
                point,
            }
        })
        .collect();
    let best = points
        .iter()
        .filter(|p| p.point.method != BASELINE)
        .max_by(|a, b| {
            a.stats
                .last_epoch_accuracy
                .mean
                .total_cmp(&b.stats.last_epoch_accuracy.mean)
        })
        .map(|p| p.point.clone());
    SweepReport {
        distill_version: env!("CARGO_PKG_VERSION").to_string(),
        seed: data.seed,
        seeds: sweep.seeds.clone(),
        dataset_fingerprint: data.dataset_fingerprint,
        eval_set: data.eval_set,
        monitor_set: data.monitor_set,
        teacher: teacher.display().to_string(),
        teacher_accuracy,
        points,
        best,
        seconds,
        sweep: sweep.config.clone(),
        student_epochs: data.student_epochs,
        experiment: data.experiment,
        runs,
    }
}

/// The grid as a Markdown table (also printed to the terminal).
pub fn markdown_table(r: &SweepReport) -> String {
    let mut s = String::from(
        "| method | objective | T | α | selection acc | test accuracy | best-epoch acc | macro-F1 | agreement with teacher | s/epoch |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in &r.points {
        let kd = p.point.method != BASELINE;
        let mark = if r.best.as_ref() == Some(&p.point) {
            " **(best)**"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
            p.point.method,
            mark,
            p.objective,
            if kd && p.uses_temperature {
                p.point.temperature.to_string()
            } else {
                "–".into()
            },
            if kd {
                p.point.alpha.to_string()
            } else {
                "1".into()
            },
            p.stats.last_epoch_accuracy.pct(),
            p.stats.accuracy.pct(),
            p.stats.best_epoch_accuracy.pct(),
            p.stats.macro_f1.pct(),
            p.stats.agreement_with_teacher.pct(),
            p.seconds_per_epoch.mean,
        );
    }
    s
}

fn to_markdown(r: &SweepReport, has_plot: bool) -> String {
    let mut s = String::from("# distill sweep\n\n");
    let _ = writeln!(
        s,
        "distill {} · experiment seed {} · student seeds {:?} · {} epochs per student · teacher `{}` ({:.2}% test accuracy) · data fingerprint `{}`\n",
        r.distill_version,
        r.seed,
        r.seeds,
        r.student_epochs,
        r.teacher,
        100.0 * r.teacher_accuracy,
        r.dataset_fingerprint
    );
    let _ = writeln!(
        s,
        "Mean ± sample std over the seeds, in %. Selection accuracy is the last-epoch model's accuracy on the {}, which chooses the best point; test accuracy and macro-F1 are those of the same model on the {}; best-epoch accuracy is the best per-epoch accuracy on the {}. Agreement is top-1 agreement with the teacher on the test set. s/epoch is the mean training time of an epoch.\n",
        r.monitor_set, r.eval_set, r.monitor_set
    );
    s.push_str(&markdown_table(r));
    if let Some(b) = &r.best {
        let _ = writeln!(
            s,
            "\nBest point: `{}`{}, α = {} (the highest mean selection accuracy, on the {}).",
            b.method,
            if r.points.iter().any(|p| &p.point == b && p.uses_temperature) {
                format!(" at T = {}", b.temperature)
            } else {
                String::new()
            },
            b.alpha,
            r.monitor_set
        );
    }
    if has_plot {
        s.push_str("\n![accuracy against temperature](sweep_temperature.svg)\n");
    }
    let runs: Vec<(String, &[crate::train::EpochRecord])> = r
        .runs
        .iter()
        .map(|run| (run.point.run_name(run.seed), &run.history[..]))
        .collect();
    if let Some(table) = crate::report::discriminator_table(&runs) {
        s.push_str("\n## Adversarial discriminator\n\nHow often the discriminator told the teacher's logits from the student's, per epoch (50% = fooled, 100% = never fooled).\n\n");
        s.push_str(&table);
    }
    let _ = writeln!(s, "\nThis invocation took {:.0} s.", r.seconds);
    s
}

use crate::report::charts::{COLORS, err};

/// Test accuracy (mean ± std) against T on a log axis, one line per method and α; the no-KD
/// baseline as a dashed line. `None` when the grid has fewer than two temperatures.
pub fn temperature_chart(r: &SweepReport) -> Result<Option<String>> {
    let kd: Vec<&PointSummary> = r
        .points
        .iter()
        .filter(|p| p.point.method != BASELINE && p.uses_temperature)
        .collect();
    let mut temps: Vec<f64> = kd.iter().map(|p| p.point.temperature).collect();
    temps.sort_by(f64::total_cmp);
    temps.dedup();
    if temps.len() < 2 {
        return Ok(None);
    }
    let mut lines: Vec<(String, f64)> = Vec::new();
    for p in &kd {
        let key = (p.point.method.clone(), p.point.alpha);
        if !lines.contains(&key) {
            lines.push(key);
        }
    }
    let baseline = r.points.iter().find(|p| p.point.method == BASELINE);
    let values = r.points.iter().flat_map(|p| {
        [
            p.stats.accuracy.mean - p.stats.accuracy.std,
            p.stats.accuracy.mean + p.stats.accuracy.std,
        ]
    });
    let (lo, hi) = values.fold((1.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = (100.0 * lo - 0.3, 100.0 * hi + 0.3);
    let (tmin, tmax) = (temps[0] / 1.2, temps[temps.len() - 1] * 1.2);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "student test accuracy against temperature (mean ± std over seeds)",
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d((tmin..tmax).log_scale(), lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("temperature T (log scale)")
            .y_desc("test accuracy (%)")
            .x_label_formatter(&|x| {
                format!("{x:.3}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            })
            .draw()
            .map_err(err)?;
        for (i, (method, alpha)) in lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let mut pts: Vec<&&PointSummary> = kd
                .iter()
                .filter(|p| &p.point.method == method && p.point.alpha == *alpha)
                .collect();
            pts.sort_by(|a, b| a.point.temperature.total_cmp(&b.point.temperature));
            let xy: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.point.temperature, 100.0 * p.stats.accuracy.mean))
                .collect();
            let label = if lines.iter().any(|(m, a)| m == method && a != alpha) {
                format!("{method}, α = {alpha}")
            } else {
                method.clone()
            };
            chart
                .draw_series(LineSeries::new(xy.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|p| {
                    let (m, s) = (100.0 * p.stats.accuracy.mean, 100.0 * p.stats.accuracy.std);
                    ErrorBar::new_vertical(p.point.temperature, m - s, m, m + s, color.filled(), 6)
                }))
                .map_err(err)?;
        }
        if let Some(b) = baseline {
            let y = 100.0 * b.stats.accuracy.mean;
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(tmin, y), (tmax, y)],
                    6,
                    4,
                    grey.stroke_width(2),
                ))
                .map_err(err)?
                .label(format!("no KD ({:.2}%)", y))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], grey.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// Writes `sweep.json`, `sweep.md`, `sweep.html` and (with ≥ 2 temperatures)
/// `sweep_temperature.svg` into `out`.
pub fn write_sweep_report(r: &SweepReport, out: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(r).expect("sweep report serialises");
    fsutil::write_atomic(&out.join("sweep.json"), &json)?;
    let chart = temperature_chart(r)?;
    if let Some(svg) = &chart {
        fsutil::write_atomic(&out.join("sweep_temperature.svg"), svg.as_bytes())?;
    }
    let md = to_markdown(r, chart.is_some());
    fsutil::write_atomic(&out.join("sweep.md"), md.as_bytes())?;
    let body = crate::report::markdown_to_html_body(
        &md.replace("![accuracy against temperature](sweep_temperature.svg)", ""),
    );
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>distill sweep</title>\n<style>{}</style></head><body>\n{}\n{}\n</body></html>\n",
        crate::report::PAGE_CSS,
        body,
        chart.unwrap_or_default()
    );
    fsutil::write_atomic(&out.join("sweep.html"), html.as_bytes())
}
