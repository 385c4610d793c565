//! Similarity-preserving knowledge distillation (SP).
//!
//! With `Q` the batch's embeddings flattened to `[N, D]`, `G = Q Qᵀ` and each row of `G`
//! L2-normalised (`G̃`):
//!
//! `SP = (1/N²) ‖G̃_t − G̃_s‖²_F`.
//!
//! Tung & Mori, "Similarity-Preserving Knowledge Distillation", ICCV 2019 (weight γ = 3000 on
//! CIFAR-10 activation maps in the paper). Samples that the teacher maps to similar activations
//! should be similar for the student too; widths may differ.

use burn::prelude::*;

fn normalised_gram(e: Tensor<2>) -> Tensor<2> {
    let g = e.clone().matmul(e.transpose());
    g.clone() / g.square().sum_dim(1).sqrt().clamp_min(1e-12)
}

/// The SP term (`[1]`).
pub fn sp_loss(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    (normalised_gram(teacher.detach()) - normalised_gram(student))
        .square()
        .mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_values::{SP, Z_T};
    use crate::objective::testing::assert_value_and_grad;

    #[test]
    fn matches_golden_numbers() {
        assert_value_and_grad(SP, |zs, zt, _| sp_loss(zs, zt), Z_T);
    }
}
