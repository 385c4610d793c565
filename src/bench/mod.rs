//! `distill bench`: times the project's real code paths on synthetic data, so that they can be
//! held against a PyTorch script of the same models and steps (`bench/pytorch/bench_kd.py`).
//!
//! Every workload runs its warm-up repetitions untimed, then reports the median (and, for batch-1
//! inference, the 99th percentile) of its timed repetitions. What runs is the library's own
//! code: [`crate::train::logit_step`] for a training step (the loop's own step), the
//! soft-label recorder ([`crate::soft_labels::record_rows`] into a
//! [`crate::soft_labels::ShardWriter`]), [`crate::train::train`] for whole epochs, and the
//! models' forward pass for inference.
//!
//! The four reference workloads fix their models exactly, so that anyone can rebuild them:
//!
//! - `mlp_kd_train_b128`: MLP 784-1200-1200-10 (ReLU), one KD step at batch 128:
//!   forward, `0.5·CE + 0.5·T²·KL` at T = 4 against fixed teacher logits, backward, Adam
//!   (lr 1e-3), and the loss read back;
//! - `cnn_kd_train_b128`: conv5×5(32)-ReLU-pool-conv5×5(64)-ReLU-pool-fc1024-ReLU-fc10, the
//!   same step;
//! - `mlp_infer_b1` / `mlp_infer_b256`: the MLP's forward pass at batch 1 and 256.
//!
//! `mlp_kd_sgd_train_b128` and `student_kd_sgd_train_b128` are the MLP's and the example
//! student's step with the examples' SGD (lr 0.05, momentum 0.9, Nesterov) instead of Adam.
//!
//! The others use the example experiment's student (`cnn`, blocks `[[8], [16]]`, hidden
//! `[64]`, no BatchNorm) and teacher (`cnn`, blocks `[[32], [64]]`, hidden `[512]`, BatchNorm).

pub mod peak;

use crate::config::{AugmentConfig, Normalize, OptimizerConfig, ScheduleConfig, TrainConfig};
use crate::data::{ImageDataset, Splits};
use crate::error::{Error, Result};
use crate::models::{CnnConfig, MlpConfig, ModelConfig};
use crate::objective::{Objective, ObjectiveConfig};
use crate::progress::Progress;
use crate::soft_labels::{Provenance, ShardHeader, ShardWriter, SoftLabels, record_rows};
use crate::train::{OnlineTeacher, TrainJob, Trainee, build_optimizer, logit_step, train};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use peak::Peak;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Seed of every model and every synthetic tensor of the benchmark.
pub const SEED: u64 = 0;
const CLASSES: usize = 10;
const SIDE: usize = 28;
/// The normalisation of the synthetic images (Fashion-MNIST's).
const NORM: Normalize = Normalize::scalar(0.2860, 0.3530);

/// One timed workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workload {
    /// Stable name, shared with the PyTorch reference.
    pub name: String,
    /// What runs.
    pub description: String,
    /// Median milliseconds per repetition.
    pub median_ms: f64,
    /// 99th-percentile milliseconds (batch-1 latency only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Samples per second at the median.
    pub samples_per_s: f64,
    /// Timed repetitions.
    pub runs: usize,
    /// Samples per repetition.
    pub samples: usize,
    /// Achieved GFLOP/s at the median (dense layers and convolutions, 2 FLOPs per
    /// multiply-add), where counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// `gflops` as a percentage of the measured fp32 FMA peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_of_peak: Option<f64>,
}

/// Everything one `distill bench` run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    /// distill's version.
    pub distill_version: String,
    /// Compute threads (burn's rayon pool).
    pub threads: usize,
    /// Compute backend.
    pub backend: String,
    /// The global allocator of this build.
    pub allocator: String,
    /// The CPU, as the OS names it.
    pub cpu: String,
    /// The vector instruction set the CPU offers.
    pub simd: String,
    /// The measured fp32 FMA peak, when probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<Peak>,
    /// Seed of the models and synthetic data.
    pub seed: u64,
    /// Reduced repetitions (a smoke run, not a measurement).
    pub quick: bool,
    /// The workloads, in the order they ran.
    pub workloads: Vec<Workload>,
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct BenchOptions {
    /// Few repetitions and small synthetic sets: checks that everything runs.
    pub quick: bool,
    /// Only workloads whose names contain one of these (all when empty).
    pub only: Vec<String>,
    /// Probe the FMA peak first.
    pub probe_peak: bool,
    /// Print each workload as it finishes.
    pub progress: bool,
    /// Where the recorder and the epochs write their temporary files (the system's temporary
    /// folder when `None`); removed afterwards.
    pub scratch: Option<PathBuf>,
}

