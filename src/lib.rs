//! # distill
//!
//! Knowledge distillation on a user's own data: train (or load) a large **teacher**, record its
//! temperature-softened outputs once, train a small **student** against them, and compare the
//! two (and a student trained without KD) on the same held-out data.
//!
//! The flow, one module per stage:
//!
//! - [`config`]: the experiment file, validated before any work starts;
//! - [`data`]: IDX loading, the built-in Fashion-MNIST subset, splits, batching;
//! - [`models`]: architectures as a tagged enum ([`models::ModelConfig`] → [`models::Model`]);
//! - [`objective`]: the KD loss family behind one enum;
//! - [`soft_labels`]: the recorded teacher logits (fp16, fingerprinted, sharded);
//! - [`train`]: the training loop, checkpoints and resume;
//! - [`eval`]: metrics, latency and throughput;
//! - [`report`]: JSON, Markdown and HTML reports with charts;
//! - [`pipeline`]: the steps chained together;
//! - [`predict`]: model cards and top-k predictions from a saved model;
//! - [`export`]: a saved model as ONNX, for other runtimes;
//! - [`sweep`]: grids of temperatures, α and objectives over seeds, with their report;
//! - [`bench`]: timings of the real code paths, to hold against PyTorch;
//! - [`text`]: labelled text (CSV, TSV, JSONL) for text classification.
//!
//! ```no_run
//! use distill::{config::Experiment, pipeline::{RunOptions, run_all}};
//! let experiment = Experiment::load("examples/fashion-mnist.toml".as_ref())?;
//! let opts = RunOptions { progress: true, ..RunOptions::new("runs/fmnist") };
//! let report = run_all(&experiment, &opts)?;
//! println!("student accuracy {:.2}%", 100.0 * report.models["student_kd"].quality.accuracy);
//! # Ok::<(), distill::error::Error>(())
//! ```
#![warn(missing_docs)]

pub mod bench;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod export;
pub mod fsutil;
pub mod models;
pub mod objective;
pub mod pipeline;
pub mod predict;
pub mod progress;
pub mod report;
pub mod soft_labels;
pub mod sweep;
pub mod text;
pub mod train;

/// The built-in demo experiment (Fashion-MNIST subset embedded in the binary).
pub const DEMO_EXPERIMENT: &str = include_str!("../examples/demo.toml");

/// The built-in text demo experiment (ham/spam subset embedded in the binary).
pub const TEXT_DEMO_EXPERIMENT: &str = include_str!("../examples/text-demo.toml");

/// The default compute device: burn's `flex` CPU backend.
pub fn default_device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}

/// The device named `name`: `flex` (CPU), or `wgpu` / `cuda` when compiled with those features.
pub fn device_by_name(name: &str) -> error::Result<burn::tensor::Device> {
    match name {
        "flex" | "cpu" => Ok(burn::tensor::Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(burn::tensor::Device::wgpu(Default::default())),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(burn::tensor::Device::cuda(0)),
        other => Err(error::Error::Argument {
            arg: "--device".into(),
            value: other.into(),
            reason:
                "expected `flex`; `wgpu` and `cuda` need distill built with those cargo features"
                    .into(),
        }),
    }
}
