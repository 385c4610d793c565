//! SVG charts drawn with plotters: training curves, accuracy against latency (log scale) and
//! the reliability diagram.

use super::Report;
use crate::error::{Error, Result};
use plotters::prelude::*;

/// A plotters error as a report error.
pub(crate) fn err(e: impl std::fmt::Display) -> Error {
    Error::Report(format!("chart: {e}"))
}

/// Line colours, in order.
pub(crate) const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

/// Monitor accuracy per epoch, one line per model.
pub fn training_curves(r: &Report) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let max_epochs = r
            .models
            .values()
            .map(|m| m.history.len())
            .max()
            .unwrap_or(1)
            .max(2);
        let accs = r
            .models
            .values()
            .flat_map(|m| m.history.iter().map(|h| h.monitor_accuracy * 100.0));
        let lo = accs.fold(100.0f64, f64::min).min(99.0);
        let mut chart = ChartBuilder::on(&root)
            .caption("monitor accuracy per epoch", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(1f64..max_epochs as f64, (lo - 1.0).max(0.0)..100f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(max_epochs.min(20))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("epoch")
            .y_desc("accuracy (%)")
            .draw()
            .map_err(err)?;
        for (i, (name, m)) in r.models.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = m
                .history
                .iter()
                .map(|h| (h.epoch as f64, 100.0 * h.monitor_accuracy))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Test accuracy against batch-1 p50 latency, one point per model.
pub fn accuracy_vs_latency(r: &Report) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let lat: Vec<f64> = r
            .models
            .values()
            .map(|m| m.speed.latency_ms_b1_p50)
            .collect();
        let acc: Vec<f64> = r
            .models
            .values()
            .map(|m| 100.0 * m.quality.accuracy)
            .collect();
        let lmin = lat.iter().cloned().fold(f64::INFINITY, f64::min).max(1e-4);
        let lmax = lat.iter().cloned().fold(0.0, f64::max).max(lmin);
        // A decade of room on each side on the log axis, so that labels fit.
        let (lo, hi) = (lmin / 4.0, lmax * 4.0);
        let (amin, amax) = (
            acc.iter().cloned().fold(100.0, f64::min) - 1.0,
            acc.iter().cloned().fold(0.0, f64::max) + 1.0,
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "accuracy against batch-1 latency (p50, log scale)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
                amin.max(0.0)..amax.min(100.5),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|v| tick_label(*v))
            .x_desc("latency (ms)")
            .y_desc("test accuracy (%)")
            .draw()
            .map_err(err)?;
        for (i, (name, m)) in r.models.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let p = (m.speed.latency_ms_b1_p50, 100.0 * m.quality.accuracy);
            chart
                .draw_series(std::iter::once(Circle::new(p, 6, color.filled())))
                .map_err(err)?;
            // Labels of points in the right half go to their left, so that they stay inside.
            let label = format!("{name} ({} params)", m.params);
            let anchor_right = p.0 > (lo * hi).sqrt();
            let style = TextStyle::from(("sans-serif", 13).into_font()).pos(
                plotters::style::text_anchor::Pos::new(
                    if anchor_right {
                        plotters::style::text_anchor::HPos::Right
                    } else {
                        plotters::style::text_anchor::HPos::Left
                    },
                    plotters::style::text_anchor::VPos::Bottom,
                ),
            );
            chart
                .draw_series(std::iter::once(Text::new(label, p, style)))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Ticks for a log axis over `lo..hi`: 1, 2 and 5 times each power of ten inside it, or only
/// the powers of ten when that would be more than 10 ticks. plotters' own log ticks fill each
/// decade with linearly spaced ones, which crowd together at its top and whose labels
/// (`0.30000000000000004`) overlap.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let decades = lo.log10().floor() as i32..=hi.log10().ceil() as i32;
    let pick = |steps: &[f64]| -> Vec<f64> {
        decades
            .clone()
            .flat_map(|d| steps.iter().map(move |m| m * 10f64.powi(d)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let ticks = pick(&[1.0, 2.0, 5.0]);
    if ticks.len() > 10 {
        pick(&[1.0])
    } else {
        ticks
    }
}

/// A tick's label: its value with as many decimals as its leading digit needs, and no float
/// noise (0.05, 0.2, 1, 20).
pub(crate) fn tick_label(v: f64) -> String {
    let decimals = if v > 0.0 && v < 1.0 {
        (-v.log10().floor()) as usize
    } else {
        0
    };
    format!("{v:.decimals$}")
}

/// The reliability diagram: accuracy against mean confidence per confidence bin, one line per
/// model, and the diagonal of perfect calibration; with `calibrated`, of each model's
/// probabilities at its fitted temperature (models without one are left out).
pub fn reliability_diagram(r: &Report, calibrated: bool) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                match calibrated {
                    false => "reliability: accuracy against confidence",
                    true => "reliability at each model's fitted temperature T",
                },
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("top-1 confidence")
            .y_desc("accuracy")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                BLACK.mix(0.4).stroke_width(1),
            ))
            .map_err(err)?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.4)));
        for (i, (name, m)) in r.models.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let (bins, label) = match (calibrated, &m.calibration) {
                (false, _) => (
                    &m.quality.reliability,
                    format!("{name} (ECE {:.3})", m.quality.ece),
                ),
                (true, Some(c)) => (
                    &c.reliability_calibrated,
                    format!(
                        "{name} at T {:.2}{} (ECE {:.3})",
                        c.fit.temperature,
                        if c.fit.applied { "" } else { ", not applied" },
                        c.test_ece_calibrated
                    ),
                ),
                (true, None) => continue,
            };
            let pts: Vec<(f64, f64)> = bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| (b.confidence, b.accuracy))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_one_two_five_per_decade_with_clean_labels() {
        // The Fashion-MNIST report's range (p50 latencies 0.107 to 0.556 ms, a factor 4 of room).
        let ticks = log_ticks(0.107 / 4.0, 0.556 * 4.0);
        let labels: Vec<String> = ticks.iter().map(|&v| tick_label(v)).collect();
        assert_eq!(labels, ["0.05", "0.1", "0.2", "0.5", "1", "2"]);
        // Many decades: powers of ten only, at most one label a decade.
        let wide: Vec<String> = log_ticks(1e-4, 1e3)
            .iter()
            .map(|&v| tick_label(v))
            .collect();
        assert_eq!(
            wide,
            ["0.0001", "0.001", "0.01", "0.1", "1", "10", "100", "1000"]
        );
        // Every tick inside the range, increasing; nothing for an empty or bad range.
        assert!(ticks.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ticks
                .iter()
                .all(|v| (0.107 / 4.0..=0.556 * 4.0).contains(v))
        );
        assert!(log_ticks(1.0, 1.0).is_empty() && log_ticks(0.0, 1.0).is_empty());
        assert!(log_ticks(f64::NAN, 1.0).is_empty());
    }
}