/// The names of every workload, in the order they run.
pub const WORKLOADS: &[&str] = &[
    "mlp_kd_train_b128",
    "mlp_kd_sgd_train_b128",
    "cnn_kd_train_b128",
    "student_kd_train_b128",
    "student_kd_sgd_train_b128",
    "mlp_infer_b1",
    "mlp_infer_b256",
    "cnn_infer_b1",
    "cnn_infer_b256",
    "student_infer_b1",
    "student_infer_b256",
    "teacher_record",
    "epoch_plain",
    "epoch_offline_kd",
    "epoch_online_kd",
    "conv_student1_b128",
    "conv_student2_b128",
    "conv_teacher2_b128",
    "resnet_block_b32",
];

/// A convolution layer timed alone: (name, batch, in channels, out channels, side, what).
const CONV_LAYERS: &[(&str, usize, usize, usize, usize, &str)] = &[
    (
        "conv_student1_b128",
        128,
        1,
        8,
        28,
        "the example student's first conv, 3x3 1->8 at 28x28",
    ),
    (
        "conv_student2_b128",
        128,
        8,
        16,
        14,
        "the example student's second conv, 3x3 8->16 at 14x14",
    ),
    (
        "conv_teacher2_b128",
        128,
        32,
        64,
        14,
        "the example teacher's second conv, 3x3 32->64 at 14x14",
    ),
];

/// The reference MLP: 784-1200-1200-10.
pub fn reference_mlp() -> ModelConfig {
    ModelConfig::Mlp(MlpConfig {
        hidden: vec![1200, 1200],
        dropout: 0.0,
    })
}

/// The reference CNN: conv5×5(32)-pool-conv5×5(64)-pool-fc1024-fc10, no BatchNorm.
pub fn reference_cnn() -> ModelConfig {
    ModelConfig::Cnn(CnnConfig {
        blocks: vec![vec![32], vec![64]],
        hidden: vec![1024],
        kernel_size: 5,
        batch_norm: false,
        residual: false,
        dropout: 0.0,
    })
}

/// The example experiment's student (`examples/fashion-mnist.toml`).
pub fn example_student() -> ModelConfig {
    ModelConfig::Cnn(CnnConfig {
        blocks: vec![vec![8], vec![16]],
        hidden: vec![64],
        kernel_size: 3,
        batch_norm: false,
        residual: false,
        dropout: 0.0,
    })
}

/// The example experiment's teacher (`examples/fashion-mnist.toml`).
pub fn example_teacher() -> ModelConfig {
    ModelConfig::Cnn(CnnConfig {
        blocks: vec![vec![32], vec![64]],
        hidden: vec![512],
        kernel_size: 3,
        batch_norm: true,
        residual: false,
        dropout: 0.2,
    })
}

/// FLOPs (2 per multiply-add) of the dense layers and convolutions of `model` on one
/// `[1, side, side]` image: `(forward, training step)`. A training step is the forward pass,
/// the weight gradients (as many FLOPs again) and the input gradients of every layer but the
/// first (which needs none).
pub fn flops_per_sample(model: &ModelConfig, side: usize, classes: usize) -> (f64, f64) {
    let mut layers: Vec<f64> = Vec::new();
    match model {
        ModelConfig::Mlp(m) => {
            let mut width = side * side;
            for &h in m.hidden.iter().chain(std::iter::once(&classes)) {
                layers.push(2.0 * (width * h) as f64);
                width = h;
            }
        }
        ModelConfig::Cnn(c) => {
            let (mut channels, mut s) = (1usize, side);
            let k2 = (c.kernel_size * c.kernel_size) as f64;
            for block in &c.blocks {
                let block_in = channels;
                for &out in block {
                    layers.push(2.0 * (s * s * channels * out) as f64 * k2);
                    channels = out;
                }
                if c.residual && block_in != channels {
                    layers.push(2.0 * (s * s * block_in * channels) as f64);
                }
                s /= 2;
            }
            let mut width = channels * s * s;
            for &h in c.hidden.iter().chain(std::iter::once(&classes)) {
                layers.push(2.0 * (width * h) as f64);
                width = h;
            }
        }
        ModelConfig::Resnet(r) => layers = r.layer_flops([1, side, side], classes),
        ModelConfig::Mobilenetv2(m) => layers = m.layer_flops([1, side, side], classes),
    }
    let forward: f64 = layers.iter().sum();
    (
        forward,
        3.0 * forward - layers.first().copied().unwrap_or(0.0),
    )
}

