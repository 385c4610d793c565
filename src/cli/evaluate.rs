//! `distill evaluate`: one saved model's metrics on the held-out set.

use super::{Cli, options};
use burn::module::Module;
use distill::config::Experiment;
use distill::error::{Error, Result};
use distill::eval::{measure_speed, predict_logits, quality};
use distill::pipeline::{load_model, prepare};
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
    if super::text_experiment(&args.config)?.is_some() {
        return Err(Error::Argument {
            arg: "config".into(),
            value: args.config.display().to_string(),
            reason: "a text experiment: `distill compare` measures its models, `distill predict --text` runs one".into(),
        });
    }
    if args.role != "teacher" && args.role != "student" {
        return Err(Error::Argument {
            arg: "--role".into(),
            value: args.role.clone(),
            reason: "expected teacher or student".into(),
        });
    }
    let experiment = Experiment::load(&args.config)?;
    let splits = prepare(&experiment)?;
    let opts = options(cli, PathBuf::new(), false)?;
    let model = load_model(
        &experiment,
        &args.role,
        &splits,
        &args.weights,
        &opts.device,
    )?;
    let test = &splits.test;
    let logits = predict_logits(&model, test, splits.normalize, 512, &opts.device);
    let q = quality(
        &logits,
        &test.labels,
        &experiment.class_names(),
        None,
        experiment.evaluation.ece_bins,
    );
    let ev = &experiment.evaluation;
    let s = measure_speed(
        &model,
        test.height,
        test.width,
        ev.latency_runs,
        ev.warmup_runs,
        ev.throughput_batch,
        &opts.device,
    );
    println!(
        "{}: accuracy {:.2}%, macro-F1 {:.4}, ECE {:.4}, params {}, latency p50 {:.3} ms / p99 {:.3} ms, {:.0} samples/s",
        args.weights.display(),
        100.0 * q.accuracy,
        q.macro_f1,
        q.ece,
        model.num_params(),
        s.latency_ms_b1_p50,
        s.latency_ms_b1_p99,
        s.throughput_per_s
    );
    if let Some(path) = &args.json {
        let value = serde_json::json!({ "weights": args.weights, "params": model.num_params(), "quality": q, "speed": s });
        distill::fsutil::write_atomic(
            path,
            serde_json::to_string_pretty(&value)
                .expect("json")
                .as_bytes(),
        )?;
    }
    Ok(())
}
