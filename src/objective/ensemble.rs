//! Several teachers, one target: the soft labels of a teacher ensemble.
//!
//! `probs` (Hinton et al. 2015, ensemble distillation): the tempered distributions are mixed,
//! `p = Σ_k w_k softmax(z_k / T)`, and returned as logits `z = T · log p`, so that every logit
//! term sees exactly the mixture at temperature T. `logits`: the weighted mean `Σ_k w_k z_k`.
//! Weights are normalised to sum to 1.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

/// How several teachers' logits are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Mix the tempered probabilities (the default).
    #[default]
    Probs,
    /// Average the logits.
    Logits,
}

/// Combines `[N, C]` teacher logits with `weights` (one per teacher, not all zero).
pub fn combine_teachers(
    teachers: Vec<Tensor<2>>,
    weights: &[f64],
    combine: Combine,
    temperature: f64,
) -> Tensor<2> {
    assert_eq!(teachers.len(), weights.len(), "one weight per teacher");
    if teachers.len() == 1 {
        return teachers.into_iter().next().expect("one teacher");
    }
    let total: f64 = weights.iter().sum();
    let t = temperature as f32;
    let mut parts = teachers.into_iter().zip(weights).map(|(z, &w)| {
        let w = (w / total) as f32;
        match combine {
            Combine::Logits => z.mul_scalar(w),
            Combine::Probs => log_softmax(z.div_scalar(t), 1).exp().mul_scalar(w),
        }
    });
    let first = parts.next().expect("at least one teacher");
    let sum = parts.fold(first, |acc, p| acc + p);
    match combine {
        Combine::Logits => sum,
        Combine::Probs => sum.clamp_min(1e-30).log().mul_scalar(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_values::{ENSEMBLE_T4, KD_ENSEMBLE_T4, Z_T, Z_T2};
    use crate::objective::kd::kd_loss;
    use crate::objective::testing::assert_value_and_grad;

    #[test]
    fn mixture_matches_golden_numbers() {
        let device = Device::flex();
        let teachers = vec![
            Tensor::<2>::from_data(Z_T, &device),
            Tensor::<2>::from_data(Z_T2, &device),
        ];
        let z = combine_teachers(teachers, &[0.7, 0.3], Combine::Probs, 4.0);
        let got = z.into_data().try_to_vec::<f32>().unwrap();
        for (g, e) in got.iter().zip(ENSEMBLE_T4.iter().flatten()) {
            assert!((g - e).abs() < 1e-4, "{g} vs {e}");
        }
        assert_value_and_grad(
            KD_ENSEMBLE_T4,
            |zs, zt, _| kd_loss(zs, zt, 4.0),
            ENSEMBLE_T4,
        );
        // Weights are normalised: 7:3 is 0.7:0.3.
        let teachers = vec![
            Tensor::<2>::from_data(Z_T, &device),
            Tensor::<2>::from_data(Z_T2, &device),
        ];
        let again = combine_teachers(teachers, &[7.0, 3.0], Combine::Probs, 4.0);
        let again = again.into_data().try_to_vec::<f32>().unwrap();
        assert!(again.iter().zip(&got).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn logit_mean() {
        let device = Device::flex();
        let a = Tensor::<2>::from_data([[1.0f32, 3.0]], &device);
        let b = Tensor::<2>::from_data([[3.0f32, -1.0]], &device);
        let z = combine_teachers(vec![a, b], &[1.0, 1.0], Combine::Logits, 4.0);
        assert_eq!(z.into_data().try_to_vec::<f32>().unwrap(), vec![2.0, 1.0]);
    }
}
