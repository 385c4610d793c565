//! The answer to the user's question, first: is the KD student better than the same student
//! trained alone, by how much against the seed spread, what it keeps of the teacher at what
//! size and latency, and which student to ship. The recommendation is made on the validation
//! split (never on the test set) when there is one.
//!
//! Two checks decide it. The final students' validation lead must exceed its noise, and, when
//! the objective was searched, the search's last rung (the same objective at the same budget, on
//! the search's own seeds) must have seen a lead too. The second check is a veto only: the last
//! rung chose its winner as the best of its finalists on the same validation split, so its lead
//! leans optimistic, and a lead that even it does not show is seed luck.
//!
//! The noise counts both ways the lead could be luck: other seeds, and other rows. With the
//! students' per-row outcomes it is [`row_noise`], a two-way (seeds × rows) standard error; a
//! split of 58 rows moves a mean by 1.7 points per row, which the seeds alone do not show (on
//! mlbench's Pima diabetes data the three seeds of the no-KD student all scored 86.21% on
//! validation, and a +2.30 lead there was −1.22 on the test set).

use super::{ModelReport, SeedSummary, Stat};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The comparison's conclusion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// `student_kd` or `student_baseline`: the student to ship.
    pub ship: String,
    /// The set the recommendation was made on.
    pub decided_on: String,
    /// KD student minus no-KD student, mean over seeds, on the set decided on.
    pub difference_decided: f64,
    /// KD student minus no-KD student, mean test accuracy over seeds.
    pub difference_test: f64,
    /// The larger of the two students' seed standard deviations on the test set (0 with one
    /// seed).
    pub seed_spread: f64,
    /// The standard error of `difference_decided`: over the seeds and the rows ([`row_noise`])
    /// when the students' per-row outcomes were given, else over the seeds only,
    /// `√((s²_KD + s²_noKD) / n)` (0 with one seed). The KD student is shipped only when it is
    /// ahead by more than this.
    #[serde(default)]
    pub decided_noise: f64,
    /// The parts of `decided_noise` when it was computed from per-row outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_parts: Option<DifferenceNoise>,
    /// The KD student's mean test accuracy over the teacher's.
    pub accuracy_kept: f64,
    /// Teacher parameters over student parameters.
    pub params_ratio: f64,
    /// Teacher batch-1 p50 latency over the student's.
    pub latency_ratio: f64,
    /// The search's last rung, when the objective was searched: the second check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_check: Option<SearchCheck>,
    /// The final students' lead was beyond its noise, but the search's last rung saw none, so
    /// the no-KD student is shipped.
    #[serde(default)]
    pub vetoed_by_search: bool,
    /// The teacher's accuracy on the validation split, when there is one.
    pub teacher_validation: Option<f64>,
    /// Set when the teacher is not clearly better than the no-KD student on validation.
    pub weak_teacher: Option<String>,
    /// The verdict for people, one sentence per line.
    pub lines: Vec<String>,
}

/// The search's last rung as a check on the verdict: the chosen objective and the no-KD student
/// at the students' full budget, on the search's own seeds, on the set the search chose on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchCheck {
    /// The chosen objective's accuracy over the last rung's seeds.
    pub kd: Stat,
    /// The no-KD student's accuracy over the same seeds.
    pub no_kd: Stat,
}

impl SearchCheck {
    /// The chosen objective's lead over the no-KD student (mean over the seeds).
    pub fn lead(&self) -> f64 {
        self.kd.mean - self.no_kd.mean
    }
}

/// Validation splits with fewer rows than this (one row is more than half a point) get a line
/// in the verdict saying how little it can tell.
pub const SMALL_SPLIT_ROWS: usize = 200;

/// Points (of accuracy) by which the teacher must beat the no-KD student on validation to count
/// as clearly better.
pub const CLEAR_TEACHER_MARGIN: f64 = 0.01;

/// The standard error of a difference of two means over `n` seeds each (0 when `n < 2`).
pub fn difference_noise(a: &Stat, b: &Stat, n: usize) -> f64 {
    if n < 2 {
        0.0
    } else {
        ((a.std * a.std + b.std * b.std) / n as f64).sqrt()
    }
}

/// Whether each student got each row of the set the verdict is decided on right: `kd[s][i]` for
/// the KD student of the `s`-th seed, `base[s][i]` for the no-KD student of the same seed.
#[derive(Debug, Clone, Default)]
pub struct RowOutcomes {
    /// The KD students, one vector per seed.
    pub kd: Vec<Vec<bool>>,
    /// The no-KD students, in the same seed order.
    pub base: Vec<Vec<bool>>,
}

