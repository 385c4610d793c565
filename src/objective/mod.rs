//! The distillation objective: `α · CE(y, z_s) + (1 − α) · Σ_k w_k · term_k(z_s, z_t; T)`.
//!
//! Each soft term is one file and one variant of the closed, serde-tagged [`TermConfig`] enum,
//! so that the experiment file names it (`type = "dkd"`) and the compiler checks every choice.
//! With `alpha`, `temperature` and a single `kd` term this is exactly Hinton's objective.
//!
//! The logit terms work from the teacher's logits alone, so they run offline from the recorded
//! soft-label store: KD, DKD and logit standardisation, DIST, the relational terms (RKD, PKT,
//! SP, which relate the samples of a batch to one another in the logit space) and the
//! adversarial term (whose discriminator sees logits). Several teachers' stores are combined
//! first ([`combine_teachers`]). The feature terms (FitNets hints, attention transfer) need the
//! teacher's intermediate layers, so the teacher runs online, every step; `online = true` does
//! that for any objective (e.g. to distil on augmented batches).

mod adversarial;
mod attention;
mod dist;
mod dkd;
mod ensemble;
mod hint;
mod kd;
mod logit_std;
pub mod methods;
mod pkt;
mod rkd;
mod sp;

#[cfg(test)]
mod golden_features;
#[cfg(test)]
mod golden_values;
#[cfg(test)]
mod testing;

pub use adversarial::{Discriminator, adversarial_loss, discriminator_loss};
pub use attention::{attention_loss, attention_map};
pub use dist::dist_loss;
pub use dkd::dkd_loss;
pub use ensemble::{Combine, combine_teachers};
pub use hint::{Connector, FeatureShape, feature_mse, hint_loss};
pub use kd::{cross_entropy, kd_loss, kd_loss_std};
pub use logit_std::standardize;
pub use pkt::pkt_loss;
pub use rkd::{rkd_angle_loss, rkd_distance_loss};
pub use sp::sp_loss;

use crate::error::Result;
use crate::vocab::{BadField, Feature, NamedFeature};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The objective as the experiment file declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveConfig {
    /// Weight of the hard-label cross-entropy; the soft terms share `1 − alpha`.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Softmax temperature of the soft terms (a term may set its own).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// The soft-label terms, each with its weight.
    #[serde(default = "default_terms")]
    pub terms: Vec<TermConfig>,
    /// One weight per teacher whose soft labels are combined: `[1.0]` (the default) is the
    /// experiment's teacher alone; `[0.5, 0.5]` mixes it with the first of `extra_teachers`.
    #[serde(default = "default_teacher_weights")]
    pub teacher_weights: Vec<f64>,
    /// How several teachers are combined: `probs` (mix the tempered distributions) or `logits`.
    #[serde(default)]
    pub combine: Combine,
    /// Run the teacher on every batch instead of reading the recorded store, so that the
    /// student may train on augmented batches (its `train.augment`). Feature terms imply it.
    #[serde(default)]
    pub online: bool,
    /// Chosen automatically on validation data (`objective = "auto"` in the experiment file,
    /// searched as its `[tune]` section says; see [`crate::tune`]): the other fields are then
    /// only the defaults a sweep starts from.
    #[serde(skip)]
    pub auto: bool,
}

/// Reads the experiment file's `objective`: the string `"auto"` (a search on validation data,
/// [`crate::tune`]) or a table (set by hand).
pub fn objective_or_auto<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<ObjectiveConfig, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = ObjectiveConfig;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("\"auto\" or an [objective] table")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            if v == "auto" {
                Ok(ObjectiveConfig::auto())
            } else {
                Err(E::custom(format!(
                    "objective = {v:?}: write objective = \"auto\" (chosen on validation data) or an [objective] table"
                )))
            }
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            ObjectiveConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// Writes `objective` back as the experiment file has it: `"auto"` or the table.
pub fn serialize_objective<S: serde::Serializer>(
    objective: &ObjectiveConfig,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    if objective.auto {
        serializer.serialize_str("auto")
    } else {
        objective.serialize(serializer)
    }
}

