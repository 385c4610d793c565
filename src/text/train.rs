//! Training and prediction for text models: the same objectives, optimisers, schedules,
//! checkpoints and epoch records as images ([`crate::train`]), on token-id batches.

use super::models::TextModel;
use super::tokenize::pad_batch;
use crate::config::TrainConfig;
use crate::data::epoch_order;
use crate::error::{Error, Result};
use crate::eval::accuracy_of;
use crate::objective::Objective;
use crate::progress::Progress;
use crate::soft_labels::SoftLabels;
use crate::train::{
    EpochRecord, build_optimizer, checkpoint, correct_count, learning_rate, loss_value,
};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::path::Path;
use std::time::Instant;

/// Token ids and labels of one split.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// One id sequence per text (never empty).
    pub seqs: Vec<Vec<u32>>,
    /// Labels, `0..num_classes`.
    pub labels: Vec<u8>,
    /// Classes.
    pub num_classes: usize,
    /// The padding id.
    pub pad_id: u32,
}

impl TokenSet {
    /// Texts.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// True when there are no texts.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Ids and mask of `rows` on `device`, padded to the longest row.
    pub fn batch(&self, rows: &[usize], device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let (ids, mask, len) = pad_batch(&self.seqs, rows, self.pad_id);
        let n = rows.len();
        (
            Tensor::from_data(TensorData::new(ids, [n, len]), device),
            Tensor::from_data(TensorData::new(mask, [n, len]), device),
        )
    }

    /// Labels of `rows` on `device`.
    pub fn labels_of(&self, rows: &[usize], device: &Device) -> Tensor<1, Int> {
        let y: Vec<i64> = rows.iter().map(|&r| self.labels[r] as i64).collect();
        Tensor::from_data(TensorData::new(y, [rows.len()]), device)
    }

    /// A fingerprint of ids and labels (what a soft-label store is tied to).
    pub fn fingerprint(&self) -> String {
        let mut bytes = Vec::new();
        for (s, &y) in self.seqs.iter().zip(&self.labels) {
            bytes.extend((s.len() as u32).to_le_bytes());
            for &t in s {
                bytes.extend(t.to_le_bytes());
            }
            bytes.push(y);
        }
        crate::fsutil::sha256_hex(&bytes)[..16].to_string()
    }

    /// The median sequence length.
    pub fn median_len(&self) -> usize {
        let mut lens: Vec<usize> = self.seqs.iter().map(Vec::len).collect();
        lens.sort_unstable();
        lens.get(lens.len() / 2).copied().unwrap_or(1)
    }
}

/// The model's logits for every text of `data` (`len × classes`, row-major). Texts are run in
/// batches of similar length (less padding), the output is in the original order.
pub fn predict_text_logits(
    model: &TextModel,
    data: &TokenSet,
    batch_size: usize,
    device: &Device,
) -> Vec<f32> {
    let c = data.num_classes;
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by_key(|&i| data.seqs[i].len());
    let mut out = vec![0f32; data.len() * c];
    for chunk in order.chunks(batch_size.max(1)) {
        let (ids, mask) = data.batch(chunk, device);
        let logits = model
            .forward(ids, mask)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 logits");
        for (k, &row) in chunk.iter().enumerate() {
            out[row * c..(row + 1) * c].copy_from_slice(&logits[k * c..(k + 1) * c]);
        }
    }
    out
}

/// What to train and how.
pub struct TextTrainJob<'a> {
    /// Name shown in progress and errors.
    pub name: &'a str,
    /// Recipe.
    pub recipe: &'a TrainConfig,
    /// Training texts.
    pub train: &'a TokenSet,
    /// Monitor texts (validation split or test set).
    pub monitor: &'a TokenSet,
    /// Loss.
    pub objective: &'a Objective,
    /// Recorded teacher logits (required when the objective reads them).
    pub soft_labels: Option<&'a SoftLabels>,
    /// Seed of initialisation, batch order and dropout.
    pub seed: u64,
    /// A hash of the architecture and data, so that a checkpoint of another run is refused.
    pub run_key: String,
    /// Where checkpoints go.
    pub checkpoint_dir: &'a Path,
    /// Continue from the last checkpoint there.
    pub resume: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Train at most this many epochs in this call.
    pub stop_after_epochs: Option<usize>,
}