/// The median and the `q` quantile of some timings (ms).
fn quantiles(mut times: Vec<f64>, q: f64) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(q))
}

/// Runs `f` `warmup` times untimed, then `runs` times timed (ms each).
fn time_runs(warmup: usize, runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            f()?;
            Ok(start.elapsed().as_secs_f64() * 1e3)
        })
        .collect()
}

/// Fixed random images and labels.
fn synthetic(n: usize, seed: u64) -> ImageDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    ImageDataset {
        images: (0..n * SIDE * SIDE)
            .map(|_| rng.random())
            .collect::<Vec<u8>>()
            .into(),
        labels: (0..n)
            .map(|_| rng.random_range(0..CLASSES as crate::classifier::Label))
            .collect(),
        channels: 1,
        height: SIDE,
        width: SIDE,
        num_classes: CLASSES,
        normalize: NORM,
    }
}

/// Images per forward pass while recording (the pipeline's batch for images).
const RECORD_BATCH: usize = 512;

fn kd_objective(online: bool) -> Objective {
    Objective::new(ObjectiveConfig {
        alpha: 0.5,
        temperature: 4.0,
        online,
        ..ObjectiveConfig::default()
    })
}

fn adam(lr: f64, epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 128,
        optimizer: OptimizerConfig::Adam { lr },
        schedule: ScheduleConfig::Cosine,
        weight_decay: 0.0,
        augment: AugmentConfig::default(),
    }
}

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(base: Option<&Path>, name: &str) -> Result<Self> {
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let dir = base.join(format!("distill-bench-{}-{name}", std::process::id()));
        crate::fsutil::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Runner<'a> {
    opts: &'a BenchOptions,
    device: Device,
    peak: Option<f64>,
    done: Vec<Workload>,
}

