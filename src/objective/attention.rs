//! Attention transfer (AT): match where the networks look.
//!
//! For a feature map `F` (`[N, C, H, W]`) the spatial attention map is
//! `a(F) = vec(Σ_c F_c² / C) / ‖vec(Σ_c F_c² / C)‖₂` (one `H·W` vector per sample), and
//!
//! `AT = (1/(N·H·W)) Σ_n ‖a(F_s,n) − a(F_t,n)‖²`,
//!
//! the mean over samples and positions, as in the authors' code (which weights it by β/2 with
//! β = 1000). Zagoruyko & Komodakis, "Paying More Attention to Attention: Improving the
//! Performance of Convolutional Neural Networks via Attention Transfer", ICLR 2017. The maps
//! need the same H×W; the channel counts may differ (no connector, nothing learned).

use burn::prelude::*;

/// The attention map of `[N, C, H, W]` features (`[N, H·W]`, unit rows).
pub fn attention_map(f: Tensor<4>) -> Tensor<2> {
    let [n, _, h, w] = f.dims();
    let a = f.square().mean_dim(1).reshape([n, h * w]);
    a.clone() / a.square().sum_dim(1).sqrt().clamp_min(1e-12)
}

/// The AT term (`[1]`).
pub fn attention_loss(student: Tensor<4>, teacher: Tensor<4>) -> Tensor<1> {
    (attention_map(student) - attention_map(teacher.detach()))
        .square()
        .mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::golden_features::{AT, AT_GRAD_FS, FS, FT};

    #[test]
    fn value_and_gradient_match_golden_numbers() {
        let device = Device::flex().autodiff();
        let fs = Tensor::<1>::from_data(FS, &device)
            .reshape([2, 2, 2, 2])
            .require_grad();
        let ft = Tensor::<1>::from_data(FT, &device).reshape([2, 3, 2, 2]);
        let loss = attention_loss(fs.clone(), ft);
        let v = loss.clone().into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((v - AT).abs() < 1e-5 + 1e-4 * AT.abs(), "{v} vs {AT}");
        let g = fs
            .grad(&loss.backward())
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (k, (got, want)) in g.iter().zip(AT_GRAD_FS).enumerate() {
            assert!(
                (got - want).abs() <= 1e-5 + 1e-4 * want.abs(),
                "[{k}] {got} vs {want}"
            );
        }
    }
}
