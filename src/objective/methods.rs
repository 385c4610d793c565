//! Named objectives ("methods"): the built-in presets a sweep or the search
//! ([`crate::tune`]) combines with a temperature and an α, and a grid point of them.

use super::{Combine, ObjectiveConfig, TermConfig};
use serde::{Deserialize, Serialize};

/// A named objective of the sweep's `objective` axis: its soft terms and teachers. α and T come
/// from the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodConfig {
    /// The soft terms.
    pub terms: Vec<TermConfig>,
    /// One weight per teacher (default: the experiment's teacher alone).
    #[serde(default = "one_teacher")]
    pub teacher_weights: Vec<f64>,
    /// How several teachers are combined.
    #[serde(default)]
    pub combine: Combine,
    /// Run the teacher on every batch (see [`ObjectiveConfig::online`]).
    #[serde(default)]
    pub online: bool,
}

fn one_teacher() -> Vec<f64> {
    vec![1.0]
}

/// Names of the built-in methods.
pub const BUILTIN_METHODS: [&str; 9] = [
    "kd", "kd_std", "dkd", "dkd_std", "dist", "rkd", "pkt", "sp", "ensemble",
];

/// The built-in method `name`: `kd`, `kd_std` (KD on standardised logits), `dkd` (α = 1,
/// β = 8), `dkd_std`, `dist` (β = γ = 1), `rkd` (distance 1 + angle 2), `pkt` (weight 10),
/// `sp` (weight 10) and `ensemble` (KD against the equal mix of the teacher and the first of
/// `extra_teachers`).
///
/// The relational terms act on logits here, not on the wide feature maps of their papers (RKD
/// 25 + 50, SP 3000, PKT up to 30000 in RepDistiller), so their weights are scaled down: on a
/// 3,000-image check, SP 100, RKD 5 + 10 and PKT 1000 already hurt the student; the presets
/// did not.
pub fn builtin_method(name: &str) -> Option<MethodConfig> {
    let kd = |logit_std| TermConfig::Kd {
        weight: 1.0,
        logit_std,
        temperature: None,
    };
    let dkd = |logit_std| TermConfig::Dkd {
        weight: 1.0,
        alpha: 1.0,
        beta: 8.0,
        logit_std,
        temperature: None,
    };
    let (terms, teachers) = match name {
        "kd" => (vec![kd(false)], 1),
        "kd_std" => (vec![kd(true)], 1),
        "dkd" => (vec![dkd(false)], 1),
        "dkd_std" => (vec![dkd(true)], 1),
        "dist" => (
            vec![TermConfig::Dist {
                weight: 1.0,
                beta: 1.0,
                gamma: 1.0,
                temperature: None,
            }],
            1,
        ),
        "rkd" => (
            vec![
                TermConfig::RkdDistance { weight: 1.0 },
                TermConfig::RkdAngle { weight: 2.0 },
            ],
            1,
        ),
        "pkt" => (vec![TermConfig::Pkt { weight: 10.0 }], 1),
        "sp" => (vec![TermConfig::Sp { weight: 10.0 }], 1),
        "ensemble" => (vec![kd(false)], 2),
        _ => return None,
    };
    Some(MethodConfig {
        terms,
        teacher_weights: vec![1.0; teachers],
        combine: Combine::Probs,
        online: false,
    })
}

/// One grid point: an objective at a temperature and an α.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The method's name.
    pub method: String,
    /// Temperature.
    pub temperature: f64,
    /// Weight of the hard-label cross-entropy.
    pub alpha: f64,
}

impl Point {
    /// The file-name stem of its run with `seed`, e.g. `dkd-T4-a0.5-seed1`.
    pub fn run_name(&self, seed: u64) -> String {
        format!(
            "{}-T{}-a{}-seed{seed}",
            self.method, self.temperature, self.alpha
        )
    }
}

/// The method name of the no-KD runs.
pub const BASELINE: &str = "no_kd";

/// The whole objective of `method` at temperature `t` and CE weight `alpha`.
pub fn objective_for(method: &MethodConfig, t: f64, alpha: f64) -> ObjectiveConfig {
    ObjectiveConfig {
        alpha,
        temperature: t,
        terms: method.terms.clone(),
        teacher_weights: method.teacher_weights.clone(),
        combine: method.combine,
        online: method.online,
        auto: false,
    }
}