fn default_alpha() -> f64 {
    0.1
}
fn default_temperature() -> f64 {
    4.0
}
fn default_terms() -> Vec<TermConfig> {
    vec![TermConfig::Kd {
        weight: 1.0,
        logit_std: false,
        temperature: None,
    }]
}
fn default_teacher_weights() -> Vec<f64> {
    vec![1.0]
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        ObjectiveConfig {
            alpha: default_alpha(),
            temperature: default_temperature(),
            terms: default_terms(),
            teacher_weights: default_teacher_weights(),
            combine: Combine::default(),
            online: false,
            auto: false,
        }
    }
}

impl ObjectiveConfig {
    /// The objective of an experiment that leaves it to the search (`objective = "auto"`, or
    /// no objective at all): the defaults, marked automatic.
    pub fn auto() -> Self {
        ObjectiveConfig {
            auto: true,
            ..ObjectiveConfig::default()
        }
    }
}

/// One soft-label term, picked by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TermConfig {
    /// Hinton's KD: `T² · KL(softmax(z_t/T) ‖ softmax(z_s/T))` ([`kd_loss`]).
    Kd {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
        /// Standardise both logit vectors first (Sun et al. 2024, [`standardize`]).
        #[serde(default)]
        logit_std: bool,
        /// This term's temperature, instead of the objective's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<f64>,
    },
    /// Decoupled KD: `T² · (α · TCKD + β · NCKD)` ([`dkd_loss`]).
    Dkd {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
        /// DKD's α: weight of the target-class term.
        #[serde(default = "one")]
        alpha: f64,
        /// DKD's β: weight of the non-target term.
        #[serde(default = "eight")]
        beta: f64,
        /// Standardise both logit vectors first.
        #[serde(default)]
        logit_std: bool,
        /// This term's temperature, instead of the objective's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<f64>,
    },
    /// DIST: `τ² · (β · inter + γ · intra)` Pearson relations ([`dist_loss`]).
    Dist {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
        /// Weight of the inter-class (per-sample) relation.
        #[serde(default = "one")]
        beta: f64,
        /// Weight of the intra-class (per-class) relation.
        #[serde(default = "one")]
        gamma: f64,
        /// This term's temperature τ, instead of the objective's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<f64>,
    },
    /// RKD distance-wise term on the batch's logits ([`rkd_distance_loss`]).
    RkdDistance {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
    },
    /// RKD angle-wise term on the batch's logits ([`rkd_angle_loss`]).
    RkdAngle {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
    },
    /// Probabilistic knowledge transfer on the batch's logits ([`pkt_loss`]).
    Pkt {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
    },
    /// Similarity-preserving KD on the batch's logits ([`sp_loss`]).
    Sp {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
    },
    /// FitNets hint: a learned connector maps `student_layer` onto `teacher_layer`
    /// ([`hint_loss`]). Runs the teacher online.
    Hint {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
        /// The student's layer (e.g. `block2`, `hidden1`).
        student_layer: String,
        /// The teacher's layer.
        teacher_layer: String,
    },
    /// Attention transfer between two feature maps of the same H×W ([`attention_loss`]).
    /// Runs the teacher online.
    Attention {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
        /// The student's layer (a feature map, e.g. `block2`).
        student_layer: String,
        /// The teacher's layer (a feature map of the same H×W).
        teacher_layer: String,
    },
    /// Adversarial: a discriminator tells teacher logits from student logits and the student
    /// learns to fool it ([`adversarial_loss`]).
    Adversarial {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
        /// Width of the discriminator's hidden layer.
        #[serde(default = "sixty_four")]
        hidden: usize,
        /// The discriminator's Adam learning rate.
        #[serde(default = "disc_lr")]
        lr: f64,
        /// Discriminator updates per student update.
        #[serde(default = "one_step")]
        d_steps: usize,
    },
}

fn sixty_four() -> usize {
    64
}
fn disc_lr() -> f64 {
    1e-3
}
fn one_step() -> usize {
    1
}

fn one() -> f64 {
    1.0
}
fn eight() -> f64 {
    8.0
}

impl TermConfig {
    /// The term's weight.
    pub fn weight(&self) -> f64 {
        match self {
            TermConfig::Kd { weight, .. }
            | TermConfig::Dkd { weight, .. }
            | TermConfig::Dist { weight, .. }
            | TermConfig::RkdDistance { weight }
            | TermConfig::RkdAngle { weight }
            | TermConfig::Pkt { weight }
            | TermConfig::Sp { weight }
            | TermConfig::Hint { weight, .. }
            | TermConfig::Attention { weight, .. }
            | TermConfig::Adversarial { weight, .. } => *weight,
        }
    }

