//! The teacher's side of a training run, apart from the loop: where the teacher's signal comes
//! from (recorded stores, a teacher run online on the same batch, or none), the learnable parts
//! of the objective that are not the student (the adversarial term's discriminator; the hint
//! connectors train with the student in [`super::Trainee`]), and the bookkeeping of each loss
//! term.

use super::OnlineTeacher;
use super::checkpoint::DiscriminatorState;
use crate::classifier::{BatchInput, Classifier};
use crate::error::{Error, Result};
use crate::objective::{Connector, Discriminator, Extras, Objective, discriminator_loss};
use crate::soft_labels::SoftLabels;
use crate::vocab::{Feature, NamedFeature};
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::collections::BTreeMap;

/// The adversarial term's discriminator with its own optimiser, learning rate and steps per
/// student step.
struct Adversary {
    state: DiscriminatorState,
    lr: f64,
    steps: usize,
}

/// The teacher signal and the objective's own learnable parts for one training run.
pub(crate) struct Distiller<'a, M> {
    objective: &'a Objective,
    stores: &'a [&'a SoftLabels],
    teacher: Option<&'a OnlineTeacher<'a, M>>,
    adversary: Option<Adversary>,
    d_right: usize,
    d_seen: usize,
    term_sums: BTreeMap<String, f64>,
    term_rows: usize,
}

fn features_onto(features: Vec<NamedFeature>, device: &Device) -> Vec<NamedFeature> {
    features
        .into_iter()
        .map(|f| NamedFeature {
            name: f.name,
            value: match f.value {
                Feature::Map(t) => Feature::Map(t.onto(device)),
                Feature::Vector(t) => Feature::Vector(t.onto(device)),
            },
        })
        .collect()
}

