//! `distill demo`: the whole pipeline on built-in data: the Fashion-MNIST subset, or
//! (`--task text`) the ham/spam e-mail subset.

use super::{Cli, options};
use distill::error::Result;
use distill::task::AnyTask;
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
    let (text, origin, out) = if args.task == "text" {
        let out = if args.out == Path::new("runs/demo") {
            PathBuf::from("runs/demo-text")
        } else {
            args.out.clone()
        };
        (distill::TEXT_DEMO_EXPERIMENT, "<built-in text demo>", out)
    } else {
        (
            distill::DEMO_EXPERIMENT,
            "<built-in demo>",
            args.out.clone(),
        )
    };
    let task = AnyTask::parse(text, Path::new(origin), &out, !args.resume)?;
    let opts = options(cli, out.clone(), args.resume)?;
    distill::with_task!(&task, t => distill::pipeline::run_all(t, &opts))?;
    println!(
        "{} demo finished in {:.0}s; report: {}",
        task.kind().name(),
        start.elapsed().as_secs_f64(),
        out.join("report.html").display()
    );
    Ok(())
}
