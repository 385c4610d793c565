//! `distill bench`: times training steps, recording, epochs and inference on synthetic data.

use super::Cli;
use distill::bench::{BenchOptions, WORKLOADS, run};
use distill::error::Result;
use std::path::PathBuf;

/// Arguments of `distill bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Write the results as JSON: `{"threads": N, "workloads": [{"name", "median_ms",
    /// "samples_per_s", ...}], ...}`.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Few repetitions on small sets: checks that everything runs (not a measurement).
    #[arg(long)]
    quick: bool,
    /// Only the workloads whose names contain one of these (comma-separated), e.g.
    /// `--only mlp,record`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Skip the fp32 FMA peak probe (and the GFLOP/s-of-peak figures).
    #[arg(long)]
    no_peak: bool,
    /// List the workloads and exit.
    #[arg(long)]
    list: bool,
}

/// Runs the benchmark, prints one line per workload, writes the JSON.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    if args.list {
        for w in WORKLOADS {
            println!("{w}");
        }
        return Ok(());
    }
    let device = distill::device_by_name(&cli.device)?;
    let opts = BenchOptions {
        quick: args.quick,
        only: args.only.clone(),
        probe_peak: !args.no_peak,
        progress: !cli.quiet,
        scratch: None,
    };
    let report = run(&opts, &device)?;
    if cli.quiet {
        for w in &report.workloads {
            println!("{}", distill::bench::describe(w));
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("report serialises");
        distill::fsutil::write_atomic(path, text.as_bytes())?;
        if !cli.quiet {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
