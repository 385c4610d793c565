//! `distill predict`: top-k classes of images (PNG/JPEG), IDX or CSV batches, or of texts, with a
//! saved model.

use super::Cli;
use distill::error::Result;
use distill::predict::Predictor;
use distill::text::predict::{TextPredictor, is_text_model};
use std::path::PathBuf;

/// Arguments of `distill predict`.
#[derive(clap::Args)]
pub struct Args {
    /// Model weights (`*.safetensors`, with the `*.model.json` card distill wrote beside them).
    #[arg(long)]
    model: PathBuf,
    /// Inputs: `.png`/`.jpg` images, IDX image files, or `.csv` files of pixel rows; for a text
    /// model, text files with one text per line (or the texts themselves, with `--text`).
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
}

/// Prints the predictions.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let device = distill::device_by_name(&cli.device)?;
    let predictions = if is_text_model(&args.model) {
        let predictor = TextPredictor::load_on(&args.model, device)?;
        if args.text {
            let texts: Vec<String> = args
                .inputs
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            predictor.predict_texts(&texts, args.top_k)?
        } else {
            predictor.predict_files(&args.inputs, args.top_k)?
        }
    } else {
        // Without a card, loading below says what is missing.
        if args.text && distill::predict::ModelCard::path_for(&args.model).is_file() {
            return Err(distill::error::Error::Argument {
                arg: "--text".into(),
                value: args.model.display().to_string(),
                reason: "this is an image model (its card has no task = \"text\")".into(),
            });
        }
        Predictor::load_on(&args.model, device)?.predict_files(&args.inputs, args.top_k)?
    };
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
