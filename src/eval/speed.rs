//! Latency (batch 1, p50 / p99) and throughput (large batch) of a model's forward pass.

use crate::models::Model;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Speed of one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpeedMetrics {
    /// Median batch-1 latency, milliseconds.
    pub latency_ms_b1_p50: f64,
    /// 99th-percentile batch-1 latency, milliseconds.
    pub latency_ms_b1_p99: f64,
    /// Samples per second at `throughput_batch`.
    pub throughput_per_s: f64,
    /// Batch size of the throughput measurement.
    pub throughput_batch: usize,
    /// Timed batch-1 runs.
    pub latency_runs: usize,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

/// Times `model` (in evaluation mode) on random `[1, h, w]` images: `warmup` untimed runs, then
/// `runs` timed batch-1 runs, then throughput over at least five large batches.
pub fn measure_speed(
    model: &Model,
    h: usize,
    w: usize,
    runs: usize,
    warmup: usize,
    batch: usize,
    device: &Device,
) -> SpeedMetrics {
    let one = Tensor::<4>::random(
        [1, 1, h, w],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        device,
    );
    let sync = |t: Tensor<2>| {
        let _ = t.into_data();
    };
    for _ in 0..warmup {
        sync(model.forward(one.clone()));
    }
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            sync(model.forward(one.clone()));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let big = Tensor::<4>::random(
        [batch, 1, h, w],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        device,
    );
    sync(model.forward(big.clone()));
    let start = Instant::now();
    let mut done = 0usize;
    while done < 5 * batch || start.elapsed().as_secs_f64() < 0.5 {
        sync(model.forward(big.clone()));
        done += batch;
    }
    SpeedMetrics {
        latency_ms_b1_p50: percentile(&times, 0.5),
        latency_ms_b1_p99: percentile(&times, 0.99),
        throughput_per_s: done as f64 / start.elapsed().as_secs_f64(),
        throughput_batch: batch,
        latency_runs: runs,
    }
}
