//! DIST: distillation from a stronger teacher through correlations.
//!
//! With `Y_s = softmax(z_s/τ)` and `Y_t = softmax(z_t/τ)` (`[N, C]`) and Pearson's correlation
//! `ρ(a, b) = ⟨a − ā, b − b̄⟩ / (‖a − ā‖ ‖b − b̄‖)`:
//!
//! `inter = 1 − (1/N) Σ_i ρ(Y_s[i,:], Y_t[i,:])` (each sample's ranking of the classes),
//! `intra = 1 − (1/C) Σ_j ρ(Y_s[:,j], Y_t[:,j])` (each class's ranking of the samples),
//!
//! `DIST = τ² · (β · inter + γ · intra)`.
//!
//! Huang, You, Wang, Qian & Xu, "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022
//! (β = γ = 1 in the paper). Matching correlations instead of exact probabilities lets the
//! student keep its own scale, which helps when the teacher is much stronger. τ is the
//! objective's temperature (or the term's own).

use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Mean Pearson correlation of the rows of `a` and `b` (`[1]`).
fn mean_row_pearson(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let a = a.clone() - a.mean_dim(1);
    let b = b.clone() - b.mean_dim(1);
    let num = (a.clone() * b.clone()).sum_dim(1);
    let den = (a.square().sum_dim(1) * b.square().sum_dim(1))
        .sqrt()
        .clamp_min(1e-8);
    (num / den).mean()
}

/// The DIST term (`[1]`).
pub fn dist_loss(
    student_logits: Tensor<2>,
    teacher_logits: Tensor<2>,
    temperature: f64,
    beta: f64,
    gamma: f64,
) -> Tensor<1> {
    let t = temperature as f32;
    let ys = softmax(student_logits.div_scalar(t), 1);
    let yt = softmax(teacher_logits.div_scalar(t), 1);
    let inter = mean_row_pearson(ys.clone(), yt.clone())
        .neg()
        .add_scalar(1.0);
    let intra = mean_row_pearson(ys.transpose(), yt.transpose())
        .neg()
        .add_scalar(1.0);
    (inter.mul_scalar(beta as f32) + intra.mul_scalar(gamma as f32)).mul_scalar(t * t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_values::{DIST_B1_G1_T1, DIST_B1_G2_T4, Z_T};
    use crate::objective::testing::{assert_value_and_grad, scalar};

    #[test]
    fn matches_golden_numbers() {
        assert_value_and_grad(
            DIST_B1_G1_T1,
            |zs, zt, _| dist_loss(zs, zt, 1.0, 1.0, 1.0),
            Z_T,
        );
        assert_value_and_grad(
            DIST_B1_G2_T4,
            |zs, zt, _| dist_loss(zs, zt, 4.0, 1.0, 2.0),
            Z_T,
        );
    }

    #[test]
    fn zero_for_an_identical_student() {
        let z = Tensor::<2>::from_data(Z_T, &Device::flex());
        assert!(scalar(dist_loss(z.clone(), z, 2.0, 1.0, 1.0)).abs() < 1e-5);
    }
}