    /// The (student, teacher) layers a feature term reads.
    pub fn layers(&self) -> Option<(&str, &str)> {
        match self {
            TermConfig::Hint {
                student_layer,
                teacher_layer,
                ..
            }
            | TermConfig::Attention {
                student_layer,
                teacher_layer,
                ..
            } => Some((student_layer, teacher_layer)),
            _ => None,
        }
    }

    /// The name used in the experiment file.
    pub fn name(&self) -> &'static str {
        match self {
            TermConfig::Kd { .. } => "kd",
            TermConfig::Dkd { .. } => "dkd",
            TermConfig::Dist { .. } => "dist",
            TermConfig::RkdDistance { .. } => "rkd_distance",
            TermConfig::RkdAngle { .. } => "rkd_angle",
            TermConfig::Pkt { .. } => "pkt",
            TermConfig::Sp { .. } => "sp",
            TermConfig::Hint { .. } => "hint",
            TermConfig::Attention { .. } => "attention",
            TermConfig::Adversarial { .. } => "adversarial",
        }
    }

    /// A short human-readable form, e.g. `1·dkd(α=1, β=8, std)`.
    pub fn describe(&self) -> String {
        let t = |t: &Option<f64>| t.map(|t| format!(", T={t}")).unwrap_or_default();
        let s = |on: &bool| if *on { ", std" } else { "" };
        let inner = match self {
            TermConfig::Kd {
                logit_std,
                temperature,
                ..
            } => {
                let opts = format!("{}{}", s(logit_std), t(temperature));
                if opts.is_empty() {
                    "kd".to_string()
                } else {
                    format!("kd({})", opts.trim_start_matches(", "))
                }
            }
            TermConfig::Dkd {
                alpha,
                beta,
                logit_std,
                temperature,
                ..
            } => format!("dkd(α={alpha}, β={beta}{}{})", s(logit_std), t(temperature)),
            TermConfig::Dist {
                beta,
                gamma,
                temperature,
                ..
            } => format!("dist(β={beta}, γ={gamma}{})", t(temperature)),
            TermConfig::Hint {
                student_layer,
                teacher_layer,
                ..
            } => format!("hint({student_layer}→{teacher_layer})"),
            TermConfig::Attention {
                student_layer,
                teacher_layer,
                ..
            } => format!("attention({student_layer}→{teacher_layer})"),
            TermConfig::Adversarial {
                hidden, d_steps, ..
            } => format!("adversarial(D {hidden}, {d_steps} step)"),
            other => other.name().to_string(),
        };
        format!("{}·{}", self.weight(), inner)
    }

    /// The term's own temperature, if it sets one.
    fn own_temperature(&self) -> Option<f64> {
        match self {
            TermConfig::Kd { temperature, .. }
            | TermConfig::Dkd { temperature, .. }
            | TermConfig::Dist { temperature, .. } => *temperature,
            _ => None,
        }
    }

    /// Whether the term's value depends on the objective's temperature.
    pub fn uses_temperature(&self) -> bool {
        matches!(
            self,
            TermConfig::Kd { .. } | TermConfig::Dkd { .. } | TermConfig::Dist { .. }
        ) && self.own_temperature().is_none()
    }

    /// The term's named non-negative coefficients besides its weight.
    fn coefficients(&self) -> Vec<(&'static str, f64)> {
        match self {
            TermConfig::Dkd { alpha, beta, .. } => vec![("alpha", *alpha), ("beta", *beta)],
            TermConfig::Dist { beta, gamma, .. } => vec![("beta", *beta), ("gamma", *gamma)],
            TermConfig::Adversarial { lr, .. } => vec![("lr", *lr)],
            _ => Vec::new(),
        }
    }
}

