//! Decoupled knowledge distillation (DKD).
//!
//! With `p = softmax(z/T)` and gold class `y`, KD splits into a target part and a non-target
//! part:
//!
//! `TCKD = KL([p_t,y, 1 − p_t,y] ‖ [p_s,y, 1 − p_s,y])` (binary: gold class against the rest),
//! `NCKD = KL(p̂_t ‖ p̂_s)` where `p̂ = softmax(z_{≠y}/T)` over the non-target classes only,
//!
//! `DKD = T² · (α · TCKD + β · NCKD)`, averaged over the batch.
//!
//! Zhao, Cui, Song, Qiu & Liang, "Decoupled Knowledge Distillation", CVPR 2022. Plain KD is
//! `TCKD + (1 − p_t,y) · NCKD`, so it weakens the non-target knowledge exactly where the teacher
//! is confident; DKD weights it independently (the paper uses α = 1, β = 8 on CIFAR-100). The
//! paper's linear warm-up of the DKD weight is left to the learning-rate schedule.

use super::logit_std::standardize;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Masked logits are pushed this far down, as in the authors' code (`1000`).
const MASK: f32 = 1000.0;

/// `log Σ exp` over dim 1, kept as `[N, 1]`.
fn log_sum_exp(x: Tensor<2>) -> Tensor<2> {
    let m = x.clone().max_dim(1).detach();
    (x - m.clone()).exp().sum_dim(1).log() + m
}

/// The DKD term (`[1]`). `labels` are the gold classes; needs at least 3 classes.
pub fn dkd_loss(
    student_logits: Tensor<2>,
    teacher_logits: Tensor<2>,
    labels: Tensor<1, Int>,
    temperature: f64,
    alpha: f64,
    beta: f64,
    standardise: bool,
) -> Tensor<1> {
    let [n, c] = student_logits.dims();
    let t = temperature as f32;
    let (zs, zt) = if standardise {
        (standardize(student_logits), standardize(teacher_logits))
    } else {
        (student_logits, teacher_logits)
    };
    let zs = zs.div_scalar(t);
    let zt = zt.div_scalar(t);
    let gold = labels.one_hot::<2>(c).float();
    // Log-probabilities of "gold" and "any other class", from log-sum-exps (stable).
    let binary = |z: Tensor<2>| {
        let all = log_sum_exp(z.clone());
        let others = log_sum_exp(z.clone() - gold.clone().mul_scalar(MASK));
        let gold_logit = (z * gold.clone()).sum_dim(1);
        Tensor::cat(vec![gold_logit - all.clone(), others - all], 1)
    };
    let log_bs = binary(zs.clone());
    let log_bt = binary(zt.clone());
    let tckd = (log_bt.clone().exp() * (log_bt - log_bs)).sum();
    let log_ps = log_softmax(zs - gold.clone().mul_scalar(MASK), 1);
    let log_pt = log_softmax(zt - gold.mul_scalar(MASK), 1);
    let nckd = (log_pt.clone().exp() * (log_pt - log_ps)).sum();
    (tckd.mul_scalar(alpha as f32) + nckd.mul_scalar(beta as f32)).mul_scalar(t * t / n as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_values::{DKD_A1_B2_T1, DKD_A1_B8_T4, DKD_STD_A1_B8_T2, Z_T};
    use crate::objective::kd::kd_loss;
    use crate::objective::testing::{assert_value_and_grad, scalar};

    #[test]
    fn matches_golden_numbers() {
        assert_value_and_grad(
            DKD_A1_B8_T4,
            |zs, zt, y| dkd_loss(zs, zt, y, 4.0, 1.0, 8.0, false),
            Z_T,
        );
        assert_value_and_grad(
            DKD_A1_B2_T1,
            |zs, zt, y| dkd_loss(zs, zt, y, 1.0, 1.0, 2.0, false),
            Z_T,
        );
        assert_value_and_grad(
            DKD_STD_A1_B8_T2,
            |zs, zt, y| dkd_loss(zs, zt, y, 2.0, 1.0, 8.0, true),
            Z_T,
        );
    }

    #[test]
    fn equals_kd_when_weights_follow_the_teacher() {
        // KD = TCKD + (1 − p_t,y)·NCKD: with one sample, β = 1 − p_t,y reproduces KD exactly.
        let device = Device::flex();
        let zs = Tensor::<2>::from_data([[0.2f32, 1.0, -0.5, 0.7]], &device);
        let zt = Tensor::<2>::from_data([[1.5f32, 0.3, -1.0, 0.2]], &device);
        let y = Tensor::<1, Int>::from_data([0i64], &device);
        let t = 2.0f32;
        let p = burn::tensor::activation::softmax(zt.clone().div_scalar(t), 1);
        let p_gold = p.into_data().try_to_vec::<f32>().unwrap()[0];
        let dkd = scalar(dkd_loss(
            zs.clone(),
            zt.clone(),
            y,
            2.0,
            1.0,
            (1.0 - p_gold) as f64,
            false,
        ));
        let kd = scalar(kd_loss(zs, zt, 2.0));
        assert!((dkd - kd).abs() < 1e-5, "{dkd} vs {kd}");
    }
}
