//! Probabilistic knowledge transfer (PKT).
//!
//! With cosine similarities of the (L2-normalised) embeddings mapped to `[0, 1]`,
//! `K(i, j) = (cos(e_i, e_j) + 1) / 2`, and rows turned into conditional probabilities
//! `p(j | i) = K(i, j) / Σ_j K(i, j)`:
//!
//! `PKT = (1/N²) Σ_{i,j} p_t(j|i) · log((p_t(j|i) + ε) / (p_s(j|i) + ε))`, ε = 1e-7.
//!
//! Passalis & Tefas, "Learning Deep Representations with Probabilistic Knowledge Transfer",
//! ECCV 2018 (the cosine kernel of their reference code). Works on embeddings of any width.

use burn::prelude::*;

const EPS: f32 = 1e-7;

fn conditional(e: Tensor<2>) -> Tensor<2> {
    let unit = e.clone() / e.square().sum_dim(1).sqrt().add_scalar(EPS);
    let k = unit
        .clone()
        .matmul(unit.transpose())
        .add_scalar(1.0)
        .div_scalar(2.0);
    k.clone() / k.sum_dim(1)
}

/// The PKT term (`[1]`).
pub fn pkt_loss(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    let ps = conditional(student);
    let pt = conditional(teacher.detach());
    (pt.clone() * (pt.add_scalar(EPS).log() - ps.add_scalar(EPS).log())).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_values::{PKT, Z_T};
    use crate::objective::testing::assert_value_and_grad;

    #[test]
    fn matches_golden_numbers() {
        assert_value_and_grad(PKT, |zs, zt, _| pkt_loss(zs, zt), Z_T);
    }
}
