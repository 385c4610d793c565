//! Training: one loop for every model of every kind of data (the teacher, the KD student, the
//! no-KD baseline, a linear probe), generic over [`Classifier`] and [`Rows`].
//!
//! The student's soft-label term reads the teacher's logits from the recorded store
//! ([`SoftLabels`]), so offline KD never runs the teacher. Objectives with feature terms (or
//! `online = true`) run the teacher on every batch instead, and train the hint connectors with
//! the student ([`Trainee`]). An adversarial term trains its discriminator here too, in turn
//! with the student. Checkpoints are written every epoch and `resume` continues from the last
//! one with the same batch order.

pub mod checkpoint;
mod distiller;

use crate::classifier::{Classifier, EVAL_BATCH, Rows, labels_of, predict_logits};
use crate::config::{OptimizerConfig, ScheduleConfig, TrainConfig};
use crate::data::epoch_order;
use crate::error::{Error, Result};
use crate::eval::accuracy_of;
use crate::fsutil;
use crate::objective::{Connector, Objective};
use crate::progress::Progress;
use crate::soft_labels::SoftLabels;
use crate::vocab::FeatureShape;
use burn::module::{Module, ModuleDisplay};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use distiller::Distiller;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
/// One epoch's numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (on the augmented batches, in training mode).
    pub train_accuracy: f64,
    /// Accuracy on the monitor set (validation split, or the test set when there is none).
    pub monitor_accuracy: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall-clock seconds of the training pass (evaluation excluded).
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_s: f64,
    /// Adversarial objectives: how often the discriminator told teacher from student logits
    /// this epoch (0.5 = fooled, 1.0 = never fooled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discriminator_accuracy: Option<f64>,
    /// KD runs: the epoch's mean of each weighted summand of the loss (`ce` for α·CE, then
    /// each term's (1 − α)·w·term under its name), so that one can see which term drives it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub loss_terms: BTreeMap<String, f64>,
}

/// What the optimiser trains: the model and the connectors of the hint terms (dropped after
/// training).
#[derive(Module, Debug)]
pub struct Trainee<M: Module + ModuleDisplay> {
    /// The model being trained.
    pub model: M,
    /// One connector per hint term of the objective.
    pub connectors: Vec<Connector>,
}

/// What to train and how.
pub struct TrainJob<'a, R> {
    /// Name shown in progress and errors (`teacher`, `student_kd-seed1`, ...).
    pub name: &'a str,
    /// The architecture, described exactly (part of the run key: a checkpoint of another
    /// architecture is refused).
    pub model_key: String,
    /// Recipe.
    pub recipe: &'a TrainConfig,
    /// The rows trained on.
    pub train: &'a R,
    /// The rows evaluated after each epoch (validation split, else the test set).
    pub monitor: &'a R,
    /// Loss.
    pub objective: &'a Objective,
    /// Recorded teacher logits, one store per teacher the objective combines; required when
    /// the objective reads the store.
    pub soft_labels: &'a [&'a SoftLabels],
    /// Seed of initialisation, batch order, augmentation and dropout.
    pub seed: u64,
    /// Augment the training inputs (teacher training, online KD; never with recorded soft
    /// labels, which belong to unaugmented inputs).
    pub augment: bool,
    /// Where checkpoints go.
    pub checkpoint_dir: &'a Path,
    /// Continue from the last checkpoint there.
    pub resume: bool,
    /// Show progress bars.
    pub progress: bool,
    /// Train at most this many epochs in this call, then return (checkpointed, resumable).
    pub stop_after_epochs: Option<usize>,
}

/// The teacher of an online objective (feature terms, `online = true`): run on every batch.
pub struct OnlineTeacher<'a, M> {
    /// The teacher in evaluation mode, on the plain device.
    pub model: &'a M,
    /// For each hint term, the (student, teacher) feature shapes its connector bridges
    /// ([`crate::objective::ObjectiveConfig::feature_pairs`]).
    pub pairs: Vec<(FeatureShape, FeatureShape)>,
}

