//! `distill export`: a saved model as an ONNX file, for other runtimes, and/or as safetensors
//! with PyTorch's names and layouts, for PyTorch.

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
    #[arg(long, required_unless_present = "safetensors")]
    onnx: Option<PathBuf>,
    /// A safetensors file to write with PyTorch's names and layouts (linear weights [out, in],
    /// BatchNorm weight/bias), loadable with `load_state_dict` into the module
    /// `python/distill_torch.py` builds from the card written beside it.
    #[arg(long)]
    safetensors: Option<PathBuf>,
    /// Append a softmax at this temperature: the file outputs `probabilities` =
    /// softmax(logits / T) instead of `logits`.
    #[arg(long, allow_negative_numbers = true, conflicts_with = "calibrated")]
    temperature: Option<f32>,
    /// Append a softmax at the temperature the card's calibration holds (fitted on the
    /// validation split when the model was trained): the probabilities `distill predict` gives.
    #[arg(long)]
    calibrated: bool,
}

/// Writes the ONNX file and says what it takes and gives.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    use distill::vocab::TaskKind;
    match distill::card::card_task(&args.model) {
        Ok(TaskKind::Text) => {
            return Err(Error::Argument {
                arg: "--model".into(),
                value: args.model.display().to_string(),
                reason: "a text model: ONNX and PyTorch-layout export cover image and tabular models so far; its safetensors file, card and tokenizer.json beside it are what `distill predict` loads".into(),
            });
        }
        Ok(TaskKind::Tabular) if args.safetensors.is_some() => {
            return Err(Error::Argument {
                arg: "--safetensors".into(),
                value: args.model.display().to_string(),
                reason: "a tabular model: its own safetensors file is already PyTorch-shaped per layer; --onnx exports it with the standardisation inside".into(),
            });
        }
        _ => {}
    }
    let temperature = match args.calibrated {
        true => match distill::card::card_calibration(&args.model)? {
            Some(c) if c.applied => Some(c.temperature as f32),
            Some(c) => {
                return Err(Error::Argument {
                    arg: "--calibrated".into(),
                    value: args.model.display().to_string(),
                    reason: format!(
                        "its card's temperature scaling (T = {:.3}) is not applied: fitted on {}, it did not lower the negative log-likelihood of held-out folds, so `distill predict` gives the model's own probabilities; give --temperature T to append a softmax anyway",
                        c.temperature, c.fitted_on
                    ),
                });
            }
            None => {
                return Err(Error::Argument {
                    arg: "--calibrated".into(),
                    value: args.model.display().to_string(),
                    reason: "its card holds no temperature scaling (trained without a validation split, or saved before distill fitted one): give --temperature T".into(),
                });
            }
        },
        false => args.temperature,
    };
    if let Some(t) = temperature
        && !(t.is_finite() && t > 0.0)
    {
        return Err(Error::Argument {
            arg: "--temperature".into(),
            value: t.to_string(),
            reason: "must be a finite number > 0".into(),
        });
    }
    if let Some(path) = &args.safetensors {
        distill::export::export_pytorch_safetensors(&args.model, path)?;
        if !cli.quiet {
            println!(
                "wrote {} (PyTorch names and layouts) and its card {}",
                path.display(),
                ModelCard::path_for(path).display()
            );
        }
    }
    let Some(onnx) = &args.onnx else {
        return Ok(());
    };
    let opts = OnnxOptions {
        softmax_temperature: temperature,
    };
    export_onnx(&args.model, onnx, &opts)?;
    if !cli.quiet {
        let output = match temperature {
            Some(t) => format!("{PROBABILITIES_NAME} (softmax at T = {t})"),
            None => LOGITS_NAME.to_string(),
        };
        if let Ok(card) = distill::card::TabularModelCard::load_for(&args.model) {
            println!(
                "wrote {}: {INPUT_NAME} [N, {}] of encoded features (standardised inside the graph) -> {output} [N, {}]",
                onnx.display(),
                card.schema.num_features(),
                card.schema.class_names.len()
            );
            return Ok(());
        }
        let card = ModelCard::load_for(&args.model)?;
        let [c, h, w] = card.input;
        println!(
            "wrote {}: {INPUT_NAME} [N, {c}, {h}, {w}] of pixels normalised as (x / 255 - {}) / {} -> {output} [N, {}]",
            onnx.display(),
            card.normalize.mean,
            card.normalize.std,
            card.class_names.len()
        );
    }
    Ok(())
}
