//! Runs an ONNX file exported by `distill export` in tract (an independent, pure-Rust ONNX
//! runtime) over an IDX test set and prints its top-1 accuracy, to hold against distill's own
//! evaluation of the same student.
//!
//! ```text
//! cargo run --release --example onnx_accuracy -- student.onnx \
//!     /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
//!     /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz 0.2860 0.3530
//! ```
//!
//! The last two arguments are the normalisation the model was trained with (`distill export`
//! prints them): each pixel goes in as `(x / 255 − mean) / std`.
//!
//! Colour models, over an image folder (one sub-folder per class, named as the card's
//! classes), decoded as distill decodes it with the normalisation of the card beside WEIGHTS:
//!
//! ```text
//! cargo run --release --example onnx_accuracy -- student.onnx data/images/emoji/test \
//!     runs/x/student_kd-seed1.safetensors
//! ```

use distill::data::idx::read_idx;
use std::path::PathBuf;
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 3 {
        return folder_accuracy(&args[0], &args[1], &args[2]);
    }
    if args.len() != 5 {
        eprintln!(
            "usage: onnx_accuracy MODEL.onnx IMAGES.idx[.gz] LABELS.idx[.gz] MEAN STD\n   \
             or: onnx_accuracy MODEL.onnx IMAGE_FOLDER WEIGHTS.safetensors"
        );
        std::process::exit(2);
    }
    let (mean, std): (f32, f32) = (args[3].parse()?, args[4].parse()?);
    let images = read_idx(&PathBuf::from(&args[1]))?;
    let labels = read_idx(&PathBuf::from(&args[2]))?;
    let (n, h, w) = (images.dims[0], images.dims[1], images.dims[2]);
    anyhow::ensure!(
        labels.dims == [n],
        "{} labels for {n} images",
        labels.dims[0]
    );
    let plan = tract_onnx::onnx()
        .model_for_path(&args[0])?
        .into_optimized()?
        .into_runnable()?;
    let started = std::time::Instant::now();
    let (mut correct, batch) = (0usize, 500usize);
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let pixels: Vec<f32> = images.data[start * h * w..end * h * w]
            .iter()
            .map(|&p| (p as f32 / 255.0 - mean) / std)
            .collect();
        let x = Tensor::from_shape(&[end - start, 1, h, w], &pixels)?;
        let out = plan.run(tvec![x.into()])?;
        for (i, best) in top1(&out[0])?.into_iter().enumerate() {
            correct += usize::from(best == labels.data[start + i] as usize);
        }
    }
    println!(
        "tract: {} images, top-1 accuracy {:.2}% ({correct} correct), {:.1}s",
        n,
        100.0 * correct as f64 / n as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Top-1 accuracy of the ONNX file over an image folder, its pixels decoded and normalised as
/// distill does for the model whose card sits beside `weights`.
fn folder_accuracy(onnx: &str, folder: &str, weights: &str) -> TractResult<()> {
    use distill::data::photos::{FolderSpec, read_folder};
    let card = distill::predict::ModelCard::load_for(std::path::Path::new(weights))?;
    let [c, h, w] = card.input;
    let spec = FolderSpec {
        channels: c,
        size: [h, w],
        resize: card.resize_or_default(),
        on_bad_image: distill::config::BadImagePolicy::Fail,
        cache: false,
        cache_dir: None,
        memory_limit: None,
    };
    let data = read_folder(
        std::path::Path::new(folder),
        &card.class_names,
        false,
        &spec,
    )?
    .data;
    let plan = tract_onnx::onnx()
        .model_for_path(onnx)?
        .into_optimized()?
        .into_runnable()?;
    let started = std::time::Instant::now();
    let (n, per) = (data.len(), c * h * w);
    let (mut correct, batch) = (0usize, 256usize);
    let mut pixels = vec![0f32; batch * per];
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let m = end - start;
        distill::data::normalize_rows(&data, start..end, card.normalize, &mut pixels[..m * per]);
        let x = Tensor::from_shape(&[m, c, h, w], &pixels[..m * per])?;
        let out = plan.run(tvec![x.into()])?;
        for (i, best) in top1(&out[0])?.into_iter().enumerate() {
            correct += usize::from(best == data.labels[start + i] as usize);
        }
    }
    println!(
        "tract: {n} images of {folder}, top-1 accuracy {:.2}% ({correct} correct), {:.1}s",
        100.0 * correct as f64 / n.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The most probable class of each row of a `[n, classes]` output.
fn top1(out: &TValue) -> TractResult<Vec<usize>> {
    let logits = out.to_plain_array_view::<f32>()?;
    let classes = logits.shape()[1];
    let flat: Vec<f32> = logits.iter().copied().collect();
    Ok(flat
        .chunks(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(k, _)| k)
        })
        .collect())
}
