//! The report as Markdown, and the comparison table printed to the terminal.

use super::Report;
use std::fmt::Write;

const ORDER: [&str; 3] = ["teacher", "student_kd", "student_baseline"];

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// A table of the weighted loss terms per epoch (`None` when the history has none).
pub fn loss_terms_table(history: &[crate::train::EpochRecord]) -> Option<String> {
    let names: Vec<&String> = history.first()?.loss_terms.keys().collect();
    if names.is_empty() {
        return None;
    }
    let mut s = String::from("| epoch |");
    for n in &names {
        let _ = write!(s, " {n} |");
    }
    s.push_str("\n|---:|");
    s.push_str(&"---:|".repeat(names.len()));
    s.push('\n');
    for e in history {
        let _ = write!(s, "| {} |", e.epoch);
        for n in &names {
            match e.loss_terms.get(*n) {
                Some(v) => {
                    let _ = write!(s, " {v:.4} |");
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    Some(s)
}

/// The main comparison table (Markdown syntax, also readable in a terminal).
pub fn summary_table(r: &Report) -> String {
    let mut s = String::new();
    let teacher_params = r.models.get("teacher").map_or(1, |m| m.params.max(1));
    s.push_str("| model | params | ×teacher | file | accuracy | best-epoch acc | macro-F1 | agreement | ECE | p50 ms | p99 ms | samples/s |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for name in ORDER {
        let Some(m) = r.models.get(name) else {
            continue;
        };
        // An imported teacher has no training history here.
        let best = if m.history.is_empty() {
            "— (imported)".to_string()
        } else {
            format!(
                "{:.2}% (ep {})",
                100.0 * m.best_epoch_accuracy,
                m.best_epoch
            )
        };
        let _ = writeln!(
            s,
            "| {name} | {} | 1/{:.0} | {} | {:.2}% | {best} | {:.4} | {:.2}% | {:.4} | {:.3} | {:.3} | {:.0} |",
            m.params,
            teacher_params as f64 / m.params.max(1) as f64,
            bytes(m.file_bytes),
            100.0 * m.quality.accuracy,
            m.quality.macro_f1,
            100.0 * m.quality.agreement_with_teacher.unwrap_or(1.0),
            m.quality.ece,
            m.speed.latency_ms_b1_p50,
            m.speed.latency_ms_b1_p99,
            m.speed.throughput_per_s,
        );
    }
    if r.student_seeds.len() > 1 {
        let _ = writeln!(
            s,
            "\nStudents over seeds {:?} (mean ± sample std, %):\n",
            r.student_seeds
        );
        s.push_str("| student | test accuracy | last-epoch acc | best-epoch acc | macro-F1 | agreement |\n|---|---:|---:|---:|---:|---:|\n");
        for (name, sum) in &r.seed_summary {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} |",
                sum.accuracy.pct(),
                sum.last_epoch_accuracy.pct(),
                sum.best_epoch_accuracy.pct(),
                sum.macro_f1.pct(),
                sum.agreement_with_teacher.pct()
            );
        }
    }
    s
}

/// The whole report as Markdown.
pub fn to_markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# distill report\n");
    let _ = writeln!(
        s,
        "distill {} · seed {} · student seeds {:?} · evaluated on the {} · preprocessing `{}`\n",
        r.distill_version, r.seed, r.student_seeds, r.eval_set, r.preprocessing
    );
    if let Some(v) = &r.verdict {
        s.push_str("## Verdict\n\n");
        for line in &v.lines {
            let _ = writeln!(s, "{line}\n");
        }
        let _ = writeln!(s, "Recommendation made on the {}.\n", v.decided_on);
    }
    if let Some(w) = r
        .teacher_diagnostics
        .as_ref()
        .and_then(|d| d.warning.as_ref())
    {
        let _ = writeln!(s, "**Warning:** {w}.\n");
    }
    if !r.data_notes.is_empty() {
        let _ = writeln!(
            s,
            "**Data:** {} input(s) were left out while reading the data:\n",
            r.data_notes.len()
        );
        for note in &r.data_notes {
            let _ = writeln!(s, "- {note}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "Training data fingerprint `{}`\n", r.dataset_fingerprint);
    let _ = writeln!(
        s,
        "Objective of `student_kd`: {}. `student_baseline` is the same student on hard labels only.\n",
        r.objective
    );
    s.push_str("## Comparison\n\n");
    s.push_str(&summary_table(r));
    let _ = writeln!(
        s,
        "\nAccuracy, macro-F1, agreement and ECE on the held-out test set; `best-epoch acc` is the best per-epoch accuracy on the {}. Latency at batch 1, throughput at batch {}.\n",
        if r.selection_set.is_empty() {
            "monitor set"
        } else {
            &r.selection_set
        },
        r.models
            .values()
            .next()
            .map_or(0, |m| m.speed.throughput_batch)
    );
    if r.seed_summary.len() == 2 && r.student_seeds.len() > 1 {
        s.push_str("| student | test accuracy | validation accuracy (last epoch) | macro-F1 |\n|---|---:|---:|---:|\n");
        for (name, st) in &r.seed_summary {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {:.4} ± {:.4} |",
                st.accuracy.pct(),
                st.last_epoch_accuracy.pct(),
                st.macro_f1.mean,
                st.macro_f1.std
            );
        }
        let _ = writeln!(s, "\nMean ± std over seeds {:?}.\n", r.student_seeds);
    }
    s.push_str("![accuracy vs latency](accuracy_vs_latency.svg)\n\n![training curves](training_curves.svg)\n\n");
    s.push_str("## Calibration\n\nHow far each model's confidence is from its accuracy (bins of the top-1 confidence on the test set); points on the diagonal are perfectly calibrated.\n\n![reliability diagram](reliability.svg)\n\n");
    calibration_table(&mut s, r);
    if let Some(sel) = &r.selection {
        s.push_str(&sel.markdown);
        s.push('\n');
    }
    if let Some(d) = &r.teacher_diagnostics {
        let _ = writeln!(
            s,
            "## The teacher's soft labels\n\nMeasured on the recorded store ({} training rows): teacher accuracy on them {:.2}%, mean logit standard deviation per row {:.2}.\n\n| T | mean top probability | entropy (share of ln C) | mass on non-target classes |\n|---:|---:|---:|---:|",
            d.rows,
            100.0 * d.train_accuracy,
            d.logit_scale
        );
        for at in &d.temperatures {
            let _ = writeln!(
                s,
                "| {}{} | {:.3} | {:.3} | {:.3} |",
                at.temperature,
                if d.configured_temperature == Some(at.temperature) {
                    " (used)"
                } else {
                    ""
                },
                at.mean_top_probability,
                at.mean_entropy,
                at.mean_non_target_mass
            );
        }
        s.push('\n');
    }
    s.push_str("## Per-class precision / recall / F1 (test set)\n\n| class |");
    for name in ORDER.iter().filter(|n| r.models.contains_key(**n)) {
        let _ = write!(s, " {name} P / R / F1 |");
    }
    s.push_str("\n|---|");
    for _ in ORDER.iter().filter(|n| r.models.contains_key(**n)) {
        s.push_str("---:|");
    }
    s.push('\n');
    for (k, class) in r.class_names.iter().enumerate() {
        let _ = write!(s, "| {class} |");
        for name in ORDER {
            if let Some(m) = r.models.get(name) {
                let c = &m.quality.per_class[k];
                let _ = write!(s, " {:.3} / {:.3} / {:.3} |", c.precision, c.recall, c.f1);
            }
        }
        s.push('\n');
    }
    let runs: Vec<(String, &[crate::train::EpochRecord])> = ORDER
        .iter()
        .filter_map(|n| r.models.get(*n).map(|m| (n.to_string(), &m.history[..])))
        .collect();
    if let Some(table) = discriminator_table(&runs) {
        s.push_str("\n## Adversarial discriminator\n\nHow often the discriminator told the teacher's logits from the student's, per epoch (50% = fooled, 100% = never fooled).\n\n");
        s.push_str(&table);
    }
    if let Some(kd) = r.models.get("student_kd")
        && let Some(table) = loss_terms_table(&kd.history)
    {
        s.push_str("\n## What drives the KD student's loss\n\nEach weighted summand of the objective, mean over the epoch's training samples (`ce` = α·CE; each term = (1 − α)·w·term).\n\n");
        s.push_str(&table);
    }
    if let Some(st) = &r.soft_labels {
        let _ = writeln!(
            s,
            "\n## Soft-label store\n\n{} shard(s), {} bytes, {:.1} bytes per training sample (fp16 logits + header).",
            st.shards, st.bytes, st.bytes_per_sample
        );
    }
    if let Some(t) = &r.timings {
        let _ = writeln!(
            s,
            "\n## Timings\n\nteacher training {:.1}s · soft-label recording {:.1}s · objective search {:.1}s · student runs {:.1}s",
            t.teacher_train_s, t.record_s, t.tune_s, t.students_train_s
        );
    }
    s.push_str("\n## Confusion matrices (rows: true class, columns: predicted)\n");
    for name in ORDER {
        if let Some(m) = r.models.get(name) {
            let _ = writeln!(s, "\n### {name}\n");
            s.push_str("| |");
            for k in 0..r.class_names.len() {
                let _ = write!(s, " {k} |");
            }
            s.push_str("\n|---|");
            for _ in 0..r.class_names.len() {
                s.push_str("---:|");
            }
            s.push('\n');
            for (k, row) in m.quality.confusion.iter().enumerate() {
                let _ = write!(s, "| {k} {} |", r.class_names[k]);
                for v in row {
                    let _ = write!(s, " {v} |");
                }
                s.push('\n');
            }
        }
    }
    s
}

/// A Markdown table of the discriminator's accuracy per epoch, one column per run that has one
/// (adversarial objectives); `None` when no run has.
pub fn discriminator_table(runs: &[(String, &[crate::train::EpochRecord])]) -> Option<String> {
    let with: Vec<&(String, &[crate::train::EpochRecord])> = runs
        .iter()
        .filter(|(_, h)| h.iter().any(|e| e.discriminator_accuracy.is_some()))
        .collect();
    if with.is_empty() {
        return None;
    }
    let epochs = with.iter().map(|(_, h)| h.len()).max().unwrap_or(0);
    let mut s = String::from("| epoch |");
    for (name, _) in &with {
        let _ = write!(s, " {name} |");
    }
    s.push_str("\n|---:|");
    for _ in &with {
        s.push_str("---:|");
    }
    s.push('\n');
    for e in 0..epochs {
        let _ = write!(s, "| {} |", e + 1);
        for (_, h) in &with {
            match h.get(e).and_then(|r| r.discriminator_accuracy) {
                Some(a) => {
                    let _ = write!(s, " {:.1}% |", 100.0 * a);
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    Some(s)
}

/// The temperature scaling of each model: fitted on validation, checked on the test set.
fn calibration_table(s: &mut String, r: &Report) {
    let fitted: Vec<(&String, &crate::report::CalibrationReport, f64)> = r
        .models
        .iter()
        .filter_map(|(name, m)| Some((name, m.calibration.as_ref()?, m.quality.ece)))
        .collect();
    let Some((_, first, _)) = fitted.first() else {
        return;
    };
    let _ = writeln!(
        s,
        "Temperature scaling (Guo et al. 2017) divides a model's logits by one number `T`, fitted on the {} by minimising the negative log-likelihood; accuracy is unchanged. It is applied only when, fitted again without each of {} folds of that split, it lowers the likelihood of the fold left out (cross-validated NLL below). `distill predict` applies an applied `T` saved in the model's card (`--uncalibrated` for the model's own probabilities); `distill export --calibrated` puts it in the ONNX file. Test-set numbers, first seed:\n\n| model | T | applied (validation NLL, cross-validated: own → at T) | test ECE | test ECE at T | test NLL | test NLL at T |\n|---|---:|---|---:|---:|---:|---:|",
        first.fit.fitted_on,
        crate::vocab::CALIBRATION_FOLDS
    );
    for (name, c, ece) in &fitted {
        let applied = match (c.fit.applied, c.fit.cv_nll, c.fit.cv_nll_calibrated) {
            (a, Some(own), Some(scaled)) => {
                format!("{} ({own:.4} → {scaled:.4})", if a { "yes" } else { "no" })
            }
            _ => "no (too few rows to cross-validate)".into(),
        };
        let _ = writeln!(
            s,
            "| {name}{} | {:.3} | {applied} | {:.4} | {:.4} | {:.4} | {:.4} |",
            if c.in_card { "" } else { " (not in its card)" },
            c.fit.temperature,
            ece,
            c.test_ece_calibrated,
            c.test_nll,
            c.test_nll_calibrated
        );
    }
    s.push_str("\n![reliability at the fitted temperatures](reliability_calibrated.svg)\n\n");
}
