//! `distill student`: train the student against the recorded soft labels, or the baseline.

use super::{Cli, Common, StoreArgs};
use distill::error::Result;
use distill::pipeline::{StudentKind, open_teacher_stores, student_path, train_student};

/// Arguments of `distill student`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Train the no-KD baseline (hard labels only) instead.
    #[arg(long)]
    baseline: bool,
    /// Seed (default: the experiment's first student seed).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    paths: StoreArgs,
    /// Continue from the last checkpoint.
    #[arg(long)]
    resume: bool,
}

/// Trains one student.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    if let Some(exp) = super::text_experiment(&args.common.config)? {
        use distill::text::pipeline as tp;
        super::refuse_for_text(&[
            ("--teacher", args.paths.teacher.is_some()),
            ("--store", args.paths.store.is_some()),
        ])?;
        let opts = super::options(cli, args.common.out.clone(), args.resume)?;
        let splits = tp::load_text_data(&exp)?;
        let seed = args.seed.unwrap_or(exp.student_seeds[0]);
        let kind = if args.baseline {
            StudentKind::Baseline
        } else {
            StudentKind::Kd
        };
        let t_tok = distill::text::TextTokenizer::from_file(
            &tp::teacher_tokenizer_path(&opts.out),
            exp.data.max_len,
        )?;
        let store = match kind {
            StudentKind::Kd => Some(tp::open_text_soft_labels(&exp, &splits, &opts.out)?),
            StudentKind::Baseline => None,
        };
        let s_tok = tp::student_tokenizer(&exp, &splits, &t_tok, &opts.out)?;
        let data = tp::TokenSplits::new(&s_tok, &splits)?;
        tp::train_text_student(&exp, &s_tok, &data, kind, store.as_ref(), seed, &opts)?;
        let path = student_path(&opts.out, kind, seed);
        let history = distill::pipeline::load_history(&path)?;
        println!(
            "{}: last-epoch accuracy {:.2}%; saved {}",
            kind.name(),
            100.0 * history.last().map_or(0.0, |r| r.monitor_accuracy),
            path.display()
        );
        return Ok(());
    }
    let (experiment, splits, opts) = args.common.load(cli, args.resume)?;
    let seed = args.seed.unwrap_or(experiment.student_seeds[0]);
    let kind = if args.baseline {
        StudentKind::Baseline
    } else {
        StudentKind::Kd
    };
    let (teacher, store) = args.paths.resolve(&opts.out);
    let stores = if kind == StudentKind::Kd && !experiment.objective.needs_online_teacher() {
        open_teacher_stores(&experiment, &splits, &teacher, &store)?
    } else {
        Vec::new()
    };
    let trained = train_student(&experiment, &splits, kind, &stores, &teacher, seed, &opts)?;
    println!(
        "{}: last-epoch accuracy {:.2}%; saved {}",
        kind.name(),
        100.0 * trained.last_accuracy(),
        student_path(&opts.out, kind, seed).display()
    );
    Ok(())
}
