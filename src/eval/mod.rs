//! Evaluation: logits over a data set, quality metrics, size and speed.

mod metrics;
mod speed;

pub use crate::classifier::predict_logits;
pub use metrics::{ClassMetrics, QualityMetrics, accuracy_of, expected_calibration_error, quality};
pub use speed::{SpeedInputs, SpeedMetrics, measure_speed};
