//! `distill train`: train the teacher.

use super::{Cli, Common};
use distill::error::Result;
use distill::pipeline::{teacher_path, train_teacher};

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
    if let Some(exp) = super::text_experiment(&args.common.config)? {
        use distill::text::pipeline as tp;
        let opts = super::options(cli, args.common.out.clone(), args.resume)?;
        distill::fsutil::create_dir_all(&opts.out)?;
        let splits = tp::load_text_data(&exp)?;
        let tok = tp::teacher_tokenizer(&exp, &splits, &opts.out)?;
        tp::train_text_teacher(&exp, &splits, &tok, &opts)?;
        let history = distill::pipeline::load_history(&teacher_path(&opts.out))?;
        println!(
            "teacher: last-epoch accuracy {:.2}%; saved {}",
            100.0 * history.last().map_or(0.0, |r| r.monitor_accuracy),
            teacher_path(&opts.out).display()
        );
        return Ok(());
    }
    let (experiment, splits, opts) = args.common.load(cli, args.resume)?;
    let trained = train_teacher(&experiment, &splits, &opts)?;
    let (best_epoch, best) = trained.best();
    println!(
        "teacher: last-epoch accuracy {:.2}%, best {:.2}% (epoch {best_epoch}); saved {}",
        100.0 * trained.last_accuracy(),
        100.0 * best,
        teacher_path(&opts.out).display()
    );
    Ok(())
}
