//! `distill run`: the whole pipeline from an experiment file.

use super::{Cli, Common, options};
use distill::config::Experiment;
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
    if let Some(experiment) = super::text_experiment(&args.common.config)? {
        let opts = options(cli, args.common.out.clone(), args.resume)?;
        distill::text::pipeline::run_text(&experiment, &opts)?;
        println!("report: {}", args.common.out.join("report.html").display());
        return Ok(());
    }
    let experiment = Experiment::load(&args.common.config)?;
    let opts = options(cli, args.common.out.clone(), args.resume)?;
    distill::pipeline::run_all(&experiment, &opts)?;
    println!("report: {}", args.common.out.join("report.html").display());
    Ok(())
}