/// A trained model and its history.
#[derive(Debug)]
pub struct Trained<M> {
    /// The model after the last epoch, in evaluation mode.
    pub model: M,
    /// Per-epoch records.
    pub history: Vec<EpochRecord>,
    /// The monitor split's logits after the last epoch (`None` when no epoch ran in this call,
    /// e.g. a resumed run that had finished), so that nothing evaluates them again.
    pub monitor_logits: Option<Vec<f32>>,
}

impl<M> Trained<M> {
    /// Monitor accuracy after the last epoch.
    pub fn last_accuracy(&self) -> f64 {
        self.history.last().map_or(0.0, |r| r.monitor_accuracy)
    }

    /// Best monitor accuracy over the epochs and the epoch that reached it.
    pub fn best(&self) -> (usize, f64) {
        best_epoch(&self.history)
    }

    /// Mean training seconds per epoch.
    pub fn seconds_per_epoch(&self) -> f64 {
        self.history.iter().map(|r| r.seconds).sum::<f64>() / self.history.len().max(1) as f64
    }
}

/// The epoch with the best monitor accuracy (the first of equals) and that accuracy; `(0, 0)`
/// for an empty history.
pub fn best_epoch(history: &[EpochRecord]) -> (usize, f64) {
    history.iter().fold((0, 0.0), |b, r| {
        if r.monitor_accuracy > b.1 {
            (r.epoch, r.monitor_accuracy)
        } else {
            b
        }
    })
}

/// The training history saved next to a weights file.
pub fn history_path(weights: &Path) -> PathBuf {
    weights.with_extension("history.json")
}

/// Writes a model's training history next to its weights (atomically).
pub fn save_history(weights: &Path, history: &[EpochRecord]) -> Result<()> {
    let json = serde_json::to_vec_pretty(history).expect("history serialises");
    fsutil::write_atomic(&history_path(weights), &json)
}

/// Reads the training history saved next to `weights` (empty when there is none).
pub fn load_history(weights: &Path) -> Result<Vec<EpochRecord>> {
    let path = history_path(weights);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&fsutil::read(&path)?).map_err(|e| Error::Weights {
        path,
        message: format!("unreadable history: {e}"),
    })
}

/// Builds the optimiser a recipe names.
pub fn build_optimizer(recipe: &TrainConfig) -> ModuleOptimizer {
    let wd = recipe.weight_decay;
    match recipe.optimizer {
        OptimizerConfig::Sgd {
            momentum, nesterov, ..
        } => crate::kernels::optim::FusedSgd::new(
            (wd > 0.0).then_some(wd as f32),
            (momentum > 0.0).then_some((momentum, 0.0, nesterov)),
        )
        .init(),
        OptimizerConfig::Adam { .. } => {
            crate::kernels::optim::FusedAdam::new((wd > 0.0).then_some(wd as f32)).init()
        }
        OptimizerConfig::Adamw { .. } => crate::kernels::optim::FusedAdamW::new(wd as f32).init(),
    }
}

/// The learning rate at `step` (0-based) of `total` steps, in epoch `epoch` (0-based).
pub fn learning_rate(recipe: &TrainConfig, step: usize, total: usize, epoch: usize) -> f64 {
    let peak = recipe.optimizer.lr();
    match &recipe.schedule {
        ScheduleConfig::Constant => peak,
        ScheduleConfig::Cosine => {
            peak * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
        }
        ScheduleConfig::Step { every, gamma } => peak * gamma.powi((epoch / every) as i32),
        ScheduleConfig::Multistep { milestones, gamma } => {
            let passed = milestones.iter().filter(|&&m| epoch >= m).count();
            peak * gamma.powi(passed as i32)
        }
    }
}

