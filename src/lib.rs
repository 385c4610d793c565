//! # distill
//!
//! Knowledge distillation on a user's own data: train (or load) a large **teacher**, record its
//! temperature-softened outputs once, train a small **student** against them, and compare the
//! two (and a student trained without KD) on the same held-out data.
//!
//! One pipeline serves every kind of data. A [`task::Task`] (images, text or tabular rows)
//! holds the data-specific parts; everything else is written once over it:
//!
//! - [`vocab`]: the shared vocabulary (roles, kinds, features, normalisation), depending on
//!   nothing;
//! - [`classifier`]: the [`classifier::Rows`] and [`classifier::Classifier`] traits the loop,
//!   the recorder and the evaluation are generic over;
//! - [`task`]: the seam ([`task::Task`]) and its three kinds, [`task::AnyTask`] to load any;
//! - [`config`], [`text::config`], [`tabular`]: the experiment files, validated before any work;
//! - [`data`], [`text`], [`tabular`]: each kind's own loading, batching and models;
//! - [`models`]: image architectures (MLP, CNN) and PyTorch import;
//! - [`kernels`]: distill's own convolution kernels on the flex backend (burn's extension API);
//! - [`objective`]: the KD loss family behind one enum;
//! - [`soft_labels`]: the recorded teacher logits (fp16, fingerprinted, sharded);
//! - [`train`]: the one training loop, checkpoints and resume;
//! - [`eval`]: metrics, latency and throughput;
//! - [`pipeline`]: the steps chained together, the comparison, evaluation;
//! - [`report`]: the report's data, as JSON, Markdown and HTML with charts;
//! - [`card`], [`predict`]: model cards and top-k predictions from a saved model of any kind;
//! - [`export`]: a saved image model as ONNX or PyTorch-layout safetensors;
//! - [`sweep`]: grids of temperatures, α and objectives over seeds, with their report;
//! - [`bench`]: timings of the real code paths, to hold against PyTorch;
//! - [`layout`]: where everything lives in an output folder;
//! - [`split`]: the seeded, stratified validation split every kind uses;
//! - [`tune`]: the automatic, validated choice of objective, T and α (successive halving).
//!
//! ```no_run
//! use distill::pipeline::{RunOptions, run_all};
//! use distill::task::AnyTask;
//! let opts = RunOptions { progress: true, ..RunOptions::new("runs/fmnist") };
//! let task = AnyTask::load("examples/fashion-mnist.toml".as_ref(), &opts.out, true)?;
//! let report = distill::with_task!(&task, t => run_all(t, &opts))?;
//! println!("student accuracy {:.2}%", 100.0 * report.models["student_kd"].quality.accuracy);
//! # Ok::<(), distill::error::Error>(())
//! ```
#![warn(missing_docs)]

pub mod artefact;
pub mod bench;
pub mod card;
pub mod classifier;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod export;
pub mod fsutil;
pub mod kernels;
pub mod layout;
pub mod limits;
pub mod models;
pub mod objective;
pub mod pipeline;
pub mod predict;
pub mod progress;
pub mod report;
pub mod soft_labels;
pub mod split;
pub mod sweep;
pub mod tabular;
pub mod task;
pub mod text;
pub mod train;
pub mod tune;
pub mod vocab;
pub mod weights;

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
