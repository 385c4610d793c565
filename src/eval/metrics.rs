//! Classification metrics computed from logits: accuracy, top-k, per-class precision / recall /
//! F1, confusion matrix, agreement and KL to the teacher, and expected calibration error.

use serde::{Deserialize, Serialize};

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassMetrics {
    /// Class name.
    pub name: String,
    /// Of the samples predicted as this class, the fraction that are.
    pub precision: f64,
    /// Of the samples of this class, the fraction predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Samples of this class.
    pub support: usize,
}

/// Quality metrics of one model on one labelled set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QualityMetrics {
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Top-5 accuracy (only when there are more than 5 classes).
    pub top5_accuracy: Option<f64>,
    /// Unweighted mean of the per-class precisions.
    pub macro_precision: f64,
    /// Unweighted mean of the per-class recalls.
    pub macro_recall: f64,
    /// Unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// Per-class numbers.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Expected calibration error (equal-width confidence bins).
    pub ece: f64,
    /// The reliability diagram behind the ECE.
    #[serde(default)]
    pub reliability: Vec<ReliabilityBin>,
    /// Fraction of samples whose top-1 class equals the teacher's (1 for the teacher).
    pub agreement_with_teacher: Option<f64>,
    /// Mean KL(teacher ‖ model) of the softmax outputs at T = 1.
    pub kl_to_teacher: Option<f64>,
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
        .0
}

fn softmax(row: &[f32]) -> Vec<f64> {
    let m = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
    let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Top-1 accuracy of `logits` (`n × classes`, row-major) against `labels`.
pub fn accuracy_of(logits: &[f32], labels: &[crate::classifier::Label], classes: usize) -> f64 {
    let hits = hits_of(logits, labels, classes)
        .iter()
        .filter(|&&h| h)
        .count();
    hits as f64 / labels.len().max(1) as f64
}

/// Whether each row's top-1 class (of `logits`, `n × classes`, row-major) is its label.
pub fn hits_of(logits: &[f32], labels: &[crate::classifier::Label], classes: usize) -> Vec<bool> {
    logits
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, y)| argmax(row) == *y as usize)
        .collect()
}

/// One bin of a reliability diagram: the samples whose top-1 confidence falls in
/// `(lower, upper]`, their mean confidence and their accuracy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReliabilityBin {
    /// Lower edge of the bin.
    pub lower: f64,
    /// Upper edge of the bin.
    pub upper: f64,
    /// Samples in the bin.
    pub count: usize,
    /// Their mean top-1 confidence (0 when empty).
    pub confidence: f64,
    /// Their top-1 accuracy (0 when empty).
    pub accuracy: f64,
}

