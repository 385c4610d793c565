//! `distill run`: the whole pipeline from an experiment file, for any kind of data.

use super::{Cli, Common};
use distill::error::Result;

/// Arguments of `distill run`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    /// Reuse finished steps and continue from the last checkpoint.
    #[arg(long)]
    resume: bool,
}

/// Runs every step.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let (task, opts) = args.common.load(cli, args.resume, !args.resume)?;
    distill::with_task!(&task, t => distill::pipeline::run_all(t, &opts))?;
    println!("report: {}", args.common.out.join("report.html").display());
    Ok(())
}
