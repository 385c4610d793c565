//! Evaluation: logits over a data set, quality metrics, temperature scaling, size and speed.

pub mod calibration;
mod metrics;
mod speed;

pub use crate::classifier::predict_logits;
pub use metrics::{
    ClassMetrics, QualityMetrics, ReliabilityBin, accuracy_of, expected_calibration_error, hits_of,
    quality, reliability,
};
pub use speed::{SpeedInputs, SpeedMetrics, measure_speed};