impl ObjectiveConfig {
    /// Checks T > 0, 0 ≤ α ≤ 1, non-negative weights and that each term fits the task.
    pub fn validate(&self, num_classes: usize, bad: BadField) -> Result<()> {
        let positive = |field: &str, v: f64| -> Result<()> {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(bad(field, v.to_string(), "must be a number > 0"))
            }
        };
        let non_negative = |field: &str, v: f64| -> Result<()> {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(bad(field, v.to_string(), "must be a number >= 0"))
            }
        };
        positive("objective.temperature", self.temperature)?;
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(bad(
                "objective.alpha",
                self.alpha.to_string(),
                "must be in [0, 1]",
            ));
        }
        for (i, term) in self.terms.iter().enumerate() {
            let field = format!("objective.terms[{i}]");
            non_negative(&format!("{field}.weight"), term.weight())?;
            if let Some(t) = term.own_temperature() {
                positive(&format!("{field}.temperature"), t)?;
            }
            for (name, v) in term.coefficients() {
                non_negative(&format!("{field}.{name}"), v)?;
            }
            if matches!(term, TermConfig::Dkd { .. }) && num_classes < 3 {
                return Err(bad(
                    &format!("{field}.type"),
                    "\"dkd\"".into(),
                    &format!(
                        "DKD decouples the gold class from the other classes, which needs at least 3 classes (data.num_classes = {num_classes})"
                    ),
                ));
            }
        }
        for (i, term) in self.terms.iter().enumerate() {
            if let TermConfig::Adversarial {
                hidden, d_steps, ..
            } = term
            {
                for (name, v) in [("hidden", hidden), ("d_steps", d_steps)] {
                    if *v == 0 {
                        return Err(bad(
                            &format!("objective.terms[{i}].{name}"),
                            "0".into(),
                            "must be at least 1",
                        ));
                    }
                }
            }
        }
        if self.alpha < 1.0 && self.terms.is_empty() {
            return Err(bad(
                "objective.terms",
                "[]".into(),
                "alpha < 1 gives weight to soft terms, but none is listed",
            ));
        }
        if self.teacher_weights.is_empty() {
            return Err(bad(
                "objective.teacher_weights",
                "[]".into(),
                "give one weight per teacher (the default is [1.0])",
            ));
        }
        for (i, &w) in self.teacher_weights.iter().enumerate() {
            non_negative(&format!("objective.teacher_weights[{i}]"), w)?;
        }
        if self.needs_online_teacher() && self.teacher_weights.len() > 1 {
            return Err(bad(
                "objective.teacher_weights",
                format!("{:?}", self.teacher_weights),
                "the teacher runs online (online = true, or a hint/attention term), which takes one teacher",
            ));
        }
        if self.teacher_weights.iter().sum::<f64>() <= 0.0 {
            return Err(bad(
                "objective.teacher_weights",
                format!("{:?}", self.teacher_weights),
                "at least one weight must be > 0",
            ));
        }
        Ok(())
    }

    /// Whether the teacher must run on every batch: `online = true`, or a feature term.
    pub fn needs_online_teacher(&self) -> bool {
        self.alpha < 1.0
            && (self.online
                || self
                    .terms
                    .iter()
                    .any(|t| t.weight() > 0.0 && t.layers().is_some()))
    }

    /// Checks the layers the feature terms name against the named features of the two models
    /// (`student` and `teacher`: each layer's name and shape, as
    /// [`crate::task::feature_shapes`] gives them) and returns, for each hint term in order,
    /// the (student, teacher) feature shapes its connector bridges.
    pub fn feature_pairs(
        &self,
        s_shapes: &[(String, FeatureShape)],
        t_shapes: &[(String, FeatureShape)],
        bad: BadField,
    ) -> Result<Vec<(FeatureShape, FeatureShape)>> {
        if !self.terms.iter().any(|t| t.layers().is_some()) {
            return Ok(Vec::new());
        }
        let find = |list: &[(String, FeatureShape)], name: &str, field: &str| {
            list.iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.clone())
                .ok_or_else(|| {
                    let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
                    bad(
                        field,
                        format!("\"{name}\""),
                        &format!("no such layer; the model has {}", names.join(", ")),
                    )
                })
        };
        let mut pairs = Vec::new();
        for (i, term) in self.terms.iter().enumerate() {
            let Some((sl, tl)) = term.layers() else {
                continue;
            };
            let field = format!("objective.terms[{i}]");
            let s = find(s_shapes, sl, &format!("{field}.student_layer"))?;
            let t = find(t_shapes, tl, &format!("{field}.teacher_layer"))?;
            let problem = match term {
                TermConfig::Attention { .. } => match (&s, &t) {
                    (FeatureShape::Map([_, hs, ws]), FeatureShape::Map([_, ht, wt]))
                        if (hs, ws) == (ht, wt) =>
                    {
                        None
                    }
                    _ => Some(format!(
                        "attention transfer needs two feature maps of the same height and width, not a {s} and a {t}"
                    )),
                },
                _ => Connector::unbridgeable(&s, &t),
            };
            if let Some(reason) = problem {
                return Err(bad(
                    &format!("{field}.student_layer"),
                    format!("\"{sl}\" → \"{tl}\""),
                    &reason,
                ));
            }
            if matches!(term, TermConfig::Hint { .. }) {
                pairs.push((s, t));
            }
        }
        Ok(pairs)
    }

    /// A one-line description, e.g. `α=0.5 · CE + 0.5 · [1·kd], T=4`.
    pub fn describe(&self) -> String {
        let terms = self
            .terms
            .iter()
            .map(TermConfig::describe)
            .collect::<Vec<_>>()
            .join(" + ");
        let mut s = format!(
            "{} · CE + {} · [{}]",
            self.alpha,
            ((1.0 - self.alpha) * 1e9).round() / 1e9,
            terms,
        );
        if self.terms.iter().any(TermConfig::uses_temperature) {
            s.push_str(&format!(", T = {}", self.temperature));
        }
        if self.teacher_weights.len() > 1 {
            s.push_str(&format!(
                ", teachers {:?} ({:?})",
                self.teacher_weights, self.combine
            ));
        }
        s
    }
}

