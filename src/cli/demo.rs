//! `distill demo`: the whole pipeline on built-in data: the Fashion-MNIST subset, or
//! (`--task text`) the ham/spam e-mail subset.

use super::{Cli, options};
use distill::config::Experiment;
use distill::error::Result;
use distill::text::config::TextExperiment;
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
    /// Which demo: `images` (Fashion-MNIST subset) or `text` (ham/spam e-mails).
    #[arg(long, default_value = "images", value_parser = ["images", "text"])]
    task: String,
}

/// Runs the demo.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let start = std::time::Instant::now();
    if args.task == "text" {
        let out = if args.out == Path::new("runs/demo") {
            PathBuf::from("runs/demo-text")
        } else {
            args.out.clone()
        };
        let experiment = TextExperiment::parse(
            distill::TEXT_DEMO_EXPERIMENT,
            Path::new("<built-in text demo>"),
        )?;
        let opts = options(cli, out.clone(), args.resume)?;
        distill::text::pipeline::run_text(&experiment, &opts)?;
        println!(
            "text demo finished in {:.0}s; report: {}",
            start.elapsed().as_secs_f64(),
            out.join("report.html").display()
        );
        return Ok(());
    }
    let experiment = Experiment::parse(distill::DEMO_EXPERIMENT, Path::new("<built-in demo>"))?;
    let opts = options(cli, args.out.clone(), args.resume)?;
    distill::pipeline::run_all(&experiment, &opts)?;
    println!(
        "demo finished in {:.0}s; report: {}",
        start.elapsed().as_secs_f64(),
        args.out.join("report.html").display()
    );
    Ok(())
}
