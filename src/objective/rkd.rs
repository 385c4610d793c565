//! Relational knowledge distillation (RKD): distance-wise and angle-wise terms.
//!
//! On embeddings `e_i` (`[N, D]`; the logits when the teacher is not run online):
//!
//! distance: `ψ_D(i, j) = ‖e_i − e_j‖ / μ` with `μ` the mean distance over pairs `i ≠ j`;
//! `L_D = (1/N²) Σ_{i,j} huber(ψ_D^s(i, j) − ψ_D^t(i, j))`;
//!
//! angle: `ψ_A(i, j, k) = ⟨(e_j − e_i)/‖e_j − e_i‖, (e_k − e_i)/‖e_k − e_i‖⟩`;
//! `L_A = (1/N³) Σ_{i,j,k} huber(ψ_A^s(i, j, k) − ψ_A^t(i, j, k))`,
//!
//! with `huber` the smooth L1 loss (δ = 1). Park, Kim, Lu & Cho, "Relational Knowledge
//! Distillation", CVPR 2019 (weights 25 and 50 for distance and angle in the paper's metric
//! learning runs). Relations are invariant to the embedding's scale, so the student and teacher
//! may have different widths.

use burn::prelude::*;

/// Smooth L1 (Huber, δ = 1), elementwise: `0.5 x²` for `|x| < 1`, else `|x| − 0.5`.
pub(crate) fn huber<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let a = x.abs();
    let small = a.clone().clamp_max(1.0);
    small.clone().square().mul_scalar(0.5) + (a - small)
}

/// Pairwise Euclidean distances (`[N, N]`, zero diagonal) divided by their mean over `i ≠ j`.
fn normalised_distances(e: Tensor<2>) -> Tensor<2> {
    let [n, _] = e.dims();
    let sq = e.clone().square().sum_dim(1);
    let d2 = sq.clone() + sq.transpose() - e.clone().matmul(e.transpose()).mul_scalar(2.0);
    let off_diagonal = Tensor::<2>::eye(n, &d2.device()).neg().add_scalar(1.0);
    let d = d2.clamp_min(1e-12).sqrt() * off_diagonal;
    let mean = d.clone().sum().div_scalar((n * (n - 1)).max(1) as f32);
    d / mean.clamp_min(1e-12).unsqueeze::<2>()
}

/// Cosines of the angles `∠(e_j − e_i, e_k − e_i)` (`[N, N, N]`, zero where `j = i` or `k = i`).
fn angles(e: Tensor<2>) -> Tensor<3> {
    let diff = e.clone().unsqueeze_dim::<3>(0) - e.unsqueeze_dim::<3>(1); // [i, j] = e_j − e_i
    let len = diff.clone().square().sum_dim(2).clamp_min(1e-24).sqrt();
    let unit = diff / len;
    unit.clone().matmul(unit.swap_dims(1, 2))
}

/// The RKD distance term (`[1]`).
pub fn rkd_distance_loss(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    huber(normalised_distances(student) - normalised_distances(teacher.detach())).mean()
}

/// The RKD angle term (`[1]`).
pub fn rkd_angle_loss(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    huber(angles(student) - angles(teacher.detach())).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_values::{RKD_ANGLE, RKD_DISTANCE, Z_T};
    use crate::objective::testing::{assert_value_and_grad, scalar};

    #[test]
    fn matches_golden_numbers() {
        assert_value_and_grad(RKD_DISTANCE, |zs, zt, _| rkd_distance_loss(zs, zt), Z_T);
        assert_value_and_grad(RKD_ANGLE, |zs, zt, _| rkd_angle_loss(zs, zt), Z_T);
    }

    #[test]
    fn invariant_to_the_students_scale_and_shift() {
        let device = Device::flex();
        let zs = Tensor::<2>::from_data(Z_T, &device);
        let moved = zs.clone().mul_scalar(3.0).add_scalar(-2.0);
        let zt = Tensor::<2>::from_data(Z_T, &device);
        assert!(scalar(rkd_distance_loss(moved.clone(), zt.clone())).abs() < 1e-5);
        assert!(scalar(rkd_angle_loss(moved, zt)).abs() < 1e-5);
    }

    #[test]
    fn huber_is_quadratic_then_linear() {
        let x = Tensor::<1>::from_data([-3.0f32, -0.5, 0.0, 0.4, 2.0], &Device::flex());
        let v = huber(x).into_data().try_to_vec::<f32>().unwrap();
        for (got, want) in v.iter().zip([2.5, 0.125, 0.0, 0.08, 1.5]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
