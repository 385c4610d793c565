//! Logit standardisation, a pre-step for KD and DKD.
//!
//! `Z(z) = (z − mean(z)) / (std(z) + 1e-7)` per sample, over the classes, with the unbiased
//! (C − 1) standard deviation, applied to both the student's and the teacher's logits before
//! they are divided by T.
//!
//! Sun, Ren, Li, Wang & Cao, "Logit Standardization in Knowledge Distillation", CVPR 2024. The
//! student then only has to match the teacher's logit *relations*, not their scale and shift.

use burn::prelude::*;

/// Standardises each row of `[N, C]` logits (C ≥ 2).
pub fn standardize(logits: Tensor<2>) -> Tensor<2> {
    let [_, c] = logits.dims();
    let centered = logits.clone() - logits.mean_dim(1);
    let std = centered
        .clone()
        .square()
        .sum_dim(1)
        .div_scalar((c.max(2) - 1) as f32)
        .sqrt();
    centered / std.add_scalar(1e-7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_values::{KD_STD_T2, Z_S, Z_T};
    use crate::objective::kd::kd_loss_std;
    use crate::objective::testing::assert_value_and_grad;

    #[test]
    fn rows_have_zero_mean_and_unit_std() {
        let z = standardize(Tensor::<2>::from_data(Z_S, &Device::flex()));
        let v = z.into_data().try_to_vec::<f32>().unwrap();
        for row in v.chunks(5) {
            let mean = row.iter().sum::<f32>() / 5.0;
            let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 4.0;
            assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{row:?}");
        }
    }

    #[test]
    fn kd_with_standardised_logits_matches_golden_numbers() {
        assert_value_and_grad(KD_STD_T2, |zs, zt, _| kd_loss_std(zs, zt, 2.0, true), Z_T);
    }
}
