//! Hinton's knowledge-distillation term.
//!
//! `KD(z_s, z_t; T) = T² · (1/N) Σ_i KL(softmax(z_t,i / T) ‖ softmax(z_s,i / T))`
//!
//! Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", 2015. The T² factor
//! keeps the gradient's magnitude comparable as T changes: the gradient of the KL term with
//! respect to `z_s` scales as 1/T.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

/// The temperature-scaled KL divergence from the teacher's softened distribution to the
/// student's, multiplied by T², averaged over the batch (`[1]`).
pub fn kd_loss(
    student_logits: Tensor<2>,
    teacher_logits: Tensor<2>,
    temperature: f64,
) -> Tensor<1> {
    let [n, _] = student_logits.dims();
    let t = temperature as f32;
    let log_q = log_softmax(student_logits.div_scalar(t), 1);
    let teacher_scaled = teacher_logits.div_scalar(t);
    let log_p = log_softmax(teacher_scaled.clone(), 1);
    let p = softmax(teacher_scaled, 1);
    let kl = (p * (log_p - log_q)).sum();
    kl.mul_scalar(t * t / n as f32)
}

/// [`kd_loss`], optionally on standardised logits (Sun et al. 2024, [`super::standardize`]).
pub fn kd_loss_std(
    student_logits: Tensor<2>,
    teacher_logits: Tensor<2>,
    temperature: f64,
    standardise: bool,
) -> Tensor<1> {
    if standardise {
        kd_loss(
            super::standardize(student_logits),
            super::standardize(teacher_logits),
            temperature,
        )
    } else {
        kd_loss(student_logits, teacher_logits, temperature)
    }
}

/// Mean cross-entropy of the student's logits against hard labels (`[1]`).
pub fn cross_entropy(student_logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = student_logits.dims();
    let log_q = log_softmax(student_logits, 1);
    let picked = log_q.gather(1, labels.reshape([n, 1]));
    picked.mean().neg()
}

#[cfg(test)]
#[allow(clippy::excessive_precision)]
mod tests {
    //! Golden numbers from `tests/golden/kd_golden.py` (pure Python, float64, gradients by
    //! central finite differences), for `Z_S`, `Z_T`, `Y` below.
    use super::*;
    use crate::objective::{Objective, ObjectiveConfig, TermConfig};

    const Z_S: [[f32; 3]; 2] = [[1.0, 2.0, 0.5], [0.3, -1.2, 2.2]];
    const Z_T: [[f32; 3]; 2] = [[2.5, 0.1, -0.4], [0.0, -2.0, 3.0]];
    const Y: [i64; 2] = [1, 2];

    /// (T, alpha, loss, ce, T²·KL, gradient wrt z_s)
    #[allow(clippy::type_complexity)]
    const GOLDEN: [(f64, f64, f32, f32, f32, [[f32; 3]; 2]); 3] = [
        (
            1.0,
            0.5,
            0.406801339,
            0.316186623,
            0.497416054,
            [
                [-0.102587419, 0.04447126, 0.05811616],
                [0.051438067, 0.012511683, -0.063949749],
            ],
        ),
        (
            2.0,
            0.3,
            0.551429756,
            0.316186623,
            0.652248242,
            [
                [-0.216886291, 0.143712706, 0.073173584],
                [0.071794258, 0.041689923, -0.113484181],
            ],
        ),
        (
            4.0,
            0.0,
            0.675971093,
            0.316186623,
            0.675971093,
            [
                [-0.352094188, 0.271133326, 0.08096086],
                [0.069799754, 0.091350065, -0.161149819],
            ],
        ),
    ];

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().try_to_vec::<f32>().unwrap()[0]
    }

    #[test]
    fn value_and_gradient_match_golden_numbers() {
        let device = Device::flex().autodiff();
        for (t, alpha, loss, ce, t2kl, grad) in GOLDEN {
            let zt = Tensor::<2>::from_data(Z_T, &device);
            let y = Tensor::<1, Int>::from_data(Y, &device);
            let zs = Tensor::<2>::from_data(Z_S, &device).require_grad();
            assert!((scalar(cross_entropy(zs.clone(), y.clone())) - ce).abs() < 1e-5);
            assert!((scalar(kd_loss(zs.clone(), zt.clone(), t)) - t2kl).abs() < 1e-5);
            let objective = Objective::new(ObjectiveConfig {
                alpha,
                temperature: t,
                terms: vec![TermConfig::Kd {
                    weight: 1.0,
                    logit_std: false,
                    temperature: None,
                }],
                ..ObjectiveConfig::default()
            });
            let total = objective.loss(zs.clone(), y, Some(zt));
            assert!((scalar(total.clone()) - loss).abs() < 1e-5, "T={t}");
            let grads = total.backward();
            let g = zs
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for (k, expected) in grad.iter().flatten().enumerate() {
                assert!(
                    (g[k] - expected).abs() < 1e-5,
                    "T={t} grad[{k}] = {} vs {expected}",
                    g[k]
                );
            }
        }
    }

    #[test]
    fn kd_is_zero_when_student_equals_teacher() {
        let device = Device::flex();
        let z = Tensor::<2>::from_data(Z_T, &device);
        assert!(scalar(kd_loss(z.clone(), z, 3.0)).abs() < 1e-6);
    }
}
