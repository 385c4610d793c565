//! `distill demo`: the whole pipeline on the built-in Fashion-MNIST subset.

use super::{Cli, options};
use distill::config::Experiment;
use distill::error::Result;
use std::path::{Path, PathBuf};

/// Arguments of `distill demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Output folder.
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Continue an interrupted demo.
    #[arg(long)]
    resume: bool,
}

/// Runs the demo.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let experiment = Experiment::parse(distill::DEMO_EXPERIMENT, Path::new("<built-in demo>"))?;
    let opts = options(cli, args.out.clone(), args.resume)?;
    let start = std::time::Instant::now();
    distill::pipeline::run_all(&experiment, &opts)?;
    println!(
        "demo finished in {:.0}s; report: {}",
        start.elapsed().as_secs_f64(),
        args.out.join("report.html").display()
    );
    Ok(())
}