/// What the feature and adversarial terms read besides the logits.
#[derive(Default)]
pub struct Extras<'a> {
    /// The student's named features of this batch.
    pub student_features: &'a [NamedFeature],
    /// The teacher's named features of this batch.
    pub teacher_features: &'a [NamedFeature],
    /// One connector per hint term, in term order.
    pub connectors: &'a [Connector],
    /// The adversarial term's discriminator.
    pub discriminator: Option<&'a Discriminator>,
}

/// A ready-to-use objective.
#[derive(Debug, Clone)]
pub struct Objective {
    config: ObjectiveConfig,
}

impl Objective {
    /// Builds the objective from a validated config.
    pub fn new(config: ObjectiveConfig) -> Self {
        Objective { config }
    }

    /// Plain cross-entropy on hard labels: the no-KD baseline.
    pub fn hard_labels_only() -> Self {
        Objective::new(ObjectiveConfig {
            alpha: 1.0,
            temperature: 1.0,
            terms: Vec::new(),
            teacher_weights: default_teacher_weights(),
            combine: Combine::default(),
            online: false,
            auto: false,
        })
    }

    /// Whether the objective needs the teacher's logits.
    pub fn needs_teacher(&self) -> bool {
        self.config.alpha < 1.0 && self.config.terms.iter().any(|t| t.weight() > 0.0)
    }

    /// Whether the teacher runs on every batch (see [`ObjectiveConfig::needs_online_teacher`]).
    pub fn needs_online_teacher(&self) -> bool {
        self.config.needs_online_teacher()
    }

    /// Whether the objective reads the recorded soft-label store.
    pub fn needs_store(&self) -> bool {
        self.needs_teacher() && !self.needs_online_teacher()
    }

    /// The adversarial term's discriminator settings (hidden width, learning rate, steps per
    /// student step), if the objective has one with a positive weight.
    pub fn adversarial(&self) -> Option<(usize, f64, usize)> {
        if !self.needs_teacher() {
            return None;
        }
        self.config.terms.iter().find_map(|t| match t {
            TermConfig::Adversarial {
                weight,
                hidden,
                lr,
                d_steps,
            } if *weight > 0.0 => Some((*hidden, *lr, *d_steps)),
            _ => None,
        })
    }

    /// How many teachers' soft labels the objective combines.
    pub fn teacher_count(&self) -> usize {
        self.config.teacher_weights.len()
    }

    /// The configuration.
    pub fn config(&self) -> &ObjectiveConfig {
        &self.config
    }

    /// The target logits from one batch of each teacher (in `teacher_weights` order).
    pub fn teacher_target(&self, teachers: Vec<Tensor<2>>) -> Tensor<2> {
        combine_teachers(
            teachers,
            &self.config.teacher_weights,
            self.config.combine,
            self.config.temperature,
        )
    }