/// What one optimisation step leaves.
pub struct StepOutcome<M: Module + ModuleDisplay> {
    /// The updated model (unchanged when the loss was not finite).
    pub trainee: Trainee<M>,
    /// The batch's loss.
    pub loss: f32,
    /// Training samples of the batch classified correctly.
    pub correct: usize,
}

/// The end of every training step: reads the loss and the batch's hits, back-propagates and
/// applies the optimiser. A non-finite loss skips the update (the caller refuses it).
pub fn finish_step<M: Module + ModuleDisplay>(
    trainee: Trainee<M>,
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    loss: Tensor<1>,
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
) -> StepOutcome<M> {
    let value = loss_value(&loss);
    if !value.is_finite() {
        return StepOutcome {
            trainee,
            loss: value,
            correct: 0,
        };
    }
    let correct = correct_count(logits, labels);
    let grads = GradientsParams::from_grads(loss.backward(), &trainee);
    StepOutcome {
        trainee: optimizer.step(lr, trainee, grads),
        loss: value,
        correct,
    }
}

/// How many rows of `logits` have their largest value at `labels`.
pub(crate) fn correct_count(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let n = labels.dims()[0];
    logits
        .argmax(1)
        .reshape([n])
        .equal(labels)
        .int()
        .sum()
        .into_data()
        .try_to_vec_as::<i64>()
        .map(|v| v[0] as usize)
        .unwrap_or(0)
}

/// The loss tensor's value (NaN when it cannot be read).
pub(crate) fn loss_value(loss: &Tensor<1>) -> f32 {
    loss.clone()
        .into_data()
        .try_to_vec::<f32>()
        .map(|v| v[0])
        .unwrap_or(f32::NAN)
}

/// One training step of a logit-only objective (no feature or adversarial terms), on a batch
/// already on the autodiff device: forward, loss, backward, update. The training loop runs the
/// same code; `distill bench` times it.
pub fn logit_step<M: Classifier>(
    trainee: Trainee<M>,
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    objective: &Objective,
    inputs: M::Input,
    labels: Tensor<1, Int>,
    teacher_logits: Option<Tensor<2>>,
) -> StepOutcome<M> {
    let logits = trainee.model.logits(inputs);
    let loss = objective.loss(logits.clone(), labels.clone(), teacher_logits);
    finish_step(trainee, optimizer, lr, loss, logits, labels)
}

/// A hash of everything that defines a run, so that a checkpoint of another run is refused:
/// the soft-label stores it learns from included (a store recorded again, e.g. as top-k, makes
/// another run).
fn run_key<R: Rows>(job: &TrainJob<R>) -> String {
    let stores: Vec<String> = job
        .soft_labels
        .iter()
        .map(|s| format!("{:?}|{:?}|{}", s.provenance, s.top_k, s.num_samples))
        .collect();
    let text = format!(
        "{}|{}|{:?}|{:?}|{}|{}|{}|{:?}",
        job.name,
        job.model_key,
        job.recipe,
        job.objective.config(),
        job.seed,
        job.augment,
        job.train.fingerprint(),
        stores
    );
    crate::fsutil::sha256_hex(text.as_bytes())
}

/// burn's random generator (initialisation, dropout) is process-wide: trainings in one process
/// take turns, so that a seed gives the same model whatever else the process does.
static RNG_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for this training's turn at burn's process-wide random generator.
pub(crate) fn rng_turn() -> std::sync::MutexGuard<'static, ()> {
    RNG_TURN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Trains the model `init` builds on the autodiff device (after seeding), from scratch or from
