//! Linear layers for one row at a time (batch-1 inference), split over threads.
//!
//! `y[1 × n] = x[1 × k] · W[k × n] (+ b)` reads the whole weight once and does two flops per
//! weight: it is bound by memory bandwidth, not arithmetic. burn-flex hands it to the gemm
//! crate as one product, which runs it on one thread whatever the pool size (batch-1 CNN
//! inference took the same time on 1 and 2 threads, `docs/PERFORMANCE.md`). Here the columns
//! of `W` are cut into one contiguous block per thread and each block is its own single-threaded
//! product (still the gemm crate's arithmetic, through [`super::gemm`]), so every core streams
//! its share of the weight. Larger batches, autodiff and non-contiguous weights keep burn's
//! `Linear::forward`.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

use super::gemm::{Accumulate, Mat, sgemm};

/// Columns per block at least: narrower blocks cost more to schedule than to compute.
const MIN_BLOCK: usize = 64;

/// `x[k] · w[k × n] (+ bias)`, row-major `w`, split over rayon's threads by blocks of columns.
pub fn row_times_matrix(x: &[f32], w: &[f32], bias: Option<&[f32]>, n: usize) -> Vec<f32> {
    let k = x.len();
    assert_eq!(w.len(), k * n, "weight is not {k}×{n}");
    let mut y = match bias {
        Some(b) => {
            assert_eq!(b.len(), n);
            b.to_vec()
        }
        None => vec![0.0f32; n],
    };
    if n == 0 || k == 0 {
        return y;
    }
    let accumulate = if bias.is_some() {
        Accumulate::Add
    } else {
        Accumulate::Overwrite
    };
    let threads = rayon::current_num_threads().max(1);
    let blocks = threads.min(n.div_ceil(MIN_BLOCK)).max(1);
    // a multiple of 16 columns, so blocks start on cache lines of `w`'s rows
    let width = n.div_ceil(blocks).div_ceil(16) * 16;
    y.par_chunks_mut(width)
        .enumerate()
        .for_each(|(i, y_block)| {
            let w_block = Mat {
                data: &w[i * width..],
                row_stride: n,
                col_stride: 1,
            };
            sgemm(
                (1, y_block.len(), k),
                y_block,
                Mat::rows(x, k),
                w_block,
                accumulate,
                1,
            );
        });
    y
}

/// The one-row linear layer distill adds to burn's flex backend.
#[backend_extension(Flex)]
pub trait LinearBackend: Backend {
    /// `x[1, k] · weight[k, n] + bias[n]`.
    fn distill_linear_row(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// `x[1, k] · weight[k, n]`.
    fn distill_linear_row_no_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

fn row(x: &FlexTensor, weight: &FlexTensor, bias: Option<&FlexTensor>) -> FlexTensor {
    let n = weight.layout().shape()[1];
    let x_c = x.to_contiguous();
    let w_c;
    // the weight is contiguous in every model distill builds; a view is copied once here
    let w = match weight.as_slice::<f32>() {
        Some(w) => w,
        None => {
            w_c = weight.to_contiguous();
            w_c.as_slice::<f32>().expect("a contiguous f32 weight")
        }
    };
    let b_c = bias.map(|b| b.to_contiguous());
    let y = row_times_matrix(
        x_c.as_slice::<f32>().expect("a contiguous f32 input"),
        w,
        b_c.as_ref()
            .map(|b| b.as_slice::<f32>().expect("a contiguous f32 bias")),
        n,
    );
    FlexTensor::from_data(TensorData::new(y, [1, n]))
}

impl LinearBackend for Flex {
    fn distill_linear_row(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        row(&x, &weight, Some(&bias))
    }

    fn distill_linear_row_no_bias(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        row(&x, &weight, None)
    }
}

/// `linear.forward(x)`; one row of f32 on the plain flex device (no autodiff) goes through
/// [`row_times_matrix`].
pub fn forward(linear: &Linear, x: Tensor<2>) -> Tensor<2> {
    let weight = linear.weight.val();
    let [k, _] = weight.dims();
    let usable = super::own_kernels()
        && x.dims() == [1, k]
        && super::plain_flex_f32(&x)
        && super::plain_flex_f32(&weight)
        && linear
            .bias
            .as_ref()
            .is_none_or(|b| b.val().dtype() == DType::F32);
    if !usable {
        return linear.forward(x);
    }
    let y = match &linear.bias {
        Some(b) => <Dispatch as LinearBackend>::distill_linear_row(
            x.into_dispatch(),
            weight.into_dispatch(),
            b.val().into_dispatch(),
        ),
        None => <Dispatch as LinearBackend>::distill_linear_row_no_bias(
            x.into_dispatch(),
            weight.into_dispatch(),
        ),
    };
    Tensor::from_dispatch(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Distribution;

    /// Against burn's `Linear::forward` on shapes that cut into uneven blocks, with and without
    /// bias; batches of more than one row and autodiff tensors take burn's path unchanged.
    #[test]
    fn one_row_matches_burns_linear() {
        let device = Device::flex();
        for (k, n, bias) in [
            (7, 5, true),
            (784, 1200, true),
            (300, 1000, false),
            (33, 129, true),
        ] {
            let linear = LinearConfig::new(k, n).with_bias(bias).init(&device);
            let x = Tensor::<2>::random([1, k], Distribution::Normal(0.0, 1.0), &device);
            let ours = forward(&linear, x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let theirs = linear.forward(x).into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(ours.len(), n);
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{k}×{n}: {a} vs {b}"
                );
            }
        }
        let linear = LinearConfig::new(6, 4).init(&device);
        let x = Tensor::<2>::random([3, 6], Distribution::Normal(0.0, 1.0), &device);
        let a = forward(&linear, x.clone()).into_data();
        let b = linear.forward(x).into_data();
        assert_eq!(a, b, "three rows: burn's path");
    }
}
