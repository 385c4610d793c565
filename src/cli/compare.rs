//! `distill compare`: rebuild the report from the models saved in an output folder.

use super::{Cli, Common, options};
use distill::config::Experiment;
use distill::error::Result;
use distill::pipeline::prepare;

/// Arguments of `distill compare`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
}

/// Writes the report.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let experiment = Experiment::load(&args.common.config)?;
    let splits = prepare(&experiment)?;
    let opts = options(cli, args.common.out.clone(), false)?;
    distill::report::compare(&experiment, &splits, &opts, None)?;
    println!("report: {}", args.common.out.join("report.html").display());
    Ok(())
}
