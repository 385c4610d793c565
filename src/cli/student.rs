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
