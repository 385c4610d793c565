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
    if let Some(exp) = super::text_experiment(&args.common.config)? {
        let opts = super::options(cli, args.common.out.clone(), false)?;
        let splits = distill::text::pipeline::load_text_data(&exp)?;
        distill::text::pipeline::compare_text(&exp, &splits, &opts, None)?;
        println!("report: {}", args.common.out.join("report.html").display());
        return Ok(());
    }
    let (experiment, splits, opts) = args.common.load(cli, false)?;
    distill::report::compare(&experiment, &splits, &opts, None)?;
    println!("report: {}", args.common.out.join("report.html").display());
    Ok(())
}