/// The standard error of the KD-minus-no-KD accuracy difference, in accuracy units, and its
/// parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DifferenceNoise {
    /// The standard error of the mean difference (what the lead must exceed).
    pub total: f64,
    /// √V_seeds: the standard error from the spread of the per-seed differences (0 with one
    /// seed).
    pub seeds: f64,
    /// √V_rows: the standard error from the spread of the per-row differences.
    pub rows: f64,
    /// Seeds counted.
    pub n_seeds: usize,
    /// Rows counted.
    pub n_rows: usize,
}

/// The two-way standard error of the mean of `x[s][i] = kd[s][i] − base[s][i]` over `S` seeds
/// and `n` rows, where both the seeds and the rows are a sample (another split, other seeds):
///
/// `Var(x̄) = σ²_seed/S + σ²_row/n + σ²_e/(nS)`, estimated (crossed random effects, as in a
/// two-way ANOVA without replication) as `V_seeds + V_rows − MS_e/(nS)`, where
/// `V_seeds = s²(x̄_s·)/S` (sample variance of the per-seed means), `V_rows = s²(x̄_·i)/n` (of the
/// per-row means) and `MS_e = Σ(x_si − x̄_s· − x̄_·i + x̄)² / ((S−1)(n−1))` (the per-row, per-seed
/// residual, counted in both variances and subtracted once). The estimate is floored at
/// `max(V_seeds, V_rows)`, so it never claims less noise than either margin shows. With one seed
/// it is `V_rows`: the paired (McNemar) standard error of two classifiers on the same rows.
/// `None` when the outcomes are empty or ragged.
pub fn row_noise(kd: &[Vec<bool>], base: &[Vec<bool>]) -> Option<DifferenceNoise> {
    let seeds = kd.len();
    let rows = kd.first()?.len();
    // `first()?` already returned `None` for no seeds.
    if rows == 0 || base.len() != seeds || kd.iter().chain(base).any(|r| r.len() != rows) {
        return None;
    }
    let x: Vec<Vec<f64>> = kd
        .iter()
        .zip(base)
        .map(|(k, b)| {
            k.iter()
                .zip(b)
                .map(|(&k, &b)| k as u8 as f64 - b as u8 as f64)
                .collect()
        })
        .collect();
    let seed_means: Vec<f64> = x
        .iter()
        .map(|r| r.iter().sum::<f64>() / rows as f64)
        .collect();
    let row_means: Vec<f64> = (0..rows)
        .map(|i| x.iter().map(|r| r[i]).sum::<f64>() / seeds as f64)
        .collect();
    let grand = seed_means.iter().sum::<f64>() / seeds as f64;
    let variance = |v: &[f64]| {
        if v.len() < 2 {
            return 0.0;
        }
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / (v.len() - 1) as f64
    };
    let v_rows = variance(&row_means) / rows as f64;
    let (v_seeds, v_residual) = if seeds >= 2 && rows >= 2 {
        let ss: f64 = x
            .iter()
            .zip(&seed_means)
            .map(|(r, sm)| {
                r.iter()
                    .zip(&row_means)
                    .map(|(v, rm)| (v - sm - rm + grand).powi(2))
                    .sum::<f64>()
            })
            .sum();
        let ms = ss / ((seeds - 1) * (rows - 1)) as f64;
        (
            variance(&seed_means) / seeds as f64,
            ms / (rows * seeds) as f64,
        )
    } else {
        (0.0, 0.0)
    };
    let total = (v_seeds + v_rows - v_residual).max(v_seeds.max(v_rows));
    Some(DifferenceNoise {
        total: total.sqrt(),
        seeds: v_seeds.sqrt(),
        rows: v_rows.sqrt(),
        n_seeds: seeds,
        n_rows: rows,
    })
}

