//! Latency (batch 1, p50 / p99) and throughput (large batches) of a model's forward pass, for
//! any [`Classifier`]: the kind of data supplies the inputs ([`SpeedInputs`]).

use crate::classifier::Classifier;
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

/// What a speed measurement runs: one input for the batch-1 latency, and a few large batches
/// (with their sizes) for the throughput. Built before timing starts.
pub struct SpeedInputs<I> {
    /// A batch of one.
    pub one: I,
    /// Large batches and how many samples each holds.
    pub batches: Vec<(I, usize)>,
    /// The nominal size of the large batches (reported).
    pub batch: usize,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

/// Times `model` (in evaluation mode): `warmup` untimed batch-1 runs, then `runs` timed ones,
/// then throughput over the large batches, cycled at least twice and for at least half a second.
pub fn measure_speed<M: Classifier>(
    model: &M,
    inputs: &SpeedInputs<M::Input>,
    runs: usize,
    warmup: usize,
) -> SpeedMetrics {
    let sync = |t: Tensor<2>| {
        let _ = t.into_data();
    };
    for _ in 0..warmup {
        sync(model.logits(inputs.one.clone()));
    }
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            sync(model.logits(inputs.one.clone()));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let (mut done, mut throughput) = (0usize, 0.0);
    if let Some((first, _)) = inputs.batches.first() {
        sync(model.logits(first.clone()));
        let start = Instant::now();
        let min_rows = 2 * inputs.batches.iter().map(|(_, n)| n).sum::<usize>();
        let mut k = 0usize;
        while done < min_rows || start.elapsed().as_secs_f64() < 0.5 {
            let (batch, n) = &inputs.batches[k % inputs.batches.len()];
            sync(model.logits(batch.clone()));
            done += n;
            k += 1;
        }
        throughput = done as f64 / start.elapsed().as_secs_f64();
    }
    SpeedMetrics {
        latency_ms_b1_p50: percentile(&times, 0.5),
        latency_ms_b1_p99: percentile(&times, 0.99),
        throughput_per_s: throughput,
        throughput_batch: inputs.batch,
        latency_runs: runs,
    }
}
