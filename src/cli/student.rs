//! `distill student`: train the student against the recorded soft labels, or the baseline.

use super::{Cli, Common, StoreArgs};
use distill::error::Result;
use distill::pipeline::{StudentKind, open_teacher_stores, student_path, train_student};
use distill::task::Task;

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
    let (task, opts) = args.common.load(cli, args.resume, false)?;
    let kind = if args.baseline {
        StudentKind::Baseline
    } else {
        StudentKind::Kd
    };
    let (teacher, store) = args.paths.resolve(&task, &opts.out)?;
    let seed = distill::with_task!(&task, t => {
        let settings = t.settings();
        let seed = args.seed.unwrap_or(settings.student_seeds[0]);
        let objective = &settings.objective;
        let stores = if kind == StudentKind::Kd && !objective.needs_online_teacher() {
            open_teacher_stores(t, &teacher, &store, objective.teacher_weights.len())?
        } else {
            Vec::new()
        };
        train_student(t, kind, &stores, &teacher, seed, &opts)?;
        seed
    });
    let path = student_path(&opts.out, kind, seed);
    let history = distill::pipeline::load_history(&path)?;
    println!(
        "{}: last-epoch accuracy {:.2}%; saved {}",
        kind.name(),
        100.0 * history.last().map_or(0.0, |r| r.monitor_accuracy),
        path.display()
    );
    Ok(())
}
