//! Helpers of the objective tests: compare a loss and its gradient with golden numbers.

use super::golden_values::{Y, Z_S};
use burn::prelude::*;

/// The value of a `[1]` tensor.
pub fn scalar(t: Tensor<1>) -> f32 {
    t.into_data().try_to_vec::<f32>().expect("f32 data")[0]
}

/// Checks `loss(Z_S, teacher, Y)` and its gradient with respect to `Z_S` against `golden`
/// (value, gradient), to 1e-4 relative (1e-5 absolute near zero).
pub fn assert_value_and_grad(
    golden: (f32, [[f32; 5]; 4]),
    loss: impl Fn(Tensor<2>, Tensor<2>, Tensor<1, Int>) -> Tensor<1>,
    teacher: [[f32; 5]; 4],
) {
    let device = Device::flex().autodiff();
    let zs = Tensor::<2>::from_data(Z_S, &device).require_grad();
    let zt = Tensor::<2>::from_data(teacher, &device);
    let y = Tensor::<1, Int>::from_data(Y, &device);
    let value = loss(zs.clone(), zt, y);
    let close = |got: f32, want: f32| (got - want).abs() <= 1e-5 + 1e-4 * want.abs();
    let got = scalar(value.clone());
    assert!(close(got, golden.0), "value {got} vs golden {}", golden.0);
    let grads = value.backward();
    let g = zs
        .grad(&grads)
        .expect("gradient")
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 data");
    for (k, want) in golden.1.iter().flatten().enumerate() {
        assert!(close(g[k], *want), "grad[{k}] = {} vs golden {want}", g[k]);
    }
}