impl<'a, M: Classifier> Distiller<'a, M> {
    /// Checks that the objective gets the signal it needs (`name` names the run in errors):
    /// the stores it reads, one per teacher and of the training set's size, or the teacher it
    /// runs online.
    pub(crate) fn new(
        name: &str,
        objective: &'a Objective,
        stores: &'a [&'a SoftLabels],
        teacher: Option<&'a OnlineTeacher<'a, M>>,
        (rows, classes): (usize, usize),
    ) -> Result<Self> {
        let stores: &[&SoftLabels] = if objective.needs_store() { stores } else { &[] };
        let teacher = if objective.needs_online_teacher() {
            Some(teacher.ok_or_else(|| Error::Argument {
                arg: "teacher".into(),
                value: "none".into(),
                reason: format!(
                    "training {name} with this objective runs the teacher online, but no teacher was given"
                ),
            })?)
        } else {
            None
        };
        if objective.needs_store() && stores.len() != objective.teacher_count() {
            return Err(Error::Argument {
                arg: "soft labels".into(),
                value: format!("{} store(s)", stores.len()),
                reason: format!(
                    "training {name} with this objective needs {} recorded soft-label store(s), one per entry of objective.teacher_weights",
                    objective.teacher_count()
                ),
            });
        }
        for s in stores {
            if s.num_samples != rows || s.num_classes != classes {
                return Err(Error::Argument {
                    arg: "soft labels".into(),
                    value: format!("{} samples x {} classes", s.num_samples, s.num_classes),
                    reason: format!("the training set has {rows} samples x {classes} classes"),
                });
            }
        }
        Ok(Distiller {
            objective,
            stores,
            teacher,
            adversary: None,
            d_right: 0,
            d_seen: 0,
            term_sums: BTreeMap::new(),
            term_rows: 0,
        })
    }

    /// Builds the adversarial term's discriminator (when the objective has one) for `classes`
    /// logits on the autodiff device `ad`.
    pub(crate) fn build_discriminator(&mut self, classes: usize, ad: &Device) {
        self.adversary = self
            .objective
            .adversarial()
            .map(|(hidden, lr, steps)| Adversary {
                state: (
                    Discriminator::new(classes, hidden, ad),
                    crate::kernels::optim::FusedAdam::new(None).init(),
                ),
                lr,
                steps,
            });
    }

    /// The hint connectors this run trains with the student.
    pub(crate) fn connectors(&self, ad: &Device) -> Vec<Connector> {
        self.teacher
            .map(|t| {
                t.pairs
                    .iter()
                    .map(|(s, t)| Connector::new(s, t, ad))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Views per sample of the stores it reads (1: plain stores, or no store). Stores of
    /// views recorded together share their views (the provenance checks the spec).
    pub(crate) fn views_per_sample(&self) -> usize {
        self.stores.first().map_or(1, |s| s.views_per_sample)
    }

    /// For the batch of training `rows`, draws one recorded view per row from `rng`: the picks
    /// and the views, which the inputs must be built with. `None` with plain stores.
    pub(crate) fn pick_views(
        &self,
        rows: &[usize],
        rng: &mut impl rand::Rng,
    ) -> Option<(Vec<usize>, Vec<crate::vocab::View>)> {
        let k = self.views_per_sample();
        let store = self.stores.first()?;
        if k <= 1 || self.teacher.is_some() {
            return None;
        }
        let picks: Vec<usize> = rows.iter().map(|_| rng.random_range(0..k)).collect();
        let views = rows
            .iter()
            .zip(&picks)
            .map(|(&i, &p)| store.view(i, p))
            .collect();
        Some((picks, views))
    }

    /// Whether the student must expose its named features (the teacher runs online).
    pub(crate) fn online(&self) -> bool {
        self.objective.needs_online_teacher()
    }

    /// The discriminator and its optimiser, for checkpoints.
    pub(crate) fn discriminator(&self) -> Option<&DiscriminatorState> {
        self.adversary.as_ref().map(|a| &a.state)
    }

    /// Restores the discriminator from a checkpoint.
    pub(crate) fn restore(&mut self, state: Option<DiscriminatorState>) {
        if let (Some(a), Some(s)) = (self.adversary.as_mut(), state) {
            a.state = s;
        }
    }

    /// The teacher's logits for the batch of training `rows` (from the stores, mixed by the
    /// objective, seen through the recorded views `picks` of a store of views; or from the
    /// online teacher on the same `inputs`) and, online, its named features; all on the
    /// autodiff device `ad`.
    pub(crate) fn teacher_side(
        &self,
        rows: &[usize],
        picks: Option<&[usize]>,
        inputs: &M::Input,
        device: &Device,
        ad: &Device,
    ) -> (Option<Tensor<2>>, Vec<NamedFeature>) {
        match self.teacher {
            Some(t) => {
                let (z, f) = t.model.logits_and_features(inputs.clone().onto(device));
                (Some(z.onto(ad)), features_onto(f, ad))
            }
            None => {
                let z = (!self.stores.is_empty()).then(|| {
                    self.objective.teacher_target(
                        self.stores
                            .iter()
                            .map(|s| s.batch_views(rows, picks, ad))
                            .collect(),
                    )
                });
                (z, Vec::new())
            }
        }
    }

    /// The adversarial term's turn: its discriminator learns to tell the teacher's logits
    /// from the student's (detached), `steps` times.
    pub(crate) fn train_discriminator(&mut self, student: &Tensor<2>, teacher: Option<&Tensor<2>>) {
        let (Some(a), Some(zt)) = (self.adversary.as_mut(), teacher) else {
            return;
        };
        let n = student.dims()[0];
        for _ in 0..a.steps {
            let (d, d_opt) = &mut a.state;
            let (d_loss, right) = discriminator_loss(d, student.clone().detach(), zt.clone());
            self.d_right += right
                .into_data()
                .try_to_vec_as::<i64>()
                .map(|v| v[0] as usize)
                .unwrap_or(0);
            self.d_seen += 2 * n;
            let grads = GradientsParams::from_grads(d_loss.backward(), &*d);
            *d = d_opt.step(a.lr, d.clone(), grads);
        }
    }

    /// The objective on this batch; each weighted term's value is added to the epoch's sums.
    pub(crate) fn loss(
        &mut self,
        logits: Tensor<2>,
        labels: Tensor<1, Int>,
        teacher_logits: Option<Tensor<2>>,
        features: (&[NamedFeature], &[NamedFeature]),
        connectors: &[Connector],
    ) -> Tensor<1> {
        let n = labels.dims()[0];
        let extras = Extras {
            student_features: features.0,
            teacher_features: features.1,
            connectors,
            discriminator: self.adversary.as_ref().map(|a| &a.state.0),
        };
        let mut parts = Vec::new();
        let loss =
            self.objective
                .loss_parts(logits, labels, teacher_logits, &extras, Some(&mut parts));
        if parts.len() > 1 {
            for (name, value) in parts {
                *self.term_sums.entry(name).or_default() +=
                    super::loss_value(&value) as f64 * n as f64;
            }
            self.term_rows += n;
        }
        loss
    }

    /// The epoch's discriminator accuracy and mean weighted loss terms, and resets both.
    pub(crate) fn end_epoch(&mut self) -> (Option<f64>, BTreeMap<String, f64>) {
        let acc = (self.d_seen > 0).then(|| self.d_right as f64 / self.d_seen as f64);
        let rows = self.term_rows.max(1) as f64;
        let terms = std::mem::take(&mut self.term_sums)
            .into_iter()
            .map(|(k, v)| (k, v / rows))
            .collect();
        (self.d_right, self.d_seen, self.term_rows) = (0, 0, 0);
        (acc, terms)
    }
}