/// The verdict from the students' summaries over seeds and the models' reports; `validation`
/// says whether the students' monitor accuracies are on a validation split (else the test set
/// was monitored and the recommendation falls back on it, and says so); `teacher_validation` is
/// the teacher's validation accuracy; `search` is the search's last rung when the KD students'
/// objective was chosen by it; `rows` are the students' per-row outcomes on the set decided on
/// (validation, else test), which make the noise count the rows too ([`row_noise`]).
pub fn verdict(
    summary: &BTreeMap<String, SeedSummary>,
    models: &BTreeMap<String, ModelReport>,
    validation: Option<&str>,
    teacher_validation: Option<f64>,
    search: Option<SearchCheck>,
    rows: Option<&RowOutcomes>,
) -> Option<Verdict> {
    let kd = summary.get("student_kd")?;
    let base = summary.get("student_baseline")?;
    let teacher = models.get("teacher")?;
    let student = models.get("student_kd")?;
    let (kd_sel, base_sel, decided_on): (&Stat, &Stat, String) = match validation {
        Some(set) => (&kd.last_epoch_accuracy, &base.last_epoch_accuracy, set.to_string()),
        None => (
            &kd.accuracy,
            &base.accuracy,
            "test set (there is no validation split, so this choice flatters the winner: set data.validation_fraction)".to_string(),
        ),
    };
    let difference_decided = kd_sel.mean - base_sel.mean;
    let difference_test = kd.accuracy.mean - base.accuracy.mean;
    let seed_spread = kd.accuracy.std.max(base.accuracy.std);
    let seeds = kd.seeds.len().min(base.seeds.len());
    // KD costs a teacher and a recording; a gain within the seeds' noise is not a gain, so the
    // student trained alone is recommended then (issue 15: never ship a KD student that is
    // worse by chance).
    let noise_parts = rows.and_then(|r| row_noise(&r.kd, &r.base));
    let decided_noise = match &noise_parts {
        Some(n) => n.total,
        None => difference_noise(kd_sel, base_sel, seeds),
    };
    let seeds_word = |k: usize| match k {
        1 => "1 seed".to_string(),
        k => format!("{k} seeds"),
    };
    let noise_of = match &noise_parts {
        Some(n) => format!(
            "the standard error of that difference over {} and {} rows",
            seeds_word(n.n_seeds),
            n.n_rows
        ),
        None => format!(
            "the standard error of that difference over {}",
            seeds_word(seeds)
        ),
    };
    // A lead equal to its noise is not beyond it. One seed of three ahead by d and two tied
    // gives a mean lead of d/3 and a paired standard error of exactly d/3; in floating point
    // either can come out a few ulps larger (spam: 0.005555555555555758 against
    // 0.005555555555555555), so the comparison allows for rounding.
    let final_says_kd = difference_decided > decided_noise + 1e-9;
    // The second check (a veto): a lead the search's last rung did not see is not trusted, even
    // when it clears the noise of the final seeds (issue 15: the demo's verdict flipped between
    // machines on float-level changes while the search saw a tie).
    let vetoed_by_search = final_says_kd && search.as_ref().is_some_and(|c| c.lead() <= 0.0);
    let ship_kd = final_says_kd && !vetoed_by_search;
    let pts = |x: f64| 100.0 * x;
    let mut lines = Vec::new();
    let spread_note = if seeds < 2 {
        "one seed, so no spread was measured".to_string()
    } else if difference_test.abs() <= seed_spread {
        format!(
            "within the seed spread (±{:.2} over {seeds} seeds)",
            pts(seed_spread)
        )
    } else {
        format!(
            "beyond the seed spread (±{:.2} over {seeds} seeds)",
            pts(seed_spread)
        )
    };
    let set_name = if validation.is_some() {
        "validation"
    } else {
        "test"
    };
    let rung = |c: &SearchCheck| {
        format!(
            "{:+.2} points ({} against {}) over its {} seed(s)",
            pts(c.lead()),
            c.kd.pct(),
            c.no_kd.pct(),
            c.kd.values.len().min(c.no_kd.values.len())
        )
    };
    if ship_kd {
        let agrees = match &search {
            Some(c) => format!(
                " The search's last rung agrees: the same objective at the same budget was {}.",
                rung(c)
            ),
            None => String::new(),
        };
        lines.push(format!(
            "**Ship the KD student.** On {set_name} it beats the same student trained without KD by {:+.2} points ({} against {}), beyond {noise_of} (±{:.2}).{agrees}",
            pts(difference_decided),
            kd_sel.pct(),
            base_sel.pct(),
            pts(decided_noise)
        ));
    } else if let (true, Some(c)) = (vetoed_by_search, &search) {
        lines.push(format!(
            "**Ship the no-KD student: the two checks on {set_name} disagree.** The KD students are {:+.2} points ahead ({} against {}, beyond {noise_of}, ±{:.2}), but at the search's last rung the same objective at the same budget was {}: a lead one set of seeds shows and another does not is seed luck more often than a gain, and the student trained alone needs no teacher.",
            pts(difference_decided),
            kd_sel.pct(),
            base_sel.pct(),
            pts(decided_noise),
            rung(c)
        ));
    } else if difference_decided > 0.0 {
        lines.push(format!(
            "**Ship the no-KD student: distillation's gain is within the noise here.** On {set_name} the KD student is {:+.2} points ahead ({} against {}), no more than {noise_of} (±{:.2}); the student trained alone is as good and needs no teacher.",
            pts(difference_decided),
            kd_sel.pct(),
            base_sel.pct(),
            pts(decided_noise)
        ));
    } else {
        lines.push(format!(
            "**Ship the no-KD student: distillation did not help here.** On {set_name} the KD student is {:+.2} points against the same student trained alone ({} against {}).",
            pts(difference_decided),
            kd_sel.pct(),
            base_sel.pct()
        ));
    }
    lines.push(format!(
        "On the test set: KD {} against no KD {} ({:+.2} points, {spread_note}).",
        kd.accuracy.pct(),
        base.accuracy.pct(),
        pts(difference_test)
    ));
    // On a small split one row moves a mean by more than most KD gains (mlbench: Pima's 58
    // rows shipped a KD student that lost on test, Glass's 17 missed one that won by 6.8
    // points), so the report says how much the verdict can tell.
    if let Some(n) = noise_parts.filter(|n| validation.is_some() && n.n_rows < SMALL_SPLIT_ROWS) {
        lines.push(format!(
            "The validation split has only {} rows: one row is {:.2} points, so this verdict is weak evidence either way. With this little data, raise `data.validation_fraction` or compare on more held-out rows before relying on it.",
            n.n_rows,
            100.0 / n.n_rows as f64
        ));
    }
    let accuracy_kept = kd.accuracy.mean / teacher.quality.accuracy.max(1e-12);
    let params_ratio = teacher.params as f64 / student.params.max(1) as f64;
    let latency_ratio =
        teacher.speed.latency_ms_b1_p50 / student.speed.latency_ms_b1_p50.max(1e-12);
    lines.push(format!(
        "Against the teacher ({:.2}%): the KD student keeps {:.1}% of its accuracy with {:.1}× fewer parameters and {:.1}× lower batch-1 latency.",
        pts(teacher.quality.accuracy),
        100.0 * accuracy_kept,
        params_ratio,
        latency_ratio
    ));
    // When distillation helped anyway (20 Newsgroups with DIST: +3 points from a teacher level
    // with the student on validation), the soft labels carried more than the teacher's accuracy
    // shows, and the note must not say there was little to distil.
    let weak_teacher = teacher_validation
        .filter(|t| t - base_sel.mean < CLEAR_TEACHER_MARGIN)
        .map(|t| {
            let (so, advice) = if ship_kd {
                (", yet distillation helped: its soft labels carry more than its accuracy shows", "may help more")
            } else {
                (": there is little to distil", "would give more to distil")
            };
            format!(
                "The teacher is not clearly better than the student alone on validation ({:.2}% against {:.2}%){so}. A stronger teacher (a larger model, more epochs, or fine-tuning a pre-trained encoder's top layers: `finetune_layers`) {advice}.",
                pts(t),
                pts(base_sel.mean)
            )
        });
    if let Some(w) = &weak_teacher {
        lines.push(w.clone());
    }
    let shipped = if ship_kd {
        "student_kd"
    } else {
        "student_baseline"
    };
    if let Some(c) = models
        .get(shipped)
        .and_then(|m| Some((m, m.calibration.as_ref()?)))
    {
        let (m, c) = c;
        let f = &c.fit;
        let card = match (c.in_card, f.applied) {
            (true, true) => "saved in its card, applied by `distill predict`",
            (true, false) => "saved in its card, not applied",
            (false, _) => {
                "fitted for this report: its card, written before distill saved one, does not hold it"
            }
        };
        let cv = match (f.cv_nll, f.cv_nll_calibrated) {
            (Some(own), Some(scaled)) => format!(
                "on held-out folds of the validation split it {} the negative log-likelihood ({own:.4} → {scaled:.4})",
                if f.applied {
                    "lowered"
                } else {
                    "did not lower"
                }
            ),
            _ => "the validation split is too small to check it on held-out folds".into(),
        };
        lines.push(format!(
            "Temperature scaling of its probabilities (T = {:.2}, fitted on the {}; {card}): {cv}; on the test set ECE {:.3} → {:.3} at that T, accuracy unchanged.",
            f.temperature, f.fitted_on, m.quality.ece, c.test_ece_calibrated
        ));
    }
    Some(Verdict {
        ship: if ship_kd {
            "student_kd"
        } else {
            "student_baseline"
        }
        .into(),
        decided_on,
        difference_decided,
        difference_test,
        seed_spread,
        decided_noise,
        noise_parts,
        search_check: search,
        vetoed_by_search,
        accuracy_kept,
        params_ratio,
        latency_ratio,
        teacher_validation,
        weak_teacher,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SpeedMetrics, quality};

    fn model(params: usize, p50: f64, accuracy_of_4: usize) -> ModelReport {
        // Four samples of two classes; the first `accuracy_of_4` are right.
        let logits: Vec<f32> = (0..4)
            .flat_map(|i| {
                if i < accuracy_of_4 {
                    [2.0, 0.0]
                } else {
                    [0.0, 2.0]
                }
            })
            .collect();
        let q = quality(&logits, &[0, 0, 0, 0], &["a".into(), "b".into()], None, 10);
        let speed = SpeedMetrics {
            latency_ms_b1_p50: p50,
            latency_ms_b1_p99: p50,
            throughput_per_s: 1.0,
            throughput_batch: 1,
            latency_runs: 1,
        };
        super::super::model_report("m".into(), 1, params, 1, q, speed, Vec::new())
    }

    fn summary(test: &[f64], validation: &[f64]) -> SeedSummary {
        SeedSummary {
            seeds: (1..=test.len() as u64).collect(),
            accuracy: Stat::of(test.to_vec()),
            last_epoch_accuracy: Stat::of(validation.to_vec()),
            best_epoch_accuracy: Stat::of(validation.to_vec()),
            macro_f1: Stat::of(test.to_vec()),
            agreement_with_teacher: Stat::of(test.to_vec()),
        }
    }

    fn inputs(
        kd_val: &[f64],
        base_val: &[f64],
    ) -> (BTreeMap<String, SeedSummary>, BTreeMap<String, ModelReport>) {
        let mut s = BTreeMap::new();
        s.insert("student_kd".into(), summary(&[0.80, 0.82], kd_val));
        s.insert("student_baseline".into(), summary(&[0.81, 0.83], base_val));
        let mut m = BTreeMap::new();
        m.insert("teacher".into(), model(1000, 2.0, 4));
        m.insert("student_kd".into(), model(100, 0.5, 3));
        m.insert("student_baseline".into(), model(100, 0.5, 3));
        (s, m)
    }

    #[test]
    fn the_student_to_ship_is_decided_on_validation_and_a_weak_teacher_is_named() {
        // KD better on validation, worse on test: shipped on validation, the test said plainly.
        let (s, m) = inputs(&[0.90, 0.92], &[0.88, 0.90]);
        let v = verdict(&s, &m, Some("validation split"), Some(0.95), None, None).unwrap();
        assert_eq!(v.ship, "student_kd");
        assert!((v.difference_decided - 0.02).abs() < 1e-9);
        assert!((v.difference_test + 0.01).abs() < 1e-9);
        assert!(
            v.lines[1].contains("-1.00 points") && v.lines[1].contains("within the seed spread")
        );
        assert!((v.params_ratio - 10.0).abs() < 1e-9 && (v.latency_ratio - 4.0).abs() < 1e-9);
        assert!((v.accuracy_kept - 0.81).abs() < 1e-9);
        assert!(v.weak_teacher.is_none());
        // No better on validation: the no-KD student, said plainly.
        let (s, m) = inputs(&[0.88, 0.90], &[0.88, 0.90]);
        let v = verdict(&s, &m, Some("validation split"), Some(0.95), None, None).unwrap();
        assert_eq!(v.ship, "student_baseline");
        assert!(v.lines[0].contains("did not help"), "{}", v.lines[0]);
        // A teacher within a point of the student alone on validation is flagged.
        let v = verdict(&s, &m, Some("validation split"), Some(0.895), None, None).unwrap();
        let w = v.weak_teacher.expect("flagged");
        assert!(
            w.contains("not clearly better") && w.contains("89.50%") && w.contains("little"),
            "{w}"
        );
        // Flagged too when KD helped anyway, without claiming there was little to distil.
        let (s2, m2) = inputs(&[0.90, 0.92], &[0.88, 0.90]);
        let v = verdict(&s2, &m2, Some("validation split"), Some(0.895), None, None).unwrap();
        assert_eq!(v.ship, "student_kd");
        let w = v.weak_teacher.expect("flagged");
        assert!(
            w.contains("yet distillation helped") && !w.contains("little to distil"),
            "{w}"
        );
        // Ahead on validation, but by less than the noise over the seeds: no KD, said why.
        let (s, m) = inputs(&[0.90, 0.93], &[0.89, 0.915]);
        let v = verdict(&s, &m, Some("validation split"), Some(0.95), None, None).unwrap();
        let noise = ((0.03f64.powi(2) / 2.0 + 0.025f64.powi(2) / 2.0) / 2.0).sqrt();
        assert!(
            (v.decided_noise - noise).abs() < 1e-9,
            "{}",
            v.decided_noise
        );
        assert!(v.difference_decided > 0.0 && v.difference_decided < v.decided_noise);
        assert_eq!(v.ship, "student_baseline");
        assert!(v.lines[0].contains("within the noise"), "{}", v.lines[0]);
        // Without a validation split the fallback says what it flatters.
        let v = verdict(&s, &m, None, None, None, None).unwrap();
        assert!(v.decided_on.contains("test set") && v.decided_on.contains("flatters"));
    }

    #[test]
    fn a_lead_the_search_did_not_see_is_vetoed_and_one_it_saw_is_shipped() {
        // The final students lead by 2 points, beyond the noise (±0.5).
        let (s, m) = inputs(&[0.90, 0.91], &[0.88, 0.89]);
        let check = |kd: &[f64], no_kd: &[f64]| SearchCheck {
            kd: Stat::of(kd.to_vec()),
            no_kd: Stat::of(no_kd.to_vec()),
        };
        // The search's last rung saw a tie: vetoed, said why.
        let v = verdict(
            &s,
            &m,
            Some("validation split"),
            Some(0.95),
            Some(check(&[0.88, 0.89], &[0.885, 0.885])),
            None,
        )
        .unwrap();
        assert!(v.difference_decided > v.decided_noise);
        assert!(v.vetoed_by_search);
        assert_eq!(v.ship, "student_baseline");
        assert!(
            v.lines[0].contains("disagree") && v.lines[0].contains("+0.00 points"),
            "{}",
            v.lines[0]
        );
        // The search saw a lead too: shipped, and the report says both checks agree.
        let v = verdict(
            &s,
            &m,
            Some("validation split"),
            Some(0.95),
            Some(check(&[0.89, 0.90], &[0.885, 0.885])),
            None,
        )
        .unwrap();
        assert!(!v.vetoed_by_search);
        assert_eq!(v.ship, "student_kd");
        assert!(
            v.lines[0].contains("agrees") && v.lines[0].contains("+1.00 points"),
            "{}",
            v.lines[0]
        );
        // The shipped lead says what noise it cleared.
        assert!(
            v.lines[0].contains("beyond the standard error of that difference over 2 seeds (±"),
            "{}",
            v.lines[0]
        );
        // The veto never turns a no-KD verdict into a KD one: the final students' check comes
        // first.
        let (s, m) = inputs(&[0.88, 0.89], &[0.88, 0.89]);
        let v = verdict(
            &s,
            &m,
            Some("validation split"),
            Some(0.95),
            Some(check(&[0.95, 0.95], &[0.80, 0.80])),
            None,
        )
        .unwrap();
        assert_eq!(v.ship, "student_baseline");
        assert!(!v.vetoed_by_search);
        // Round trip through JSON, and reports written before the check still read.
        let json = serde_json::to_value(&v).unwrap();
        let back: Verdict = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.search_check.unwrap().kd.values, vec![0.95, 0.95]);
        let mut old = json;
        let o = old.as_object_mut().unwrap();
        o.remove("search_check");
        o.remove("vetoed_by_search");
        let back: Verdict = serde_json::from_value(old).unwrap();
        assert!(back.search_check.is_none() && !back.vetoed_by_search);
    }

    /// The outcomes of the golden cases: `kd[s][i] = (7i + 3s) mod 5 ≠ 0`,
    /// `base[s][i] = (3i + 5s) mod 4 ≠ 0` over 3 seeds and 40 rows, then `edit` applied.
    fn outcomes(edit: impl Fn(&mut [Vec<bool>], &mut [Vec<bool>])) -> RowOutcomes {
        let mut kd: Vec<Vec<bool>> = (0..3)
            .map(|s| (0..40).map(|i| (i * 7 + s * 3) % 5 != 0).collect())
            .collect();
        let mut base: Vec<Vec<bool>> = (0..3)
            .map(|s| (0..40).map(|i| (i * 3 + s * 5) % 4 != 0).collect())
            .collect();
        edit(&mut kd, &mut base);
        RowOutcomes { kd, base }
    }

    #[test]
    fn the_noise_counts_seeds_and_rows_against_golden_values() {
        // Golden values from numpy (independently: `x.mean(1).var(ddof=1) / S`,
        // `x.mean(0).var(ddof=1) / n`, the residual mean square of the two-way table).
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // A row effect (rows 0-7 right for KD on every seed) and a seed effect (seed 2's KD
        // student right on every row, seed 0's wrong past row 8): the unfloored estimate.
        let r = outcomes(|kd, base| {
            for s in 0..3 {
                for i in 0..8 {
                    kd[s][i] = true;
                    base[s][i] = false;
                }
            }
            kd[2][8..].fill(true);
            kd[0][8..].fill(false);
        });
        let n = row_noise(&r.kd, &r.base).unwrap();
        assert!(close(n.total, 0.25297376641803493), "{n:?}");
        assert!(close(n.seeds, 0.2455153310442706), "{n:?}");
        assert!(close(n.rows, 0.07894424445261182), "{n:?}");
        assert_eq!((n.n_seeds, n.n_rows), (3, 40));
        // Mostly a row effect (seed 2 gains rows 8-15 too): the estimate falls below V_rows and is
        // floored there.
        let r = outcomes(|kd, base| {
            for s in 0..3 {
                for i in 0..8 {
                    kd[s][i] = true;
                    base[s][i] = false;
                }
            }
            kd[2][8..16].fill(true);
        });
        let n = row_noise(&r.kd, &r.base).unwrap();
        assert!(close(n.total, 0.06802829560446891), "{n:?}");
        assert!(close(n.total, n.rows) && close(n.seeds, 0.00833333333333334));
        // By hand: two seeds, four rows; x = [0,1,0,0] and [1,0,0,0]. Both seeds lead by
        // 0.25 (V_seeds = 0); the row means [0.5, 0.5, 0, 0] give V_rows = (1/12)/4.
        let n = row_noise(
            &[vec![true, true, false, true], vec![true, false, true, true]],
            &[
                vec![true, false, false, true],
                vec![false, false, true, true],
            ],
        )
        .unwrap();
        assert!(
            close(n.seeds, 0.0) && close(n.total, (1.0f64 / 48.0).sqrt()),
            "{n:?}"
        );
        // One seed: the paired (McNemar) standard error, √((b + c − (b − c)²/n) / (n − 1) / n)
        // with b = 3 rows only KD gets right, c = 1 only the other: √(3.6 / 9 / 10) = 0.2.
        let kd = vec![(0..10).map(|i| i != 9).collect::<Vec<bool>>()];
        let base = vec![(0..10).map(|i| i >= 3).collect::<Vec<bool>>()];
        let n = row_noise(&kd, &base).unwrap();
        assert!(close(n.total, 0.2) && close(n.seeds, 0.0), "{n:?}");
        // Nothing to measure, or outcomes that do not line up: none.
        assert!(row_noise(&[], &[]).is_none());
        assert!(row_noise(&[vec![]], &[vec![]]).is_none());
        assert!(row_noise(&[vec![true, false]], &[vec![true]]).is_none());
        assert!(row_noise(&[vec![true]], &[vec![true], vec![false]]).is_none());
    }

    #[test]
    fn a_lead_on_few_rows_is_within_the_noise_however_well_the_seeds_agree() {
        // Pima-like: every no-KD seed scores the same on a small split, the KD students lead by
        // one or two rows. The seeds alone would ship KD; the rows do not.
        let (s, m) = inputs(&[0.8793, 0.8793, 0.8966], &[0.8621, 0.8621, 0.8621]);
        let by_seeds = verdict(&s, &m, Some("validation split"), Some(0.95), None, None).unwrap();
        assert_eq!(by_seeds.ship, "student_kd");
        let rows = RowOutcomes {
            // 58 rows; no KD right on 50 (rows 0-49); KD right on rows 0-50 (+1 row) on two
            // seeds and rows 0-51 on the third, each with one of the no-KD student's rows lost
            // and another gained.
            kd: [51usize, 51, 52]
                .iter()
                .map(|&k| (0..58).map(|i| (i < k && i != 10) || i == 57).collect())
                .collect(),
            base: (0..3).map(|_| (0..58).map(|i| i < 50).collect()).collect(),
        };
        let v = verdict(
            &s,
            &m,
            Some("validation split"),
            Some(0.95),
            None,
            Some(&rows),
        )
        .unwrap();
        let parts = v.noise_parts.expect("computed from the rows");
        assert_eq!((parts.n_seeds, parts.n_rows), (3, 58));
        assert!(parts.rows > parts.seeds, "{parts:?}");
        assert!(v.difference_decided > 0.0 && v.difference_decided < v.decided_noise);
        assert_eq!(v.ship, "student_baseline");
        assert!(
            v.lines[0].contains("within the noise") && v.lines[0].contains("58 rows"),
            "{}",
            v.lines[0]
        );
        // The report says how little a 58-row split can tell; a large split gets no such line.
        assert!(
            v.lines
                .iter()
                .any(|l| l.contains("only 58 rows") && l.contains("1.72 points")),
            "{:?}",
            v.lines
        );
        let wide = |k: usize| (0..600).map(|i| i < k).collect::<Vec<bool>>();
        let large = RowOutcomes {
            kd: vec![wide(530), wide(531), wide(538)],
            base: vec![wide(517), wide(517), wide(517)],
        };
        let on_large = verdict(
            &s,
            &m,
            Some("validation split"),
            Some(0.95),
            None,
            Some(&large),
        )
        .unwrap();
        assert!(
            !on_large.lines.iter().any(|l| l.contains("weak evidence")),
            "{:?}",
            on_large.lines
        );
        // The parts round-trip through report.json, and reports without them still read.
        let json = serde_json::to_value(&v).unwrap();
        let back: Verdict = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.noise_parts, Some(parts));
        let mut old = json;
        old.as_object_mut().unwrap().remove("noise_parts");
        let back: Verdict = serde_json::from_value(old).unwrap();
        assert!(back.noise_parts.is_none());
    }

    #[test]
    fn a_lead_equal_to_its_noise_is_not_shipped_whatever_the_rounding() {
        // The spam case: 120 validation texts, two seeds tied and the third one text pair
        // ahead. The lead (1/180) equals its paired standard error; rounding made the lead
        // 2e-16 larger, which must not ship the KD student.
        let (s, m) = inputs(
            &[0.95, 0.9666666666666667, 0.9666666666666667],
            &[0.95, 0.9666666666666667, 0.95],
        );
        let right = |k: usize| (0..120).map(|i| i < k).collect::<Vec<bool>>();
        let rows = RowOutcomes {
            kd: vec![right(114), right(116), right(116)],
            base: vec![right(114), right(116), right(114)],
        };
        let v = verdict(
            &s,
            &m,
            Some("validation split"),
            Some(0.99),
            None,
            Some(&rows),
        )
        .unwrap();
        assert!(
            v.difference_decided > v.decided_noise,
            "the rounding this test is about"
        );
        assert!((v.difference_decided - v.decided_noise).abs() < 1e-12);
        assert_eq!(v.ship, "student_baseline");
        assert!(v.lines[0].contains("within the noise"), "{}", v.lines[0]);
    }

    #[test]
    fn the_shipped_students_temperature_scaling_is_stated_with_where_it_lives() {
        let fit = crate::vocab::Calibration {
            temperature: 0.408,
            fitted_on: "validation split, 1130 texts".into(),
            nll: 1.0,
            nll_calibrated: 0.7,
            ece: 0.3,
            ece_calibrated: 0.05,
            cv_nll: Some(1.0),
            cv_nll_calibrated: Some(0.72),
            applied: true,
        };
        let check = |in_card| crate::report::CalibrationReport {
            fit: fit.clone(),
            in_card,
            test_ece_calibrated: 0.047,
            test_nll: 1.1,
            test_nll_calibrated: 0.71,
            reliability_calibrated: Vec::new(),
        };
        // The no-KD student is shipped: its line, not the KD student's.
        let (s, mut m) = inputs(&[0.88, 0.90], &[0.88, 0.90]);
        m.get_mut("student_baseline").unwrap().calibration = Some(check(true));
        let v = verdict(&s, &m, Some("validation split"), Some(0.95), None, None).unwrap();
        assert_eq!(v.ship, "student_baseline");
        let line = v.lines.last().unwrap();
        assert!(
            line.contains("T = 0.41")
                && line.contains("1130 texts")
                && line.contains("applied by `distill predict`")
                && line.contains("lowered the negative log-likelihood (1.0000 → 0.7200)")
                && line.contains(&format!("{:.3} → 0.047", m["student_baseline"].quality.ece)),
            "{line}"
        );
        m.get_mut("student_baseline").unwrap().calibration = Some(check(false));
        let v = verdict(&s, &m, Some("validation split"), Some(0.95), None, None).unwrap();
        assert!(v.lines.last().unwrap().contains("does not hold it"));
        // A fit the held-out folds did not confirm is said to be unused.
        let mut unused = check(true);
        unused.fit.applied = false;
        unused.fit.cv_nll_calibrated = Some(1.01);
        m.get_mut("student_baseline").unwrap().calibration = Some(unused);
        let v = verdict(&s, &m, Some("validation split"), Some(0.95), None, None).unwrap();
        let line = v.lines.last().unwrap();
        assert!(
            line.contains("not applied")
                && line.contains("did not lower")
                && line.contains("1.0000 → 1.0100"),
            "{line}"
        );
        // Nothing is said of a scaling the shipped student does not have.
        m.get_mut("student_baseline").unwrap().calibration = None;
        m.get_mut("student_kd").unwrap().calibration = Some(check(true));
        let v = verdict(&s, &m, Some("validation split"), Some(0.95), None, None).unwrap();
        assert!(!v.lines.iter().any(|l| l.contains("Temperature scaling")));
    }
}
