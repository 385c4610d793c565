//! `distill predict`: top-k classes of images (PNG/JPEG), IDX or CSV batches with a saved model.

use super::Cli;
use distill::error::Result;
use distill::predict::Predictor;
use std::path::PathBuf;

/// Arguments of `distill predict`.
#[derive(clap::Args)]
pub struct Args {
    /// Model weights (`*.safetensors`, with the `*.model.json` card distill wrote beside them).
    #[arg(long)]
    model: PathBuf,
    /// Inputs: `.png`/`.jpg` images, IDX image files, or `.csv` files of pixel rows.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// How many classes to show per input.
    #[arg(long, default_value_t = 3)]
    top_k: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints the predictions.
pub fn exec(cli: &Cli, args: &Args) -> Result<()> {
    let predictor = Predictor::load_on(&args.model, distill::device_by_name(&cli.device)?)?;
    let predictions = predictor.predict_files(&args.inputs, args.top_k)?;
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
