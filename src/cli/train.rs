//! `distill train`: train the teacher.

use super::{Cli, Common};
use distill::error::Result;
use distill::pipeline::{load_history, teacher_path, train_teacher};

/// Arguments of `distill train`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Continue from the last checkpoint.
    #[arg(long)]
    resume: bool,
}

/// Trains the teacher into `OUT/teacher.safetensors`.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let (task, opts) = args.common.load(cli, args.resume, !args.resume)?;
    distill::with_task!(&task, t => train_teacher(t, &opts))?;
    let path = teacher_path(&opts.out);
    let history = load_history(&path)?;
    let (best_epoch, best) = distill::train::best_epoch(&history);
    println!(
        "teacher: last-epoch accuracy {:.2}%, best {:.2}% (epoch {best_epoch}); saved {}",
        100.0 * history.last().map_or(0.0, |r| r.monitor_accuracy),
        100.0 * best,
        path.display()
    );
    Ok(())
}