/// The reliability diagram of `logits` against `labels`: `bins` equal-width bins of the
/// top-1 confidence (Guo et al. 2017).
pub fn reliability(
    logits: &[f32],
    labels: &[crate::classifier::Label],
    classes: usize,
    bins: usize,
) -> Vec<ReliabilityBin> {
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut conf = vec![0f64; bins];
    let mut hits = vec![0f64; bins];
    for (row, &y) in logits.chunks_exact(classes).zip(labels) {
        let p = softmax(row);
        let k = argmax(row);
        let c = p[k];
        let b = ((c * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        count[b] += 1;
        conf[b] += c;
        hits[b] += (k == y as usize) as u8 as f64;
    }
    (0..bins)
        .map(|b| {
            let n = count[b].max(1) as f64;
            ReliabilityBin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: count[b],
                confidence: conf[b] / n,
                accuracy: hits[b] / n,
            }
        })
        .collect()
}

/// Expected calibration error: `Σ_b (|B_b| / n) · |acc(B_b) − conf(B_b)|` over `bins`
/// equal-width bins of the top-1 confidence (Guo et al. 2017).
pub fn expected_calibration_error(
    logits: &[f32],
    labels: &[crate::classifier::Label],
    classes: usize,
    bins: usize,
) -> f64 {
    ece_of(&reliability(logits, labels, classes, bins), labels.len())
}

fn ece_of(bins: &[ReliabilityBin], n: usize) -> f64 {
    bins.iter()
        .map(|b| b.count as f64 * (b.accuracy - b.confidence).abs() / n.max(1) as f64)
        .sum()
}

/// All quality metrics of `logits` against `labels`; with `teacher` logits, also agreement and
/// KL to the teacher.
pub fn quality(
    logits: &[f32],
    labels: &[crate::classifier::Label],
    class_names: &[String],
    teacher: Option<&[f32]>,
    ece_bins: usize,
) -> QualityMetrics {
    let c = class_names.len();
    let n = labels.len();
    let mut confusion = vec![vec![0usize; c]; c];
    let mut top5 = 0usize;
    for (row, &y) in logits.chunks_exact(c).zip(labels) {
        confusion[y as usize][argmax(row)] += 1;
        if c > 5 {
            let target = row[y as usize];
            let above = row.iter().filter(|&&v| v > target).count();
            top5 += (above < 5) as usize;
        }
    }
    let per_class: Vec<ClassMetrics> = (0..c)
        .map(|k| {
            let tp = confusion[k][k] as f64;
            let predicted: usize = (0..c).map(|t| confusion[t][k]).sum();
            let support: usize = confusion[k].iter().sum();
            let precision = if predicted > 0 {
                tp / predicted as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                name: class_names[k].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let mean = |f: fn(&ClassMetrics) -> f64| per_class.iter().map(f).sum::<f64>() / c as f64;
    let (agreement, kl) = match teacher {
        Some(t) => {
            let mut agree = 0usize;
            let mut kl = 0f64;
            for (row, trow) in logits.chunks_exact(c).zip(t.chunks_exact(c)) {
                agree += (argmax(row) == argmax(trow)) as usize;
                let (p, q) = (softmax(trow), softmax(row));
                kl += p
                    .iter()
                    .zip(&q)
                    .filter(|(pi, _)| **pi > 0.0)
                    .map(|(pi, qi)| pi * (pi / qi.max(1e-300)).ln())
                    .sum::<f64>();
            }
            (
                Some(agree as f64 / n.max(1) as f64),
                Some(kl / n.max(1) as f64),
            )
        }
        None => (None, None),
    };
    let bins = reliability(logits, labels, c, ece_bins);
    QualityMetrics {
        accuracy: accuracy_of(logits, labels, c),
        top5_accuracy: (c > 5).then(|| top5 as f64 / n.max(1) as f64),
        macro_precision: mean(|m| m.precision),
        macro_recall: mean(|m| m.recall),
        macro_f1: mean(|m| m.f1),
        per_class,
        confusion,
        ece: ece_of(&bins, n),
        reliability: bins,
        agreement_with_teacher: agreement,
        kl_to_teacher: kl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: usize) -> Vec<String> {
        (0..c).map(|i| i.to_string()).collect()
    }

    #[test]
    fn hand_computed_precision_recall_f1() {
        // 4 samples, 2 classes: labels 0,0,1,1; predictions 0,1,1,1.
        let logits = [2.0, 0.0, 0.0, 2.0, 0.0, 2.0, 0.0, 2.0];
        let m = quality(&logits, &[0, 0, 1, 1], &names(2), None, 15);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.confusion, vec![vec![1, 1], vec![0, 2]]);
        assert_eq!(m.per_class[0].precision, 1.0);
        assert_eq!(m.per_class[0].recall, 0.5);
        assert!((m.per_class[0].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.per_class[1].precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.per_class[1].recall, 1.0);
        assert!((m.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
        assert!(m.top5_accuracy.is_none());
    }

    #[test]
    fn agreement_and_kl_with_self_are_perfect() {
        let logits = [1.0, 3.0, -1.0, 0.5, 0.2, 0.1];
        let m = quality(&logits, &[1, 0], &names(3), Some(&logits), 15);
        assert_eq!(m.agreement_with_teacher, Some(1.0));
        assert!(m.kl_to_teacher.unwrap().abs() < 1e-12);
    }

    #[test]
    fn ece_by_hand() {
        // Confidence 0.5 (logits equal) on two samples, one right: bin accuracy 0.5, conf 0.5 -> 0.
        assert!(expected_calibration_error(&[0.0, 0.0, 0.0, 0.0], &[0, 1], 2, 15).abs() < 1e-12);
        // One sample, confident (p = e^4 / (1 + e^4) ≈ 0.982) and wrong: ECE = 0.982.
        let p = 4f64.exp() / (1.0 + 4f64.exp());
        assert!((expected_calibration_error(&[4.0, 0.0], &[1], 2, 15) - p).abs() < 1e-9);
    }

    #[test]
    fn top5_counts_label_within_five_highest() {
        let row: Vec<f32> = (0..10).map(|v| v as f32).collect(); // class 9 highest
        let m = quality(&row, &[5], &names(10), None, 15); // 9,8,7,6,5 -> in top 5
        assert_eq!(m.top5_accuracy, Some(1.0));
        let m = quality(&row, &[4], &names(10), None, 15);
        assert_eq!(m.top5_accuracy, Some(0.0));
    }
}