    /// The scalar loss (`[1]`) of a batch. `teacher_logits` (combined, see
    /// [`teacher_target`](Self::teacher_target)) must be given when
    /// [`needs_teacher`](Self::needs_teacher) is true.
    pub fn loss(
        &self,
        student_logits: Tensor<2>,
        labels: Tensor<1, Int>,
        teacher_logits: Option<Tensor<2>>,
    ) -> Tensor<1> {
        self.loss_with(student_logits, labels, teacher_logits, &Extras::default())
    }

    /// The objective's value: `α·CE + (1 − α)·Σ wₖ·termₖ` (see [`Objective::loss_parts`]).
    pub fn loss_with(
        &self,
        student_logits: Tensor<2>,
        labels: Tensor<1, Int>,
        teacher_logits: Option<Tensor<2>>,
        extras: &Extras,
    ) -> Tensor<1> {
        self.loss_parts(student_logits, labels, teacher_logits, extras, None)
    }

    /// The objective's value, and (into `parts`, when given) each of its weighted summands:
    /// `ce` for `α·CE`, then each term's `(1 − α)·wₖ·termₖ` under its name (`kd`, `dist`,
    /// `hint`, ...; a second term of the same kind is `hint#2`). The parts add up to the value:
    /// it is computed from the same tensors, in the same order.
    pub fn loss_parts(
        &self,
        student_logits: Tensor<2>,
        labels: Tensor<1, Int>,
        teacher_logits: Option<Tensor<2>>,
        extras: &Extras,
        mut parts: Option<&mut Vec<(String, Tensor<1>)>>,
    ) -> Tensor<1> {
        let c = &self.config;
        let feature = |list: &[NamedFeature], name: &str| -> Feature {
            list.iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("layer {name} was not computed"))
                .value
                .clone()
        };
        let mut hints = extras.connectors.iter();
        let mut total =
            cross_entropy(student_logits.clone(), labels.clone()).mul_scalar(c.alpha as f32);
        if let Some(p) = parts.as_deref_mut() {
            p.push(("ce".to_string(), total.clone()));
        }
        let Some(zt) = teacher_logits.filter(|_| self.needs_teacher()) else {
            return total;
        };
        let soft_weight = (1.0 - c.alpha) as f32;
        for term in &c.terms {
            if term.weight() == 0.0 {
                if matches!(term, TermConfig::Hint { .. }) {
                    hints.next();
                }
                continue;
            }
            let zs = student_logits.clone();
            let t = term.own_temperature().unwrap_or(c.temperature);
            let zt = zt.clone().detach();
            let value = match term {
                TermConfig::Kd { logit_std, .. } => kd_loss_std(zs, zt, t, *logit_std),
                TermConfig::Dkd {
                    alpha,
                    beta,
                    logit_std,
                    ..
                } => dkd_loss(zs, zt, labels.clone(), t, *alpha, *beta, *logit_std),
                TermConfig::Dist { beta, gamma, .. } => dist_loss(zs, zt, t, *beta, *gamma),
                TermConfig::RkdDistance { .. } => rkd_distance_loss(zs, zt),
                TermConfig::RkdAngle { .. } => rkd_angle_loss(zs, zt),
                TermConfig::Pkt { .. } => pkt_loss(zs, zt),
                TermConfig::Sp { .. } => sp_loss(zs, zt),
                TermConfig::Hint {
                    student_layer,
                    teacher_layer,
                    ..
                } => hint_loss(
                    hints.next().expect("one connector per hint term"),
                    &feature(extras.student_features, student_layer),
                    feature(extras.teacher_features, teacher_layer),
                ),
                TermConfig::Attention {
                    student_layer,
                    teacher_layer,
                    ..
                } => match (
                    feature(extras.student_features, student_layer),
                    feature(extras.teacher_features, teacher_layer),
                ) {
                    (Feature::Map(s), Feature::Map(t)) => attention_loss(s, t),
                    _ => panic!("attention transfer needs feature maps"),
                },
                TermConfig::Adversarial { .. } => adversarial_loss(
                    extras
                        .discriminator
                        .expect("a discriminator for the adversarial term"),
                    zs,
                ),
            };
            let weighted = value.mul_scalar(soft_weight * term.weight() as f32);
            if let Some(p) = parts.as_deref_mut() {
                let name = term.name();
                let seen = p
                    .iter()
                    .filter(|(n, _)| n.split('#').next() == Some(name))
                    .count();
                let key = match seen {
                    0 => name.to_string(),
                    k => format!("{name}#{}", k + 1),
                };
                p.push((key, weighted.clone()));
            }
            total = total + weighted;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_values::{DKD_A1_B8_T4, KD_STD_T2, PKT, Y, Z_S, Z_T};
    use crate::objective::testing::scalar;

    fn parse(text: &str) -> std::result::Result<ObjectiveConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn terms_are_parsed_by_name_with_defaults() {
        let c = parse(
            r#"
            alpha = 0.2
            terms = [
              { type = "kd", logit_std = true },
              { type = "dkd", beta = 4.0 },
              { type = "dist", temperature = 1.0 },
              { type = "rkd_distance", weight = 25.0 },
              { type = "rkd_angle", weight = 50.0 },
              { type = "pkt" },
              { type = "sp", weight = 3000.0 },
            ]
            "#,
        )
        .unwrap();
        assert_eq!(c.terms.len(), 7);
        assert_eq!(
            c.terms[1],
            TermConfig::Dkd {
                weight: 1.0,
                alpha: 1.0,
                beta: 4.0,
                logit_std: false,
                temperature: None
            }
        );
        assert_eq!(c.teacher_weights, vec![1.0]);
        assert!(parse("terms = [{ type = \"dkd\", gamma = 1.0 }]").is_err());
        assert!(parse("terms = [{ type = \"fitnet\" }]").is_err());
    }

    #[test]
    fn weighted_sum_of_terms_matches_the_golden_parts() {
        // 0.25·CE + 0.75·(2·KD_std(T=2) + 0.5·DKD(T=4) + 10·PKT), each part a golden value.
        let config = parse(
            r#"
            alpha = 0.25
            temperature = 4.0
            terms = [
              { type = "kd", weight = 2.0, logit_std = true, temperature = 2.0 },
              { type = "dkd", weight = 0.5 },
              { type = "pkt", weight = 10.0 },
            ]
            "#,
        )
        .unwrap();
        let device = Device::flex();
        let zs = Tensor::<2>::from_data(Z_S, &device);
        let zt = Tensor::<2>::from_data(Z_T, &device);
        let y = Tensor::<1, Int>::from_data(Y, &device);
        let ce = scalar(cross_entropy(zs.clone(), y.clone()));
        let got = scalar(Objective::new(config).loss(zs, y, Some(zt)));
        let expected = 0.25 * ce + 0.75 * (2.0 * KD_STD_T2.0 + 0.5 * DKD_A1_B8_T4.0 + 10.0 * PKT.0);
        assert!((got - expected).abs() < 1e-4, "{got} vs {expected}");
    }

    #[test]
    fn validation_names_the_bad_field() {
        let bad: BadField = &|field, value, reason| crate::error::Error::ConfigValue {
            path: "x.toml".into(),
            field: field.into(),
            value,
            reason: reason.into(),
        };
        let check = |text: &str, classes: usize| {
            parse(text)
                .unwrap()
                .validate(classes, bad)
                .unwrap_err()
                .to_string()
        };
        let e = check("terms = [{ type = \"dkd\" }]", 2);
        assert!(
            e.contains("objective.terms[0].type") && e.contains("3 classes"),
            "{e}"
        );
        let e = check(
            "terms = [{ type = \"kd\" }, { type = \"dist\", gamma = -1.0 }]",
            10,
        );
        assert!(
            e.contains("objective.terms[1].gamma") && e.contains("-1"),
            "{e}"
        );
        let e = check("terms = [{ type = \"kd\", temperature = 0.0 }]", 10);
        assert!(e.contains("objective.terms[0].temperature"), "{e}");
        let e = check("teacher_weights = [0.5, -0.5]", 10);
        assert!(e.contains("objective.teacher_weights[1]"), "{e}");
        let e = check("teacher_weights = [0.0, 0.0]", 10);
        assert!(e.contains("objective.teacher_weights"), "{e}");
    }
}
