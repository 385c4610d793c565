//! `distill tune`: choose the KD student's objective, temperature and α on the validation
//! split (successive halving, [`distill::tune`]), training and recording the teacher first
//! when needed.

use super::{Cli, Common};
use distill::error::Result;
use distill::pipeline::ensure_teacher_and_store;

/// Arguments of `distill tune`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Reuse the teacher, its store and every finished run of the search.
    #[arg(long)]
    resume: bool,
}

/// Runs the search and prints the choice.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let (task, opts) = args.common.load(cli, args.resume, !args.resume)?;
    let summary = distill::with_task!(&task, t => {
        let mut timings = distill::report::Timings::default();
        ensure_teacher_and_store(t, &opts, &mut timings)?;
        distill::pipeline::tune(t, &opts)
    })?;
    println!("{}", distill::tune::verdict_line(&summary));
    println!(
        "search table: {}",
        distill::tune::tune_dir(&opts.out).join("tune.md").display()
    );
    Ok(())
}
