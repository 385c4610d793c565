//! `distill compare`: rebuild the report from the models saved in an output folder.

use super::{Cli, Common};
use distill::error::Result;

/// Arguments of `distill compare`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
}

/// Writes the report.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let (task, opts) = args.common.load(cli, false, false)?;
    distill::with_task!(&task, t => distill::pipeline::compare(t, &opts, None))?;
    println!("report: {}", args.common.out.join("report.html").display());
    Ok(())
}