impl Runner<'_> {
    fn wanted(&self, name: &str) -> bool {
        self.opts.only.is_empty() || self.opts.only.iter().any(|o| name.contains(o.as_str()))
    }

    /// Repetitions: the full count, or the quick one.
    fn reps(&self, full: (usize, usize), quick: (usize, usize)) -> (usize, usize) {
        if self.opts.quick { quick } else { full }
    }

    fn push(
        &mut self,
        name: &str,
        description: String,
        times: Vec<f64>,
        samples: usize,
        p99: bool,
        flops: Option<f64>,
    ) {
        let runs = times.len();
        let (median, q99) = quantiles(times, 0.99);
        let gflops = flops.map(|f| f / (median / 1e3) / 1e9);
        let w = Workload {
            name: name.to_string(),
            description,
            median_ms: median,
            p99_ms: p99.then_some(q99),
            samples_per_s: samples as f64 / (median / 1e3),
            runs,
            samples,
            gflops,
            percent_of_peak: gflops.zip(self.peak).map(|(g, p)| 100.0 * g / p),
        };
        if self.opts.progress {
            eprintln!("{}", describe(&w));
        }
        self.done.push(w);
    }

    fn train_step(&mut self, name: &str, model: &ModelConfig, what: &str, sgd: bool) -> Result<()> {
        if !self.wanted(name) {
            return Ok(());
        }
        let (warmup, runs) = self.reps((10, 50), (2, 5));
        let batch = 128;
        let ad = self.device.clone().autodiff();
        self.device.seed(SEED);
        let mut trainee = Some(Trainee {
            model: model.init([1, SIDE, SIDE], CLASSES, &ad),
            connectors: Vec::new(),
        });
        let (lr, recipe, optimizer_name) = match sgd {
            false => (1e-3, adam(1e-3, 1), "Adam"),
            true => {
                let lr = 0.05;
                let sgd = OptimizerConfig::Sgd {
                    lr,
                    momentum: 0.9,
                    nesterov: true,
                };
                let recipe = TrainConfig {
                    optimizer: sgd,
                    ..adam(lr, 1)
                };
                (lr, recipe, "SGD, momentum 0.9, Nesterov")
            }
        };
        let mut optimizer = build_optimizer(&recipe);
        let objective = kd_objective(false);
        let images =
            Tensor::<4>::random([batch, 1, SIDE, SIDE], Distribution::Normal(0.0, 1.0), &ad);
        let mut rng = StdRng::seed_from_u64(SEED);
        let labels: Vec<i64> = (0..batch)
            .map(|_| rng.random_range(0..CLASSES as i64))
            .collect();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &ad);
        let teacher = Tensor::<2>::random([batch, CLASSES], Distribution::Normal(0.0, 3.0), &ad);
        let times = time_runs(warmup, runs, || {
            let out = logit_step(
                trainee.take().expect("trainee is put back after each step"),
                &mut optimizer,
                lr,
                &objective,
                images.clone(),
                labels.clone(),
                Some(teacher.clone()),
            );
            trainee = Some(out.trainee);
            Ok(())
        })?;
        let (_, train_flops) = flops_per_sample(model, SIDE, CLASSES);
        self.push(
            name,
            format!("{what}: one KD training step at batch {batch} (forward, 0.5·CE + 0.5·T²·KL at T=4, backward, {optimizer_name})"),
            times,
            batch,
            false,
            Some(train_flops * batch as f64),
        );
        Ok(())
    }

    fn infer(&mut self, name: &str, model: &ModelConfig, what: &str, batch: usize) -> Result<()> {
        if !self.wanted(name) {
            return Ok(());
        }
        let (warmup, runs) = if batch == 1 {
            self.reps((100, 1000), (10, 50))
        } else {
            self.reps((5, 50), (1, 5))
        };
        self.device.seed(SEED);
        let net = model.init([1, SIDE, SIDE], CLASSES, &self.device).valid();
        let images = Tensor::<4>::random(
            [batch, 1, SIDE, SIDE],
            Distribution::Normal(0.0, 1.0),
            &self.device,
        );
        let times = time_runs(warmup, runs, || {
            let _ = net.forward(images.clone()).into_data();
            Ok(())
        })?;
        let (forward, _) = flops_per_sample(model, SIDE, CLASSES);
        self.push(
            name,
            format!("{what}: forward pass at batch {batch}, evaluation mode"),
            times,
            batch,
            batch == 1,
            Some(forward * batch as f64),
        );
        Ok(())
    }

    /// One 3×3, stride-1, padding-1 convolution (with bias), or a residual block of two, timed
    /// forward and backward: `y = conv(x)`, `loss = Σ y·g` for a fixed random `g`, gradients
    /// of the input and the weights.
    fn conv_layer(
        &mut self,
        name: &str,
        batch: usize,
        [cin, cout]: [usize; 2],
        side: usize,
        what: &str,
        block: bool,
    ) -> Result<()> {
        use burn::nn::PaddingConfig2d;
        use burn::nn::conv::Conv2dConfig;
        use burn::tensor::activation::relu;
        if !self.wanted(name) {
            return Ok(());
        }
        let (warmup, runs) = self.reps((10, 50), (2, 5));
        let ad = self.device.clone().autodiff();
        self.device.seed(SEED);
        let make = |i: usize| {
            Conv2dConfig::new([if i == 0 { cin } else { cout }, cout], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(&ad)
        };
        let (c1, c2) = (make(0), make(1));
        let x = Tensor::<4>::random(
            [batch, cin, side, side],
            Distribution::Normal(0.0, 1.0),
            &ad,
        )
        .require_grad();
        let g = Tensor::<4>::random(
            [batch, cout, side, side],
            Distribution::Normal(0.0, 1.0),
            &ad,
        );
        let times = time_runs(warmup, runs, || {
            let y = crate::kernels::conv2d(&c1, x.clone());
            let y = if block {
                relu(x.clone() + crate::kernels::conv2d(&c2, relu(y)))
            } else {
                y
            };
            let grads = (y * g.clone()).sum().backward();
            let _ = x.grad(&grads).map(|t| t.into_data());
            Ok(())
        })?;
        let convs = if block { 2.0 } else { 1.0 };
        // forward 2·k²·cin·cout per output position, backward twice that
        let flops = convs * 3.0 * 2.0 * 9.0 * (cin * cout * side * side * batch) as f64;
        self.push(
            name,
            format!("{what}: forward and backward (input and weight gradients) at batch {batch}"),
            times,
            batch,
            false,
            Some(flops),
        );
        Ok(())
    }

    /// Records the example teacher's logits for `data` into `dir`, streaming (one pass).
    fn record_once(&self, data: &ImageDataset, dir: &Path, provenance: &Provenance) -> Result<()> {
        self.device.seed(SEED);
        let teacher = example_teacher()
            .init([1, SIDE, SIDE], CLASSES, &self.device)
            .valid();
        let header = ShardHeader {
            num_samples: data.len(),
            num_classes: CLASSES,
            shard_index: 0,
            num_shards: 1,
            start: 0,
            end: data.len(),
            dtype: "f16".into(),
            provenance: provenance.clone(),
            sha256: String::new(),
            top_k: None,
        };
        let mut writer = ShardWriter::create(dir, &header)?;
        let bar = Progress::new(0, "record", false);
        record_rows(
            &teacher,
            data,
            0..data.len(),
            RECORD_BATCH,
            &self.device,
            &mut writer,
            &bar,
        )?;
        writer.finish()?;
        Ok(())
    }

    fn record(&mut self) -> Result<()> {
        let name = "teacher_record";
        if !self.wanted(name) {
            return Ok(());
        }
        let n = if self.opts.quick { 1024 } else { 10_000 };
        let (warmup, runs) = self.reps((1, 3), (0, 1));
        let data = synthetic(n, SEED);
        let scratch = Scratch::new(self.opts.scratch.as_deref(), "record")?;
        let provenance = bench_provenance(&data);
        let times = time_runs(warmup, runs, || {
            self.record_once(&data, &scratch.0, &provenance)
        })?;
        let (forward, _) = flops_per_sample(&example_teacher(), SIDE, CLASSES);
        self.push(
            name,
            format!(
                "example teacher: soft labels of {n} images, batches of {}, streamed to an f16 shard file",
                RECORD_BATCH
            ),
            times,
            n,
            false,
            Some(forward * n as f64),
        );
        Ok(())
    }

    fn epochs(&mut self) -> Result<()> {
        let kinds = ["epoch_plain", "epoch_offline_kd", "epoch_online_kd"];
        if !kinds.iter().any(|k| self.wanted(k)) {
            return Ok(());
        }
        let n = if self.opts.quick { 1024 } else { 12_800 };
        let (warmup, runs) = self.reps((1, 3), (1, 1));
        let splits = Splits {
            train: synthetic(n, SEED),
            validation: None,
            test: synthetic(256, SEED + 1),
        };
        let scratch = Scratch::new(self.opts.scratch.as_deref(), "epochs")?;
        let store_dir = scratch.0.join("soft_labels");
        let provenance = bench_provenance(&splits.train);
        self.record_once(&splits.train, &store_dir, &provenance)?;
        let store = SoftLabels::open(&store_dir, &provenance)?;
        self.device.seed(SEED);
        let teacher_cfg = example_teacher();
        let teacher = teacher_cfg
            .init([1, SIDE, SIDE], CLASSES, &self.device)
            .valid();
        let student = example_student();
        let recipe = adam(3e-3, warmup + runs);
        for kind in kinds {
            if !self.wanted(kind) {
                continue;
            }
            let objective = match kind {
                "epoch_plain" => Objective::hard_labels_only(),
                "epoch_offline_kd" => kd_objective(false),
                _ => kd_objective(true),
            };
            let stores = [&store];
            let job = TrainJob {
                name: kind,
                model_key: format!("{student:?}"),
                recipe: &recipe,
                train: &splits.train,
                monitor: splits.monitor(),
                objective: &objective,
                soft_labels: &stores,
                seed: SEED,
                augment: false,
                checkpoint_dir: &scratch.0.join(kind),
                resume: false,
                progress: false,
                stop_after_epochs: None,
            };
            let online = OnlineTeacher {
                model: &teacher,
                pairs: Vec::new(),
            };
            let input = [1, SIDE, SIDE];
            let trained = train(
                &job,
                &|d| Ok(student.init(input, CLASSES, d)),
                Some(&online),
                &self.device,
            )?;
            let times = trained.history[warmup..]
                .iter()
                .map(|r| r.seconds * 1e3)
                .collect();
            let what = match kind {
                "epoch_plain" => "hard labels only (no KD)",
                "epoch_offline_kd" => "offline KD, teacher logits read from the recorded store",
                _ => "online KD, the example teacher run on every batch",
            };
            let (_, train_flops) = flops_per_sample(&student, SIDE, CLASSES);
            let teacher_flops = if kind == "epoch_online_kd" {
                flops_per_sample(&teacher_cfg, SIDE, CLASSES).0
            } else {
                0.0
            };
            self.push(
                kind,
                format!(
                    "example student, one training epoch of {n} images at batch 128 (Adam, cosine): {what}"
                ),
                times,
                n,
                false,
                Some((train_flops + teacher_flops) * n as f64),
            );
        }
        Ok(())
    }
}

