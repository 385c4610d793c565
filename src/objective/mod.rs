//! The distillation objective: `α · CE(y, z_s) + (1 − α) · Σ_k w_k · term_k(z_s, z_t; T)`.
//!
//! Each soft term is one file and one variant of the closed, serde-tagged [`TermConfig`] enum,
//! so that the experiment file names it (`type = "kd"`) and the compiler checks every choice.
//! With `alpha`, `temperature` and a single `kd` term this is exactly Hinton's objective.

mod kd;

pub use kd::{cross_entropy, kd_loss};

use crate::config::BadField;
use crate::error::Result;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// The objective as the experiment file declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveConfig {
    /// Weight of the hard-label cross-entropy; the soft terms share `1 − alpha`.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Softmax temperature of the soft terms.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// The soft-label terms, each with its weight.
    #[serde(default = "default_terms")]
    pub terms: Vec<TermConfig>,
}

fn default_alpha() -> f64 {
    0.1
}
fn default_temperature() -> f64 {
    4.0
}
fn default_terms() -> Vec<TermConfig> {
    vec![TermConfig::Kd { weight: 1.0 }]
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        ObjectiveConfig {
            alpha: default_alpha(),
            temperature: default_temperature(),
            terms: default_terms(),
        }
    }
}

/// One soft-label term, picked by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum TermConfig {
    /// Hinton's KD: `T² · KL(softmax(z_t/T) ‖ softmax(z_s/T))` ([`kd_loss`]).
    Kd {
        /// Weight within the soft part.
        #[serde(default = "one")]
        weight: f64,
    },
}

fn one() -> f64 {
    1.0
}

impl TermConfig {
    /// The term's weight.
    pub fn weight(&self) -> f64 {
        match self {
            TermConfig::Kd { weight } => *weight,
        }
    }
}

impl ObjectiveConfig {
    /// Checks T > 0, 0 ≤ α ≤ 1 and non-negative weights.
    pub fn validate(&self, _num_classes: usize, bad: BadField) -> Result<()> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(bad(
                "objective.temperature",
                self.temperature.to_string(),
                "must be a number > 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(bad(
                "objective.alpha",
                self.alpha.to_string(),
                "must be in [0, 1]",
            ));
        }
        for (i, term) in self.terms.iter().enumerate() {
            let w = term.weight();
            if !(w >= 0.0 && w.is_finite()) {
                return Err(bad(
                    &format!("objective.terms[{i}].weight"),
                    w.to_string(),
                    "must be a number >= 0",
                ));
            }
        }
        if self.alpha < 1.0 && self.terms.is_empty() {
            return Err(bad(
                "objective.terms",
                "[]".into(),
                "alpha < 1 gives weight to soft terms, but none is listed",
            ));
        }
        Ok(())
    }
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
        })
    }

    /// Whether the objective needs the teacher's logits.
    pub fn needs_teacher(&self) -> bool {
        self.config.alpha < 1.0 && self.config.terms.iter().any(|t| t.weight() > 0.0)
    }

    /// The configuration.
    pub fn config(&self) -> &ObjectiveConfig {
        &self.config
    }

    /// The scalar loss (`[1]`) of a batch. `teacher_logits` must be given when
    /// [`needs_teacher`](Self::needs_teacher) is true.
    pub fn loss(
        &self,
        student_logits: Tensor<2>,
        labels: Tensor<1, Int>,
        teacher_logits: Option<Tensor<2>>,
    ) -> Tensor<1> {
        let c = &self.config;
        let mut total = cross_entropy(student_logits.clone(), labels).mul_scalar(c.alpha as f32);
        if let (true, Some(teacher)) = (self.needs_teacher(), teacher_logits) {
            let soft_weight = (1.0 - c.alpha) as f32;
            for term in &c.terms {
                let value = match term {
                    TermConfig::Kd { .. } => {
                        kd_loss(student_logits.clone(), teacher.clone(), c.temperature)
                    }
                };
                total = total + value.mul_scalar(soft_weight * term.weight() as f32);
            }
        }
        total
    }
}
