//! Evaluation: logits over a data set, quality metrics, size and speed.

mod metrics;
mod speed;

pub use metrics::{ClassMetrics, QualityMetrics, accuracy_of, expected_calibration_error, quality};
pub use speed::{SpeedMetrics, measure_speed};

use crate::config::Normalize;
use crate::data::{ImageDataset, make_batch};
use crate::models::Model;
use burn::tensor::Device;

/// The model's logits for every image of `data` (`len × classes`, row-major), in batches.
/// `model` must be in evaluation mode ([`burn::module::Module::valid`]).
pub fn predict_logits(
    model: &Model,
    data: &ImageDataset,
    norm: Normalize,
    batch_size: usize,
    device: &Device,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len() * data.num_classes);
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = make_batch(data, chunk, norm, None, device);
        let logits = model.forward(batch.images);
        out.extend(logits.into_data().try_to_vec::<f32>().expect("f32 logits"));
    }
    out
}
