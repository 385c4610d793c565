//! `distill sweep`: a grid of temperatures, α and objectives over seeds, one teacher and one
//! soft-label store for all of it.

use super::{Cli, options};
use distill::error::Result;
use distill::sweep::{Sweep, run_sweep};
use std::path::PathBuf;

/// Arguments of `distill sweep`.
#[derive(clap::Args)]
pub struct Args {
    /// The sweep file (TOML): `experiment`, the grid axes and `[methods.NAME]` tables.
    config: PathBuf,
    /// Output folder.
    #[arg(long, default_value = "runs/sweep")]
    out: PathBuf,
    /// Keep finished runs and continue the unfinished one from its last checkpoint.
    #[arg(long)]
    resume: bool,
}

/// Runs the sweep and writes its report.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let sweep = Sweep::load(&args.config)?;
    if !cli.quiet {
        eprintln!(
            "sweep: {} grid points x {} seeds{} = {} student runs",
            sweep.points.len(),
            sweep.seeds.len(),
            if sweep.config.baseline {
                " (+ the no-KD baseline)"
            } else {
                ""
            },
            sweep.run_count()
        );
    }
    let opts = options(cli, args.out.clone(), args.resume)?;
    run_sweep(&sweep, &opts)?;
    println!("sweep report: {}", args.out.join("sweep.html").display());
    Ok(())
}
