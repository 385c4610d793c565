//! `distill sweep`: a grid of temperatures, α and objectives over seeds, one teacher and one
//! soft-label store for all of it, on any kind of data.

use super::{Cli, options};
use distill::error::Result;
use distill::sweep::{Sweep, SweepConfig, apply_budget, run_sweep};
use distill::task::{AnyTask, Task};
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
    let config = SweepConfig::load(&args.config)?;
    let mut task = AnyTask::load(&config.experiment, &args.out, !args.resume)?;
    let opts = options(cli, args.out.clone(), args.resume)?;
    distill::with_task!(&mut task, t => {
        let sweep = Sweep::new(config, t.settings(), t.class_names().len(), &args.config)?;
        apply_budget(t, &sweep);
        // Locked once the sweep is checked: nothing is written for a refused one.
        distill::fsutil::lock_output(&args.out)?;
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
        run_sweep(t, &sweep, &opts)
    })?;
    println!("sweep report: {}", args.out.join("sweep.html").display());
    Ok(())
}