fn bench_provenance(data: &ImageDataset) -> Provenance {
    Provenance {
        teacher_hash: format!("distill-bench example teacher, seed {SEED}"),
        dataset_fingerprint: data.fingerprint(),
        preprocessing: "synthetic".into(),
        views: None,
    }
}

/// One line for a finished workload.
pub fn describe(w: &Workload) -> String {
    let p99 = w
        .p99_ms
        .map(|p| format!(" (p99 {p:.3} ms)"))
        .unwrap_or_default();
    let gf = match (w.gflops, w.percent_of_peak) {
        (Some(g), Some(p)) => format!(", {g:.1} GFLOP/s = {p:.0}% of peak"),
        (Some(g), None) => format!(", {g:.1} GFLOP/s"),
        _ => String::new(),
    };
    format!(
        "{:<22} median {:>9.3} ms{p99}, {:>9.0} samples/s{gf}",
        w.name, w.median_ms, w.samples_per_s
    )
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Runs the benchmark on `device`.
pub fn run(opts: &BenchOptions, device: &Device) -> Result<BenchReport> {
    for o in &opts.only {
        if !WORKLOADS.iter().any(|w| w.contains(o.as_str())) {
            return Err(Error::Argument {
                arg: "--only".into(),
                value: o.clone(),
                reason: format!(
                    "matches no workload; the workloads are {}",
                    WORKLOADS.join(", ")
                ),
            });
        }
    }
    let threads = rayon::current_num_threads();
    let peak = if opts.probe_peak {
        peak::measure_peak(threads, if opts.quick { 0.05 } else { 0.5 })
    } else {
        None
    };
    if opts.progress {
        match &peak {
            Some(p) => eprintln!(
                "fp32 FMA peak: {:.1} GFLOP/s on {} threads ({})",
                p.gflops, p.threads, p.isa
            ),
            None if opts.probe_peak => eprintln!("fp32 FMA peak: no probe for this CPU"),
            None => {}
        }
    }
    let mut r = Runner {
        opts,
        device: device.clone(),
        peak: peak.as_ref().map(|p| p.gflops),
        done: Vec::new(),
    };
    r.train_step(
        "mlp_kd_train_b128",
        &reference_mlp(),
        "MLP 784-1200-1200-10",
        false,
    )?;
    r.train_step(
        "mlp_kd_sgd_train_b128",
        &reference_mlp(),
        "MLP 784-1200-1200-10",
        true,
    )?;
    r.train_step(
        "cnn_kd_train_b128",
        &reference_cnn(),
        "CNN conv5x5(32)-pool-conv5x5(64)-pool-fc1024-fc10",
        false,
    )?;
    r.train_step(
        "student_kd_train_b128",
        &example_student(),
        "example student",
        false,
    )?;
    r.train_step(
        "student_kd_sgd_train_b128",
        &example_student(),
        "example student",
        true,
    )?;
    r.infer("mlp_infer_b1", &reference_mlp(), "MLP 784-1200-1200-10", 1)?;
    r.infer(
        "mlp_infer_b256",
        &reference_mlp(),
        "MLP 784-1200-1200-10",
        256,
    )?;
    r.infer("cnn_infer_b1", &reference_cnn(), "reference CNN", 1)?;
    r.infer("cnn_infer_b256", &reference_cnn(), "reference CNN", 256)?;
    r.infer("student_infer_b1", &example_student(), "example student", 1)?;
    r.infer(
        "student_infer_b256",
        &example_student(),
        "example student",
        256,
    )?;
    r.record()?;
    r.epochs()?;
    for &(name, batch, cin, cout, side, what) in CONV_LAYERS {
        r.conv_layer(name, batch, [cin, cout], side, what, false)?;
    }
    r.conv_layer(
        "resnet_block_b32",
        32,
        [64, 64],
        16,
        "a ResNet basic block without BatchNorm, relu(x + conv3x3(relu(conv3x3(x)))), 64 channels at 16x16",
        true,
    )?;
    Ok(BenchReport {
        distill_version: env!("CARGO_PKG_VERSION").to_string(),
        threads,
        backend: "flex".into(),
        allocator: if cfg!(feature = "system-allocator") {
            "system".into()
        } else {
            "mimalloc".into()
        },
        cpu: cpu_name(),
        simd: peak::simd_level().into(),
        peak,
        seed: SEED,
        quick: opts.quick,
        workloads: r.done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_counts_match_hand_arithmetic() {
        // MLP 784-1200-1200-10: forward 2·(784·1200 + 1200·1200 + 1200·10) = 4,785,600.
        let (f, t) = flops_per_sample(&reference_mlp(), 28, 10);
        assert_eq!(f, 4_785_600.0);
        assert_eq!(t, 3.0 * 4_785_600.0 - 2.0 * 784.0 * 1200.0);
        // CNN: conv1 2·28²·1·32·25, conv2 2·14²·32·64·25, fc 2·(3136·1024 + 1024·10).
        let (f, _) = flops_per_sample(&reference_cnn(), 28, 10);
        let expect = 2.0 * (784.0 * 32.0 * 25.0 + 196.0 * 32.0 * 64.0 * 25.0)
            + 2.0 * (3136.0 * 1024.0 + 1024.0 * 10.0);
        assert_eq!(f, expect);
    }

    #[test]
    fn quick_run_times_every_workload() {
        let scratch = tempfile::tempdir().unwrap();
        let opts = BenchOptions {
            quick: true,
            only: vec![
                "student".into(),
                "mlp_infer_b1".into(),
                "record".into(),
                "epoch".into(),
            ],
            probe_peak: false,
            progress: false,
            scratch: Some(scratch.path().to_path_buf()),
        };
        let report = run(&opts, &crate::default_device()).unwrap();
        let names: Vec<&str> = report.workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "student_kd_train_b128",
                "student_kd_sgd_train_b128",
                "mlp_infer_b1",
                "student_infer_b1",
                "student_infer_b256",
                "teacher_record",
                "epoch_plain",
                "epoch_offline_kd",
                "epoch_online_kd",
                "conv_student1_b128",
                "conv_student2_b128",
            ]
        );
        for w in &report.workloads {
            assert!(w.median_ms > 0.0 && w.samples_per_s > 0.0, "{w:?}");
        }
        assert!(report.workloads[2].p99_ms.unwrap() >= report.workloads[2].median_ms);
        assert_eq!(
            std::fs::read_dir(scratch.path()).unwrap().count(),
            0,
            "scratch removed"
        );
        let e = run(
            &BenchOptions {
                only: vec!["gpt".into()],
                ..opts
            },
            &crate::default_device(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--only") && e.contains("gpt") && e.contains("mlp_kd_train_b128"),
            "{e}"
        );
    }
}