/// its last checkpoint with `resume`. Parameters `init` marks as not requiring gradients stay
/// frozen. `teacher` is required when the objective runs the teacher online.
pub fn train<M, R>(
    job: &TrainJob<R>,
    init: &dyn Fn(&Device) -> Result<M>,
    teacher: Option<&OnlineTeacher<M>>,
    device: &Device,
) -> Result<Trained<M>>
where
    M: Classifier,
    R: Rows<Input = M::Input>,
{
    let _turn = rng_turn();
    let train = job.train;
    let ad = device.clone().autodiff();
    let mut distiller = Distiller::new(
        job.name,
        job.objective,
        job.soft_labels,
        teacher,
        (train.len(), train.num_classes()),
    )?;
    device.seed(job.seed);
    let model = init(&ad)?;
    let connectors = distiller.connectors(&ad);
    let mut trainee = Trainee { model, connectors };
    let mut optimizer = build_optimizer(job.recipe);
    distiller.build_discriminator(train.num_classes(), &ad);
    let key = run_key(job);
    let mut history = Vec::new();
    if job.resume
        && let Some((m, o, d, state)) = checkpoint::load(
            job.checkpoint_dir,
            &key,
            trainee.clone(),
            optimizer.clone(),
            distiller.discriminator().cloned(),
        )?
    {
        trainee = m;
        optimizer = o;
        distiller.restore(d);
        history = state.history;
        if job.progress {
            eprintln!("{}: resuming after epoch {}", job.name, state.epochs_done);
        }
    }
    let bs = job.recipe.batch_size;
    let epochs = job.recipe.epochs;
    let steps_per_epoch = train.len().div_ceil(bs);
    let total_steps = steps_per_epoch * epochs;
    let first_epoch = history.len();
    let last_epoch = job
        .stop_after_epochs
        .map_or(epochs, |n| epochs.min(first_epoch + n));
    let augments = job.augment && (job.recipe.augment.crop_padding > 0 || job.recipe.augment.hflip);
    let mut monitor_logits = None;
    for epoch in first_epoch..last_epoch {
        device.seed(job.seed.wrapping_add(1000 * (epoch as u64 + 1)));
        let order = epoch_order(train.len(), job.seed, epoch);
        let mut aug_rng =
            StdRng::seed_from_u64(job.seed ^ (epoch as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut view_rng = StdRng::seed_from_u64(
            job.seed.rotate_left(29) ^ (epoch as u64).wrapping_mul(0x94d0_49bb_1331_11eb),
        );
        let bar = Progress::new(
            steps_per_epoch as u64,
            &format!("{} {}/{}", job.name, epoch + 1, epochs),
            job.progress,
        );
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen, mut lr) = (0f64, 0usize, 0usize, 0f64);
        for (step, chunk) in order.chunks(bs).enumerate() {
            if chunk.len() < 2 {
                continue; // BatchNorm needs two samples
            }
            let global = epoch * steps_per_epoch + step;
            lr = learning_rate(job.recipe, global, total_steps, epoch);
            // A store of views: each row is seen through one recorded view, the one the
            // teacher's logits belong to. Otherwise the recipe's augmentation, if any.
            let views = distiller.pick_views(chunk, &mut view_rng);
            let inputs = match &views {
                Some((_, v)) => {
                    train
                        .view_inputs(chunk, v, &ad)
                        .ok_or_else(|| Error::Argument {
                            arg: "soft labels".into(),
                            value: "a store of augmented views".into(),
                            reason: format!("{}: this kind of data has no augmentation", job.name),
                        })?
                }
                None => {
                    let augment = augments.then_some((&job.recipe.augment, &mut aug_rng));
                    train.inputs(chunk, augment, &ad)
                }
            };
            let labels = labels_of(train, chunk, &ad);
            let (teacher_logits, teacher_features) = distiller.teacher_side(
                chunk,
                views.as_ref().map(|(p, _)| &p[..]),
                &inputs,
                device,
                &ad,
            );
            let (logits, student_features) = if distiller.online() {
                trainee.model.logits_and_features(inputs)
            } else {
                (trainee.model.logits(inputs), Vec::new())
            };
            distiller.train_discriminator(&logits, teacher_logits.as_ref());
            let loss = distiller.loss(
                logits.clone(),
                labels.clone(),
                teacher_logits,
                (&student_features, &teacher_features),
                &trainee.connectors,
            );
            let outcome = finish_step(trainee, &mut optimizer, lr, loss, logits, labels);
            trainee = outcome.trainee;
            let value = outcome.loss;
            if !value.is_finite() {
                return Err(Error::NonFiniteLoss {
                    model: job.name.to_string(),
                    value,
                    epoch: epoch + 1,
                    step: step + 1,
                    global_step: global + 1,
                });
            }
            correct += outcome.correct;
            seen += chunk.len();
            loss_sum += value as f64 * chunk.len() as f64;
            bar.step(|| {
                let rate = seen as f64 / start.elapsed().as_secs_f64().max(1e-9);
                format!(
                    "loss {:.4} acc {:.2}% {:.0} samples/s",
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / seen as f64,
                    rate
                )
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        let eval_model = trainee.model.valid();
        let logits = predict_logits(&eval_model, job.monitor, EVAL_BATCH, device);
        let monitor_accuracy =
            accuracy_of(&logits, job.monitor.labels(), job.monitor.num_classes());
        let (discriminator_accuracy, loss_terms) = distiller.end_epoch();
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            monitor_accuracy,
            lr,
            seconds,
            samples_per_s: seen as f64 / seconds.max(1e-9),
            discriminator_accuracy,
            loss_terms,
        };
        let d_note = record
            .discriminator_accuracy
            .map(|a| format!(", discriminator acc {:.1}%", 100.0 * a))
            .unwrap_or_default();
        bar.finish(&format!(
            "{} epoch {}/{}: loss {:.4}, train acc {:.2}%, monitor acc {:.2}%, {:.1}s ({:.0} samples/s){}",
            job.name,
            epoch + 1,
            epochs,
            record.train_loss,
            100.0 * record.train_accuracy,
            100.0 * record.monitor_accuracy,
            seconds,
            record.samples_per_s,
            d_note
        ));
        history.push(record);
        monitor_logits = Some(logits);
        let state = checkpoint::CheckpointState {
            epochs_done: epoch + 1,
            run_key: key.clone(),
            history: history.clone(),
            distill_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        };
        checkpoint::save(
            job.checkpoint_dir,
            &trainee,
            &optimizer,
            distiller.discriminator(),
            &state,
        )?;
    }
    Ok(Trained {
        model: trainee.model.valid(),
        history,
        monitor_logits,
    })
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn multistep_decays_after_each_milestone_as_pytorch_does() {
        let recipe: TrainConfig = toml::from_str(
            r#"epochs = 240
batch_size = 64
optimizer = { type = "sgd", lr = 0.05, momentum = 0.9 }
schedule = { type = "multistep", milestones = [150, 180, 210], gamma = 0.1 }"#,
        )
        .unwrap();
        let lr = |epoch| learning_rate(&recipe, 0, 1, epoch);
        // PyTorch's MultiStepLR: epochs 0..150 at 0.05, 150..180 at 0.005, ...
        for (epoch, want) in [
            (0, 0.05),
            (149, 0.05),
            (150, 0.005),
            (180, 0.0005),
            (239, 0.00005),
        ] {
            assert!(
                (lr(epoch) - want).abs() < 1e-12,
                "epoch {epoch}: {}",
                lr(epoch)
            );
        }
        let bad: std::result::Result<TrainConfig, _> = toml::from_str(
            r#"epochs = 2
batch_size = 4
optimizer = { type = "sgd", lr = 0.05 }
schedule = { type = "multistep", milestones = [5, 3], gamma = 0.1 }"#,
        );
        let bad = bad.unwrap();
        let e = bad
            .validate("student.train", &|f, v, r| {
                crate::error::Error::ConfigValue {
                    path: "e.toml".into(),
                    field: f.into(),
                    value: v,
                    reason: r.into(),
                }
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("student.train.schedule.milestones"), "{e}");
    }
}
