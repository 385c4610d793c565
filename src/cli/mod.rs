//! Subcommands, one file each. Each has an `Args` struct and an `exec` function.

mod bench;
mod compare;
mod demo;
mod evaluate;
mod export;
mod import;
mod predict;
mod record;
mod run;
mod store;
mod student;
mod sweep;
mod train;
mod tune;

use clap::{Parser, Subcommand};
use distill::error::Result;
use distill::pipeline::{RunOptions, teacher_path};
use distill::soft_labels::StoreLocation;
use distill::task::AnyTask;
use std::path::PathBuf;
use std::process::ExitCode;

/// Knowledge distillation: teacher → recorded soft labels → student → comparison report.
#[derive(Parser)]
#[command(name = "distill", version, about)]
pub struct Cli {
    /// Compute device: flex (CPU, default); wgpu or cuda when built with those features.
    #[arg(long, global = true, default_value = "flex")]
    device: String,
    /// No progress output.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Memory budget (e.g. 512MiB, 4GiB): image sets whose decoded pixels exceed half of it are
    /// read from the image cache file as batches need them instead of being held in memory,
    /// and models that would not fit are refused. Default: the memory available.
    #[arg(long, global = true, value_parser = distill::limits::parse_size)]
    memory: Option<u128>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline on the built-in Fashion-MNIST subset (no download).
    Demo(demo::Args),
    /// Run the whole pipeline from an experiment file.
    Run(run::Args),
    /// Train the teacher.
    Train(train::Args),
    /// Import a teacher trained elsewhere (PyTorch .pt/.pth or safetensors), checking its accuracy.
    Import(import::Args),
    /// Record the teacher's soft labels (optionally one shard of several).
    Record(record::Args),
    /// Train a student against the recorded soft labels (or the no-KD baseline).
    Student(student::Args),
    /// Evaluate one saved model on the held-out set.
    Evaluate(evaluate::Args),
    /// Rebuild the comparison report from the models in an output folder.
    Compare(compare::Args),
    /// Choose the objective, T and α on validation data (objective = "auto"), by successive
    /// halving, reusing one teacher and one store.
    Tune(tune::Args),
    /// Sweep temperatures, α and objectives over seeds, reusing one teacher and one store.
    Sweep(sweep::Args),
    /// Predict the top-k classes of images, IDX or CSV batches with a saved model.
    Predict(predict::Args),
    /// Export a saved model as ONNX (opset 13), for other runtimes.
    Export(export::Args),
    /// Time training steps, soft-label recording, epochs and inference (synthetic data).
    Bench(bench::Args),
    /// Verify or list a soft-label store, in a folder or on object storage.
    Store(store::Args),
}

/// Arguments shared by the steps that work in an output folder.
#[derive(clap::Args)]
pub struct Common {
    /// The experiment file (TOML; `task = "image" | "text" | "tabular"`, image by default).
    config: PathBuf,
    /// Output folder.
    #[arg(long, default_value = "runs/experiment")]
    out: PathBuf,
}

impl Common {
    /// Loads the experiment and its data (whatever its kind), and builds the run options. A
    /// text task's tokenizers are rebuilt when `fresh`, else read from the output folder.
    /// The output folder is locked for this process (after the experiment and its data were
    /// checked): two runs never write one folder at once.
    fn load(&self, cli: &Cli, resume: bool, fresh: bool) -> Result<(AnyTask, RunOptions)> {
        let loaded = self.load_unlocked(cli, resume, fresh)?;
        distill::fsutil::lock_output(&self.out)?;
        Ok(loaded)
    }

    /// [`Common::load`] without the lock: `record`, whose shards are written by concurrent
    /// processes into one store.
    fn load_unlocked(&self, cli: &Cli, resume: bool, fresh: bool) -> Result<(AnyTask, RunOptions)> {
        let task = AnyTask::load(&self.config, &self.out, fresh)?;
        Ok((task, options(cli, self.out.clone(), resume)?))
    }
}

/// Where the teacher and its soft-label store are, when not in the output folder.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Teacher weights (default: OUT/teacher.safetensors).
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Soft-label store: a folder, or `s3://bucket/prefix` (also `gs://`, `az://`,
    /// `file://`) with credentials from the environment (default: `[soft_labels] location`,
    /// else OUT/soft_labels).
    #[arg(long)]
    store: Option<String>,
}

impl StoreArgs {
    /// The teacher's weights and the store, defaulting to the experiment's.
    fn resolve(
        &self,
        task: &distill::task::AnyTask,
        out: &std::path::Path,
    ) -> Result<(PathBuf, StoreLocation)> {
        let store = match &self.store {
            Some(s) => StoreLocation::parse(s)?,
            None => distill::with_task!(task, t => distill::pipeline::own_store(t, out))?,
        };
        Ok((
            self.teacher.clone().unwrap_or_else(|| teacher_path(out)),
            store,
        ))
    }
}

fn options(cli: &Cli, out: PathBuf, resume: bool) -> Result<RunOptions> {
    Ok(RunOptions {
        out,
        resume,
        progress: !cli.quiet,
        device: distill::device_by_name(&cli.device)?,
        stop_after_epochs: None,
    })
}

/// Help and version go to stdout with exit 0; a bad command line is one line on stderr (the
/// error, and where to look) with exit 1, like every other bad input.
fn argument_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `distill` alone, or a subcommand group without its subcommand: the help, and 1.
            let _ = e.print();
            ExitCode::FAILURE
        }
        _ => {
            // The error's first paragraph (it may list the missing arguments), on one line.
            let rendered = e.render().to_string();
            let first: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect();
            let first = first.join(" ");
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            eprintln!("error: {first} (see `distill --help`)");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line, runs the subcommand, prints any error chain on one line.
/// `unbounded` runs first when no memory budget is set (the allocator keeps freed memory).
pub fn main(unbounded: fn()) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(e),
    };
    let filter = if cli.quiet { "warn" } else { "info" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match cli.memory {
        Some(bytes) => distill::limits::set_memory_budget(bytes),
        None => unbounded(),
    }
    let result = match &cli.command {
        Command::Demo(a) => demo::exec(&cli, a),
        Command::Run(a) => run::exec(&cli, a),
        Command::Train(a) => train::exec(&cli, a),
        Command::Import(a) => import::exec(&cli, a),
        Command::Record(a) => record::exec(&cli, a),
        Command::Student(a) => student::exec(&cli, a),
        Command::Evaluate(a) => evaluate::exec(&cli, a),
        Command::Compare(a) => compare::exec(&cli, a),
        Command::Sweep(a) => sweep::exec(&cli, a),
        Command::Tune(a) => tune::exec(&cli, a),
        Command::Predict(a) => predict::exec(&cli, a),
        Command::Export(a) => export::exec(&cli, a),
        Command::Bench(a) => bench::exec(&cli, a),
        Command::Store(a) => store::exec(&cli, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let text = s.to_string();
                if !msg.contains(&text) {
                    msg.push_str(&format!(": {text}"));
                }
                source = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
