//! How much the teacher's soft labels carry, measured on the recorded store before any
//! student trains: at each candidate temperature, the mean top probability, the entropy and
//! the mass on the non-target classes ("dark knowledge", Hinton et al. 2015); the teacher's
//! accuracy on the training rows and the scale of its logits. A teacher whose soft labels are
//! near one-hot at the configured T gives plain KD nothing beyond the hard labels.

use serde::{Deserialize, Serialize};

/// The soft labels at one temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtTemperature {
    /// The temperature.
    pub temperature: f64,
    /// Mean over rows of the largest probability of `softmax(z / T)`.
    pub mean_top_probability: f64,
    /// Mean entropy, as a fraction of the largest possible (`ln C`).
    pub mean_entropy: f64,
    /// Mean probability on the classes other than the row's label.
    pub mean_non_target_mass: f64,
}

/// The teacher's soft labels on the training rows, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherDiagnostics {
    /// Rows measured.
    pub rows: usize,
    /// Top-1 accuracy of the recorded logits against the training labels.
    pub train_accuracy: f64,
    /// Mean over rows of the standard deviation of the logits.
    pub logit_scale: f64,
    /// One entry per temperature.
    pub temperatures: Vec<AtTemperature>,
    /// The temperature the experiment uses (`None`: chosen by the search).
    pub configured_temperature: Option<f64>,
    /// Set when the soft labels are near one-hot at the configured temperature (or, with the
    /// search, at every candidate temperature): what it means and what to try.
    pub warning: Option<String>,
}

/// Mean top probability above which soft labels count as near one-hot.
pub const ONE_HOT_TOP_PROBABILITY: f64 = 0.97;

/// Summarises `logits` (`rows × classes`, row-major) against `labels` at each of
/// `temperatures`; `configured` is the experiment's T (`None` when the search chooses it).
pub fn teacher_diagnostics(
    logits: &[f32],
    labels: &[crate::classifier::Label],
    classes: usize,
    temperatures: &[f64],
    configured: Option<f64>,
) -> TeacherDiagnostics {
    let rows = labels.len().min(logits.len() / classes.max(1));
    let mut hits = 0usize;
    let mut scale = 0f64;
    let mut temps: Vec<AtTemperature> = temperatures
        .iter()
        .map(|&t| AtTemperature {
            temperature: t,
            mean_top_probability: 0.0,
            mean_entropy: 0.0,
            mean_non_target_mass: 0.0,
        })
        .collect();
    let ln_c = (classes.max(2) as f64).ln();
    let mut p = vec![0f64; classes];
    for (row, &y) in logits.chunks_exact(classes).zip(labels).take(rows) {
        let z: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let argmax = z.iter().position(|&v| v == max).unwrap_or(0);
        hits += (argmax == y as usize) as usize;
        let mean = z.iter().sum::<f64>() / classes as f64;
        scale += (z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / classes as f64).sqrt();
        for at in &mut temps {
            let mut sum = 0.0;
            for (pk, zk) in p.iter_mut().zip(&z) {
                *pk = ((zk - max) / at.temperature).exp();
                sum += *pk;
            }
            let mut entropy = 0.0;
            let mut top = 0f64;
            for pk in p.iter_mut() {
                *pk /= sum;
                top = top.max(*pk);
                if *pk > 0.0 {
                    entropy -= *pk * pk.ln();
                }
            }
            at.mean_top_probability += top;
            at.mean_entropy += entropy / ln_c;
            at.mean_non_target_mass += 1.0 - p[y as usize];
        }
    }
    let n = rows.max(1) as f64;
    for at in &mut temps {
        at.mean_top_probability /= n;
        at.mean_entropy /= n;
        at.mean_non_target_mass /= n;
    }
    let one_hot = |at: &AtTemperature| at.mean_top_probability > ONE_HOT_TOP_PROBABILITY;
    let warning = match configured {
        Some(t) => temps
            .iter()
            .find(|at| at.temperature == t)
            .filter(|at| one_hot(at))
            .map(|at| {
                format!(
                    "the teacher's soft labels are near one-hot at T = {t} (mean top probability {:.3}, logit scale {:.1}): plain KD adds little beyond the hard labels; try objective = \"auto\", a higher temperature, or kd with logit_std = true",
                    at.mean_top_probability,
                    scale / n
                )
            }),
        None => (!temps.is_empty() && temps.iter().all(one_hot)).then(|| {
            format!(
                "the teacher's soft labels are near one-hot at every candidate temperature (mean top probability {:.3} at T = {}, logit scale {:.1}): only the standardised objectives (kd_std, dkd_std) can use them; add higher temperatures to [tune]",
                temps.last().map_or(0.0, |a| a.mean_top_probability),
                temps.last().map_or(0.0, |a| a.temperature),
                scale / n
            )
        }),
    };
    TeacherDiagnostics {
        rows,
        train_accuracy: hits as f64 / n,
        logit_scale: scale / n,
        temperatures: temps,
        configured_temperature: configured,
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confident_teacher_is_flagged_and_a_soft_one_is_not() {
        // Three classes, logits 30 apart: one-hot at T = 4 (e^{-7.5} off the top).
        let labels = [0u16, 1, 2, 0];
        let sharp: Vec<f32> = labels
            .iter()
            .flat_map(|&y| (0..3).map(move |k| if k == y { 30.0 } else { 0.0 }))
            .collect();
        let d = teacher_diagnostics(&sharp, &labels, 3, &[1.0, 4.0], Some(4.0));
        assert_eq!(d.train_accuracy, 1.0);
        assert!(d.temperatures[1].mean_top_probability > 0.99);
        let w = d.warning.expect("flagged");
        assert!(w.contains("T = 4") && w.contains("logit_std"), "{w}");
        // Logits 1 apart: soft at T = 4; by hand, top = 1 / (1 + 2e^{-1/4}) = 0.3911.
        let soft: Vec<f32> = sharp.iter().map(|v| v / 30.0).collect();
        let d = teacher_diagnostics(&soft, &labels, 3, &[4.0], Some(4.0));
        let at = &d.temperatures[0];
        assert!((at.mean_top_probability - 0.391_1).abs() < 1e-3, "{at:?}");
        assert!((at.mean_non_target_mass - (1.0 - 0.391_1)).abs() < 1e-3);
        assert!(at.mean_entropy > 0.95 && at.mean_entropy < 1.0);
        assert!(d.warning.is_none());
        // The search: flagged only when every candidate T is one-hot.
        let d = teacher_diagnostics(&sharp, &labels, 3, &[1.0, 4.0], None);
        assert!(d.warning.is_some());
        let d = teacher_diagnostics(&sharp, &labels, 3, &[1.0, 30.0], None);
        assert!(d.warning.is_none());
        // Logit scale: std of (30, 0, 0) = 14.14.
        assert!((d.logit_scale - 14.142).abs() < 1e-2);
    }
}
