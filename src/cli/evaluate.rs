//! `distill evaluate`: one saved model's metrics on the held-out set, for any kind of data.

use super::{Cli, options};
use distill::error::{Error, Result};
use distill::task::AnyTask;
use distill::vocab::Role;
use std::path::PathBuf;

/// Arguments of `distill evaluate`.
#[derive(clap::Args)]
pub struct Args {
    /// The experiment file (TOML).
    config: PathBuf,
    /// The weights (safetensors) to evaluate.
    #[arg(long)]
    weights: PathBuf,
    /// Which architecture of the experiment the weights are: teacher or student.
    #[arg(long, default_value = "student")]
    role: String,
    /// Also write the metrics as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Evaluates and prints.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let role = match args.role.as_str() {
        "teacher" => Role::Teacher,
        "student" => Role::Student,
        _ => {
            return Err(Error::Argument {
                arg: "--role".into(),
                value: args.role.clone(),
                reason: "expected teacher or student".into(),
            });
        }
    };
    // Only weights whose integrity can be checked are scored: their sealed card must be there.
    if distill::artefact::stamp_of(&args.weights)?.is_none() {
        return Err(Error::Weights {
            path: args.weights.clone(),
            message: format!(
                "no sealed model card beside it ({}), so nothing proves the weights are the ones \
                 distill saved; evaluate a model distill saved, with its card",
                distill::artefact::card_path(&args.weights).display()
            ),
        });
    }
    // A text model's tokenizers sit beside its weights.
    let dir = args.weights.parent().map(PathBuf::from).unwrap_or_default();
    let task = AnyTask::load(&args.config, &dir, false)?;
    let opts = options(cli, dir, false)?;
    let r = distill::with_task!(&task, t => distill::pipeline::evaluate(t, role, &args.weights, &opts))?;
    let (q, s) = (&r.quality, &r.speed);
    println!(
        "{}: accuracy {:.2}%, macro-F1 {:.4}, ECE {:.4}, params {}, latency p50 {:.3} ms / p99 {:.3} ms, {:.0} samples/s",
        args.weights.display(),
        100.0 * q.accuracy,
        q.macro_f1,
        q.ece,
        r.params,
        s.latency_ms_b1_p50,
        s.latency_ms_b1_p99,
        s.throughput_per_s
    );
    if let Some(path) = &args.json {
        let value = serde_json::json!({ "weights": args.weights, "params": r.params, "quality": q, "speed": s });
        distill::fsutil::write_atomic(
            path,
            serde_json::to_string_pretty(&value)
                .expect("json")
                .as_bytes(),
        )?;
    }
    Ok(())
}