/// A trained text model and its history.
pub struct TextTrained {
    /// The model after the last epoch, in evaluation mode.
    pub model: TextModel,
    /// Per-epoch records.
    pub history: Vec<EpochRecord>,
}

/// Trains the model `init` builds (on the autodiff device, after seeding) with the job's
/// objective. Parameters `init` marks as not requiring gradients stay frozen.
pub fn train_text(
    job: &TextTrainJob,
    init: &dyn Fn(&Device) -> Result<TextModel>,
    device: &Device,
) -> Result<TextTrained> {
    let _turn = crate::train::rng_turn();
    let store = if job.objective.needs_store() {
        let s = job.soft_labels.ok_or_else(|| Error::Argument {
            arg: "soft labels".into(),
            value: "none".into(),
            reason: format!(
                "training {} with this objective needs the recorded soft labels",
                job.name
            ),
        })?;
        if s.num_samples != job.train.len() || s.num_classes != job.train.num_classes {
            return Err(Error::Argument {
                arg: "soft labels".into(),
                value: format!("{} samples x {} classes", s.num_samples, s.num_classes),
                reason: format!(
                    "the training set has {} texts x {} classes",
                    job.train.len(),
                    job.train.num_classes
                ),
            });
        }
        Some(s)
    } else {
        None
    };
    let ad = device.clone().autodiff();
    device.seed(job.seed);
    let mut model = init(&ad)?;
    let mut optimizer = build_optimizer(job.recipe);
    let mut history = Vec::new();
    if job.resume
        && let Some((m, o, _, state)) = checkpoint::load(
            job.checkpoint_dir,
            &job.run_key,
            model.clone(),
            optimizer.clone(),
            None,
        )?
    {
        model = m;
        optimizer = o;
        history = state.history;
        if job.progress {
            eprintln!("{}: resuming after epoch {}", job.name, state.epochs_done);
        }
    }
    let train = job.train;
    let bs = job.recipe.batch_size;
    let epochs = job.recipe.epochs;
    let steps_per_epoch = train.len().div_ceil(bs);
    let total_steps = steps_per_epoch * epochs;
    let first_epoch = history.len();
    let last_epoch = job
        .stop_after_epochs
        .map_or(epochs, |n| epochs.min(first_epoch + n));
    for epoch in first_epoch..last_epoch {
        device.seed(job.seed.wrapping_add(1000 * (epoch as u64 + 1)));
        let order = epoch_order(train.len(), job.seed, epoch);
        let bar = Progress::new(
            steps_per_epoch as u64,
            &format!("{} {}/{}", job.name, epoch + 1, epochs),
            job.progress,
        );
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen, mut lr) = (0f64, 0usize, 0usize, 0f64);
        for (step, chunk) in order.chunks(bs).enumerate() {
            let global = epoch * steps_per_epoch + step;
            lr = learning_rate(job.recipe, global, total_steps, epoch);
            let (ids, mask) = train.batch(chunk, &ad);
            let labels = train.labels_of(chunk, &ad);
            let teacher = store.map(|s| s.batch(chunk, &ad));
            let logits = model.forward(ids, mask);
            let loss = job.objective.loss(logits.clone(), labels.clone(), teacher);
            let value = loss_value(&loss);
            if !value.is_finite() {
                return Err(Error::NonFiniteLoss {
                    model: job.name.to_string(),
                    value,
                    epoch: epoch + 1,
                    step: step + 1,
                    global_step: global + 1,
                });
            }
            correct += correct_count(logits, labels);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
            seen += chunk.len();
            loss_sum += value as f64 * chunk.len() as f64;
            bar.step(|| {
                let rate = seen as f64 / start.elapsed().as_secs_f64().max(1e-9);
                format!(
                    "loss {:.4} acc {:.2}% {:.0} texts/s",
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / seen as f64,
                    rate
                )
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        let eval_model = model.valid();
        let logits = predict_text_logits(&eval_model, job.monitor, 256, device);
        let monitor_accuracy = accuracy_of(&logits, &job.monitor.labels, job.monitor.num_classes);
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            monitor_accuracy,
            lr,
            seconds,
            samples_per_s: seen as f64 / seconds.max(1e-9),
            discriminator_accuracy: None,
        };
        bar.finish(&format!(
            "{} epoch {}/{}: loss {:.4}, train acc {:.2}%, monitor acc {:.2}%, {:.1}s ({:.0} texts/s)",
            job.name,
            epoch + 1,
            epochs,
            record.train_loss,
            100.0 * record.train_accuracy,
            100.0 * record.monitor_accuracy,
            seconds,
            record.samples_per_s,
        ));
        history.push(record);
        let state = checkpoint::CheckpointState {
            epochs_done: epoch + 1,
            run_key: job.run_key.clone(),
            history: history.clone(),
            distill_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        };
        checkpoint::save(job.checkpoint_dir, &model, &optimizer, None, &state)?;
    }
    Ok(TextTrained {
        model: model.valid(),
        history,
    })
}

/// Trains a linear head on fixed feature vectors (a frozen encoder's sentence embeddings) with
/// hard-label cross-entropy and the recipe's optimiser; returns it and its history.
#[allow(clippy::too_many_arguments)]
pub fn train_head(
    job_name: &str,
    recipe: &TrainConfig,
    features: (&[f32], &[u8]),
    monitor: (&[f32], &[u8]),
    dim: usize,
    classes: usize,
    seed: u64,
    progress: bool,
    device: &Device,
) -> (burn::nn::Linear, Vec<EpochRecord>) {
    let _turn = crate::train::rng_turn();
    let ad = device.clone().autodiff();
    device.seed(seed);
    let mut head = burn::nn::LinearConfig::new(dim, classes).init(&ad);
    let mut optimizer = build_optimizer(recipe);
    let objective = Objective::hard_labels_only();
    let (x, y) = features;
    let n = y.len();
    let rows = |idx: &[usize], data: &[f32], d: &Device| -> Tensor<2> {
        let mut v = Vec::with_capacity(idx.len() * dim);
        for &i in idx {
            v.extend_from_slice(&data[i * dim..(i + 1) * dim]);
        }
        Tensor::from_data(TensorData::new(v, [idx.len(), dim]), d)
    };
    let steps_per_epoch = n.div_ceil(recipe.batch_size);
    let total = steps_per_epoch * recipe.epochs;
    let mut history = Vec::new();
    for epoch in 0..recipe.epochs {
        let start = Instant::now();
        let order = epoch_order(n, seed, epoch);
        let (mut loss_sum, mut correct, mut lr) = (0f64, 0usize, 0f64);
        for (step, chunk) in order.chunks(recipe.batch_size).enumerate() {
            lr = learning_rate(recipe, epoch * steps_per_epoch + step, total, epoch);
            let xb = rows(chunk, x, &ad);
            let yv: Vec<i64> = chunk.iter().map(|&i| y[i] as i64).collect();
            let yb = Tensor::<1, Int>::from_data(TensorData::new(yv, [chunk.len()]), &ad);
            let logits = head.forward(xb);
            let loss = objective.loss(logits.clone(), yb.clone(), None);
            loss_sum += loss_value(&loss) as f64 * chunk.len() as f64;
            correct += correct_count(logits, yb);
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = optimizer.step(lr, head, grads);
        }
        let seconds = start.elapsed().as_secs_f64();
        let eval = head.valid();
        let (mx, my) = monitor;
        let all: Vec<usize> = (0..my.len()).collect();
        let logits = eval
            .forward(rows(&all, mx, device))
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 logits");
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / n.max(1) as f64,
            train_accuracy: correct as f64 / n.max(1) as f64,
            monitor_accuracy: accuracy_of(&logits, my, classes),
            lr,
            seconds,
            samples_per_s: n as f64 / seconds.max(1e-9),
            discriminator_accuracy: None,
        };
        if progress {
            eprintln!(
                "{job_name} head epoch {}/{}: loss {:.4}, train acc {:.2}%, monitor acc {:.2}%",
                epoch + 1,
                recipe.epochs,
                record.train_loss,
                100.0 * record.train_accuracy,
                100.0 * record.monitor_accuracy
            );
        }
        history.push(record);
    }
    (head.valid(), history)
}
