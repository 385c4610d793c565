//! `distill export`: a saved model as an ONNX file, for other runtimes.

use super::Cli;
use distill::error::{Error, Result};
use distill::export::onnx::{
    INPUT_NAME, LOGITS_NAME, OnnxOptions, PROBABILITIES_NAME, export_onnx,
};
use distill::predict::ModelCard;
use std::path::PathBuf;

/// Arguments of `distill export`.
#[derive(clap::Args)]
pub struct Args {
    /// Model weights (`*.safetensors`, with the `*.model.json` card distill wrote beside them).
    #[arg(long)]
    model: PathBuf,
    /// The ONNX file to write (opset 13; input `input` [N, C, H, W] of normalised pixels).
    #[arg(long)]
    onnx: PathBuf,
    /// Append a softmax at this temperature: the file outputs `probabilities` =
    /// softmax(logits / T) instead of `logits`.
    #[arg(long, allow_negative_numbers = true)]
    temperature: Option<f32>,
}

/// Writes the ONNX file and says what it takes and gives.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    if let Some(t) = args.temperature
        && !(t.is_finite() && t > 0.0)
    {
        return Err(Error::Argument {
            arg: "--temperature".into(),
            value: t.to_string(),
            reason: "must be a finite number > 0".into(),
        });
    }
    let opts = OnnxOptions {
        softmax_temperature: args.temperature,
    };
    export_onnx(&args.model, &args.onnx, &opts)?;
    if !cli.quiet {
        let card = ModelCard::load_for(&args.model)?;
        let [c, h, w] = card.input;
        let output = match args.temperature {
            Some(t) => format!("{PROBABILITIES_NAME} (softmax at T = {t})"),
            None => LOGITS_NAME.to_string(),
        };
        println!(
            "wrote {}: {INPUT_NAME} [N, {c}, {h}, {w}] of pixels normalised as (x / 255 - {}) / {} -> {output} [N, {}]",
            args.onnx.display(),
            card.normalize.mean,
            card.normalize.std,
            card.class_names.len()
        );
    }
    Ok(())
}
