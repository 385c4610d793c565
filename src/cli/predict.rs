//! `distill predict`: top-k classes with a saved model of any kind: images (PNG/JPEG), IDX or
//! pixel CSV files; texts (files of one text per line, or the texts themselves with `--text`);
//! tabular CSV rows.

use super::Cli;
use distill::error::{Error, Result};
use distill::predict::AnyPredictor;
use std::path::PathBuf;

/// Arguments of `distill predict`.
#[derive(clap::Args)]
pub struct Args {
    /// Model weights (`*.safetensors`, with the `*.model.json` card distill wrote beside them).
    #[arg(long)]
    model: PathBuf,
    /// Inputs: `.png`/`.jpg` images, IDX image files, or `.csv` files of pixel rows; for a text
    /// model, text files with one text per line (or the texts themselves, with `--text`); for a
    /// tabular model, CSV files with the training file's columns.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Text models: the inputs are the texts to classify, not files.
    #[arg(long)]
    text: bool,
    /// How many classes to show per input.
    #[arg(long, default_value_t = 3)]
    top_k: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The model's own probabilities, without the temperature scaling its card holds (fitted
    /// on the validation split when it was trained, and applied when it lowered the likelihood
    /// of held-out folds there).
    #[arg(long)]
    uncalibrated: bool,
}

/// Prints the predictions.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    if args.top_k == 0 {
        return Err(Error::Argument {
            arg: "--top-k".into(),
            value: "0".into(),
            reason: "must be at least 1".into(),
        });
    }
    let device = distill::device_by_name(&cli.device)?;
    let mut predictor = AnyPredictor::load_on(&args.model, device)?;
    if args.uncalibrated {
        predictor = predictor.uncalibrated();
    }
    let predictions = match (&predictor, args.text) {
        (AnyPredictor::Text(p), true) => {
            let texts: Vec<String> = args
                .inputs
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            p.predict_texts(&texts, args.top_k)?
        }
        (_, true) => {
            return Err(Error::Argument {
                arg: "--text".into(),
                value: args.model.display().to_string(),
                reason: format!(
                    "this is an {} model (its card has no task = \"text\")",
                    predictor.kind().name()
                ),
            });
        }
        (_, false) => predictor.predict_files(&args.inputs, args.top_k)?,
    };
    if predictions.is_empty() {
        return Err(Error::Argument {
            arg: "INPUTS".into(),
            value: args
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: "hold nothing to predict (empty files?)".into(),
        });
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&predictions).expect("predictions serialise")
        );
    } else {
        for p in &predictions {
            let top: Vec<String> = p
                .top
                .iter()
                .map(|c| format!("{} {:.1}%", c.name, 100.0 * c.probability))
                .collect();
            println!("{}: {}", p.input, top.join(", "));
        }
    }
    Ok(())
}
